//! The overview page: KPIs with the comparison period and the peer median, the time series,
//! and the driver tree.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use serde::Serialize;
use utoipa::ToSchema;

use crate::access::Tenant;
use crate::error::MetricsError;
use crate::kpi::{Kpi, Unit, div_round};
use crate::params::{Day, Grain, Meta, Outlet, Params, Scope};
use crate::privacy::{Figure, Hidden};
use crate::reply::{reply, tables};
use crate::sql::{self, Kpis};
use crate::{MetricsState, Request};

/// The peer group figures are compared with (never its members).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PeerGroup {
    /// Category group.
    pub category_group: String,
    /// City.
    pub city: String,
    /// Peer merchants with sales in the period (the organisation's own outlets excluded).
    pub peers: usize,
}

/// One KPI.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KpiFigure {
    /// Which.
    pub kpi: Kpi,
    /// Its unit.
    pub unit: Unit,
    /// In the period.
    pub value: Figure,
    /// In the comparison period.
    pub comparison: Figure,
    /// Relative change (0.1 = +10%).
    pub change: Figure,
    /// The peers' median in the period.
    pub peer_median: Figure,
}

/// `GET /v1/metrics/overview`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Overview {
    /// What the figures are about.
    pub meta: Meta,
    /// The outlet's peer group, when figures are for one outlet.
    pub peer_group: Option<PeerGroup>,
    /// Revenue, transactions, customers, average ticket, repeat rate, new customers.
    pub kpis: Vec<KpiFigure>,
}
tables!(Overview { kpis });

/// The peers' KPIs of the period, for the scope's single outlet (cached, see
/// [`crate::cache`]), or why there are none.
pub async fn peer_kpis(
    state: &MetricsState,
    request: &mut Request,
    scope: &Scope,
) -> Result<Result<(PeerGroup, Arc<Vec<Kpis>>), Hidden>, MetricsError> {
    let Some(outlet) = scope.single_outlet() else {
        return Ok(Err(Hidden::ChooseAnOutlet));
    };
    let key = (request.org, outlet.merchant_id, scope.period);
    let tx = &mut request.tx;
    let peers = state
        .peer_cache
        .get_or_try(key, || sql::peer_kpis(tx, outlet.merchant_id, scope.period))
        .await?;
    let group = PeerGroup {
        category_group: outlet.category_group.clone(),
        city: outlet.city.clone(),
        peers: peers.len(),
    };
    Ok(Ok((group, peers)))
}

/// The organisation's outlets (the dashboard's outlet selector) and the default period.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Outlets {
    /// The default period: `to` is the last day with sales at the outlets.
    pub meta: Meta,
    /// The outlets in scope, by id.
    pub outlets: Vec<Outlet>,
}

tables!(Outlets { outlets });

/// The organisation's outlets.
pub async fn outlets(
    State(state): State<MetricsState>,
    tenant: Tenant,
    params: Params,
) -> Result<Response, MetricsError> {
    let (_request, scope) = Request::begin(&state, &tenant, &params).await?;
    let body = Outlets {
        meta: scope.meta(),
        outlets: scope.outlets.clone(),
    };
    reply("outlets", &params, body)
}

/// KPIs of the period and the comparison period, with the peer median.
pub async fn overview(
    State(state): State<MetricsState>,
    tenant: Tenant,
    params: Params,
) -> Result<Response, MetricsError> {
    let (mut request, scope) = Request::begin(&state, &tenant, &params).await?;
    let now = sql::kpis(&mut request.tx, scope.merchant_id(), scope.period).await?;
    let before = sql::kpis(&mut request.tx, scope.merchant_id(), scope.comparison).await?;
    let peers = peer_kpis(&state, &mut request, &scope).await?;
    let kpis = Kpi::ALL
        .iter()
        .map(|&kpi| KpiFigure {
            kpi,
            unit: kpi.unit(),
            value: kpi.figure(&now),
            comparison: kpi.figure(&before),
            change: kpi.change(&now, &before),
            peer_median: match &peers {
                Ok((_, peers)) => kpi.peer_median(peers),
                Err(reason) => Figure::hidden(*reason),
            },
        })
        .collect();
    let body = Overview {
        meta: scope.meta(),
        peer_group: peers.ok().map(|(g, _)| g),
        kpis,
    };
    reply("overview", &params, body)
}

