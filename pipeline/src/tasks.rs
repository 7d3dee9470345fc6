//! The four jobs. Each replaces its own earlier results for the same cut-off (and model
//! version) in one database transaction, so a re-run never duplicates anything and a failed
//! run leaves the previous results in place.

use std::collections::HashMap;

use anyhow::Context as _;
use futures::future::BoxFuture;
use polars::prelude::*;
use sqlx::PgPool;
use time::{Date, Duration};

use crate::features;
use crate::jobs::{JobKind, Run, Trigger};
use crate::models::{ActiveModel, ModelClient, Output};

/// The customer models, scored by the `score` job.
pub const CUSTOMER_MODELS: [&str; 3] = ["segmentation", "purchasing_power", "category_propensity"];
/// The demand model, used by the `forecast` job.
pub const DEMAND_MODEL: &str = "demand_forecast";

/// What the jobs need.
pub struct Context {
    /// The platform role's pool.
    pub pool: PgPool,
    /// model-svc, when scoring is configured.
    pub models: Option<ModelClient>,
    /// Rows per prediction request.
    pub batch_rows: usize,
}

/// Progress callback: units done and, once known, in all.
pub type Progress<'a> = &'a (dyn Fn(u64, Option<u64>) + Send + Sync);

/// The default cut-off: the day after the last day with transactions (today's data is
/// partial until the day ends).
pub async fn default_as_of(pool: &PgPool) -> anyhow::Result<Date> {
    let last: Option<Date> = sqlx::query_scalar("SELECT max(day) FROM ingest.merchant_daily")
        .fetch_one(pool)
        .await?;
    let last = last.context("there are no transactions yet")?;
    Ok(last + Duration::days(1))
}

/// Runs one job, recording it in `pipeline.jobs`; the error, if any, is recorded too.
pub async fn run(
    ctx: &Context,
    kind: JobKind,
    as_of: Date,
    trigger: Trigger,
    progress: Progress<'_>,
) -> anyhow::Result<serde_json::Value> {
    let run = Run::start(&ctx.pool, kind, as_of, trigger).await?;
    execute(ctx, run, progress).await
}

/// Runs a job already recorded by [`Run::start`] and records how it ended.
pub async fn execute(
    ctx: &Context,
    run: Run,
    progress: Progress<'_>,
) -> anyhow::Result<serde_json::Value> {
    let (kind, as_of, id) = (run.kind, run.as_of, run.id);
    let report = |done: u64, total: Option<u64>| -> BoxFuture<'_, ()> {
        progress(done, total);
        let run = &run;
        Box::pin(async move {
            if let Err(e) = run.progress(done, total).await {
                tracing::warn!(error = %e, "cannot record job progress");
            }
        })
    };
    let result = match kind {
        JobKind::Features => build_features(ctx, id, as_of, &report).await,
        JobKind::Score => score(ctx, as_of, &report).await,
        JobKind::Forecast => forecast(ctx, as_of, &report).await,
        JobKind::Peers => peers(ctx, as_of).await,
    };
    match result {
        Ok(detail) => {
            run.succeed(detail.clone()).await?;
            Ok(detail)
        }
        Err(e) => {
            let message = format!("{e:#}");
            tracing::error!(job = %kind, error = %message, "job failed");
            run.fail(&message).await?;
            Err(e)
        }
    }
}

type Report<'a> = dyn Fn(u64, Option<u64>) -> BoxFuture<'a, ()> + Sync + 'a;

/// Stores the customer features as of `as_of` (replacing that cut-off's earlier set).
async fn build_features(
    ctx: &Context,
    job_id: uuid::Uuid,
    as_of: Date,
    report: &Report<'_>,
) -> anyhow::Result<serde_json::Value> {
    let groups = features::category_groups(&ctx.pool).await?;
    let frame = features::customer_features(&ctx.pool, as_of, &groups).await?;
    let names = features::customer_feature_names(&groups);
    let rows = frame.height() as u64;
    report(0, Some(rows)).await;

    let ids = frame.column("customer_id")?.i64()?;
    let columns = names
        .iter()
        .map(|n| Ok(frame.column(n)?.f64()?.clone()))
        .collect::<PolarsResult<Vec<_>>>()?;
    let mut text = String::with_capacity(frame.height() * names.len() * 8);
    for row in 0..frame.height() {
        let id = ids.get(row).context("customer id is null")?;
        text.push_str(&format!("{as_of}\t{id}\t{{"));
        for (i, c) in columns.iter().enumerate() {
            if i > 0 {
                text.push(',');
            }
            text.push_str(&format!("{}", c.get(row).unwrap_or(0.0) as f32));
        }
        text.push_str("}\n");
    }

    let mut tx = ctx.pool.begin().await?;
    sqlx::query("DELETE FROM pipeline.feature_sets WHERE as_of = $1")
        .bind(as_of)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO pipeline.feature_sets (as_of, columns, job_id, rows) VALUES ($1, $2, $3, $4)",
    )
    .bind(as_of)
    .bind(&names)
    .bind(job_id)
    .bind(rows as i64)
    .execute(&mut *tx)
    .await?;
    let mut copy = tx
        .copy_in_raw("COPY pipeline.customer_features (as_of, customer_id, features) FROM STDIN")
        .await?;
    copy.send(text.as_bytes()).await?;
    copy.finish().await?;
    tx.commit().await?;
    report(rows, Some(rows)).await;
    Ok(serde_json::json!({ "customers": rows, "features": names.len() }))
}

