//! The service shell every Lyra service runs inside.
//!
//! [`Application::build`] connects to the database (refusing a privileged role), binds the
//! listener and wraps the service's own routes with what every service has:
//! `/healthz`, `/readyz` (checks the database), Prometheus `/metrics`, an `x-request-id` on
//! every request and response, a request span in the logs, a timeout, and a panic guard
//! that answers a generic 500. [`Application::run_until_stopped`] serves until the given
//! shutdown future completes, then lets requests in flight finish.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::config::Settings;
use crate::db::{Db, DbRole};

/// The seven Lyra services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// The one public port.
    Gateway,
    /// The web dashboard.
    App,
    /// Logins, tokens, users and roles.
    Auth,
    /// The analytics API.
    Metrics,
    /// Model registry and serving.
    ModelSvc,
    /// Transaction intake.
    Ingest,
    /// Features, scoring, forecasts, peer groups.
    Pipeline,
}

impl Service {
    /// Every service, in start-up order (the gateway last, in front of the others).
    pub const ALL: [Service; 7] = [
        Service::Auth,
        Service::Ingest,
        Service::Pipeline,
        Service::ModelSvc,
        Service::Metrics,
        Service::App,
        Service::Gateway,
    ];

    /// The service's name, as on the command line and in logs.
    pub fn name(self) -> &'static str {
        match self {
            Service::Gateway => "gateway",
            Service::App => "app",
            Service::Auth => "auth",
            Service::Metrics => "metrics",
            Service::ModelSvc => "model-svc",
            Service::Ingest => "ingest",
            Service::Pipeline => "pipeline",
        }
    }

    /// Parses a name as printed by [`Service::name`].
    pub fn from_name(name: &str) -> Option<Service> {
        Service::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The configuration key of the service's port.
    pub fn port_key(self) -> &'static str {
        match self {
            Service::Gateway => "services.gateway.port",
            Service::App => "services.app.port",
            Service::Auth => "services.auth.port",
            Service::Metrics => "services.metrics.port",
            Service::ModelSvc => "services.model_svc.port",
            Service::Ingest => "services.ingest.port",
            Service::Pipeline => "services.pipeline.port",
        }
    }

    /// Which database role the service connects as: bank-wide work (ingest, pipeline) uses
    /// the platform role, auth its own, everything else that serves an organisation the
    /// tenant role.
    pub fn db_role(self) -> DbRole {
        match self {
            Service::Ingest | Service::Pipeline => DbRole::Platform,
            Service::Auth => DbRole::Auth,
            _ => DbRole::App,
        }
    }
}

/// What the shell's handlers share.
#[derive(Clone)]
struct ShellState {
    service: Service,
    db: Db,
    registry: Arc<Registry>,
    health: Option<HealthReport>,
}

/// Extra facts for `/healthz` (the gateway reports each upstream's health).
pub type HealthReport = Arc<
    dyn Fn() -> std::pin::Pin<Box<dyn Future<Output = serde_json::Value> + Send>> + Send + Sync,
>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    path: String,
    status: u16,
}

#[derive(Clone)]
struct HttpMetrics {
    requests: Family<RequestLabels, Counter>,
    duration: Family<RequestLabels, Histogram>,
}

/// A built service: bound to its port, connected to its database, ready to run.
pub struct Application {
    service: Service,
    listener: TcpListener,
    router: Router,
    db: Db,
}

impl Application {
    /// Connects, binds and assembles the service. `routes` receives the database handle and
    /// returns the service's own routes; the shell adds the common ones around them.
    pub async fn build(
        service: Service,
        settings: &Settings,
        routes: impl FnOnce(Db) -> Router,
    ) -> anyhow::Result<Application> {
        Self::build_with_health(service, settings, routes, None).await
    }

    /// [`Application::build`], with `health` adding to what `/healthz` reports.
    pub async fn build_with_health(
        service: Service,
        settings: &Settings,
        routes: impl FnOnce(Db) -> Router,
        health: Option<HealthReport>,
    ) -> anyhow::Result<Application> {
        let db = Db::connect_as(service.db_role(), &settings.database).await?;
        let listen = settings.services.of(service);
        let listener = TcpListener::bind((listen.host, listen.port))
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "{}: cannot listen on {}:{}: {e}",
                    service.name(),
                    listen.host,
                    listen.port
                )
            })?;
        let router = shell(service, db.clone(), routes(db.clone()), health);
        Ok(Application {
            service,
            listener,
            router,
            db,
        })
    }

    /// The port actually bound (useful when the configuration asked for port 0).
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Which service this is.
    pub fn service(&self) -> Service {
        self.service
    }

    /// Serves until `shutdown` completes, then finishes requests in flight and closes the pool.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let name = self.service.name();
        tracing::info!(
            service = name,
            port = self.port(),
            "{name} listening on port {}",
            self.port()
        );
        // Connect info gives handlers the TCP peer (see ClientIp).
        let service = self
            .router
            .into_make_service_with_connect_info::<std::net::SocketAddr>();
        axum::serve(self.listener, service)
            .with_graceful_shutdown(shutdown)
            .await?;
        self.db.close().await;
        tracing::info!(service = name, "{name} stopped");
        Ok(())
    }
}