/// One bucket of a series.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Point {
    /// First day of the bucket (the period's first day for a partial first bucket).
    pub bucket: Day,
    /// Net revenue, kopecks.
    pub revenue: i64,
    /// Purchases.
    pub transactions: i64,
    /// Distinct customers.
    pub customers: i64,
    /// Average ticket, kopecks.
    pub average_ticket: Figure,
}

/// `GET /v1/metrics/timeseries`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Timeseries {
    /// What the figures are about.
    pub meta: Meta,
    /// The step.
    pub grain: Grain,
    /// The period.
    pub points: Vec<Point>,
    /// The comparison period, bucket by bucket.
    pub comparison: Vec<Point>,
}
tables!(Timeseries { points, comparison });

fn points(rows: Vec<sql::SeriesRow>) -> Vec<Point> {
    rows.into_iter()
        .map(|r| Point {
            bucket: Day(r.bucket),
            revenue: r.revenue,
            transactions: r.transactions,
            customers: r.customers,
            average_ticket: div_round(r.revenue, r.transactions)
                .map_or(Figure::hidden(Hidden::NoData), Figure::int),
        })
        .collect()
}

/// Revenue, transactions and customers per day, week or month.
pub async fn timeseries(
    State(state): State<MetricsState>,
    tenant: Tenant,
    params: Params,
) -> Result<Response, MetricsError> {
    let (mut request, scope) = Request::begin(&state, &tenant, &params).await?;
    let grain = scope.grain();
    let now = sql::series(&mut request.tx, scope.merchant_id(), scope.period, grain).await?;
    let before = sql::series(
        &mut request.tx,
        scope.merchant_id(),
        scope.comparison,
        grain,
    )
    .await?;
    let body = Timeseries {
        meta: scope.meta(),
        grain,
        points: points(now),
        comparison: points(before),
    };
    reply("timeseries", &params, body)
}

/// A factor of the driver tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Factor {
    /// Distinct customers.
    Customers,
    /// Purchases per customer.
    VisitsPerCustomer,
    /// Net revenue per purchase, kopecks.
    AverageTicket,
}

/// One factor: its values and its part of the revenue change.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Driver {
    /// Which.
    pub factor: Factor,
    /// In the period.
    pub value: Figure,
    /// In the comparison period.
    pub comparison: Figure,
    /// Relative change.
    pub change: Figure,
    /// Its part of the revenue change, kopecks; the three add up to the change exactly.
    pub contribution: Figure,
}

/// `GET /v1/metrics/drivers`: revenue = customers × visits per customer × average ticket.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Drivers {
    /// What the figures are about.
    pub meta: Meta,
    /// Revenue in the period, kopecks.
    pub revenue: i64,
    /// Revenue in the comparison period, kopecks.
    pub comparison_revenue: i64,
    /// The three factors.
    pub factors: Vec<Driver>,
}
tables!(Drivers { factors });

/// Splits the revenue change `r1 − r0` between factors whose product is the revenue
/// (logarithmic mean Divisia index: each factor gets L(r1, r0) · ln(x1 / x0)), in integer
/// kopecks that add up to the change exactly. None unless every value is positive.
pub fn decompose(r1: i64, r0: i64, now: &[f64], before: &[f64]) -> Option<Vec<i64>> {
    if r1 <= 0
        || r0 <= 0
        || now
            .iter()
            .chain(before)
            .any(|x| !(*x > 0.0 && x.is_finite()))
    {
        return None;
    }
    let (a, b) = (r1 as f64, r0 as f64);
    let weight = if r1 == r0 {
        a
    } else {
        (a - b) / (a.ln() - b.ln())
    };
    let exact: Vec<f64> = now
        .iter()
        .zip(before)
        .map(|(x1, x0)| weight * (x1 / x0).ln())
        .collect();
    let mut parts: Vec<i64> = exact.iter().map(|c| c.round() as i64).collect();
    // Rounding leaves a few kopecks over or under: give them to the largest part.
    let remainder = (r1 - r0) - parts.iter().sum::<i64>();
    if let Some(largest) =
        (0..parts.len()).max_by(|&i, &j| exact[i].abs().total_cmp(&exact[j].abs()))
    {
        parts[largest] += remainder;
    }
    Some(parts)
}