/// The stored features of `as_of`, by column name, and the customer ids in row order.
async fn stored_features(
    pool: &PgPool,
    as_of: Date,
) -> anyhow::Result<(Vec<i64>, HashMap<String, Vec<f64>>)> {
    let columns: Vec<String> =
        sqlx::query_scalar("SELECT columns FROM pipeline.feature_sets WHERE as_of = $1")
            .bind(as_of)
            .fetch_optional(pool)
            .await?
            .with_context(|| format!("no features as of {as_of}: run the features job first"))?;
    let rows: Vec<(i64, Vec<f32>)> = sqlx::query_as(
        "SELECT customer_id, features FROM pipeline.customer_features
         WHERE as_of = $1 ORDER BY customer_id",
    )
    .bind(as_of)
    .fetch_all(pool)
    .await?;
    let mut by_name: Vec<Vec<f64>> = vec![Vec::with_capacity(rows.len()); columns.len()];
    let mut ids = Vec::with_capacity(rows.len());
    for (id, values) in rows {
        anyhow::ensure!(
            values.len() == columns.len(),
            "customer {id}: feature vector length"
        );
        ids.push(id);
        for (column, v) in by_name.iter_mut().zip(values) {
            column.push(f64::from(v));
        }
    }
    Ok((ids, columns.into_iter().zip(by_name).collect()))
}

fn client(ctx: &Context) -> anyhow::Result<&ModelClient> {
    ctx.models.as_ref().context(
        "scoring needs model-svc: set pipeline.api_token (LYRA_PIPELINE__API_TOKEN) to a platform API token with scope models:predict",
    )
}

/// Predicts every row in batches; returns each output's columns over all rows.
async fn predict_all(
    ctx: &Context,
    model: &ActiveModel,
    columns: &HashMap<String, Vec<f64>>,
    rows: usize,
    done_before: u64,
    total: u64,
    report: &Report<'_>,
) -> anyhow::Result<HashMap<String, Output>> {
    let models = client(ctx)?;
    let mut all: HashMap<String, Output> = HashMap::new();
    let mut start = 0;
    while start < rows {
        let end = (start + ctx.batch_rows).min(rows);
        for (output, cols) in models.predict(model, columns, start, end).await? {
            let merged = all.entry(output).or_default();
            for (name, values) in cols {
                anyhow::ensure!(
                    values.len() == end - start,
                    "model {}: output column {name} has {} values for {} rows",
                    model.name,
                    values.len(),
                    end - start
                );
                merged.entry(name).or_default().extend(values);
            }
        }
        start = end;
        report(done_before + end as u64, Some(total)).await;
    }
    Ok(all)
}

fn output<'a>(
    outputs: &'a HashMap<String, Output>,
    model: &str,
    out: &str,
    col: &str,
) -> anyhow::Result<&'a [f64]> {
    outputs
        .get(out)
        .and_then(|o| o.get(col))
        .map(Vec::as_slice)
        .with_context(|| format!("model {model} did not return {out}.{col}"))
}

fn to_f32(values: &[f64]) -> Vec<f32> {
    values.iter().map(|v| *v as f32).collect()
}

