//! The customers page: segments, demographics, new vs returning, cohort retention, hour ×
//! weekday and purchasing power. Every cell counts customers, and cells under 10 are
//! withheld by [`crate::privacy`] (with their complement where the cells add up to a
//! published total).

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::Response;
use serde::Serialize;
use utoipa::ToSchema;

use crate::access::Tenant;
use crate::error::MetricsError;
use crate::kpi::div_round;
use crate::params::{Day, Grain, Meta, Params};
use crate::privacy::{Figure, Hidden, hide_small_cells, hide_small_cells_with_complement};
use crate::reply::{reply, tables};
use crate::{MetricsState, Request, sql};

/// Customers without a segment (not scored yet, or new since the scoring).
pub const UNSCORED: &str = "unscored";

fn share(part: i64, total: i64) -> Figure {
    if total > 0 {
        Figure::ratio(part as f64 / total as f64)
    } else {
        Figure::hidden(Hidden::NoData)
    }
}

/// One segment.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Segment {
    /// Segment name (RFM terms), or `unscored`.
    pub segment: String,
    /// Customers of the period in it.
    pub customers: Figure,
    /// Relative change in its customers against the comparison period.
    pub customers_change: Figure,
    /// Their net spend at the outlets, kopecks.
    pub revenue: Figure,
    /// Their share of the outlets' revenue.
    pub revenue_share: Figure,
    /// Their average ticket, kopecks.
    pub average_ticket: Figure,
}

/// `GET /v1/metrics/customers/segments`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Segments {
    /// What the figures are about.
    pub meta: Meta,
    /// Cut-off of the segmentation used; null when customers have not been scored.
    pub scored_as_of: Option<Day>,
    /// Segments, largest first.
    pub segments: Vec<Segment>,
}
tables!(Segments { segments });

/// Customers by segment, with the trend against the comparison period.
pub async fn segments(
    State(state): State<MetricsState>,
    tenant: Tenant,
    params: Params,
) -> Result<Response, MetricsError> {
    let (mut request, scope) = Request::begin(&state, &tenant, &params).await?;
    let now = sql::segments(&mut request.tx, scope.merchant_id(), scope.period).await?;
    let before = sql::segments(&mut request.tx, scope.merchant_id(), scope.comparison).await?;
    let name = |s: &Option<String>| s.clone().unwrap_or_else(|| UNSCORED.to_string());
    let scored_as_of = now
        .iter()
        .chain(&before)
        .find_map(|r| r.scored_as_of)
        .map(Day);
    let mut rows = now;
    rows.sort_by(|a, b| {
        b.customers
            .cmp(&a.customers)
            .then(a.segment.cmp(&b.segment))
    });
    let hidden =
        hide_small_cells_with_complement(&rows.iter().map(|r| r.customers).collect::<Vec<_>>());
    let before_counts: BTreeMap<String, i64> = before
        .iter()
        .map(|r| (name(&r.segment), r.customers))
        .collect();
    let before_hidden: BTreeMap<String, Option<Hidden>> = {
        let counts: Vec<i64> = before.iter().map(|r| r.customers).collect();
        before
            .iter()
            .zip(hide_small_cells_with_complement(&counts))
            .map(|(r, h)| (name(&r.segment), h))
            .collect()
    };
    let total_revenue: i64 = rows.iter().map(|r| r.revenue).sum();
    let segments = rows
        .iter()
        .zip(hidden)
        .map(|(r, hidden)| {
            let segment = name(&r.segment);
            let change = match (
                hidden,
                before_hidden.get(&segment).copied().flatten(),
                before_counts.get(&segment),
            ) {
                (Some(h), _, _) | (None, Some(h), _) => Figure::hidden(h),
                (None, None, Some(&b)) if b > 0 => {
                    Figure::ratio((r.customers - b) as f64 / b as f64)
                }
                _ => Figure::hidden(Hidden::NoData),
            };
            let or_hidden = |f: Figure| hidden.map_or(f, Figure::hidden);
            Segment {
                segment,
                customers: Figure::int_unless(r.customers, hidden),
                customers_change: change,
                revenue: Figure::int_unless(r.revenue, hidden),
                revenue_share: or_hidden(share(r.revenue, total_revenue)),
                average_ticket: or_hidden(
                    div_round(r.revenue, r.transactions)
                        .map_or(Figure::hidden(Hidden::NoData), Figure::int),
                ),
            }
        })
        .collect();
    let body = Segments {
        meta: scope.meta(),
        scored_as_of,
        segments,
    };
    reply("segments", &params, body)
}

/// Age bands, youngest first.
pub const AGE_BANDS: [&str; 7] = [
    "under_18", "18-24", "25-34", "35-44", "45-54", "55-64", "65+",
];

