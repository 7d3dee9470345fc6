//! Feature snapshots: what the models see about customers and merchant weeks on a cut-off
//! date. The one implementation of every feature, used both to export training data
//! (`lyra features export`) and to score, so training and serving cannot drift apart.
//!
//! Everything before the cut-off (`as_of`, 00:00 Moscow) is history; days are Moscow days.
//! Labels (what happened after the cut-off) ride along in the same frames, for training and
//! evaluation only; scoring never reads them.

use std::io::Cursor;
use std::path::Path;

use anyhow::Context;
use futures::TryStreamExt;
use polars::prelude::*;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use sqlx::postgres::PgPoolCopyExt;
use time::{Date, Duration};

use lyra_common::calendar;

/// Days of history the customer features look back over.
pub const LOOKBACK_DAYS: i32 = 365;
/// Days after the cut-off over which a customer's spend is predicted.
pub const SPEND_LABEL_DAYS: i32 = 90;
/// The first half of that window, a label of its own (`label_spend_45`): the two halves of a
/// customer's spend let the training report estimate the noise no forecast can remove.
pub const SPEND_HALF_LABEL_DAYS: i32 = SPEND_LABEL_DAYS / 2;
/// Days after the cut-off over which category purchases are predicted.
pub const PROPENSITY_LABEL_DAYS: i32 = 30;
/// Weeks ahead the demand forecast covers.
pub const HORIZONS: usize = 8;

/// Smoothing factor of the `*_ses_30` level columns (simple exponential smoothing, α = 0.30;
/// chosen among 0.2–0.5 on the demand model's validation origins).
const SES_ALPHA: f64 = 0.3;

/// Hour buckets of the day profile: name and first hour (Moscow), in order.
const HOUR_BUCKETS: [(&str, i32); 5] = [
    ("hour_night", 0),
    ("hour_morning", 6),
    ("hour_midday", 11),
    ("hour_afternoon", 15),
    ("hour_evening", 18),
];

/// What a snapshot covers; written next to the Parquet files as `snapshot.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapshotInfo {
    /// The cut-off (ISO date): history is everything before this day.
    pub as_of: String,
    /// First day with transactions in the database.
    pub data_from: Option<String>,
    /// Last day with transactions in the database.
    pub data_until: Option<String>,
    /// Days after `as_of` covered by `label_spend_90`.
    pub customer_label_days: i32,
    /// Days after `as_of` covered by `label_buy_30_*`.
    pub propensity_label_days: i32,
    /// Whether the data covers the whole customer label window.
    pub customer_labels_complete: bool,
    /// Category group codes in catalogue order.
    pub groups: Vec<String>,
    /// Customer feature columns, in order.
    pub customer_features: Vec<String>,
    /// Merchant-week feature columns, in order.
    pub merchant_week_features: Vec<String>,
    /// Rows in each file.
    pub customers: usize,
    /// Rows in `merchant_weeks.parquet`.
    pub merchant_weeks: usize,
}

/// Category group codes in catalogue order (the order of every per-group column).
pub async fn category_groups(pool: &PgPool) -> anyhow::Result<Vec<String>> {
    Ok(
        sqlx::query_scalar("SELECT code FROM ingest.category_groups ORDER BY position")
            .fetch_all(pool)
            .await?,
    )
}

/// The customer feature columns, in order.
pub fn customer_feature_names(groups: &[String]) -> Vec<String> {
    let mut names: Vec<String> = [
        "recency_days",
        "tenure_days",
        "history_days",
        "age",
        "gender_f",
    ]
    .map(String::from)
    .to_vec();
    for n in [30, 90, 365] {
        names.push(format!("txns_{n}"));
    }
    for n in [30, 90, 365] {
        names.push(format!("spend_{n}"));
    }
    for n in [30, 90, 365] {
        names.push(format!("active_days_{n}"));
    }
    names.extend(
        [
            "avg_ticket_365",
            "trend_90",
            "merchants_365",
            "ecom_share_365",
        ]
        .map(String::from),
    );
    names.extend(groups.iter().map(|g| format!("share_{g}")));
    names.extend(groups.iter().map(|g| format!("purchases_{g}")));
    names.extend((0..7).map(|d| format!("dow_{d}")));
    names.extend(HOUR_BUCKETS.map(|(name, _)| name.to_string()));
    names.extend(
        [
            "bg_frequency",
            "bg_recency_days",
            "bg_age_days",
            "bg_monetary",
        ]
        .map(String::from),
    );
    names
}

