//! `lyra features …`: the pipeline's feature snapshots from the command line.

use std::path::Path;

use anyhow::Context;
use lyra_common::db::{Db, DbRole};
use time::Date;
use time::macros::format_description;

use crate::db;

/// Parses an ISO date (`2026-08-03`) for `--as-of`.
pub fn parse_date(s: &str) -> Result<Date, String> {
    Date::parse(s, format_description!("[year]-[month]-[day]"))
        .map_err(|e| format!("{s:?} is not a date like 2026-08-03: {e}"))
}

/// The platform role's connection, as the pipeline service uses it.
pub async fn platform_db() -> anyhow::Result<Db> {
    let settings = db::settings()?;
    Db::connect_as(DbRole::Platform, &settings.database)
        .await
        .context("connecting as the platform role")
}

/// `lyra features export`: writes the snapshot as of `as_of` into `out`.
pub async fn export(as_of: Date, out: &Path) -> anyhow::Result<()> {
    let db = platform_db().await?;
    let started = std::time::Instant::now();
    let info = lyra_pipeline::features::export(db.pool(), as_of, out).await?;
    eprintln!(
        "features as of {}: {} customers, {} merchant weeks ({} features + {} merchant-week features) in {:.1} s → {}",
        info.as_of,
        info.customers,
        info.merchant_weeks,
        info.customer_features.len(),
        info.merchant_week_features.len(),
        started.elapsed().as_secs_f64(),
        out.display()
    );
    if !info.customer_labels_complete {
        eprintln!(
            "note: the data ends on {}, before the {}-day label window after {} closes; labels are partial",
            info.data_until.as_deref().unwrap_or("-"),
            info.customer_label_days,
            info.as_of
        );
    }
    db.close().await;
    Ok(())
}

/// `lyra pipeline run JOB|all`: runs jobs here with a progress bar each; scoring talks to
/// model-svc with `pipeline.api_token` (LYRA_PIPELINE__API_TOKEN).
pub async fn run(job: &str, as_of: Option<Date>) -> anyhow::Result<()> {
    let settings = db::settings()?;
    let db = Db::connect_as(DbRole::Platform, &settings.database)
        .await
        .context("connecting as the platform role")?;
    let ctx = lyra_pipeline::context(&db, &settings);
    let result = run_jobs(&ctx, job, as_of).await;
    db.close().await;
    result
}

/// Runs `job` (or `all`, in order) and shows progress.
pub async fn run_jobs(
    ctx: &lyra_pipeline::tasks::Context,
    job: &str,
    as_of: Option<Date>,
) -> anyhow::Result<()> {
    use lyra_pipeline::jobs::{JobKind, Trigger};
    let kinds: Vec<JobKind> = if job == "all" {
        JobKind::ALL.to_vec()
    } else {
        vec![job.parse().map_err(|e: String| anyhow::anyhow!(e))?]
    };
    let as_of = match as_of {
        Some(d) => d,
        None => lyra_pipeline::tasks::default_as_of(&ctx.pool).await?,
    };
    for kind in kinds {
        let bar = indicatif::ProgressBar::new(0).with_style(
            indicatif::ProgressStyle::with_template(
                "{prefix:>9} [{bar:30}] {pos}/{len} {elapsed}",
            )?
            .progress_chars("=> "),
        );
        bar.set_prefix(kind.to_string());
        let progress = |done: u64, total: Option<u64>| {
            if let Some(total) = total {
                bar.set_length(total);
            }
            bar.set_position(done);
        };
        let started = std::time::Instant::now();
        let detail = lyra_pipeline::tasks::run(ctx, kind, as_of, Trigger::Cli, &progress).await;
        bar.finish_and_clear();
        let detail = detail.with_context(|| format!("the {kind} job failed"))?;
        eprintln!(
            "{kind} as of {as_of}: {detail} in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