/// One age band × gender cell.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AgeGenderCell {
    /// Age at the end of the period.
    pub age_band: String,
    /// `F` or `M`.
    pub gender: String,
    /// Customers of the period.
    pub customers: Figure,
    /// Their share of the period's customers.
    pub share: Figure,
    /// Their net spend at the outlets, kopecks.
    pub revenue: Figure,
}

/// One home region.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RegionCell {
    /// Home region.
    pub region: String,
    /// Customers of the period.
    pub customers: Figure,
    /// Their share of the period's customers.
    pub share: Figure,
    /// Their net spend at the outlets, kopecks.
    pub revenue: Figure,
}

/// `GET /v1/metrics/customers/demographics`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Demographics {
    /// What the figures are about.
    pub meta: Meta,
    /// Every age band × gender (absent ones count 0 and are withheld like small ones).
    pub age_gender: Vec<AgeGenderCell>,
    /// Home regions, largest first.
    pub regions: Vec<RegionCell>,
}
tables!(Demographics {
    age_gender,
    regions
});

/// Customers by age band × gender and by home region.
pub async fn demographics(
    State(state): State<MetricsState>,
    tenant: Tenant,
    params: Params,
) -> Result<Response, MetricsError> {
    let (mut request, scope) = Request::begin(&state, &tenant, &params).await?;
    let rows = sql::demographics(&mut request.tx, scope.merchant_id(), scope.period).await?;
    let mut grid: BTreeMap<(usize, String), (i64, i64)> = BTreeMap::new();
    for i in 0..AGE_BANDS.len() {
        for gender in ["F", "M"] {
            grid.insert((i, gender.to_string()), (0, 0));
        }
    }
    let mut regions: Vec<(String, i64, i64)> = Vec::new();
    for r in &rows {
        match (&r.age_band, &r.gender, &r.region) {
            (Some(band), Some(gender), None) => {
                if let Some(i) = AGE_BANDS.iter().position(|b| b == band) {
                    grid.insert((i, gender.clone()), (r.customers, r.revenue));
                }
            }
            (None, None, Some(region)) => regions.push((region.clone(), r.customers, r.revenue)),
            _ => {}
        }
    }
    let total: i64 = grid.values().map(|(c, _)| c).sum();
    let grid_hidden =
        hide_small_cells_with_complement(&grid.values().map(|(c, _)| *c).collect::<Vec<_>>());
    let age_gender = grid
        .iter()
        .zip(grid_hidden)
        .map(
            |(((band, gender), (customers, revenue)), hidden)| AgeGenderCell {
                age_band: AGE_BANDS[*band].to_string(),
                gender: gender.clone(),
                customers: Figure::int_unless(*customers, hidden),
                share: hidden.map_or_else(|| share(*customers, total), Figure::hidden),
                revenue: Figure::int_unless(*revenue, hidden),
            },
        )
        .collect();
    regions.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let region_hidden =
        hide_small_cells_with_complement(&regions.iter().map(|r| r.1).collect::<Vec<_>>());
    let regions = regions
        .into_iter()
        .zip(region_hidden)
        .map(|((region, customers, revenue), hidden)| RegionCell {
            region,
            customers: Figure::int_unless(customers, hidden),
            share: hidden.map_or_else(|| share(customers, total), Figure::hidden),
            revenue: Figure::int_unless(revenue, hidden),
        })
        .collect();
    let body = Demographics {
        meta: scope.meta(),
        age_gender,
        regions,
    };
    reply("demographics", &params, body)
}

/// New and returning customers in one bucket.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NewReturningBucket {
    /// First day of the bucket.
    pub bucket: Day,
    /// Customers whose first purchase at the outlets is in the bucket.
    pub new_customers: Figure,
    /// Customers who had bought before.
    pub returning_customers: Figure,
    /// Net revenue from new customers, kopecks.
    pub new_revenue: Figure,
    /// Net revenue from returning customers, kopecks.
    pub returning_revenue: Figure,
}

/// `GET /v1/metrics/customers/new-returning`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NewReturning {
    /// What the figures are about.
    pub meta: Meta,
    /// The step.
    pub grain: Grain,
    /// One row per bucket.
    pub buckets: Vec<NewReturningBucket>,
}
tables!(NewReturning { buckets });