/// The customer label columns, in order.
pub fn customer_label_names(groups: &[String]) -> Vec<String> {
    let mut names = vec![
        format!("label_spend_{SPEND_LABEL_DAYS}"),
        format!("label_spend_{SPEND_HALF_LABEL_DAYS}"),
    ];
    names.extend(
        groups
            .iter()
            .map(|g| format!("label_buy_{PROPENSITY_LABEL_DAYS}_{g}")),
    );
    names
}

/// The merchant-week feature columns, in order.
pub fn merchant_week_feature_names() -> Vec<String> {
    let mut names: Vec<String> = ["revenue", "txns", "rev_lag_1", "rev_lag_2", "rev_lag_3"]
        .map(String::from)
        .to_vec();
    for k in [4, 8, 13, 26] {
        names.push(format!("rev_mean_{k}"));
    }
    names.extend(["rev_std_8", "txn_mean_4", "txn_mean_13"].map(String::from));
    names.extend(["rev_ses_30", "txn_ses_30"].map(String::from));
    for prefix in ["rev_ly", "txn_ly", "holidays", "paydays"] {
        names.extend((1..=HORIZONS).map(|h| format!("{prefix}_h{h}")));
    }
    names.extend(["woy_sin", "woy_cos", "weeks_active"].map(String::from));
    names
}

/// The merchant-week label columns, in order.
pub fn merchant_week_label_names() -> Vec<String> {
    ["target_rev", "target_txn"]
        .iter()
        .flat_map(|p| (1..=HORIZONS).map(move |h| format!("{p}_h{h}")))
        .collect()
}

fn date_literal(d: Date) -> String {
    // `Date`'s Display is ISO 8601; no user text reaches the statement.
    format!("DATE '{d}'")
}

