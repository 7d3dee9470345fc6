//! Lyra's ingest service: takes bank transactions and master data in (schema `ingest`),
//! validates them, stores each exactly once and keeps the rollups fresh.
//!
//! For now it serves the common shell only (health, readiness, metrics); the tables it owns
//! are created by the migrations under `infra/migrations`.

use axum::Router;
use lyra_common::db::Db;
use lyra_common::{Application, Service, Settings};

/// This service's own routes; the shell adds health, readiness and metrics around them.
pub fn routes(_db: Db) -> Router {
    Router::new()
}

/// Connects, binds and assembles the service.
pub async fn build(settings: Settings) -> anyhow::Result<Application> {
    Application::build(Service::Ingest, &settings, routes).await
}
