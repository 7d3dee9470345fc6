//! The categories and competitors pages: where the outlets' customers spend, partner
//! suggestions, and the outlet against its peer group.

use axum::extract::State;
use axum::response::Response;
use serde::Serialize;
use utoipa::ToSchema;

use crate::access::Tenant;
use crate::error::MetricsError;
use crate::kpi::{Kpi, Unit};
use crate::overview::{PeerGroup, peer_kpis};
use crate::params::{Day, Meta, Params};
use crate::privacy::{self, Figure, Hidden, MIN_CELL_CUSTOMERS, hide_small_cells_with_complement};
use crate::reply::{reply, tables};
use crate::{MetricsState, Request, sql};

/// Customers' wallets are read over at most the last this many days of the period: a
/// customer's every purchase is read, and a year of them for a large outlet's customers
/// takes seconds.
pub const WALLET_DAYS: i64 = 92;

/// One category group.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CategoryShare {
    /// Category group code.
    pub category_group: String,
    /// The outlets' customers who bought in it.
    pub customers: Figure,
    /// Their net spend in it (everywhere), kopecks.
    pub spend: Figure,
    /// Its share of their whole card spend.
    pub share_of_wallet: Figure,
    /// Its share of everyone's card spend.
    pub population_share: Figure,
    /// share_of_wallet / population_share: above 1, these customers favour it.
    pub lift: Figure,
    /// Their mean predicted probability of buying in it in the next 30 days.
    pub propensity: Figure,
}

/// `GET /v1/metrics/categories`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Categories {
    /// What the figures are about.
    pub meta: Meta,
    /// First day of the wallet window (the period's last 92 days at most).
    pub wallet_from: Day,
    /// Last day of the wallet window.
    pub wallet_to: Day,
    /// Every category group, in catalogue order.
    pub categories: Vec<CategoryShare>,
}
tables!(Categories { categories });

fn ratio(part: i64, total: i64) -> Result<f64, Hidden> {
    if total > 0 {
        Ok(part as f64 / total as f64)
    } else {
        Err(Hidden::NoData)
    }
}

/// Share of wallet by category group, lift against the population, propensity.
pub async fn categories(
    State(state): State<MetricsState>,
    tenant: Tenant,
    params: Params,
) -> Result<Response, MetricsError> {
    let (mut request, scope) = Request::begin(&state, &tenant, &params).await?;
    let window = scope.period.last(WALLET_DAYS);
    let rows = sql::categories(&mut request.tx, scope.merchant_id(), window).await?;
    let tx = &mut request.tx;
    let population = state
        .population_cache
        .get_or_try(window, || sql::population(tx, window))
        .await?;
    let wallet: i64 = rows.iter().map(|r| r.spend.max(0)).sum();
    let everyone: i64 = population.iter().map(|p| p.spend.max(0)).sum();
    let hidden =
        hide_small_cells_with_complement(&rows.iter().map(|r| r.customers).collect::<Vec<_>>());
    let categories = rows
        .iter()
        .zip(hidden)
        .map(|(r, hidden)| {
            let share_of_wallet = match hidden {
                Some(h) => Err(h),
                None => ratio(r.spend.max(0), wallet),
            };
            let population_share = population
                .iter()
                .find(|p| p.category_group == r.category_group)
                .ok_or(Hidden::NoData)
                .and_then(|p| {
                    privacy::group_releasable(p.merchants as usize, p.spend, p.largest)?;
                    ratio(p.spend.max(0), everyone)
                });
            let lift = match (share_of_wallet, population_share) {
                (Ok(s), Ok(p)) if p > 0.0 => Ok(s / p),
                (Err(h), _) | (_, Err(h)) => Err(h),
                _ => Err(Hidden::NoData),
            };
            let propensity = match r.propensity_customers {
                0 => Err(Hidden::NotScored),
                n if n < MIN_CELL_CUSTOMERS => Err(Hidden::FewerThan10Customers),
                n => Ok(r.propensity_sum / n as f64),
            };
            CategoryShare {
                category_group: r.category_group.clone(),
                customers: Figure::int_unless(r.customers, hidden),
                spend: Figure::int_unless(r.spend, hidden),
                share_of_wallet: Figure::from_ratio(share_of_wallet),
                population_share: Figure::from_ratio(population_share),
                lift: Figure::from_ratio(lift),
                propensity: Figure::from_ratio(propensity),
            }
        })
        .collect();
    let body = Categories {
        meta: scope.meta(),
        wallet_from: Day(window.from),
        wallet_to: Day(window.to),
        categories,
    };
    reply("categories", &params, body)
}

/// How many partner candidates are considered.
pub const PARTNER_CANDIDATES: i32 = 20;

/// A partner suggestion: never named.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Partner {
    /// Its category group (never one of the outlets').
    pub category_group: String,
    /// Its city (one of the outlets').
    pub city: String,
    /// Whether it is a Lyra client (who could be approached through the bank).
    pub lyra_client: bool,
    /// The outlets' customers of the period who also bought there.
    pub customers: i64,
    /// As a share of the outlets' customers of the period.
    pub overlap: f64,
}

/// `GET /v1/metrics/partners`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Partners {
    /// What the figures are about.
    pub meta: Meta,
    /// First day of the window customers are compared over (the period's last 92 days at most).
    pub window_from: Day,
    /// Last day of the window.
    pub window_to: Day,
    /// The largest overlaps first.
    pub partners: Vec<Partner>,
    /// Candidates withheld for sharing fewer than 10 customers.
    pub withheld: usize,
}
tables!(Partners { partners });

