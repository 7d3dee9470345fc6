//! Lyra's model service: the model registry (schema `models`) and ONNX inference with
//! tract.
//!
//! A model is uploaded as `model.onnx` with its contract and a sample of inputs and the
//! outputs Python computed for them ([`contract`]); [`validate`] loads it in tract, checks
//! its input and outputs against the contract and reproduces the sample before anything is
//! stored, and answers a readable report when it fails. [`registry`] keeps the versions,
//! the active version per name and the history of activations and rollbacks. [`live`]
//! holds the active version of each model as a tract plan built once ([`inference`]),
//! follows activations made through any instance (LISTEN/NOTIFY plus a poll) and swaps
//! models without failing requests in flight. `POST /v1/models/{name}/predict` takes a
//! batch as columns or rows ([`batch`]), runs it off the async runtime and names the model
//! version in every answer.
//!
//! Access (the route table, [`route_specs`]): predicting needs a bank admin or a platform
//! token with scope `models:predict`; uploading, activating and rolling back a bank admin
//! or scope `models:admin`; reading the registry either. Tenants' tokens get 403.

mod api;
mod argext;
pub mod batch;
pub mod contract;
pub mod inference;
pub mod live;
pub mod registry;
pub mod validate;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::Method;
use axum::routing::{MethodRouter, get, post};
use lyra_common::db::Db;
use lyra_common::token::{Claims, Role, TokenVerifier};
use lyra_common::{Application, Service, Settings};

/// Scope of a platform token that may call predict.
pub const SCOPE_PREDICT: &str = "models:predict";
/// Scope of a platform token that may upload, activate and roll back.
pub const SCOPE_ADMIN: &str = "models:admin";
/// Most rows one predict request may carry.
pub const MAX_BATCH_ROWS: usize = 10_000;
/// Largest request body: a model upload (models are under 10 MB) or a full batch.
pub const MAX_BODY_BYTES: usize = 32 << 20;

/// Who may call a route. Bank admins may call every route; tenants' tokens none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read the registry: a platform token with `models:predict` or `models:admin`.
    Read,
    /// Predict: a platform token with `models:predict`.
    Predict,
    /// Change the registry: a platform token with `models:admin`.
    Admin,
}

impl Access {
    /// Whether `claims` may call a route of this access level.
    pub fn allows(self, claims: &Claims) -> bool {
        match (claims.role, claims.org) {
            (Role::BankAdmin, _) => true,
            // Platform tokens only: an organisation's token never reaches the registry.
            (Role::Service, None) => match self {
                Access::Read => claims.has_scope(SCOPE_PREDICT) || claims.has_scope(SCOPE_ADMIN),
                Access::Predict => claims.has_scope(SCOPE_PREDICT),
                Access::Admin => claims.has_scope(SCOPE_ADMIN),
            },
            _ => false,
        }
    }

    /// What the caller lacks, for the 403.
    pub fn requirement(self) -> &'static str {
        match self {
            Access::Read => {
                "this needs a bank admin or a platform token with scope models:predict or models:admin"
            }
            Access::Predict => {
                "this needs a bank admin or a platform token with scope models:predict"
            }
            Access::Admin => "this needs a bank admin or a platform token with scope models:admin",
        }
    }
}

/// One route of the service, as documented and as tested.
#[derive(Debug, Clone)]
pub struct RouteSpec {
    /// HTTP method.
    pub method: Method,
    /// Path template.
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
}

/// Shared by the handlers.
#[derive(Clone)]
struct ModelState {
    db: Db,
    verifier: Arc<TokenVerifier>,
    live: Arc<live::Live>,
    /// Bounds concurrent inference to the cores, so a burst queues instead of thrashing.
    cpu: Arc<tokio::sync::Semaphore>,
}

impl axum::extract::FromRef<ModelState> for Arc<TokenVerifier> {
    fn from_ref(state: &ModelState) -> Self {
        state.verifier.clone()
    }
}

/// The route table: the router and its access checks are built from it, and tests iterate
/// it, so the three cannot drift apart.
fn table() -> Vec<(RouteSpec, MethodRouter<ModelState>)> {
    use Access::*;
    let r = |method: Method, path, access| RouteSpec {
        method,
        path,
        access,
    };
    vec![
        (r(Method::GET, "/v1/models", Read), get(api::list)),
        (
            r(Method::GET, "/v1/models/{name}", Read),
            get(api::describe),
        ),
        (
            r(Method::POST, "/v1/models/{name}/versions", Admin),
            post(api::upload),
        ),
        (
            r(
                Method::POST,
                "/v1/models/{name}/versions/{version}/activate",
                Admin,
            ),
            post(api::activate),
        ),
        (
            r(Method::POST, "/v1/models/{name}/rollback", Admin),
            post(api::rollback),
        ),
        (
            r(Method::POST, "/v1/models/{name}/predict", Predict),
            post(api::predict),
        ),
    ]
}

/// Every route of the service.
pub fn route_specs() -> Vec<RouteSpec> {
    table().into_iter().map(|(spec, _)| spec).collect()
}

/// The service's routes; the shell adds health, readiness and metrics around them. Starts
/// the task that follows activations.
pub fn routes(db: Db, verifier: Arc<TokenVerifier>) -> Router {
    let live = live::Live::new(db.clone());
    tokio::spawn(live.clone().watch());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let state = ModelState {
        db,
        verifier,
        live,
        cpu: Arc::new(tokio::sync::Semaphore::new(cores)),
    };
    table()
        .into_iter()
        .fold(Router::new(), |router, (spec, method)| {
            // The access check runs before the body is read.
            let guarded = method.route_layer(axum::middleware::from_fn_with_state(
                (state.clone(), spec.access),
                api::guard,
            ));
            router.route(spec.path, guarded)
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// Connects, binds and assembles the service.
pub async fn build(settings: Settings) -> anyhow::Result<Application> {
    let verifier = TokenVerifier::remote(format!(
        "{}/.well-known/jwks.json",
        settings.upstream(Service::Auth)
    ));
    Application::build(Service::ModelSvc, &settings, move |db| routes(db, verifier)).await
}
