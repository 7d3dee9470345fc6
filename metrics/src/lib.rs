//! Lyra's metrics service: the tenant-scoped analytics API behind every dashboard page,
//! under the privacy rules for peer figures. It owns no tables; it reads analytics.
//!
//! For now it serves the common shell only (health, readiness, metrics).

use axum::Router;
use lyra_common::db::Db;
use lyra_common::{Application, Service, Settings};

/// This service's own routes; the shell adds health, readiness and metrics around them.
pub fn routes(_db: Db) -> Router {
    Router::new()
}

/// Connects, binds and assembles the service.
pub async fn build(settings: Settings) -> anyhow::Result<Application> {
    Application::build(Service::Metrics, &settings, routes).await
}