/// Scores every customer of the `as_of` feature set with the active customer models.
async fn score(
    ctx: &Context,
    as_of: Date,
    report: &Report<'_>,
) -> anyhow::Result<serde_json::Value> {
    let models = client(ctx)?;
    let (ids, columns) = stored_features(&ctx.pool, as_of).await?;
    let n = ids.len();
    let total = (n * CUSTOMER_MODELS.len()) as u64;
    report(0, Some(total)).await;
    let mut detail = serde_json::Map::new();
    for (i, name) in CUSTOMER_MODELS.iter().enumerate() {
        let model = models.active(name).await?;
        let outputs = predict_all(ctx, &model, &columns, n, (i * n) as u64, total, report).await?;
        let mut tx = ctx.pool.begin().await?;
        let version = model.version as i32;
        match *name {
            "segmentation" => {
                let segments = output(&outputs, name, "segment", "segment")?;
                let names: HashMap<i64, String> = model.contract["segments"]
                    .as_array()
                    .context("segmentation contract without segments")?
                    .iter()
                    .filter_map(|s| Some((s["id"].as_i64()?, s["name"].as_str()?.to_string())))
                    .collect();
                let ids16: Vec<i16> = segments.iter().map(|s| *s as i16).collect();
                let labels = segments
                    .iter()
                    .map(|s| {
                        names
                            .get(&(*s as i64))
                            .cloned()
                            .with_context(|| format!("segment {s} has no name"))
                    })
                    .collect::<anyhow::Result<Vec<String>>>()?;
                sqlx::query("DELETE FROM pipeline.customer_segments WHERE as_of = $1 AND model_version = $2")
                    .bind(as_of)
                    .bind(version)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO pipeline.customer_segments (as_of, model_version, customer_id, segment, segment_name)
                     SELECT $1, $2, * FROM unnest($3::bigint[], $4::smallint[], $5::text[])",
                )
                .bind(as_of)
                .bind(version)
                .bind(&ids)
                .bind(&ids16)
                .bind(&labels)
                .execute(&mut *tx)
                .await?;
            }
            "purchasing_power" => {
                let q = |c| output(&outputs, name, "spend_90d", c).map(to_f32);
                sqlx::query(
                    "DELETE FROM pipeline.purchasing_power WHERE as_of = $1 AND model_version = $2",
                )
                .bind(as_of)
                .bind(version)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO pipeline.purchasing_power (as_of, model_version, customer_id, p10, p50, p90, mean)
                     SELECT $1, $2, * FROM unnest($3::bigint[], $4::real[], $5::real[], $6::real[], $7::real[])",
                )
                .bind(as_of)
                .bind(version)
                .bind(&ids)
                .bind(q("p10")?)
                .bind(q("p50")?)
                .bind(q("p90")?)
                .bind(q("mean")?)
                .execute(&mut *tx)
                .await?;
            }
            _ => {
                let groups = features::category_groups(&ctx.pool).await?;
                let per_group = groups
                    .iter()
                    .map(|g| output(&outputs, name, "probability", g))
                    .collect::<anyhow::Result<Vec<_>>>()?;
                // One array literal per customer, probabilities in catalogue order.
                let arrays: Vec<String> = (0..n)
                    .map(|row| {
                        let values: Vec<String> = per_group
                            .iter()
                            .map(|p| format!("{}", p[row] as f32))
                            .collect();
                        format!("{{{}}}", values.join(","))
                    })
                    .collect();
                sqlx::query("DELETE FROM pipeline.category_propensities WHERE as_of = $1 AND model_version = $2")
                    .bind(as_of)
                    .bind(version)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO pipeline.category_propensities (as_of, model_version, customer_id, groups, probabilities)
                     SELECT $1, $2, c, $3, p::real[] FROM unnest($4::bigint[], $5::text[]) AS u(c, p)",
                )
                .bind(as_of)
                .bind(version)
                .bind(&groups)
                .bind(&ids)
                .bind(&arrays)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        detail.insert(
            name.to_string(),
            serde_json::json!({ "version": version, "customers": n }),
        );
    }
    Ok(serde_json::Value::Object(detail))
}

