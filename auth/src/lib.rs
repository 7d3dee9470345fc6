//! Lyra's auth service: organisations, users, memberships, sessions, API tokens, signing
//! keys and the audit log (schema `auth`, role `lyra_auth`).
//!
//! People log in with e-mail and password (argon2id) and get a 15-minute EdDSA access token
//! plus a rotating refresh token; scripts exchange an API token for an access token with its
//! scopes. Keys are published at `/.well-known/jwks.json`. Owners manage the users and API
//! tokens of their own organisation. [`admin`] holds the bank-admin chores the `lyra`
//! command runs against the database.

pub mod admin;
mod api;
pub mod audit;
mod error;
pub mod keys;
pub mod password;
pub mod sessions;
pub mod throttle;

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRef;
use axum::http::Method;
use axum::routing::{MethodRouter, delete, get, patch, post};
use lyra_common::db::Db;
use lyra_common::token::TokenVerifier;
use lyra_common::{Application, Service, Settings};

pub use error::AuthError;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (credentials are in the body, or the route is public).
    Public,
    /// Any valid access token.
    Authenticated,
    /// An owner of the organisation in the token.
    Owner,
}

/// One route of the service, as documented and as tested.
#[derive(Debug, Clone)]
pub struct RouteSpec {
    /// HTTP method.
    pub method: Method,
    /// Path template (`{id}` marks an object id).
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
}

/// Shared by the handlers.
#[derive(Clone)]
pub struct AuthState {
    db: Db,
    verifier: Arc<TokenVerifier>,
    dummy_hash: Arc<tokio::sync::OnceCell<Arc<String>>>,
}

impl FromRef<AuthState> for Arc<TokenVerifier> {
    fn from_ref(state: &AuthState) -> Self {
        state.verifier.clone()
    }
}

/// The route table: the router is built from it, and tests iterate it, so the two cannot
/// drift apart.
fn table() -> Vec<(RouteSpec, MethodRouter<AuthState>)> {
    use Access::*;
    let r = |method: Method, path, access| RouteSpec {
        method,
        path,
        access,
    };
    vec![
        (
            r(Method::GET, "/.well-known/jwks.json", Public),
            get(api::jwks),
        ),
        (r(Method::POST, "/v1/auth/login", Public), post(api::login)),
        (
            r(Method::POST, "/v1/auth/refresh", Public),
            post(api::refresh),
        ),
        (
            r(Method::POST, "/v1/auth/logout", Public),
            post(api::logout),
        ),
        (
            r(Method::POST, "/v1/auth/token", Public),
            post(api::exchange),
        ),
        (
            r(Method::POST, "/v1/auth/password", Authenticated),
            post(api::change_password),
        ),
        (r(Method::GET, "/v1/auth/me", Authenticated), get(api::me)),
        (r(Method::GET, "/v1/users", Owner), get(api::list_users)),
        (r(Method::POST, "/v1/users", Owner), post(api::create_user)),
        (
            r(Method::PATCH, "/v1/users/{id}", Owner),
            patch(api::update_user),
        ),
        (r(Method::GET, "/v1/tokens", Owner), get(api::list_tokens)),
        (
            r(Method::POST, "/v1/tokens", Owner),
            post(api::create_token),
        ),
        (
            r(Method::DELETE, "/v1/tokens/{id}", Owner),
            delete(api::revoke_token),
        ),
        (r(Method::GET, "/v1/audit", Owner), get(api::audit_log)),
    ]
}

/// Every route of the service.
pub fn route_specs() -> Vec<RouteSpec> {
    table().into_iter().map(|(spec, _)| spec).collect()
}

/// The service's routes; the shell adds health, readiness and metrics around them.
pub fn routes(db: Db) -> Router {
    let key_db = db.clone();
    let verifier = TokenVerifier::with_fetch(Arc::new(move || {
        let db = key_db.clone();
        Box::pin(async move {
            let mut conn = db.pool().acquire().await.map_err(|e| e.to_string())?;
            let set = keys::jwks(&mut conn).await.map_err(|e| e.to_string())?;
            serde_json::from_value(set).map_err(|e| e.to_string())
        })
    }));
    // Publish a key from the start, so that the JWKS is never empty.
    let key_db = db.clone();
    tokio::spawn(async move {
        let result = async {
            let mut tx = key_db.pool().begin().await?;
            keys::ensure_active(&mut tx).await?;
            tx.commit().await?;
            anyhow::Ok(())
        };
        if let Err(e) = result.await {
            tracing::warn!(
                error = format!("{e:#}"),
                "cannot create the first signing key yet"
            );
        }
    });
    let state = AuthState {
        db,
        verifier,
        dummy_hash: Arc::new(tokio::sync::OnceCell::new()),
    };
    table()
        .into_iter()
        .fold(Router::new(), |router, (spec, method)| {
            router.route(spec.path, method)
        })
        .with_state(state)
}

/// Connects, makes sure a signing key exists, binds and assembles the service.
pub async fn build(settings: Settings) -> anyhow::Result<Application> {
    let app = Application::build(Service::Auth, &settings, routes).await?;
    Ok(app)
}