/// The driver tree of the revenue change against the comparison period.
pub async fn drivers(
    State(state): State<MetricsState>,
    tenant: Tenant,
    params: Params,
) -> Result<Response, MetricsError> {
    let (mut request, scope) = Request::begin(&state, &tenant, &params).await?;
    let now = sql::kpis(&mut request.tx, scope.merchant_id(), scope.period).await?;
    let before = sql::kpis(&mut request.tx, scope.merchant_id(), scope.comparison).await?;
    let factors = |k: &Kpis| -> Option<[f64; 3]> {
        (k.customers > 0 && k.transactions > 0).then(|| {
            [
                k.customers as f64,
                k.transactions as f64 / k.customers as f64,
                k.revenue as f64 / k.transactions as f64,
            ]
        })
    };
    let contributions = match (factors(&now), factors(&before)) {
        (Some(x1), Some(x0)) => decompose(now.revenue, before.revenue, &x1, &x0),
        _ => None,
    };
    let figure = |k: &Kpis, i: usize| -> Figure {
        match (i, factors(k)) {
            (_, None) => Figure::hidden(Hidden::NoData),
            (0, _) => Figure::int(k.customers),
            (1, Some(x)) => Figure::ratio(x[1]),
            (_, _) => Figure::from_int(div_round(k.revenue, k.transactions).ok_or(Hidden::NoData)),
        }
    };
    let factors_out = [
        Factor::Customers,
        Factor::VisitsPerCustomer,
        Factor::AverageTicket,
    ]
    .into_iter()
    .enumerate()
    .map(|(i, factor)| Driver {
        factor,
        value: figure(&now, i),
        comparison: figure(&before, i),
        change: match (factors(&now), factors(&before)) {
            (Some(x1), Some(x0)) => Figure::ratio(x1[i] / x0[i] - 1.0),
            _ => Figure::hidden(Hidden::NoData),
        },
        contribution: contributions
            .as_ref()
            .map_or(Figure::hidden(Hidden::NoData), |c| Figure::int(c[i])),
    })
    .collect();
    let body = Drivers {
        meta: scope.meta(),
        revenue: now.revenue,
        comparison_revenue: before.revenue,
        factors: factors_out,
    };
    reply("drivers", &params, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn one_moving_factor_takes_the_whole_change() {
        // Twice the customers, same visits and ticket: all of +1000 is customers'.
        let parts = decompose(2000, 1000, &[20.0, 2.0, 50.0], &[10.0, 2.0, 50.0]).unwrap();
        assert_eq!(parts, vec![1000, 0, 0]);
        assert_eq!(
            decompose(1000, 1000, &[10.0, 2.0, 50.0], &[10.0, 2.0, 50.0]).unwrap(),
            vec![0, 0, 0]
        );
        assert_eq!(decompose(0, 1000, &[1.0; 3], &[1.0; 3]), None);
    }

    proptest! {
        #[test]
        fn contributions_add_up_to_the_change_exactly(
            c0 in 1i64..10_000, c1 in 1i64..10_000, v0 in 1i64..5, v1 in 1i64..5,
            t0 in 1i64..1_000_000, t1 in 1i64..1_000_000,
        ) {
            // Revenue built from the factors, as the SQL aggregates would be.
            let (n0, n1) = (c0 * v0, c1 * v1);
            let (r0, r1) = (n0 * t0, n1 * t1);
            let before = [c0 as f64, n0 as f64 / c0 as f64, r0 as f64 / n0 as f64];
            let now = [c1 as f64, n1 as f64 / c1 as f64, r1 as f64 / n1 as f64];
            let parts = decompose(r1, r0, &now, &before).unwrap();
            prop_assert_eq!(parts.iter().sum::<i64>(), r1 - r0);
        }
    }
}