/// New vs returning customers per bucket.
pub async fn new_returning(
    State(state): State<MetricsState>,
    tenant: Tenant,
    params: Params,
) -> Result<Response, MetricsError> {
    let (mut request, scope) = Request::begin(&state, &tenant, &params).await?;
    let grain = scope.grain();
    let rows = sql::series(&mut request.tx, scope.merchant_id(), scope.period, grain).await?;
    let buckets = rows
        .into_iter()
        .map(|r| {
            // The two add up to the bucket's customers, published in the time series.
            let returning = r.customers - r.new_customers;
            let hidden = hide_small_cells_with_complement(&[r.new_customers, returning]);
            NewReturningBucket {
                bucket: Day(r.bucket),
                new_customers: Figure::int_unless(r.new_customers, hidden[0]),
                returning_customers: Figure::int_unless(returning, hidden[1]),
                new_revenue: Figure::int_unless(r.new_revenue, hidden[0]),
                returning_revenue: Figure::int_unless(r.revenue - r.new_revenue, hidden[1]),
            }
        })
        .collect();
    let body = NewReturning {
        meta: scope.meta(),
        grain,
        buckets,
    };
    reply("new-returning", &params, body)
}

/// One cohort × month cell.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CohortCell {
    /// The month of the cohort's first purchases.
    pub cohort: Day,
    /// Months since (0: the cohort's own month, where every member bought).
    pub months_since: i32,
    /// Members who bought that month.
    pub customers: Figure,
    /// As a share of the cohort.
    pub retention: Figure,
}

/// `GET /v1/metrics/customers/cohorts`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Cohorts {
    /// What the figures are about.
    pub meta: Meta,
    /// Cohorts of the months of the period, each followed up to the period's end.
    pub cells: Vec<CohortCell>,
}
tables!(Cohorts { cells });

/// Monthly cohort retention.
pub async fn cohorts(
    State(state): State<MetricsState>,
    tenant: Tenant,
    params: Params,
) -> Result<Response, MetricsError> {
    let (mut request, scope) = Request::begin(&state, &tenant, &params).await?;
    let rows = sql::cohorts(&mut request.tx, scope.merchant_id(), scope.period).await?;
    let sizes: BTreeMap<time::Date, i64> = rows
        .iter()
        .filter(|r| r.months_since == 0)
        .map(|r| (r.cohort, r.customers))
        .collect();
    let hidden = hide_small_cells(&rows.iter().map(|r| r.customers).collect::<Vec<_>>());
    let cells = rows
        .iter()
        .zip(hidden)
        .map(|(r, hidden)| {
            let size = sizes.get(&r.cohort).copied().unwrap_or(0);
            // A cohort under 10 hides all of its cells: its size would show through.
            let hidden = hidden.or_else(|| {
                (size < crate::privacy::MIN_CELL_CUSTOMERS).then_some(Hidden::FewerThan10Customers)
            });
            CohortCell {
                cohort: Day(r.cohort),
                months_since: r.months_since,
                customers: Figure::int_unless(r.customers, hidden),
                retention: hidden.map_or_else(|| share(r.customers, size), Figure::hidden),
            }
        })
        .collect();
    let body = Cohorts {
        meta: scope.meta(),
        cells,
    };
    reply("cohorts", &params, body)
}

/// One hour of one weekday.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HeatCell {
    /// ISO weekday, 1 = Monday.
    pub weekday: i32,
    /// Hour, 0–23, Moscow time.
    pub hour: i32,
    /// Purchases.
    pub transactions: Figure,
    /// Net revenue, kopecks.
    pub revenue: Figure,
    /// Distinct customers.
    pub customers: Figure,
}

/// `GET /v1/metrics/customers/heatmap`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Heatmap {
    /// What the figures are about.
    pub meta: Meta,
    /// All 168 cells, Monday 0:00 first.
    pub cells: Vec<HeatCell>,
}
tables!(Heatmap { cells });

/// Purchases by hour × weekday.
pub async fn heatmap(
    State(state): State<MetricsState>,
    tenant: Tenant,
    params: Params,
) -> Result<Response, MetricsError> {
    let (mut request, scope) = Request::begin(&state, &tenant, &params).await?;
    let rows = sql::heatmap(&mut request.tx, scope.merchant_id(), scope.period).await?;
    let mut grid = vec![(0i64, 0i64, 0i64); 7 * 24];
    for r in rows {
        if (1..=7).contains(&r.weekday) && (0..24).contains(&r.hour) {
            grid[(r.weekday as usize - 1) * 24 + r.hour as usize] =
                (r.transactions, r.revenue, r.customers);
        }
    }
    // Purchases and revenue add up to published totals: hide enough that the withheld
    // cells never stand for 1-9 customers.
    let hidden = hide_small_cells_with_complement(&grid.iter().map(|c| c.2).collect::<Vec<_>>());
    let cells = grid
        .iter()
        .zip(hidden)
        .enumerate()
        .map(
            |(i, ((transactions, revenue, customers), hidden))| HeatCell {
                weekday: (i / 24) as i32 + 1,
                hour: (i % 24) as i32,
                transactions: Figure::int_unless(*transactions, hidden),
                revenue: Figure::int_unless(*revenue, hidden),
                customers: Figure::int_unless(*customers, hidden),
            },
        )
        .collect();
    let body = Heatmap {
        meta: scope.meta(),
        cells,
    };
    reply("heatmap", &params, body)
}

