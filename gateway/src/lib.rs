//! Lyra's gateway: the one public port in front of the other six services.
//!
//! It will route by path prefix, verify access tokens, rate-limit, bound bodies and set
//! security headers (built on tower). For now it serves the common shell only.

use axum::Router;
use lyra_common::db::Db;
use lyra_common::{Application, Service, Settings};

/// This service's own routes; the shell adds health, readiness and metrics around them.
pub fn routes(_db: Db) -> Router {
    Router::new()
}

/// Connects, binds and assembles the service.
pub async fn build(settings: Settings) -> anyhow::Result<Application> {
    Application::build(Service::Gateway, &settings, routes).await
}
