//! Every query of the service, one function each, inside the organisation's transaction
//! (`Db::begin_for_org`). Customer-level and cross-merchant figures come from the
//! `SECURITY DEFINER` functions of schema `metrics` (migration 0010), which refuse an
//! outlet of another organisation and return aggregates only; the organisation's own
//! rollups and forecasts are read directly, under row-level security.

use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::QueryAs;
use sqlx::{FromRow, PgConnection, Postgres};
use time::Date;

use crate::params::{Grain, Period};

/// `SELECT * FROM metrics.<function>(merchant, from, to, …)`, the shape of every outlet
/// function (further arguments are bound after the period).
fn outlet_function<'q, T>(
    sql: &'q str,
    merchant: Option<i64>,
    p: Period,
) -> QueryAs<'q, Postgres, T, PgArguments>
where
    T: for<'r> FromRow<'r, PgRow>,
{
    sqlx::query_as(sql).bind(merchant).bind(p.from).bind(p.to)
}

/// Own KPIs, or one peer's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct Kpis {
    /// Net revenue, kopecks.
    pub revenue: i64,
    /// Purchases.
    pub transactions: i64,
    /// Customers with a purchase.
    pub customers: i64,
    /// Customers with two purchases or more.
    pub repeat_customers: i64,
    /// Customers whose first purchase at the outlets is in the period.
    pub new_customers: i64,
}

/// KPIs of the outlets in scope (`merchant` None: all of the organisation's).
pub async fn kpis(conn: &mut PgConnection, merchant: Option<i64>, p: Period) -> sqlx::Result<Kpis> {
    outlet_function("SELECT * FROM metrics.kpis($1, $2, $3)", merchant, p)
        .fetch_one(conn)
        .await
}

/// Each peer's KPIs (no merchant named), for one outlet.
pub async fn peer_kpis(
    conn: &mut PgConnection,
    merchant: i64,
    p: Period,
) -> sqlx::Result<Vec<Kpis>> {
    outlet_function(
        "SELECT * FROM metrics.peer_kpis($1, $2, $3)",
        Some(merchant),
        p,
    )
    .fetch_all(conn)
    .await
}

/// One bucket of a series.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SeriesRow {
    /// First day of the bucket (clipped to the period).
    pub bucket: Date,
    /// Net revenue, kopecks.
    pub revenue: i64,
    /// Purchases.
    pub transactions: i64,
    /// Distinct customers.
    pub customers: i64,
    /// Of them, first-time customers of the outlets.
    pub new_customers: i64,
    /// Net revenue from first-time customers.
    pub new_revenue: i64,
}

/// KPIs per bucket.
pub async fn series(
    conn: &mut PgConnection,
    merchant: Option<i64>,
    p: Period,
    grain: Grain,
) -> sqlx::Result<Vec<SeriesRow>> {
    outlet_function("SELECT * FROM metrics.series($1, $2, $3, $4)", merchant, p)
        .bind(grain.as_sql())
        .fetch_all(conn)
        .await
}

/// One week of market share.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ShareRow {
    /// Monday (or the period's first day).
    pub week: Date,
    /// The outlet's revenue.
    pub own_revenue: i64,
    /// The organisation's other outlets in the peer group.
    pub org_revenue: i64,
    /// Each peer's revenue, sorted.
    pub peer_revenues: Vec<i64>,
}

/// Weekly revenue of one outlet against its peer group.
pub async fn market_share(
    conn: &mut PgConnection,
    merchant: i64,
    p: Period,
) -> sqlx::Result<Vec<ShareRow>> {
    outlet_function(
        "SELECT * FROM metrics.market_share($1, $2, $3)",
        Some(merchant),
        p,
    )
    .fetch_all(conn)
    .await
}

/// Customer flows between one outlet and its peers.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FlowsRow {
    /// Merchants in the peer group (without the organisation's).
    pub peers: i32,
    /// Customers of the base window who did not come back in the period.
    pub lapsed: i64,
    /// Of them, those who bought at a peer in the period.
    pub lost: i64,
    /// Lost customers per receiving peer, sorted.
    pub lost_per_peer: Vec<i64>,
    /// First-time customers of the period.
    pub new_customers: i64,
    /// Of them, those who bought at a peer in the base window.
    pub won: i64,
    /// Won customers per giving peer, sorted.
    pub won_per_peer: Vec<i64>,
}

/// Flows for one outlet.
pub async fn flows(conn: &mut PgConnection, merchant: i64, p: Period) -> sqlx::Result<FlowsRow> {
    outlet_function("SELECT * FROM metrics.flows($1, $2, $3)", Some(merchant), p)
        .fetch_one(conn)
        .await
}