/// Streams a query's rows out of Postgres as CSV (the fastest way to bulk-read).
async fn copy_out_csv(pool: &PgPool, query: &str) -> anyhow::Result<Vec<u8>> {
    let mut stream = pool
        .copy_out_raw(&format!("COPY ({query}) TO STDOUT WITH (FORMAT csv)"))
        .await?;
    let mut buf = Vec::new();
    while let Some(chunk) = TryStreamExt::try_next(&mut stream).await? {
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

fn read_csv(bytes: Vec<u8>, schema: Schema) -> anyhow::Result<DataFrame> {
    Ok(CsvReadOptions::default()
        .with_has_header(false)
        .with_schema(Some(Arc::new(schema)))
        .into_reader_with_file_handle(Cursor::new(bytes))
        .finish()?)
}

/// Card transactions in roubles from `as_of - LOOKBACK_DAYS` to `as_of + SPEND_LABEL_DAYS`,
/// one row each: customer, merchant, category group position, day relative to the cut-off
/// (`d < 0` is history), Moscow hour and weekday, amount, e-commerce flag.
async fn load_transactions(pool: &PgPool, as_of: Date) -> anyhow::Result<(Vec<u8>, Schema)> {
    let from = as_of - Duration::days(LOOKBACK_DAYS.into());
    let to = as_of + Duration::days(SPEND_LABEL_DAYS.into());
    let query = format!(
        "SELECT t.customer_id, t.merchant_id, g.position,
                (local::date - {as_of})::int,
                extract(hour FROM local)::int,
                extract(isodow FROM local)::int - 1,
                t.amount_minor,
                (t.channel = 'ecom')::int
         FROM ingest.transactions t
         CROSS JOIN LATERAL (SELECT t.booked_at AT TIME ZONE 'Europe/Moscow' AS local) l
         JOIN ingest.merchants m ON m.merchant_id = t.merchant_id
         JOIN ingest.mcc_codes c ON c.mcc = m.mcc
         JOIN ingest.category_groups g ON g.code = c.category_group
         WHERE t.currency = 'RUB'
           AND t.booked_at >= {from}::timestamp AT TIME ZONE 'Europe/Moscow'
           AND t.booked_at < {to}::timestamp AT TIME ZONE 'Europe/Moscow'",
        as_of = date_literal(as_of),
        from = date_literal(from),
        to = date_literal(to),
    );
    let schema = Schema::from_iter([
        Field::new("customer_id".into(), DataType::Int64),
        Field::new("merchant_id".into(), DataType::Int64),
        Field::new("grp".into(), DataType::Int32),
        Field::new("d".into(), DataType::Int32),
        Field::new("hour".into(), DataType::Int32),
        Field::new("dow".into(), DataType::Int32),
        Field::new("amount_minor".into(), DataType::Int64),
        Field::new("ecom".into(), DataType::Int32),
    ]);
    Ok((copy_out_csv(pool, &query).await?, schema))
}

/// Demographics of every customer, with days relative to the cut-off.
async fn load_customers(pool: &PgPool, as_of: Date) -> anyhow::Result<(Vec<u8>, Schema)> {
    let query = format!(
        "SELECT customer_id,
                (extract(year FROM {as_of})::int - birth_year)::float8,
                (gender = 'F')::int::float8,
                ({as_of} - client_since)::float8
         FROM ingest.customers",
        as_of = date_literal(as_of)
    );
    let schema = Schema::from_iter([
        Field::new("customer_id".into(), DataType::Int64),
        Field::new("age".into(), DataType::Float64),
        Field::new("gender_f".into(), DataType::Float64),
        Field::new("tenure_days".into(), DataType::Float64),
    ]);
    Ok((copy_out_csv(pool, &query).await?, schema))
}

fn f64_(e: Expr) -> Expr {
    e.cast(DataType::Float64)
}

/// `num / den` where `den > 0`, else 0.
fn ratio(num: Expr, den: Expr) -> Expr {
    when(den.clone().gt(lit(0.0)))
        .then(num / den)
        .otherwise(lit(0.0))
}

fn at_most_one(e: Expr) -> Expr {
    when(e.clone().gt(lit(1.0))).then(lit(1.0)).otherwise(e)
}

fn positive(e: Expr) -> Expr {
    when(e.clone().gt(lit(0.0))).then(e).otherwise(lit(0.0))
}

/// Customer features (and labels) as of `as_of`: one row per customer with at least one
/// transaction in the `LOOKBACK_DAYS` before it, columns `customer_id`, then
/// [`customer_feature_names`], then [`customer_label_names`].
pub async fn customer_features(
    pool: &PgPool,
    as_of: Date,
    groups: &[String],
) -> anyhow::Result<DataFrame> {
    let tx = load_transactions(pool, as_of)
        .await
        .context("loading transactions")?;
    let customers = load_customers(pool, as_of)
        .await
        .context("loading customers")?;
    let groups = groups.to_vec();
    blocking(move || {
        let tx = read_csv(tx.0, tx.1)?;
        let customers = read_csv(customers.0, customers.1)?;
        customer_frame(tx.lazy(), customers.lazy(), &groups)
    })
    .await
}

/// Runs Polars work on the blocking pool: it is CPU-bound, and Polars must not run on an
/// async worker thread.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    tokio::task::spawn_blocking(work).await?
}

/// The feature arithmetic of [`customer_features`], over frames already loaded.
fn customer_frame(
    tx: LazyFrame,
    customers: LazyFrame,
    groups: &[String],
) -> anyhow::Result<DataFrame> {
    let tx =
        tx.with_column((col("amount_minor").cast(DataType::Float64) / lit(100.0)).alias("amount"));
    let hist = tx.clone().filter(col("d").lt(lit(0)));
    let last = |n: i32| col("d").gt_eq(lit(-n));

    let mut aggs = vec![
        f64_(-col("d").max()).alias("recency_days"),
        f64_(-col("d").min()).alias("history_days"),
        f64_(col("merchant_id").n_unique()).alias("merchants_365"),
        f64_(col("ecom")).mean().alias("ecom_share_365"),
        col("amount")
            .filter(col("d").gt_eq(lit(-180)).and(col("d").lt(lit(-90))))
            .sum()
            .alias("spend_prev_90"),
    ];
    for n in [30, 90, 365] {
        aggs.push(f64_(last(n)).sum().alias(format!("txns_{n}")));
        aggs.push(
            col("amount")
                .filter(last(n))
                .sum()
                .alias(format!("spend_{n}")),
        );
        aggs.push(f64_(col("d").filter(last(n)).n_unique()).alias(format!("active_days_{n}")));
    }
    for (pos, g) in groups.iter().enumerate() {
        let in_group = col("grp").eq(lit(pos as i32));
        aggs.push(
            col("amount")
                .filter(in_group.clone())
                .sum()
                .alias(format!("spend_{g}")),
        );
        // Purchases, not spend: how often someone buys in a group is what predicts whether
        // they buy there next month; spend shares blur it with ticket sizes.
        aggs.push(
            f64_(in_group.and(col("amount").gt(lit(0.0))))
                .sum()
                .alias(format!("purchases_{g}")),
        );
    }
    for d in 0..7 {
        aggs.push(f64_(col("dow").eq(lit(d))).mean().alias(format!("dow_{d}")));
    }
    for (i, (name, start)) in HOUR_BUCKETS.iter().enumerate() {
        let end = HOUR_BUCKETS.get(i + 1).map_or(24, |b| b.1);
        let inside = col("hour").gt_eq(lit(*start)).and(col("hour").lt(lit(end)));
        aggs.push(f64_(inside).mean().alias(*name));
    }
    let per_customer = hist.clone().group_by([col("customer_id")]).agg(aggs);

    // BG/NBD inputs count purchase days, as `lifetimes` does. The day totals come out of the
    // first grouping in no fixed order, so they are summed in kopecks (exact) rather than
    // roubles (a float sum whose last bits would vary between runs).
    let days = hist
        .group_by([col("customer_id"), col("d")])
        .agg([col("amount_minor").sum()])
        .group_by([col("customer_id")])
        .agg([
            f64_(col("d").n_unique() - lit(1)).alias("bg_frequency"),
            f64_(col("d").max() - col("d").min()).alias("bg_recency_days"),
            f64_(-col("d").min()).alias("bg_age_days"),
            ratio(
                f64_(
                    col("amount_minor").sum()
                        - col("amount_minor")
                            .sort_by([col("d")], Default::default())
                            .first(),
                ) / lit(100.0),
                f64_(col("d").n_unique() - lit(1)),
            )
            .alias("bg_monetary"),
        ]);

    let mut label_aggs = vec![
        col("amount")
            .filter(col("d").lt(lit(SPEND_LABEL_DAYS)))
            .sum()
            .alias(format!("label_spend_{SPEND_LABEL_DAYS}")),
        col("amount")
            .filter(col("d").lt(lit(SPEND_HALF_LABEL_DAYS)))
            .sum()
            .alias(format!("label_spend_{SPEND_HALF_LABEL_DAYS}")),
    ];
    for (pos, g) in groups.iter().enumerate() {
        let bought = col("grp")
            .eq(lit(pos as i32))
            .and(col("d").lt(lit(PROPENSITY_LABEL_DAYS)));
        label_aggs
            .push(f64_(bought.any(true)).alias(format!("label_buy_{PROPENSITY_LABEL_DAYS}_{g}")));
    }
    let labels = tx
        .filter(col("d").gt_eq(lit(0)))
        .group_by([col("customer_id")])
        .agg(label_aggs);

    let mut derived = vec![
        ratio(col("spend_365"), col("txns_365")).alias("avg_ticket_365"),
        ((positive(col("spend_90")) + lit(1.0)) / (positive(col("spend_prev_90")) + lit(1.0)))
            .alias("trend_90"),
    ];
    for g in groups {
        derived.push(
            at_most_one(ratio(
                positive(col(format!("spend_{g}"))),
                positive(col("spend_365")),
            ))
            .alias(format!("share_{g}")),
        );
    }
    let features = customer_feature_names(groups);
    let label_names = customer_label_names(groups);
    let mut select = vec![col("customer_id")];
    select.extend(features.iter().map(|f| col(f.as_str()).fill_null(lit(0.0))));
    select.extend(
        label_names
            .iter()
            .map(|f| col(f.as_str()).fill_null(lit(0.0))),
    );

    let mut frame = per_customer
        .with_columns(derived)
        .join(
            days,
            [col("customer_id")],
            [col("customer_id")],
            JoinArgs::new(JoinType::Left),
        )
        .join(
            customers,
            [col("customer_id")],
            [col("customer_id")],
            JoinArgs::new(JoinType::Left),
        )
        .join(
            labels,
            [col("customer_id")],
            [col("customer_id")],
            JoinArgs::new(JoinType::Left),
        )
        .select(select)
        .sort(["customer_id"], Default::default())
        .collect()?;
    // Polars without its `log` feature: the logarithm of the trend ratio, in place.
    let trend: Float64Chunked = frame.column("trend_90")?.f64()?.apply_values(f64::ln);
    frame.with_column(
        trend
            .into_series()
            .with_name("trend_90".into())
            .into_column(),
    )?;
    Ok(frame)
}

/// One merchant's weekly series: revenue (roubles) and transactions per week from its first
/// week with sales.
struct Series {
    merchant_id: i64,
    group: String,
    first_week: i64,
    revenue: Vec<f64>,
    txns: Vec<f64>,
}

/// Week number of `day`: whole weeks since Monday 1970-01-05 (so weeks start on Monday).
fn week_of(day: Date) -> i64 {
    let monday = time::macros::date!(1970 - 01 - 05);
    (day - monday).whole_days().div_euclid(7)
}

/// The forecast origin for a cut-off: the Monday of the last whole week before `as_of`.
pub fn last_origin_week(as_of: Date) -> Date {
    week_start(week_of(as_of) - 1)
}

fn week_start(week: i64) -> Date {
    time::macros::date!(1970 - 01 - 05) + Duration::weeks(week)
}

/// Daily rollups folded into weekly series, one per merchant (its category group is the
/// group of its MCC), with the first and last day that have any sales.
async fn load_series(pool: &PgPool) -> anyhow::Result<(Vec<Series>, Option<(Date, Date)>)> {
    let rows: Vec<(i64, String, Date, i64, i64)> = sqlx::query_as(
        "SELECT d.merchant_id, c.category_group, d.day, d.revenue_minor, d.transactions
         FROM ingest.merchant_daily d
         JOIN ingest.merchants m ON m.merchant_id = d.merchant_id
         JOIN ingest.mcc_codes c ON c.mcc = m.mcc
         ORDER BY d.merchant_id, d.day",
    )
    .fetch_all(pool)
    .await?;
    let span = rows
        .iter()
        .map(|r| r.2)
        .min()
        .zip(rows.iter().map(|r| r.2).max());
    let mut series: Vec<Series> = Vec::new();
    for (merchant_id, group, day, revenue, txns) in rows {
        let week = week_of(day);
        if series.last().is_none_or(|s| s.merchant_id != merchant_id) {
            series.push(Series {
                merchant_id,
                group,
                first_week: week,
                revenue: Vec::new(),
                txns: Vec::new(),
            });
        }
        let s = series.last_mut().expect("pushed above");
        let i = (week - s.first_week) as usize;
        if s.revenue.len() <= i {
            s.revenue.resize(i + 1, 0.0);
            s.txns.resize(i + 1, 0.0);
        }
        s.revenue[i] += revenue as f64 / 100.0;
        s.txns[i] += txns as f64;
    }
    Ok((series, span))
}

fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        0.0
    } else {
        xs.iter().sum::<f64>() / xs.len() as f64
    }
}

