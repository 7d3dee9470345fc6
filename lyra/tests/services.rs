//! Every one of the seven services starts the way `lyra serve` starts it and answers its
//! health, readiness and metrics endpoints over real HTTP.

use lyra_common::Service;
use lyra_common::testing::fresh_db;

#[tokio::test]
async fn every_service_starts_and_answers() {
    let db = fresh_db().await;
    let http = reqwest::Client::new();
    for service in Service::ALL {
        let app = lyra::serve::build(service, db.settings()).await.unwrap_or_else(|e| panic!("{}: {e:#}", service.name()));
        let base = format!("http://127.0.0.1:{}", app.port());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(app.run_until_stopped(async move {
            let _ = stopped.await;
        }));
        let health: serde_json::Value =
            http.get(format!("{base}/healthz")).send().await.unwrap().json().await.unwrap();
        assert_eq!(health["service"], service.name());
        let ready = http.get(format!("{base}/readyz")).send().await.unwrap();
        assert_eq!(ready.status(), 200, "{}", service.name());
        let metrics = http.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
        assert!(metrics.contains("lyra_http_requests_total"), "{}", service.name());
        stop.send(()).unwrap();
        handle.await.unwrap().unwrap();
    }
}