/// Nearby non-competing merchants with a large customer overlap.
pub async fn partners(
    State(state): State<MetricsState>,
    tenant: Tenant,
    params: Params,
) -> Result<Response, MetricsError> {
    let (mut request, scope) = Request::begin(&state, &tenant, &params).await?;
    let window = scope.period.last(WALLET_DAYS);
    let rows = sql::partners(
        &mut request.tx,
        scope.merchant_id(),
        window,
        PARTNER_CANDIDATES,
    )
    .await?;
    let hidden = privacy::hide_small_cells(&rows.iter().map(|r| r.customers).collect::<Vec<_>>());
    let withheld = hidden.iter().filter(|h| h.is_some()).count();
    let partners = rows
        .into_iter()
        .zip(hidden)
        .filter(|(_, h)| h.is_none())
        .map(|(r, _)| Partner {
            overlap: (r.customers as f64 / r.of_customers.max(1) as f64 * 1e6).round() / 1e6,
            category_group: r.category_group,
            city: r.city,
            lyra_client: r.lyra_client,
            customers: r.customers,
        })
        .collect();
    let body = Partners {
        meta: scope.meta(),
        window_from: Day(window.from),
        window_to: Day(window.to),
        partners,
        withheld,
    };
    reply("partners", &params, body)
}

/// The outlet's rank on one KPI.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Rank {
    /// Which.
    pub kpi: Kpi,
    /// Its unit.
    pub unit: Unit,
    /// The outlet's value.
    pub value: Figure,
    /// The peers' median.
    pub peer_median: Figure,
    /// The outlet's percentile among the peers, 0–100.
    pub percentile: Figure,
}

/// One week of market share.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ShareWeek {
    /// Monday (the period's first day for a partial first week).
    pub week: Day,
    /// The outlet's net revenue, kopecks.
    pub revenue: i64,
    /// Its share of the peer group's revenue (its own and the organisation's included).
    pub market_share: Figure,
}

/// A direction of customer flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FlowKind {
    /// Customers of the previous period who did not come back, and bought at peers.
    LostToPeers,
    /// First-time customers of the period who bought at peers in the previous one.
    WonFromPeers,
}

/// A customer flow between the outlet and its peers.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Flow {
    /// Which way.
    pub flow: FlowKind,
    /// Lapsed customers (lost) or new customers (won).
    pub base: Figure,
    /// Of them, those who bought at peers.
    pub customers: Figure,
    /// As a share of the base.
    pub share: Figure,
}

/// `GET /v1/metrics/competitors`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Competitors {
    /// What the figures are about.
    pub meta: Meta,
    /// The peer group (category group × city), when figures are for one outlet.
    pub peer_group: Option<PeerGroup>,
    /// Percentile rank on each KPI.
    pub ranks: Vec<Rank>,
    /// Weekly market share.
    pub market_share: Vec<ShareWeek>,
    /// Customers lost to and won from peers (against the period just before).
    pub flows: Vec<Flow>,
}
tables!(Competitors {
    ranks,
    market_share,
    flows
});

/// Market share, percentile ranks and customer flows in the peer group.
pub async fn competitors(
    State(state): State<MetricsState>,
    tenant: Tenant,
    params: Params,
) -> Result<Response, MetricsError> {
    let (mut request, scope) = Request::begin(&state, &tenant, &params).await?;
    let peers = peer_kpis(&state, &mut request, &scope).await?;
    let own = sql::kpis(&mut request.tx, scope.merchant_id(), scope.period).await?;
    let ranks = Kpi::ALL
        .iter()
        .map(|&kpi| Rank {
            kpi,
            unit: kpi.unit(),
            value: kpi.figure(&own),
            peer_median: match &peers {
                Ok((_, p)) => kpi.peer_median(p),
                Err(h) => Figure::hidden(*h),
            },
            percentile: match &peers {
                Ok((_, p)) => kpi.percentile(&own, p),
                Err(h) => Figure::hidden(*h),
            },
        })
        .collect();
    let (market_share, flows) = match scope.single_outlet() {
        Some(outlet) => {
            let weeks =
                sql::market_share(&mut request.tx, outlet.merchant_id, scope.period).await?;
            let shares = weeks
                .into_iter()
                .map(|w| ShareWeek {
                    week: Day(w.week),
                    revenue: w.own_revenue,
                    market_share: Figure::from_ratio(privacy::market_share(
                        w.own_revenue,
                        w.org_revenue,
                        &w.peer_revenues,
                    )),
                })
                .collect();
            let f = sql::flows(&mut request.tx, outlet.merchant_id, scope.period).await?;
            let peers = f.peers.max(0) as usize;
            let (lost, lost_share) = privacy::flow(f.lost, f.lapsed, &f.lost_per_peer, peers);
            let (won, won_share) = privacy::flow(f.won, f.new_customers, &f.won_per_peer, peers);
            let base = |n: i64| Figure::int_unless(n, privacy::hide_small_cells(&[n])[0]);
            let flows = vec![
                Flow {
                    flow: FlowKind::LostToPeers,
                    base: base(f.lapsed),
                    customers: lost,
                    share: lost_share,
                },
                Flow {
                    flow: FlowKind::WonFromPeers,
                    base: base(f.new_customers),
                    customers: won,
                    share: won_share,
                },
            ];
            (shares, flows)
        }
        None => {
            let hidden = || Figure::hidden(Hidden::ChooseAnOutlet);
            let flows = [FlowKind::LostToPeers, FlowKind::WonFromPeers]
                .into_iter()
                .map(|flow| Flow {
                    flow,
                    base: hidden(),
                    customers: hidden(),
                    share: hidden(),
                })
                .collect();
            (Vec::new(), flows)
        }
    };
    let body = Competitors {
        meta: scope.meta(),
        peer_group: peers.ok().map(|(g, _)| g),
        ranks,
        market_share,
        flows,
    };
    reply("competitors", &params, body)
}
