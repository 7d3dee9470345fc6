//! The gateway in front of the real auth service: routing, the token wall, limits,
//! timeouts and headers. Everything over real HTTP on real ports.

mod support;

use lyra_auth::admin::{self, Membership};
use lyra_common::Service;
use lyra_common::db::OrgId;
use lyra_common::testing::{Running, TestDb, fresh_db};
use lyra_common::token::{Claims, Role};
use reqwest::StatusCode;
use serde_json::{Value, json};

const PASSWORD: &str = "Tundra-Lantern-Violet-42";

struct Stack {
    db: TestDb,
    auth: Running,
    gateway: Running,
    http: reqwest::Client,
}

/// Auth and the gateway; `tune` adjusts the gateway's settings.
async fn stack(tune: impl FnOnce(&mut lyra_common::Settings)) -> Stack {
    let db = fresh_db().await;
    let admin = db.admin_pool().await;
    admin::create_org(&admin, "Alpha", Some(1)).await.unwrap();
    admin::create_user(
        &admin,
        "owner@alpha.example",
        "Owner",
        PASSWORD,
        Membership::Member(OrgId(1), Role::Owner),
    )
    .await
    .unwrap();
    let auth = Running::start(lyra_auth::build(db.settings()).await.unwrap());
    let mut settings = db.settings();
    settings.gateway.upstreams.auth = Some(auth.base.clone());
    tune(&mut settings);
    let gateway = Running::start(lyra_gateway::build(settings).await.unwrap());
    Stack {
        db,
        auth,
        gateway,
        http: reqwest::Client::new(),
    }
}