/// Upper bound for one request; also bounds how long a graceful shutdown can wait.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Ingest takes bank files of several gigabytes: an upload lasts as long as its body.
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(6 * 3600);

fn shell(service: Service, db: Db, routes: Router, health: Option<HealthReport>) -> Router {
    let mut registry = Registry::with_prefix("lyra");
    let metrics = HttpMetrics {
        requests: Family::default(),
        duration: Family::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 14))
        }),
    };
    registry.register(
        "http_requests",
        "HTTP requests served",
        metrics.requests.clone(),
    );
    registry.register(
        "http_request_duration_seconds",
        "HTTP request latency",
        metrics.duration.clone(),
    );
    let state = ShellState {
        service,
        db,
        registry: Arc::new(registry),
        health,
    };

    let common = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(prometheus))
        .with_state(state);

    let name = service.name();
    routes
        .merge(common)
        .layer(middleware::from_fn_with_state(metrics, record_metrics))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            if service == Service::Ingest { UPLOAD_TIMEOUT } else { REQUEST_TIMEOUT },
        ))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(move |req: &Request| {
            let request_id = req
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            tracing::info_span!("request", service = name, method = %req.method(), path = %req.uri().path(), request_id)
        }).on_response(DefaultOnResponse::new().level(tracing::Level::INFO).latency_unit(tower_http::LatencyUnit::Millis)))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

async fn healthz(State(state): State<ShellState>) -> Json<serde_json::Value> {
    let mut body = serde_json::json!({
        "status": "ok",
        "service": state.service.name(),
        "version": env!("CARGO_PKG_VERSION"),
    });
    if let Some(report) = &state.health {
        body["upstreams"] = report().await;
    }
    Json(body)
}

async fn readyz(State(state): State<ShellState>) -> Response {
    match tokio::time::timeout(Duration::from_secs(2), state.db.ping()).await {
        Ok(Ok(())) => {
            Json(serde_json::json!({"status": "ready", "database": "ok"})).into_response()
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: database unreachable");
            not_ready("unreachable")
        }
        Err(_) => not_ready("timeout"),
    }
}

fn not_ready(database: &str) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(serde_json::json!({"status": "not ready", "database": database})),
    )
        .into_response()
}

async fn prometheus(State(state): State<ShellState>) -> Response {
    let mut body = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut body, &state.registry) {
        tracing::error!(error = %e, "cannot encode metrics");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

async fn record_metrics(State(metrics): State<HttpMetrics>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    // The route template, not the raw path, so ids do not explode the label space.
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "<unmatched>".to_owned());
    let method = req.method().to_string();
    let response = next.run(req).await;
    let labels = RequestLabels {
        method,
        path,
        status: response.status().as_u16(),
    };
    metrics.requests.get_or_create(&labels).inc();
    metrics
        .duration
        .get_or_create(&labels)
        .observe(started.elapsed().as_secs_f64());
    response
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    // The panic itself is logged by the panic hook; the client learns nothing internal.
    tracing::error!("handler panicked");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(serde_json::json!({"error": "internal error"})),
    )
        .into_response()
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown signal received");
}

/// The body of every service's `main`: load settings, start logging, build, serve until a
/// signal. Errors are printed once, with their cause chain.
pub async fn main<F, Fut>(service: Service, build: F) -> std::process::ExitCode
where
    F: FnOnce(Settings) -> Fut,
    Fut: Future<Output = anyhow::Result<Application>>,
{
    let result = async {
        let settings = Settings::load(Settings::default_file().as_deref())?;
        crate::telemetry::init(&settings.log);
        let app = build(settings).await?;
        app.run_until_stopped(shutdown_signal()).await?;
        anyhow::Ok(())
    }
    .await;
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}: error: {e:#}", service.name());
            std::process::ExitCode::FAILURE
        }
    }
}

/// The client's address: the first `X-Forwarded-For` entry, which the gateway sets to the
/// peer it saw (services are reachable only through the gateway), else the TCP peer.
#[derive(Debug, Clone)]
pub struct ClientIp(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        let forwarded = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty() && v.len() <= 64);
        let peer = || {
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip().to_string())
        };
        Ok(ClientIp(
            forwarded.or_else(peer).unwrap_or_else(|| "unknown".into()),
        ))
    }
}
