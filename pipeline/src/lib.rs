//! Lyra's pipeline service: feature snapshots (polars), scoring through model-svc, demand
//! forecasts and peer groups (schema `pipeline`).
//!
//! - [`features`] is the one implementation of every model feature, shared by the training
//!   export (`lyra features export`) and by scoring.
//! - [`jobs`] records each run (status, progress, error) in `pipeline.jobs`.
//! - [`tasks`] holds the four jobs; [`models`] is the HTTP client of model-svc.
//!
//! The service runs every job on a schedule (`pipeline.schedule_minutes`) and on request
//! (`POST /v1/pipeline/jobs`, bank admins); `lyra pipeline run` runs
//! them from the command line.

pub mod features;
pub mod jobs;
pub mod models;
pub mod tasks;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use lyra_common::db::Db;
use lyra_common::token::{Authenticated, Claims, Role, TokenVerifier};
use lyra_common::{Application, Service, Settings};
use serde::Deserialize;
use time::Date;

use crate::jobs::{JobKind, Run, Trigger};
use crate::models::ModelClient;
use crate::tasks::Context;

#[derive(Clone)]
struct PipelineState {
    ctx: Arc<Context>,
    verifier: Arc<TokenVerifier>,
}

impl FromRef<PipelineState> for Arc<TokenVerifier> {
    fn from_ref(state: &PipelineState) -> Self {
        state.verifier.clone()
    }
}

/// The jobs' context from the settings: the pool and, when an API token is configured,
/// the model-svc client.
pub fn context(db: &Db, settings: &Settings) -> Context {
    let models = settings.pipeline.api_token.as_ref().map(|token| {
        ModelClient::new(
            &settings.upstream(Service::ModelSvc),
            &settings.upstream(Service::Auth),
            token.expose(),
        )
    });
    Context {
        pool: db.pool().clone(),
        models,
        batch_rows: settings.pipeline.score_batch_rows,
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({ "error": message.into() }))).into_response()
}

/// The refusal for anyone but a bank admin.
fn denied(claims: &Claims) -> Option<Response> {
    (claims.role != Role::BankAdmin)
        .then(|| error(StatusCode::FORBIDDEN, "pipeline jobs are for bank admins"))
}

async fn list_jobs(
    State(state): State<PipelineState>,
    Authenticated(claims): Authenticated,
) -> Response {
    if let Some(denied) = denied(&claims) {
        return denied;
    }
    match jobs::recent(&state.ctx.pool, 50).await {
        Ok(jobs) => Json(serde_json::json!({ "jobs": jobs })).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "listing jobs");
            error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StartJob {
    kind: String,
    /// ISO date; default: the day after the last day with transactions.
    as_of: Option<String>,
}

async fn start_job(
    State(state): State<PipelineState>,
    Authenticated(claims): Authenticated,
    Json(body): Json<StartJob>,
) -> Response {
    if let Some(denied) = denied(&claims) {
        return denied;
    }
    let kind: JobKind = match body.kind.parse() {
        Ok(kind) => kind,
        Err(message) => return error(StatusCode::UNPROCESSABLE_ENTITY, message),
    };
    let as_of = match body.as_of.as_deref() {
        Some(s) => {
            match Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")) {
                Ok(d) => d,
                Err(_) => {
                    return error(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        format!("as_of {s:?} is not a date like 2026-08-03"),
                    );
                }
            }
        }
        None => match tasks::default_as_of(&state.ctx.pool).await {
            Ok(d) => d,
            Err(e) => return error(StatusCode::CONFLICT, format!("{e:#}")),
        },
    };
    let run = match Run::start(&state.ctx.pool, kind, as_of, Trigger::Api).await {
        Ok(run) => run,
        Err(e) => return error(StatusCode::CONFLICT, format!("{e:#}")),
    };
    let id = run.id;
    let ctx = state.ctx.clone();
    tokio::spawn(async move {
        // The outcome is recorded in pipeline.jobs.
        let _ = tasks::execute(&ctx, run, &|_, _| {}).await;
    });
    (
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "job_id": id, "kind": kind, "as_of": as_of.to_string() })),
    )
        .into_response()
}

/// The service's routes; the shell adds health, readiness and metrics around them.
pub fn routes(ctx: Arc<Context>, verifier: Arc<TokenVerifier>) -> Router {
    Router::new()
        .route("/v1/pipeline/jobs", get(list_jobs).post(start_job))
        .with_state(PipelineState { ctx, verifier })
}

/// Runs every job in order for the default cut-off; stops at the first failure (later
/// jobs need the earlier ones' results).
pub async fn run_all(ctx: &Context, trigger: Trigger) -> anyhow::Result<()> {
    let as_of = tasks::default_as_of(&ctx.pool).await?;
    for kind in JobKind::ALL {
        tasks::run(ctx, kind, as_of, trigger, &|_, _| {}).await?;
    }
    Ok(())
}

/// Runs every job each `minutes`, the first time one period after start-up.
async fn schedule(ctx: Arc<Context>, minutes: u64) {
    let mut ticker = tokio::time::interval(Duration::from_secs(minutes * 60));
    ticker.tick().await; // the first tick is immediate
    loop {
        ticker.tick().await;
        if let Err(e) = run_all(&ctx, Trigger::Schedule).await {
            tracing::warn!(error = %format!("{e:#}"), "scheduled pipeline run failed");
        }
    }
}

/// Connects, binds and assembles the service, and starts its schedule.
pub async fn build(settings: Settings) -> anyhow::Result<Application> {
    let verifier = TokenVerifier::remote(format!(
        "{}/.well-known/jwks.json",
        settings.upstream(Service::Auth)
    ));
    let minutes = settings.pipeline.schedule_minutes;
    let for_context = settings.clone();
    Application::build(Service::Pipeline, &settings, move |db| {
        let ctx = Arc::new(context(&db, &for_context));
        if minutes > 0 {
            tokio::spawn(schedule(ctx.clone(), minutes));
        }
        routes(ctx, verifier)
    })
    .await
}