/// A demographic cell: age band × gender, or home region.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DemographicRow {
    /// Age band (null for a region row).
    pub age_band: Option<String>,
    /// `F` or `M` (null for a region row).
    pub gender: Option<String>,
    /// Home region (null for an age × gender row).
    pub region: Option<String>,
    /// Customers.
    pub customers: i64,
    /// Their net spend at the outlets.
    pub revenue: i64,
}

/// Demographics of the period's customers.
pub async fn demographics(
    conn: &mut PgConnection,
    merchant: Option<i64>,
    p: Period,
) -> sqlx::Result<Vec<DemographicRow>> {
    outlet_function(
        "SELECT * FROM metrics.demographics($1, $2, $3)",
        merchant,
        p,
    )
    .fetch_all(conn)
    .await
}

/// One weekday × hour cell.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HeatRow {
    /// ISO weekday, 1 = Monday.
    pub weekday: i32,
    /// Hour, 0–23, Moscow time.
    pub hour: i32,
    /// Purchases.
    pub transactions: i64,
    /// Net revenue.
    pub revenue: i64,
    /// Distinct customers.
    pub customers: i64,
}

/// Weekday × hour.
pub async fn heatmap(
    conn: &mut PgConnection,
    merchant: Option<i64>,
    p: Period,
) -> sqlx::Result<Vec<HeatRow>> {
    outlet_function("SELECT * FROM metrics.heatmap($1, $2, $3)", merchant, p)
        .fetch_all(conn)
        .await
}

/// One cohort × month cell.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CohortRow {
    /// First month of the cohort's customers.
    pub cohort: Date,
    /// Months since (0 = the cohort's own month).
    pub months_since: i32,
    /// Customers of the cohort who bought that month.
    pub customers: i64,
}

/// Monthly cohorts.
pub async fn cohorts(
    conn: &mut PgConnection,
    merchant: Option<i64>,
    p: Period,
) -> sqlx::Result<Vec<CohortRow>> {
    outlet_function("SELECT * FROM metrics.cohorts($1, $2, $3)", merchant, p)
        .fetch_all(conn)
        .await
}

/// One segment.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SegmentRow {
    /// Cut-off of the scoring.
    pub scored_as_of: Option<Date>,
    /// Segment name (null: not scored).
    pub segment: Option<String>,
    /// Customers.
    pub customers: i64,
    /// Their net spend at the outlets.
    pub revenue: i64,
    /// Their purchases.
    pub transactions: i64,
}

/// Customers by segment.
pub async fn segments(
    conn: &mut PgConnection,
    merchant: Option<i64>,
    p: Period,
) -> sqlx::Result<Vec<SegmentRow>> {
    outlet_function("SELECT * FROM metrics.segments($1, $2, $3)", merchant, p)
        .fetch_all(conn)
        .await
}

/// One segment × spend bucket.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PowerRow {
    /// Cut-off of the scoring.
    pub scored_as_of: Date,
    /// Segment (null: not scored).
    pub segment: Option<String>,
    /// Bucket index (0: below the first edge).
    pub bucket: i32,
    /// Customers.
    pub customers: i64,
    /// Sum of their predicted 90-day spend, kopecks.
    pub predicted: i64,
}

/// Predicted spend by segment and bucket.
pub async fn purchasing_power(
    conn: &mut PgConnection,
    merchant: Option<i64>,
    p: Period,
    edges: &[i64],
) -> sqlx::Result<Vec<PowerRow>> {
    outlet_function(
        "SELECT * FROM metrics.purchasing_power($1, $2, $3, $4)",
        merchant,
        p,
    )
    .bind(edges)
    .fetch_all(conn)
    .await
}

/// One category group of the customers' wallet.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CategoryRow {
    /// Category group code.
    pub category_group: String,
    /// The outlets' customers who bought in it.
    pub customers: i64,
    /// Their net spend in it, kopecks.
    pub spend: i64,
    /// Sum of their predicted propensities.
    pub propensity_sum: f64,
    /// How many of them have one.
    pub propensity_customers: i64,
}

/// The wallet of the outlets' customers.
pub async fn categories(
    conn: &mut PgConnection,
    merchant: Option<i64>,
    p: Period,
) -> sqlx::Result<Vec<CategoryRow>> {
    outlet_function("SELECT * FROM metrics.categories($1, $2, $3)", merchant, p)
        .fetch_all(conn)
        .await
}

/// Everyone's spend in one category group.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PopulationRow {
    /// Category group code.
    pub category_group: String,
    /// Net spend, kopecks.
    pub spend: i64,
    /// Merchants it comes from.
    pub merchants: i64,
    /// The largest merchant's part.
    pub largest: i64,
}

