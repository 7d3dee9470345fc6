//! Lyra's gateway: the one public port in front of the other six services (tower, no
//! Traefik).
//!
//! Every request is matched against [`ROUTES`] by path prefix and proxied to its service
//! over pooled keep-alive connections, bodies streamed both ways. On API routes the access
//! token is verified (JWKS from auth, EdDSA only, `iss`/`aud`/`exp`) and a bad one is
//! answered 401 here, before any service sees it; each service verifies again. Around that:
//! rate limits per address and per token, body limits per route (large only for ingest),
//! an upstream timeout (504), `X-Forwarded-For`, security headers and compression. The
//! shell adds request ids, the access log, `/metrics`, and `/healthz`, which here reports
//! every upstream.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use lyra_common::db::Db;
use lyra_common::server::HealthReport;
use lyra_common::token::TokenVerifier;
use lyra_common::{Application, Service, Settings};
use tower_http::compression::CompressionLayer;
use tower_http::set_header::SetResponseHeaderLayer;

/// A prefix of the public URL space and where it goes.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// Path prefix (a whole segment: `/v1/users` matches `/v1/users/…`, not `/v1/usersx`).
    pub prefix: &'static str,
    /// The service that answers it.
    pub service: Service,
    /// Whether it needs an access token at the gateway.
    pub token: bool,
    /// How large a body it takes.
    pub body: BodyLimit,
}

/// How large a request body a route takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyLimit {
    /// Up to `gateway.max_body_bytes`.
    Small,
    /// Model uploads and predict batches: up to `gateway.max_model_body_bytes`.
    Model,
    /// Bank files: up to `gateway.max_ingest_body_bytes`, with the upload timeout.
    BankFile,
}

const fn route(prefix: &'static str, service: Service, token: bool, body: BodyLimit) -> Route {
    Route {
        prefix,
        service,
        token,
        body,
    }
}

/// The routing table, most specific first. `/v1/…` paths not listed are 404 here;
/// everything outside `/v1` is the dashboard (which checks its own session cookie).
pub const ROUTES: &[Route] = &[
    route(
        "/.well-known/jwks.json",
        Service::Auth,
        false,
        BodyLimit::Small,
    ),
    route("/v1/auth/login", Service::Auth, false, BodyLimit::Small),
    route("/v1/auth/refresh", Service::Auth, false, BodyLimit::Small),
    route("/v1/auth/logout", Service::Auth, false, BodyLimit::Small),
    route("/v1/auth/token", Service::Auth, false, BodyLimit::Small),
    route("/v1/auth", Service::Auth, true, BodyLimit::Small),
    route("/v1/users", Service::Auth, true, BodyLimit::Small),
    route("/v1/tokens", Service::Auth, true, BodyLimit::Small),
    route("/v1/audit", Service::Auth, true, BodyLimit::Small),
    route(
        "/v1/transactions",
        Service::Ingest,
        true,
        BodyLimit::BankFile,
    ),
    route("/v1/customers", Service::Ingest, true, BodyLimit::BankFile),
    route("/v1/merchants", Service::Ingest, true, BodyLimit::BankFile),
    route("/v1/batches", Service::Ingest, true, BodyLimit::Small),
    route("/v1/quarantine", Service::Ingest, true, BodyLimit::Small),
    route("/v1/models", Service::ModelSvc, true, BodyLimit::Model),
    route("/v1/pipeline", Service::Pipeline, true, BodyLimit::Small),
    // The API description is public; the figures need a token.
    route(
        "/v1/metrics/openapi.json",
        Service::Metrics,
        false,
        BodyLimit::Small,
    ),
    route("/v1/metrics", Service::Metrics, true, BodyLimit::Small),
    route("/v1/audiences", Service::Metrics, true, BodyLimit::Small),
    route(
        "/v1/openapi.json",
        Service::Metrics,
        false,
        BodyLimit::Small,
    ),
];

/// The route for a path, if any.
pub fn route_for(path: &str) -> Option<&'static Route> {
    let matches = |prefix: &str| {
        path == prefix
            || (path.starts_with(prefix) && path.as_bytes().get(prefix.len()) == Some(&b'/'))
    };
    if let Some(route) = ROUTES.iter().find(|r| matches(r.prefix)) {
        return Some(route);
    }
    const APP: Route = route("/", Service::App, false, BodyLimit::Small);
    (!matches("/v1")).then_some(&APP)
}

