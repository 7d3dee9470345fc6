//! The forecast page: each outlet's weekly demand for the next 8 weeks from the latest
//! forecast the pipeline stored, with the 80% interval, a suggested stock level, and the
//! honest accuracy of past forecasts (weeks that have passed, against the revenue that
//! happened).

use axum::extract::State;
use axum::response::Response;
use serde::Serialize;
use utoipa::ToSchema;

use crate::access::Tenant;
use crate::error::MetricsError;
use crate::params::{Day, Meta, Params};
use crate::privacy::{Figure, Hidden};
use crate::reply::{reply, tables};
use crate::{MetricsState, Request, sql};

/// One outlet's forecast for one week.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ForecastWeek {
    /// The outlet.
    pub merchant_id: i64,
    /// Its category group.
    pub category_group: String,
    /// Monday of the week.
    pub week: Day,
    /// Weeks after the forecast origin, 1–8.
    pub horizon: i16,
    /// Net revenue, 10th percentile, kopecks.
    pub revenue_p10: i64,
    /// Median, kopecks.
    pub revenue_p50: i64,
    /// 90th percentile, kopecks.
    pub revenue_p90: i64,
    /// Purchases, 10th percentile.
    pub transactions_p10: f64,
    /// Median.
    pub transactions_p50: f64,
    /// 90th percentile.
    pub transactions_p90: f64,
    /// Purchases to stock for: the top of the 80% interval, rounded up (demand exceeds it
    /// one week in ten).
    pub suggested_stock: i64,
}

/// Accuracy of past forecasts at one horizon, or over all of them (`horizon` null).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Accuracy {
    /// Weeks ahead, or null for all horizons.
    pub horizon: Option<i16>,
    /// Outlet-weeks forecast that have passed.
    pub weeks: i64,
    /// Weighted absolute percentage error of the median: Σ|actual − median| / Σ|actual|.
    pub wape: Figure,
    /// Share of weeks whose revenue fell inside the 80% interval (ideally about 0.8).
    pub coverage: Figure,
}

/// `GET /v1/metrics/forecast`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Forecast {
    /// What the figures are about (the period bounds the accuracy: weeks ending by `to`).
    pub meta: Meta,
    /// The latest forecast origin (the last whole week before the pipeline's cut-off);
    /// null when demand has not been forecast.
    pub origin_week: Option<Day>,
    /// Version of the model that made it.
    pub model_version: Option<i32>,
    /// Per outlet and week.
    pub weeks: Vec<ForecastWeek>,
    /// Per horizon, then over all.
    pub accuracy: Vec<Accuracy>,
}
tables!(Forecast { weeks, accuracy });

fn kopecks(roubles: f32) -> i64 {
    (f64::from(roubles) * 100.0).round() as i64
}

fn tenth(x: f32) -> f64 {
    (f64::from(x) * 10.0).round() / 10.0
}

fn accuracy(
    horizon: Option<i16>,
    weeks: i64,
    abs_error: f64,
    actual: f64,
    covered: i64,
) -> Accuracy {
    Accuracy {
        horizon,
        weeks,
        wape: if actual > 0.0 {
            Figure::ratio(abs_error / actual)
        } else {
            Figure::hidden(Hidden::NoData)
        },
        coverage: if weeks > 0 {
            Figure::ratio(covered as f64 / weeks as f64)
        } else {
            Figure::hidden(Hidden::NoData)
        },
    }
}

/// Weekly demand for the next 8 weeks and the accuracy of past forecasts.
pub async fn forecast(
    State(state): State<MetricsState>,
    tenant: Tenant,
    params: Params,
) -> Result<Response, MetricsError> {
    let (mut request, scope) = Request::begin(&state, &tenant, &params).await?;
    let outlets: Vec<i64> = scope.outlets.iter().map(|o| o.merchant_id).collect();
    let rows = sql::forecasts(&mut request.tx, &outlets).await?;
    let past = sql::accuracy(&mut request.tx, &outlets, scope.period.to).await?;
    let latest = rows.iter().map(|r| (r.origin_week, r.model_version)).max();
    let weeks = rows
        .iter()
        .filter(|r| Some((r.origin_week, r.model_version)) == latest)
        .map(|r| ForecastWeek {
            merchant_id: r.merchant_id,
            category_group: r.category_group.clone(),
            week: Day(r.week_start),
            horizon: r.horizon,
            revenue_p10: kopecks(r.revenue_p10),
            revenue_p50: kopecks(r.revenue_p50),
            revenue_p90: kopecks(r.revenue_p90),
            transactions_p10: tenth(r.txns_p10),
            transactions_p50: tenth(r.txns_p50),
            transactions_p90: tenth(r.txns_p90),
            suggested_stock: f64::from(r.txns_p90).ceil() as i64,
        })
        .collect();
    let mut accuracy_rows: Vec<Accuracy> = past
        .iter()
        .map(|a| accuracy(Some(a.horizon), a.weeks, a.abs_error, a.actual, a.covered))
        .collect();
    accuracy_rows.push(accuracy(
        None,
        past.iter().map(|a| a.weeks).sum(),
        past.iter().map(|a| a.abs_error).sum(),
        past.iter().map(|a| a.actual).sum(),
        past.iter().map(|a| a.covered).sum(),
    ));
    let body = Forecast {
        meta: scope.meta(),
        origin_week: latest.map(|(w, _)| Day(w)),
        model_version: latest.map(|(_, v)| v),
        weeks,
        accuracy: accuracy_rows,
    };
    reply("forecast", &params, body)
}