/// Forecasts every merchant's weekly demand from the last whole week before `as_of`.
async fn forecast(
    ctx: &Context,
    as_of: Date,
    report: &Report<'_>,
) -> anyhow::Result<serde_json::Value> {
    let models = client(ctx)?;
    let model = models.active(DEMAND_MODEL).await?;
    let weeks = features::merchant_week_features(&ctx.pool, as_of).await?;
    let origin = features::last_origin_week(as_of);
    let origin_days = features::date_to_days(origin);
    let frame = features::blocking(move || {
        Ok(weeks
            .lazy()
            .filter(col("week_start").eq(lit(origin_days).cast(DataType::Date)))
            .collect()?)
    })
    .await?;
    let n = frame.height();
    report(0, Some(n as u64)).await;
    let mut columns = HashMap::new();
    for name in &model.columns {
        let column = frame.column(name).map_err(|_| {
            anyhow::anyhow!(
                "model {DEMAND_MODEL} needs column {name}, which the pipeline does not build"
            )
        })?;
        let values = column
            .f64()?
            .iter()
            .map(|v| v.unwrap_or(0.0))
            .collect::<Vec<f64>>();
        columns.insert(name.clone(), values);
    }
    let outputs = predict_all(ctx, &model, &columns, n, 0, n as u64, report).await?;
    let merchants: Vec<i64> = frame
        .column("merchant_id")?
        .i64()?
        .iter()
        .map(|m| m.unwrap_or_default())
        .collect();
    let groups: Vec<String> = frame
        .column("category_group")?
        .str()?
        .iter()
        .map(|g| g.unwrap_or_default().to_string())
        .collect();

    let (mut m, mut g, mut h, mut w) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut values: [Vec<f32>; 6] = Default::default();
    for horizon in 1..=features::HORIZONS {
        let week = origin + Duration::weeks(horizon as i64);
        let cols = [
            output(
                &outputs,
                DEMAND_MODEL,
                "revenue",
                &format!("h{horizon}_p10"),
            )?,
            output(
                &outputs,
                DEMAND_MODEL,
                "revenue",
                &format!("h{horizon}_p50"),
            )?,
            output(
                &outputs,
                DEMAND_MODEL,
                "revenue",
                &format!("h{horizon}_p90"),
            )?,
            output(
                &outputs,
                DEMAND_MODEL,
                "transactions",
                &format!("h{horizon}_p10"),
            )?,
            output(
                &outputs,
                DEMAND_MODEL,
                "transactions",
                &format!("h{horizon}_p50"),
            )?,
            output(
                &outputs,
                DEMAND_MODEL,
                "transactions",
                &format!("h{horizon}_p90"),
            )?,
        ];
        for row in 0..n {
            m.push(merchants[row]);
            g.push(groups[row].clone());
            h.push(horizon as i16);
            w.push(week);
            for (target, col) in values.iter_mut().zip(&cols) {
                target.push(col[row].max(0.0) as f32);
            }
        }
    }
    let version = model.version as i32;
    let mut tx = ctx.pool.begin().await?;
    sqlx::query(
        "DELETE FROM pipeline.demand_forecasts WHERE origin_week = $1 AND model_version = $2",
    )
    .bind(origin)
    .bind(version)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO pipeline.demand_forecasts (origin_week, model_version, merchant_id, category_group,
             horizon, week_start, revenue_p10, revenue_p50, revenue_p90, txns_p10, txns_p50, txns_p90)
         SELECT $1, $2, * FROM unnest($3::bigint[], $4::text[], $5::smallint[], $6::date[],
             $7::real[], $8::real[], $9::real[], $10::real[], $11::real[], $12::real[])",
    )
    .bind(origin)
    .bind(version)
    .bind(&m)
    .bind(&g)
    .bind(&h)
    .bind(&w)
    .bind(&values[0])
    .bind(&values[1])
    .bind(&values[2])
    .bind(&values[3])
    .bind(&values[4])
    .bind(&values[5])
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(serde_json::json!({ "origin_week": origin.to_string(), "version": version, "merchants": n }))
}

/// Rebuilds the peer groups as of `as_of`: each category group × city, with the merchants
/// that sold in the 90 days before. The definition is the SQL function
/// `pipeline.peer_group_members` (migration 0010), which metrics also uses when no run has
/// stored groups yet: one definition.
async fn peers(ctx: &Context, as_of: Date) -> anyhow::Result<serde_json::Value> {
    let mut tx = ctx.pool.begin().await?;
    sqlx::query("DELETE FROM pipeline.peer_groups WHERE as_of = $1")
        .bind(as_of)
        .execute(&mut *tx)
        .await?;
    let groups = sqlx::query(
        "WITH members AS (
             SELECT * FROM pipeline.peer_group_members($1)
         ), groups AS (
             INSERT INTO pipeline.peer_groups (as_of, peer_group, category_group, city, members)
             SELECT $1, peer_group, category_group, city, count(*) FROM members
             GROUP BY peer_group, category_group, city
             RETURNING peer_group
         )
         INSERT INTO pipeline.peer_members (as_of, peer_group, merchant_id)
         SELECT $1, m.peer_group, m.merchant_id FROM members m JOIN groups g USING (peer_group)",
    )
    .bind(as_of)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let count: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pipeline.peer_groups WHERE as_of = $1")
            .bind(as_of)
            .fetch_one(&mut *tx)
            .await?;
    tx.commit().await?;
    Ok(serde_json::json!({ "peer_groups": count, "members": groups }))
}
