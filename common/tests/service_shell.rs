//! The shell every service runs in, over real HTTP on a real port with a real database.

use axum::Router;
use axum::routing::get;
use lyra_common::testing::{Running, fresh_db};
use lyra_common::{Application, Service};
use sqlx::Executor;

async fn boom() -> &'static str {
    panic!("secret internal detail")
}

async fn spawn(settings: lyra_common::Settings) -> Running {
    let routes = |_db| {
        Router::new().route("/boom", get(boom)).route(
            "/slow",
            get(|| async {
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                "done"
            }),
        )
    };
    let app = Application::build(Service::Metrics, &settings, routes)
        .await
        .expect("service starts");
    Running::start(app)
}

#[tokio::test]
async fn health_readiness_metrics_request_ids_and_panics() {
    let db = fresh_db().await;
    let running = spawn(db.settings()).await;
    let http = reqwest::Client::new();

    let health = http
        .get(format!("{}/healthz", running.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let id = health
        .headers()
        .get("x-request-id")
        .expect("a request id is set")
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(id.len(), 36, "a uuid: {id}");
    let body: serde_json::Value = health.json().await.unwrap();
    assert_eq!(body["service"], "metrics");

    let ready = http
        .get(format!("{}/readyz", running.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);

    let echoed = http
        .get(format!("{}/healthz", running.base))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(
        echoed.headers()["x-request-id"],
        "abc-123",
        "an incoming request id is kept"
    );

    let boom = http
        .get(format!("{}/boom", running.base))
        .send()
        .await
        .unwrap();
    assert_eq!(boom.status(), 500);
    let text = boom.text().await.unwrap();
    assert!(!text.contains("secret"), "{text}");
    assert!(text.contains("internal error"));

    let metrics = http
        .get(format!("{}/metrics", running.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            "lyra_http_requests_total{method=\"GET\",path=\"/healthz\",status=\"200\"} 2"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("lyra_http_request_duration_seconds_bucket"),
        "{metrics}"
    );

    running.stop().await;
}

#[tokio::test]
async fn readiness_fails_when_the_database_goes_away() {
    let db = fresh_db().await;
    let running = spawn(db.settings()).await;
    let http = reqwest::Client::new();
    assert_eq!(
        http.get(format!("{}/readyz", running.base))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let admin = db.admin_pool().await;
    admin
        .execute(format!("DROP DATABASE \"{}\" WITH (FORCE)", db.name).as_str())
        .await
        .ok();
    // The admin pool itself was connected to that database; use a fresh connection elsewhere.
    let mut url = url::Url::parse(db.admin_url()).unwrap();
    url.set_path("postgres");
    let other = sqlx::PgPool::connect(url.as_str()).await.unwrap();
    other
        .execute(format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", db.name).as_str())
        .await
        .unwrap();
    let ready = http
        .get(format!("{}/readyz", running.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let health = http
        .get(format!("{}/healthz", running.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        health.status(),
        200,
        "liveness does not depend on the database"
    );
    running.stop().await;
}

#[tokio::test]
async fn shutdown_lets_requests_in_flight_finish() {
    let db = fresh_db().await;
    let running = spawn(db.settings()).await;
    let url = format!("{}/slow", running.base);
    let request =
        tokio::spawn(async move { reqwest::get(url).await.unwrap().text().await.unwrap() });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let stopping = tokio::spawn(running.stop());
    assert_eq!(request.await.unwrap(), "done");
    stopping.await.unwrap();
}

#[tokio::test]
async fn a_port_in_use_fails_with_the_service_name() {
    let db = fresh_db().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut settings = db.settings();
    settings.services.metrics.port = taken.local_addr().unwrap().port();
    let err = Application::build(Service::Metrics, &settings, |_| Router::new())
        .await
        .err()
        .expect("bind fails");
    assert!(err.to_string().contains("metrics: cannot listen"), "{err}");
}
