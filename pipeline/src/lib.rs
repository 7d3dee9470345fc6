//! Lyra's pipeline service: feature building (polars), scoring through model-svc, demand
//! forecasts, peer groups and audience exports (schema `pipeline`).
//!
//! [`features`] is the one implementation of every model feature, shared by the training
//! export and by scoring.

pub mod features;

use axum::Router;
use lyra_common::db::Db;
use lyra_common::{Application, Service, Settings};

/// This service's own routes; the shell adds health, readiness and metrics around them.
pub fn routes(_db: Db) -> Router {
    Router::new()
}

/// Connects, binds and assembles the service.
pub async fn build(settings: Settings) -> anyhow::Result<Application> {
    Application::build(Service::Pipeline, &settings, routes).await
}