/// Bucket edges of predicted 90-day spend, kopecks: 5, 10, 20, 40, 80 and 160 thousand roubles.
pub const SPEND_EDGES: [i64; 6] = [
    500_000, 1_000_000, 2_000_000, 4_000_000, 8_000_000, 16_000_000,
];

/// Customers of one segment in one spend bucket.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PowerCell {
    /// Segment, or `unscored`.
    pub segment: String,
    /// Lower edge of predicted 90-day spend, kopecks (null: none).
    pub spend_from: Option<i64>,
    /// Upper edge, exclusive (null: none).
    pub spend_to: Option<i64>,
    /// Customers of the period.
    pub customers: Figure,
    /// As a share of the segment's customers.
    pub share: Figure,
}

/// One segment's predicted spend.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PowerSegment {
    /// Segment, or `unscored`.
    pub segment: String,
    /// Customers of the period with a prediction.
    pub customers: Figure,
    /// Their mean expected 90-day card spend (everywhere, not only here), kopecks: the
    /// model's `mean` output, or its p50 for a scoring without one.
    pub mean_predicted: Figure,
}

/// `GET /v1/metrics/customers/purchasing-power`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PurchasingPower {
    /// What the figures are about.
    pub meta: Meta,
    /// Cut-off of the predictions; null when customers have not been scored.
    pub scored_as_of: Option<Day>,
    /// The distribution: every segment × bucket.
    pub buckets: Vec<PowerCell>,
    /// Per segment.
    pub segments: Vec<PowerSegment>,
}
tables!(PurchasingPower { buckets, segments });

/// The distribution of predicted 90-day spend by segment.
pub async fn purchasing_power(
    State(state): State<MetricsState>,
    tenant: Tenant,
    params: Params,
) -> Result<Response, MetricsError> {
    let (mut request, scope) = Request::begin(&state, &tenant, &params).await?;
    let rows = sql::purchasing_power(
        &mut request.tx,
        scope.merchant_id(),
        scope.period,
        &SPEND_EDGES,
    )
    .await?;
    let scored_as_of = rows.first().map(|r| Day(r.scored_as_of));
    let mut by_segment: BTreeMap<String, Vec<(i64, i64)>> = BTreeMap::new();
    for r in &rows {
        let cells = by_segment
            .entry(r.segment.clone().unwrap_or_else(|| UNSCORED.to_string()))
            .or_insert_with(|| vec![(0, 0); SPEND_EDGES.len() + 1]);
        if let Some(cell) = cells.get_mut(r.bucket as usize) {
            *cell = (r.customers, r.predicted);
        }
    }
    let segment_totals: Vec<i64> = by_segment
        .values()
        .map(|c| c.iter().map(|x| x.0).sum())
        .collect();
    let segment_hidden = hide_small_cells_with_complement(&segment_totals);
    let mut buckets = Vec::new();
    let mut segments = Vec::new();
    for (((segment, cells), total), hidden) in
        by_segment.iter().zip(&segment_totals).zip(segment_hidden)
    {
        let cell_hidden =
            hide_small_cells_with_complement(&cells.iter().map(|c| c.0).collect::<Vec<_>>());
        for (i, ((customers, _), h)) in cells.iter().zip(cell_hidden).enumerate() {
            let h = h.or(hidden);
            buckets.push(PowerCell {
                segment: segment.clone(),
                spend_from: i.checked_sub(1).map(|j| SPEND_EDGES[j]),
                spend_to: SPEND_EDGES.get(i).copied(),
                customers: Figure::int_unless(*customers, h),
                share: h.map_or_else(|| share(*customers, *total), Figure::hidden),
            });
        }
        let predicted: i64 = cells.iter().map(|c| c.1).sum();
        segments.push(PowerSegment {
            segment: segment.clone(),
            customers: Figure::int_unless(*total, hidden),
            mean_predicted: match hidden {
                Some(h) => Figure::hidden(h),
                None => {
                    div_round(predicted, *total).map_or(Figure::hidden(Hidden::NoData), Figure::int)
                }
            },
        });
    }
    let body = PurchasingPower {
        meta: scope.meta(),
        scored_as_of,
        buckets,
        segments,
    };
    reply("purchasing-power", &params, body)
}
