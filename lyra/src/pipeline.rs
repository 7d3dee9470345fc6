//! `lyra features …`: the pipeline's feature snapshots from the command line.

use std::path::Path;

use anyhow::Context;
use lyra_common::db::{Db, DbRole};
use time::Date;
use time::macros::format_description;

use crate::serve;

/// Parses an ISO date (`2026-08-03`) for `--as-of`.
pub fn parse_date(s: &str) -> Result<Date, String> {
    Date::parse(s, format_description!("[year]-[month]-[day]"))
        .map_err(|e| format!("{s:?} is not a date like 2026-08-03: {e}"))
}

/// The platform role's connection, as the pipeline service uses it.
pub async fn platform_db() -> anyhow::Result<Db> {
    let settings = serve::settings()?;
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