fn std_dev(xs: &[f64]) -> f64 {
    if xs.len() < 2 {
        return 0.0;
    }
    let m = mean(xs);
    (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (xs.len() - 1) as f64).sqrt()
}

/// Counts the days of week `week` for which `pred` holds.
fn days_in_week(week: i64, pred: impl Fn(Date) -> bool) -> f64 {
    let start = week_start(week);
    (0..7).filter(|&i| pred(start + Duration::days(i))).count() as f64
}

/// Merchant-week features (and labels) as of `as_of`: one row per merchant and week `t`
/// from the merchant's first week with sales to the last week that ends by `as_of`,
/// describing what is known at the end of week `t` (the forecast origin). Columns
/// `merchant_id`, `category_group`, `week_start`, then [`merchant_week_feature_names`], then
/// [`merchant_week_label_names`] (null where week `t + h` is not wholly inside the data).
pub async fn merchant_week_features(pool: &PgPool, as_of: Date) -> anyhow::Result<DataFrame> {
    let (series, span) = load_series(pool).await.context("loading daily rollups")?;
    blocking(move || Ok(merchant_week_frame(&series, span, as_of)?)).await
}

fn merchant_week_frame(
    series: &[Series],
    span: Option<(Date, Date)>,
    as_of: Date,
) -> PolarsResult<DataFrame> {
    let last_origin = week_of(as_of) - 1; // the last week ending on or before as_of
    // The last week wholly inside the data (its Sunday is the last day with data or earlier).
    let last_full = span.map_or(i64::MIN, |(_, until)| {
        week_of(until + Duration::days(1)) - 1
    });
    let feature_names = merchant_week_feature_names();
    let label_names = merchant_week_label_names();
    let mut merchant = Vec::new();
    let mut group = Vec::new();
    let mut starts = Vec::new();
    let mut features: Vec<Vec<f64>> = vec![Vec::new(); feature_names.len()];
    let mut labels: Vec<Vec<Option<f64>>> = vec![Vec::new(); label_names.len()];

    for s in series {
        let value = |v: &[f64], week: i64| -> f64 {
            let i = week - s.first_week;
            if i < 0 {
                0.0
            } else {
                v.get(i as usize).copied().unwrap_or(0.0)
            }
        };
        let window = |v: &[f64], t: i64, k: i64| -> Vec<f64> {
            (t - k + 1..=t)
                .filter(|w| *w >= s.first_week)
                .map(|w| value(v, w))
                .collect()
        };
        // Simple exponential smoothing of each series (the level an ETS model tracks), started
        // at the series' first week and updated once per week.
        let (mut rev_level, mut txn_level) = (0.0, 0.0);
        for t in s.first_week..=last_origin {
            let (r, x) = (value(&s.revenue, t), value(&s.txns, t));
            if t == s.first_week {
                (rev_level, txn_level) = (r, x);
            } else {
                rev_level += SES_ALPHA * (r - rev_level);
                txn_level += SES_ALPHA * (x - txn_level);
            }
            merchant.push(s.merchant_id);
            group.push(s.group.clone());
            starts.push(week_start(t));
            let (rev, txn) = (&s.revenue[..], &s.txns[..]);
            let mut row = vec![value(rev, t), value(txn, t)];
            row.extend((1..=3).map(|l| value(rev, t - l)));
            row.extend([4, 8, 13, 26].map(|k| mean(&window(rev, t, k))));
            row.push(std_dev(&window(rev, t, 8)));
            row.push(mean(&window(txn, t, 4)));
            row.push(mean(&window(txn, t, 13)));
            row.extend([rev_level, txn_level]);
            let horizons = 1..=HORIZONS as i64;
            row.extend(horizons.clone().map(|h| value(rev, t + h - 52)));
            row.extend(horizons.clone().map(|h| value(txn, t + h - 52)));
            row.extend(
                horizons
                    .clone()
                    .map(|h| days_in_week(t + h, calendar::is_public_holiday)),
            );
            row.extend(
                horizons
                    .clone()
                    .map(|h| days_in_week(t + h, calendar::is_payday)),
            );
            let woy = f64::from(week_start(t + 1).iso_week());
            let angle = 2.0 * std::f64::consts::PI * woy / 52.0;
            row.extend([angle.sin(), angle.cos(), (t - s.first_week + 1) as f64]);
            for (column, v) in features.iter_mut().zip(row) {
                column.push(v);
            }
            let known = |w: i64| w <= last_full;
            let targets = horizons
                .clone()
                .map(|h| known(t + h).then(|| value(rev, t + h)))
                .chain(horizons.map(|h| known(t + h).then(|| value(txn, t + h))));
            for (column, v) in labels.iter_mut().zip(targets) {
                column.push(v);
            }
        }
    }
    let height = merchant.len();
    let mut columns = vec![
        Column::new("merchant_id".into(), merchant),
        Column::new("category_group".into(), group),
        Column::new(
            "week_start".into(),
            starts
                .iter()
                .map(|d| date_to_days(*d))
                .collect::<Vec<i32>>(),
        )
        .cast(&DataType::Date)?,
    ];
    for (name, values) in feature_names.iter().zip(features) {
        columns.push(Column::new(name.as_str().into(), values));
    }
    for (name, values) in label_names.iter().zip(labels) {
        columns.push(Column::new(name.as_str().into(), values));
    }
    DataFrame::new(height, columns)
}