type Limiter = DefaultKeyedRateLimiter<String>;

#[derive(Clone)]
struct Gateway {
    client: Client<HttpConnector, Body>,
    settings: Arc<Settings>,
    verifier: Arc<TokenVerifier>,
    per_address: Arc<Limiter>,
    per_token: Arc<Limiter>,
}

fn quota(per_second: u32, burst: u32) -> Quota {
    let rate = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
    Quota::per_second(rate).allow_burst(NonZeroU32::new(burst).unwrap_or(rate))
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

/// Headers that belong to one connection, not to the message (RFC 9110 §7.6.1).
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

async fn proxy(State(gw): State<Gateway>, mut req: Request) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "unknown".into());
    let Some(route) = route_for(req.uri().path()) else {
        return error(StatusCode::NOT_FOUND, "no such API route");
    };
    if gw.per_address.check_key(&peer).is_err() {
        return throttled();
    }
    if route.token {
        let token = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim().to_string());
        let claims = match token {
            None => return lyra_common::token::TokenError::Missing.into_response(),
            Some(t) => match gw.verifier.verify(&t).await {
                Ok(claims) => claims,
                Err(e) => return e.into_response(),
            },
        };
        if gw.per_token.check_key(&claims.jti).is_err() {
            return throttled();
        }
    }

    let limit = match route.body {
        BodyLimit::Small => gw.settings.gateway.max_body_bytes,
        BodyLimit::Model => gw.settings.gateway.max_model_body_bytes,
        BodyLimit::BankFile => gw.settings.gateway.max_ingest_body_bytes,
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("request body over {limit} bytes"),
        );
    }

    let upstream = gw.settings.upstream(route.service);
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let uri = match format!("{upstream}{path_and_query}").parse() {
        Ok(uri) => uri,
        Err(_) => return error(StatusCode::BAD_REQUEST, "bad request target"),
    };
    *req.uri_mut() = uri;
    let headers = req.headers_mut();
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    let original_host = headers.remove(header::HOST);
    if let Some(host) = original_host {
        headers.insert("x-forwarded-host", host);
    }
    // The gateway is the edge: it states the client address, never repeats the client's claim.
    if let Ok(v) = HeaderValue::from_str(&peer) {
        headers.insert("x-forwarded-for", v);
    }
    headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
    // Streamed, and cut off at the limit when no length was declared.
    let req = req.map(|body| Body::new(http_body_util::Limited::new(body, limit as usize)));

    // Ingest answers after it has stored the whole file: give uploads the time it takes.
    let timeout = if route.body == BodyLimit::BankFile {
        Duration::from_millis(gw.settings.gateway.upload_timeout_ms)
    } else {
        Duration::from_millis(gw.settings.gateway.upstream_timeout_ms)
    };
    match tokio::time::timeout(timeout, gw.client.request(req)).await {
        Err(_) => {
            tracing::warn!(service = route.service.name(), "upstream timed out");
            error(StatusCode::GATEWAY_TIMEOUT, "upstream timed out")
        }
        Ok(Err(e)) => {
            if is_length_limit(&e) {
                return error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &format!("request body over {limit} bytes"),
                );
            }
            tracing::warn!(service = route.service.name(), error = %e, "upstream unreachable");
            error(StatusCode::BAD_GATEWAY, "upstream unavailable")
        }
        Ok(Ok(response)) => {
            let mut response = response.map(Body::new);
            for name in HOP_BY_HOP {
                response.headers_mut().remove(name);
            }
            response
        }
    }
}

fn is_length_limit(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = err.source();
    }
    false
}