impl Stack {
    async fn login(&self) -> Value {
        let response = self
            .http
            .post(self.gateway.url("/v1/auth/login"))
            .json(&json!({"email": "owner@alpha.example", "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut request = self.http.get(self.gateway.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }

    /// How many requests for `path` auth has answered, from its own Prometheus counters.
    async fn auth_saw(&self, path: &str) -> u64 {
        let text = self
            .http
            .get(self.auth.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .filter(|l| {
                l.starts_with("lyra_http_requests_total") && l.contains(&format!("path=\"{path}\""))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    }
}

#[tokio::test]
async fn logins_and_api_calls_pass_through_with_security_headers() {
    let s = stack(|_| {}).await;
    let tokens = s.login().await;
    let access = tokens["access_token"].as_str().unwrap();
    let me = s.get("/v1/auth/me", Some(access)).await;
    assert_eq!(me.status(), 200);
    let headers = me.headers().clone();
    let claims: Claims = me.json().await.unwrap();
    assert_eq!(claims.org, Some(OrgId(1)));
    for (name, expected) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "strict-origin-when-cross-origin"),
    ] {
        assert_eq!(headers[name], expected, "{name}");
    }
    assert!(
        headers["strict-transport-security"]
            .to_str()
            .unwrap()
            .starts_with("max-age=")
    );
    let csp = headers["content-security-policy"].to_str().unwrap();
    for directive in [
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert!(headers.contains_key("x-request-id"));
    let echoed = s
        .http
        .get(s.gateway.url("/.well-known/jwks.json"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "trace-me-42");
}

#[tokio::test]
async fn bad_tokens_are_answered_401_before_any_service_sees_them() {
    let s = stack(|_| {}).await;
    let tokens = s.login().await;
    let access = tokens["access_token"].as_str().unwrap();
    let mut cases = support::forgeries(&s.db, &s.auth, access).await;
    cases.push((
        "a refresh token as an access token",
        tokens["refresh_token"].as_str().unwrap().to_string(),
    ));
    let before = s.auth_saw("/v1/auth/me").await;
    for (name, token) in &cases {
        assert_eq!(
            s.get("/v1/auth/me", Some(token)).await.status(),
            401,
            "{name}"
        );
        assert_eq!(
            s.get("/v1/users", Some(token)).await.status(),
            401,
            "{name}"
        );
    }
    assert_eq!(
        s.get("/v1/users", None).await.status(),
        401,
        "no token at all"
    );
    assert_eq!(
        s.auth_saw("/v1/auth/me").await,
        before,
        "auth never saw a bad token"
    );
}

#[tokio::test]
async fn an_oversized_body_is_refused_with_413() {
    let s = stack(|settings| settings.gateway.max_body_bytes = 1024).await;
    let tokens = s.login().await;
    let access = tokens["access_token"].as_str().unwrap();
    let big = "x".repeat(4096);
    let declared = s
        .http
        .post(s.gateway.url("/v1/users"))
        .bearer_auth(access)
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(declared.status(), 413);
    // Without a Content-Length (chunked), the stream is cut at the limit.
    let stream = futures::stream::iter((0..8).map(|_| Ok::<_, std::io::Error>(vec![b'x'; 1024])));
    let chunked = s
        .http
        .post(s.gateway.url("/v1/users"))
        .bearer_auth(access)
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(chunked.status(), 413);
}

#[tokio::test]
async fn a_slow_upstream_times_out_with_504() {
    // An upstream that accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", silent.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let s = stack(|settings| {
        settings.gateway.upstreams.metrics = Some(address.clone());
        settings.gateway.upstream_timeout_ms = 300;
    })
    .await;
    let tokens = s.login().await;
    let started = std::time::Instant::now();
    let response = s
        .get("/v1/metrics/overview", tokens["access_token"].as_str())
        .await;
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    // An upstream that is not there at all is a 502.
    let down = s.get("/v1/models", tokens["access_token"].as_str()).await;
    assert_eq!(down.status(), StatusCode::BAD_GATEWAY);
}

#[tokio::test]
async fn requests_over_the_rate_limit_get_429() {
    let s = stack(|settings| {
        settings.gateway.per_address_per_second = 1;
        settings.gateway.per_address_burst = 5;
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(
            s.get("/.well-known/jwks.json", None)
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(&statuses[..5], &[200; 5]);
    assert!(statuses[5..].contains(&429), "{statuses:?}");
}

#[tokio::test]
async fn the_token_rate_limit_is_per_token() {
    let s = stack(|settings| {
        settings.gateway.per_token_per_second = 1;
        settings.gateway.per_token_burst = 3;
    })
    .await;
    let first = s.login().await;
    let second = s.login().await;
    let (a, b) = (
        first["access_token"].as_str().unwrap(),
        second["access_token"].as_str().unwrap(),
    );
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(s.get("/v1/auth/me", Some(a)).await.status().as_u16());
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    assert_eq!(
        s.get("/v1/auth/me", Some(b)).await.status(),
        200,
        "another token has its own budget"
    );
}

#[tokio::test]
async fn responses_are_compressed_unknown_api_routes_are_404_and_healthz_reports_upstreams() {
    let s = stack(|_| {}).await;
    s.login().await;
    let gz = s
        .http
        .get(s.gateway.url("/.well-known/jwks.json"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(
        gz.headers()
            .get("content-encoding")
            .map(|v| v.to_str().unwrap()),
        Some("gzip")
    );
    assert_eq!(s.get("/v1/no-such-thing", None).await.status(), 404);
    let health: Value = s.get("/healthz", None).await.json().await.unwrap();
    assert_eq!(health["service"], "gateway");
    assert_eq!(health["upstreams"]["auth"], "ok");
    for service in [
        Service::App,
        Service::Metrics,
        Service::ModelSvc,
        Service::Ingest,
        Service::Pipeline,
    ] {
        assert_ne!(
            health["upstreams"][service.name()],
            "ok",
            "{} is not running in this test",
            service.name()
        );
    }
}

#[tokio::test]
async fn the_client_address_is_the_peer_not_what_the_client_claims() {
    let s = stack(|_| {}).await;
    // Ten failures claiming ten different addresses: the gateway overwrites the claim, so
    // auth sees one address (loopback) and its per-address backoff starts.
    for i in 0..10 {
        let response = s
            .http
            .post(s.gateway.url("/v1/auth/login"))
            .header("x-forwarded-for", format!("203.0.113.{i}"))
            .json(&json!({"email": format!("x{i}@alpha.example"), "password": "Wrong-Password-123456"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
    }
    let next = s
        .http
        .post(s.gateway.url("/v1/auth/login"))
        .header("x-forwarded-for", "198.51.100.1")
        .json(&json!({"email": "y@alpha.example", "password": "Wrong-Password-123456"}))
        .send()
        .await
        .unwrap();
    assert_eq!(next.status(), 429);
    let ips: Vec<String> = sqlx::query_scalar("SELECT DISTINCT ip FROM auth.login_failures")
        .fetch_all(&s.db.admin_pool().await)
        .await
        .unwrap();
    assert_eq!(ips, vec!["127.0.0.1".to_string()]);
}
