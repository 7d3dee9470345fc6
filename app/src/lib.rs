//! Lyra's web dashboard: server-rendered pages for the people of client organisations
//! (PRODUCT.md §4: overview, customers, categories, competitors, forecast, settings).
//!
//! Pages are rendered on the server with Leptos (`view!` to HTML, no hydration, no
//! WebAssembly) and work without JavaScript; charts are SVG drawn with plotters. The app
//! owns no data: a request goes [`session`] (cookies → a verified access token, refreshed
//! at auth when expired) → [`pages`] (metrics answers fetched in parallel over HTTP with
//! the person's token, so metrics' tenant checks and row-level security apply unchanged)
//! → [`layout`] (the shell, controls, and explanations of withheld figures) with
//! [`charts`] and [`i18n`]. [`account`] holds login, logout, preferences, settings and
//! CSV downloads.

pub mod account;
pub mod api;
pub mod charts;
pub mod i18n;
pub mod layout;
pub mod pages;
pub mod session;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::routing::{get, post};
use lyra_common::db::Db;
use lyra_common::token::TokenVerifier;
use lyra_common::{Application, Service, Settings};

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// Pooled HTTP client for auth and metrics.
    pub http: reqwest::Client,
    /// Base URL of auth.
    pub auth_url: String,
    /// Base URL of metrics.
    pub metrics_url: String,
    /// Verifies access tokens (auth's JWKS).
    pub verifier: Arc<TokenVerifier>,
    /// Recent refreshes (see [`session`]).
    pub refreshes: Arc<session::Refreshes>,
}

/// The app's routes; the shell adds health, readiness and metrics around them.
pub fn routes(settings: &Settings) -> Router {
    let auth_url = settings.upstream(Service::Auth);
    let state = AppState {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("an HTTP client"),
        verifier: TokenVerifier::remote(format!("{auth_url}/.well-known/jwks.json")),
        auth_url,
        metrics_url: settings.upstream(Service::Metrics),
        refreshes: Arc::default(),
    };
    let asset = |content_type: &'static str, body: &'static str| {
        get(move || async move {
            (
                [
                    (CONTENT_TYPE, content_type),
                    (CACHE_CONTROL, "public, max-age=3600"),
                ],
                body,
            )
        })
    };
    Router::new()
        .route("/", get(pages::overview))
        .route("/customers", get(pages::customers))
        .route("/categories", get(pages::categories))
        .route("/competitors", get(pages::competitors))
        .route("/forecast", get(pages::forecast))
        .route("/settings", get(account::settings))
        .route("/settings/users", post(account::add_user))
        .route("/settings/users/{id}", post(account::update_user))
        .route("/settings/tokens", post(account::create_token))
        .route("/settings/tokens/{id}/revoke", post(account::revoke_token))
        .route("/login", get(account::login_form).post(account::login))
        .route("/logout", post(account::logout))
        .route("/prefs", post(account::prefs))
        .route("/csv/{*endpoint}", get(account::csv))
        .route(
            "/static/app.css",
            asset("text/css; charset=utf-8", layout::CSS),
        )
        .route(
            "/static/app.js",
            asset("text/javascript; charset=utf-8", layout::JS),
        )
        .fallback(account::not_found)
        .with_state(state)
}

/// Connects, binds and assembles the service.
pub async fn build(settings: Settings) -> anyhow::Result<Application> {
    let router = routes(&settings);
    Application::build(Service::App, &settings, move |_db: Db| router).await
}