fn throttled() -> Response {
    let mut response = error(StatusCode::TOO_MANY_REQUESTS, "rate limit exceeded");
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// The content security policy: same-origin only, no plugins, no base rewriting, no framing.
pub const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
     script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

fn gateway_routes(gw: Gateway) -> Router {
    let set = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::overriding(name, HeaderValue::from_static(value))
    };
    Router::new()
        .fallback(proxy)
        .with_state(gw)
        .layer(CompressionLayer::new())
        .layer(set(
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=63072000; includeSubDomains",
        ))
        .layer(set(header::CONTENT_SECURITY_POLICY, CSP))
        .layer(set(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(set(
            header::REFERRER_POLICY,
            "strict-origin-when-cross-origin",
        ))
        .layer(set(header::X_FRAME_OPTIONS, "DENY"))
}

fn health_report(settings: Arc<Settings>) -> HealthReport {
    let http = Client::builder(TokioExecutor::new()).build_http::<Body>();
    Arc::new(move || {
        let (settings, http) = (settings.clone(), http.clone());
        Box::pin(async move {
            let checks = Service::ALL
                .into_iter()
                .filter(|s| *s != Service::Gateway)
                .map(|service| {
                    let url = format!("{}/readyz", settings.upstream(service));
                    let http = http.clone();
                    async move {
                        let status = match url.parse() {
                            Ok(uri) => {
                                match tokio::time::timeout(Duration::from_secs(1), http.get(uri))
                                    .await
                                {
                                    Ok(Ok(r)) if r.status().is_success() => "ok".to_string(),
                                    Ok(Ok(r)) => format!("not ready ({})", r.status().as_u16()),
                                    Ok(Err(_)) => "unreachable".to_string(),
                                    Err(_) => "timeout".to_string(),
                                }
                            }
                            Err(_) => "bad address".to_string(),
                        };
                        (service.name(), status)
                    }
                });
            let results = futures::future::join_all(checks).await;
            serde_json::Value::Object(
                results
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.into()))
                    .collect(),
            )
        })
    })
}

/// Connects, binds and assembles the gateway.
pub async fn build(settings: Settings) -> anyhow::Result<Application> {
    let settings = Arc::new(settings);
    let client = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(256)
        .build_http::<Body>();
    let g = &settings.gateway;
    let gw = Gateway {
        client,
        verifier: TokenVerifier::remote(format!(
            "{}/.well-known/jwks.json",
            settings.upstream(Service::Auth)
        )),
        per_address: Arc::new(RateLimiter::keyed(quota(
            g.per_address_per_second,
            g.per_address_burst,
        ))),
        per_token: Arc::new(RateLimiter::keyed(quota(
            g.per_token_per_second,
            g.per_token_burst,
        ))),
        settings: settings.clone(),
    };
    // Forget idle rate-limit keys now and then, so the maps stay small.
    let (a, t) = (
        Arc::downgrade(&gw.per_address),
        Arc::downgrade(&gw.per_token),
    );
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            match (a.upgrade(), t.upgrade()) {
                (Some(a), Some(t)) => {
                    a.retain_recent();
                    t.retain_recent();
                }
                _ => break,
            }
        }
    });
    let health = health_report(settings.clone());
    Application::build_with_health(
        Service::Gateway,
        &settings,
        move |_db: Db| gateway_routes(gw),
        Some(health),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_whole_segments() {
        let svc = |p: &str| route_for(p).map(|r| r.service);
        assert_eq!(svc("/v1/users"), Some(Service::Auth));
        assert_eq!(svc("/v1/users/123"), Some(Service::Auth));
        assert_eq!(svc("/v1/usersx"), None);
        assert_eq!(svc("/v1/transactions"), Some(Service::Ingest));
        assert_eq!(
            route_for("/v1/transactions").unwrap().body,
            BodyLimit::BankFile
        );
        assert_eq!(
            svc("/v1/models/segmentation/predict"),
            Some(Service::ModelSvc)
        );
        assert_eq!(
            route_for("/v1/models/x/versions").unwrap().body,
            BodyLimit::Model
        );
        assert!(!route_for("/v1/auth/login").unwrap().token);
        assert!(route_for("/v1/auth/me").unwrap().token);
        assert_eq!(svc("/v1/nothing"), None);
        assert_eq!(svc("/v1"), None);
        assert_eq!(svc("/"), Some(Service::App));
        assert_eq!(svc("/customers"), Some(Service::App));
        assert!(route_for("/v1/metrics/overview").unwrap().token);
        assert!(!route_for("/v1/metrics/openapi.json").unwrap().token);
        assert_eq!(svc("/v1/metrics/openapi.json"), Some(Service::Metrics));
    }
}