/// Days since 1970-01-01, Polars' representation of a date.
pub fn date_to_days(d: Date) -> i32 {
    (d - time::macros::date!(1970 - 01 - 01)).whole_days() as i32
}

/// Writes a snapshot as of `as_of` into `dir`: `customers.parquet`, `merchant_weeks.parquet`
/// and `snapshot.json`. A cut-off with no transactions before it is refused (naming the span
/// of the data) and writes nothing.
pub async fn export(pool: &PgPool, as_of: Date, dir: &Path) -> anyhow::Result<SnapshotInfo> {
    let (series, span) = load_series(pool).await.context("loading daily rollups")?;
    match span {
        None => anyhow::bail!("no transactions in the database: there is nothing to export"),
        Some((from, until)) if as_of <= from => anyhow::bail!(
            "no transactions before the cut-off {as_of}: the data runs from {from} to {until}"
        ),
        Some(_) => {}
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let groups = category_groups(pool).await?;
    let mut customers = customer_features(pool, as_of, &groups).await?;
    let target = dir.to_path_buf();
    let (customers, weeks) = blocking(move || {
        let mut weeks = merchant_week_frame(&series, span, as_of)?;
        write_parquet(&mut customers, &target.join("customers.parquet"))?;
        write_parquet(&mut weeks, &target.join("merchant_weeks.parquet"))?;
        Ok((customers, weeks))
    })
    .await?;
    let info = SnapshotInfo {
        as_of: as_of.to_string(),
        data_from: span.map(|s| s.0.to_string()),
        data_until: span.map(|s| s.1.to_string()),
        customer_label_days: SPEND_LABEL_DAYS,
        propensity_label_days: PROPENSITY_LABEL_DAYS,
        customer_labels_complete: span.is_some_and(|(_, until)| {
            until >= as_of + Duration::days((SPEND_LABEL_DAYS - 1).into())
        }),
        customer_features: customer_feature_names(&groups),
        merchant_week_features: merchant_week_feature_names(),
        groups,
        customers: customers.height(),
        merchant_weeks: weeks.height(),
    };
    let path = dir.join("snapshot.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&info)?)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(info)
}

fn write_parquet(frame: &mut DataFrame, path: &Path) -> anyhow::Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    anyhow::Context::with_context(ParquetWriter::new(file).finish(frame), || {
        format!("writing {}", path.display())
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn value(frame: &DataFrame, row: usize, name: &str) -> f64 {
        frame.column(name).unwrap().f64().unwrap().get(row).unwrap()
    }

    #[test]
    fn customer_features_by_hand() {
        let groups = vec!["groceries".to_string(), "restaurants".to_string()];
        // customer, merchant, group, day, hour, weekday, amount (kopecks), ecom
        type Row = (i64, i64, i32, i32, i32, i32, i64, i32);
        let rows: [Row; 9] = [
            (1, 10, 0, -1, 9, 0, 10_000, 0),
            (1, 11, 1, -40, 20, 4, 30_000, 1),
            (1, 10, 0, -200, 13, 5, 60_000, 0),
            (1, 11, 1, 5, 12, 2, 5_000, 0),
            (1, 10, 0, 60, 12, 2, 1_000, 0),
            (2, 10, 0, 3, 12, 2, 1_000, 0), // only after the cut-off: not a customer yet
            (3, 10, 0, -400, 12, 2, 1_000, 0),
            (4, 10, 0, -5, 12, 2, 2_000, 0), // a purchase and its refund: one purchase
            (4, 10, 0, -3, 12, 2, -2_000, 0),
        ];
        let tx = df!(
            "customer_id" => rows.map(|r| r.0),
            "merchant_id" => rows.map(|r| r.1),
            "grp" => rows.map(|r| r.2),
            "d" => rows.map(|r| r.3),
            "hour" => rows.map(|r| r.4),
            "dow" => rows.map(|r| r.5),
            "amount_minor" => rows.map(|r| r.6),
            "ecom" => rows.map(|r| r.7),
        )
        .unwrap()
        // The loader never returns rows before the look-back window; customer 3 shows the
        // frame does not rely on that for its row set.
        .lazy()
        .filter(col("d").gt_eq(lit(-LOOKBACK_DAYS)));
        let customers = df!(
            "customer_id" => [1i64, 2, 3, 4],
            "age" => [30.0, 40.0, 50.0, 60.0],
            "gender_f" => [1.0, 0.0, 1.0, 0.0],
            "tenure_days" => [900.0, 10.0, 2000.0, 30.0],
        )
        .unwrap()
        .lazy();
        let f = customer_frame(tx, customers, &groups).unwrap();
        assert_eq!(f.height(), 2, "{f}");
        let expected = [
            ("recency_days", 1.0),
            ("history_days", 200.0),
            ("tenure_days", 900.0),
            ("age", 30.0),
            ("gender_f", 1.0),
            ("txns_30", 1.0),
            ("txns_90", 2.0),
            ("txns_365", 3.0),
            ("spend_30", 100.0),
            ("spend_90", 400.0),
            ("spend_365", 1000.0),
            ("active_days_365", 3.0),
            ("avg_ticket_365", 1000.0 / 3.0),
            ("trend_90", (401.0f64 / 1.0).ln()),
            ("merchants_365", 2.0),
            ("ecom_share_365", 1.0 / 3.0),
            ("share_groceries", 0.7),
            ("share_restaurants", 0.3),
            ("purchases_groceries", 2.0),
            ("purchases_restaurants", 1.0),
            ("dow_0", 1.0 / 3.0),
            ("dow_4", 1.0 / 3.0),
            ("dow_6", 0.0),
            ("hour_morning", 1.0 / 3.0),
            ("hour_midday", 1.0 / 3.0),
            ("hour_evening", 1.0 / 3.0),
            ("bg_frequency", 2.0),
            ("bg_recency_days", 199.0),
            ("bg_age_days", 200.0),
            ("bg_monetary", 200.0),
            ("label_spend_90", 60.0),
            ("label_spend_45", 50.0),
            ("label_buy_30_groceries", 0.0),
            ("label_buy_30_restaurants", 1.0),
        ];
        for (name, want) in expected {
            let got = value(&f, 0, name);
            assert!((got - want).abs() < 1e-9, "{name}: {got} != {want}");
        }
        assert_eq!(value(&f, 1, "txns_365"), 2.0);
        assert_eq!(value(&f, 1, "purchases_groceries"), 1.0);
        let names: Vec<String> = f.get_column_names().iter().map(|n| n.to_string()).collect();
        let mut want = vec!["customer_id".to_string()];
        want.extend(customer_feature_names(&groups));
        want.extend(customer_label_names(&groups));
        assert_eq!(names, want);
    }

    #[test]
    fn merchant_weeks_by_hand() {
        // A series starting on Monday 2026-01-05 with revenue w+1 roubles in its w-th week.
        let first = week_of(date!(2026 - 01 - 05));
        let series = Series {
            merchant_id: 7,
            group: "groceries".into(),
            first_week: first,
            revenue: (0..60).map(|w| f64::from(w + 1)).collect(),
            txns: vec![2.0; 60],
        };
        // Data through Sunday 2027-02-28 = the end of week 59; cut-off Wednesday 2026-03-04:
        // the last origin is the week of 2026-02-23 (week 7).
        let span = Some((date!(2026 - 01 - 05), date!(2027 - 02 - 28)));
        let f = merchant_week_frame(&[series], span, date!(2026 - 03 - 04)).unwrap();
        assert_eq!(f.height(), 8);
        let last = 7;
        assert_eq!(value(&f, last, "revenue"), 8.0);
        assert_eq!(value(&f, last, "rev_lag_3"), 5.0);
        assert_eq!(value(&f, last, "rev_mean_4"), (5.0 + 6.0 + 7.0 + 8.0) / 4.0);
        assert_eq!(value(&f, last, "rev_mean_26"), 4.5); // only 8 weeks exist
        // Levels 1, 1.3, 1.81, 2.467, 3.2269, 4.05883, 4.941181, then 0.7 × that + 0.3 × 8.
        assert!((value(&f, last, "rev_ses_30") - 5.8588267).abs() < 1e-9);
        assert_eq!(value(&f, 0, "rev_ses_30"), 1.0);
        assert!((value(&f, last, "txn_ses_30") - 2.0).abs() < 1e-12);
        assert_eq!(value(&f, last, "rev_ly_h1"), 0.0); // before the series started
        assert_eq!(value(&f, last, "weeks_active"), 8.0);
        assert_eq!(value(&f, last, "target_rev_h1"), 9.0);
        assert_eq!(value(&f, last, "target_rev_h8"), 16.0);
        assert_eq!(value(&f, last, "target_txn_h8"), 2.0);
        // 5-11 January holds 4 holidays (5th to 8th), 29 December-4 January another 4.
        assert_eq!(days_in_week(first, calendar::is_public_holiday), 4.0);
        assert_eq!(days_in_week(first - 1, calendar::is_public_holiday), 4.0);
        let holidays = f.column("holidays_h1").unwrap().f64().unwrap();
        assert_eq!(holidays.get(0), Some(0.0)); // origin week 0 → target week 1
        let paydays = f.column("paydays_h1").unwrap().f64().unwrap();
        assert_eq!(paydays.get(0), Some(0.0)); // 12-18 January
        assert_eq!(paydays.get(1), Some(1.0)); // 19-25 January holds the 20th
        // Targets past the data are null.
        let short = Some((date!(2026 - 01 - 05), date!(2026 - 03 - 10)));
        let series = Series {
            merchant_id: 7,
            group: "groceries".into(),
            first_week: first,
            revenue: vec![1.0; 10],
            txns: vec![1.0; 10],
        };
        let f = merchant_week_frame(&[series], short, date!(2026 - 03 - 04)).unwrap();
        // Week 8 (2-8 March) is inside the data, week 9 (9-15 March) only partly.
        let h1 = f.column("target_rev_h1").unwrap().f64().unwrap();
        let h2 = f.column("target_rev_h2").unwrap().f64().unwrap();
        assert_eq!((h1.get(7), h2.get(7)), (Some(1.0), None));
    }
}