/// The population's spend per category group.
pub async fn population(conn: &mut PgConnection, p: Period) -> sqlx::Result<Vec<PopulationRow>> {
    sqlx::query_as("SELECT * FROM metrics.population($1, $2)")
        .bind(p.from)
        .bind(p.to)
        .fetch_all(conn)
        .await
}

/// One partner candidate (never named).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PartnerRow {
    /// Its category group.
    pub category_group: String,
    /// Its city.
    pub city: String,
    /// Whether it is a Lyra client.
    pub lyra_client: bool,
    /// The outlets' customers who also bought there.
    pub customers: i64,
    /// The outlets' customers of the period.
    pub of_customers: i64,
}

/// The largest customer overlaps with non-competing merchants nearby.
pub async fn partners(
    conn: &mut PgConnection,
    merchant: Option<i64>,
    p: Period,
    limit: i32,
) -> sqlx::Result<Vec<PartnerRow>> {
    outlet_function(
        "SELECT * FROM metrics.partners($1, $2, $3, $4)",
        merchant,
        p,
    )
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// One week of a demand forecast.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ForecastRow {
    /// Forecast origin.
    pub origin_week: Date,
    /// Model version.
    pub model_version: i32,
    /// Outlet.
    pub merchant_id: i64,
    /// Its category group.
    pub category_group: String,
    /// Weeks ahead, 1–8.
    pub horizon: i16,
    /// Monday of the week.
    pub week_start: Date,
    /// Revenue quantiles, roubles (as the model writes them).
    pub revenue_p10: f32,
    /// Median.
    pub revenue_p50: f32,
    /// 90th percentile.
    pub revenue_p90: f32,
    /// Purchases quantiles.
    pub txns_p10: f32,
    /// Median.
    pub txns_p50: f32,
    /// 90th percentile.
    pub txns_p90: f32,
}

/// The latest forecast of each outlet (newest origin, newest model version at it).
pub async fn forecasts(conn: &mut PgConnection, outlets: &[i64]) -> sqlx::Result<Vec<ForecastRow>> {
    sqlx::query_as(
        "WITH latest AS (
             SELECT DISTINCT ON (merchant_id) merchant_id, origin_week, model_version
               FROM pipeline.demand_forecasts WHERE merchant_id = ANY ($1)
              ORDER BY merchant_id, origin_week DESC, model_version DESC)
         SELECT f.origin_week, f.model_version, f.merchant_id, f.category_group, f.horizon, f.week_start,
                f.revenue_p10, f.revenue_p50, f.revenue_p90, f.txns_p10, f.txns_p50, f.txns_p90
           FROM pipeline.demand_forecasts f JOIN latest l USING (merchant_id, origin_week, model_version)
          ORDER BY f.merchant_id, f.horizon",
    )
    .bind(outlets)
    .fetch_all(conn)
    .await
}

/// Accuracy of past forecasts at one horizon.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccuracyRow {
    /// Weeks ahead.
    pub horizon: i16,
    /// Forecast weeks that have passed.
    pub weeks: i64,
    /// Sum of |actual − median|, kopecks.
    pub abs_error: f64,
    /// Sum of |actual|, kopecks.
    pub actual: f64,
    /// Weeks whose actual revenue fell inside the 80% interval.
    pub covered: i64,
}

/// Past forecasts (each origin's newest model version) of weeks that ended by `last_day`,
/// against the revenue that happened.
pub async fn accuracy(
    conn: &mut PgConnection,
    outlets: &[i64],
    last_day: Date,
) -> sqlx::Result<Vec<AccuracyRow>> {
    sqlx::query_as(
        "WITH f AS (
             SELECT DISTINCT ON (origin_week, merchant_id, horizon) *
               FROM pipeline.demand_forecasts
              WHERE merchant_id = ANY ($1) AND week_start + 6 <= $2
              ORDER BY origin_week, merchant_id, horizon, model_version DESC
         ), a AS (
             SELECT f.horizon, f.revenue_p10 * 100.0 AS p10, f.revenue_p50 * 100.0 AS p50,
                    f.revenue_p90 * 100.0 AS p90,
                    (SELECT coalesce(sum(d.revenue_minor), 0) FROM ingest.merchant_daily d
                      WHERE d.merchant_id = f.merchant_id
                        AND d.day BETWEEN f.week_start AND f.week_start + 6)::float8 AS actual
               FROM f
         )
         SELECT horizon, count(*) AS weeks, coalesce(sum(abs(actual - p50)), 0)::float8 AS abs_error,
                coalesce(sum(abs(actual)), 0)::float8 AS actual,
                count(*) FILTER (WHERE actual BETWEEN p10 AND p90) AS covered
           FROM a GROUP BY horizon ORDER BY horizon",
    )
    .bind(outlets)
    .bind(last_day)
    .fetch_all(conn)
    .await
}
