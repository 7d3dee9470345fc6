//! Every one of the seven services starts the way `lyra serve` starts it and answers its
//! health, readiness and metrics endpoints over real HTTP.

use lyra_common::Service;
use lyra_common::testing::{Running, fresh_db};

#[tokio::test]
async fn every_service_starts_and_answers() {
    let db = fresh_db().await;
    let http = reqwest::Client::new();
    for service in Service::ALL {
        let app = lyra::serve::build(service, db.settings())
            .await
            .unwrap_or_else(|e| panic!("{}: {e:#}", service.name()));
        let running = Running::start(app);
        let base = &running.base;
        let health: serde_json::Value = http
            .get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(health["service"], service.name());
        let ready = http.get(format!("{base}/readyz")).send().await.unwrap();
        assert_eq!(ready.status(), 200, "{}", service.name());
        let metrics = http
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            metrics.contains("lyra_http_requests_total"),
            "{}",
            service.name()
        );
        running.stop().await;
    }
}
