//! The pipeline end to end: generated bank data, the committed models registered in
//! model-svc, every job run against real auth and model-svc over HTTP, and the pipeline's
//! own API.

mod support;

use std::collections::HashSet;
use std::path::PathBuf;

use lyra_common::config::Secret;
use lyra_common::db::{Db, DbRole};
use lyra_common::testing::{Running, fresh_db};

fn models_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ml/models")
}

async fn count(pool: &sqlx::PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_job_runs_through_model_svc_and_a_rerun_duplicates_nothing() {
    let db = fresh_db().await;
    support::small_bank(&db).await;
    let admin = db.admin_pool().await;
    let registered = lyra_model_svc::registry::register_dir(&admin, &models_dir(), true)
        .await
        .unwrap();
    assert_eq!(registered.len(), 4, "{registered:?}");
    let as_of = lyra_pipeline::tasks::default_as_of(&admin).await.unwrap();
    assert_eq!(
        lyra::serve::pending_pipeline_run(&admin).await.unwrap(),
        Some(as_of),
        "`lyra up` runs the pipeline when nothing was scored"
    );

    let mut settings = db.settings();
    let auth = Running::start(lyra_auth::build(settings.clone()).await.unwrap());
    settings.gateway.upstreams.auth = Some(auth.url(""));
    let models = Running::start(lyra_model_svc::build(settings.clone()).await.unwrap());
    settings.gateway.upstreams.model_svc = Some(models.url(""));
    let api_token = support::bank_admin_api_token(&db, &["models:predict"]).await;

    settings.pipeline.api_token = Some(Secret::new(api_token));
    settings.pipeline.score_batch_rows = 500;
    let platform = Db::connect_as(DbRole::Platform, &settings.database)
        .await
        .unwrap();
    let ctx = lyra_pipeline::context(&platform, &settings);

    for _ in 0..2 {
        lyra::pipeline::run_jobs(&ctx, "all", None).await.unwrap();
    }
    let pool = db.admin_pool().await;
    let customers = count(&pool, "SELECT count(*) FROM pipeline.customer_features").await;
    assert!(customers > 1000, "{customers} customers with features");
    for table in [
        "customer_segments",
        "purchasing_power",
        "category_propensities",
    ] {
        let rows = count(&pool, &format!("SELECT count(*) FROM pipeline.{table}")).await;
        assert_eq!(
            rows, customers,
            "{table}: one row per customer, even after a re-run"
        );
    }
    let bad = count(
        &pool,
        "SELECT count(*) FROM pipeline.purchasing_power
          WHERE NOT (0 <= p10 AND p10 <= p50 AND p50 <= p90 AND 0 <= mean) OR mean IS NULL",
    )
    .await;
    assert_eq!(
        bad, 0,
        "intervals are ordered, spend is not negative and every customer has an expected spend"
    );
    let bad = count(
        &pool,
        "SELECT count(*) FROM pipeline.category_propensities
          WHERE cardinality(probabilities) <> 20
             OR EXISTS (SELECT FROM unnest(probabilities) p WHERE p < 0 OR p > 1)",
    )
    .await;
    assert_eq!(bad, 0);
    let names: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT segment_name FROM pipeline.customer_segments")
            .fetch_all(&pool)
            .await
            .unwrap();
    let known: HashSet<&str> = [
        "Champions",
        "Loyal",
        "Potential loyalists",
        "New",
        "At risk",
        "Can't lose",
        "Hibernating",
        "Lost",
    ]
    .into();
    assert!(names.len() >= 4, "{names:?}");
    assert!(
        names.iter().all(|n| known.contains(n.as_str())),
        "{names:?}"
    );

    let merchants = count(
        &pool,
        "SELECT count(DISTINCT merchant_id) FROM pipeline.demand_forecasts",
    )
    .await;
    assert!(merchants > 50, "{merchants} merchants forecast");
    let rows = count(&pool, "SELECT count(*) FROM pipeline.demand_forecasts").await;
    assert_eq!(rows, merchants * 8, "8 weeks each, once");
    let bad = count(
        &pool,
        "SELECT count(*) FROM pipeline.demand_forecasts
          WHERE NOT (0 <= revenue_p10 AND revenue_p10 <= revenue_p50 AND revenue_p50 <= revenue_p90)",
    )
    .await;
    assert_eq!(bad, 0);
    let jobs = count(
        &pool,
        "SELECT count(*) FROM pipeline.jobs WHERE status = 'succeeded'",
    )
    .await;
    assert_eq!(jobs, 8);

    // The pipeline's API: bank admins list and start jobs; nobody else does.
    let pipeline = Running::start(lyra_pipeline::build(settings.clone()).await.unwrap());
    let http = reqwest::Client::new();
    let admin_token = support::login(&auth, "pipeline-admin@bank.example").await;
    let listed: serde_json::Value = http
        .get(pipeline.url("/v1/pipeline/jobs"))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["jobs"].as_array().unwrap().len(), 8, "{listed}");
    let started = http
        .post(pipeline.url("/v1/pipeline/jobs"))
        .bearer_auth(&admin_token)
        .json(&serde_json::json!({ "kind": "peers" }))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 202);
    let job: serde_json::Value = started.json().await.unwrap();
    let id = job["job_id"].as_str().unwrap().to_string();
    let mut status = String::new();
    for _ in 0..100 {
        status = sqlx::query_scalar("SELECT status FROM pipeline.jobs WHERE job_id = $1::uuid")
            .bind(&id)
            .fetch_one(&pool)
            .await
            .unwrap();
        if status != "running" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, "succeeded");
    let unknown = http
        .post(pipeline.url("/v1/pipeline/jobs"))
        .bearer_auth(&admin_token)
        .json(&serde_json::json!({ "kind": "everything" }))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 422);
    assert!(unknown.text().await.unwrap().contains("everything"));
    let service_token = support::exchange(
        &auth,
        &support::bank_admin_api_token(&db, &["ingest:write"]).await,
    )
    .await;
    let refused = http
        .get(pipeline.url("/v1/pipeline/jobs"))
        .bearer_auth(service_token["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    for (what, token) in support::forgeries(&db, &auth, &admin_token).await {
        let response = http
            .get(pipeline.url("/v1/pipeline/jobs"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{what}");
    }

    // `lyra up` runs the pipeline again only once a model was activated since the last
    // scores and forecasts: here a retrained demand model in a new checkout.
    assert_eq!(
        lyra::serve::pending_pipeline_run(&pool).await.unwrap(),
        None
    );
    let names = [
        "category_propensity",
        "demand_forecast",
        "purchasing_power",
        "segmentation",
    ];
    let checkout = support::models_checkout(&models_dir(), &names, "demand_forecast");
    let again = lyra_model_svc::registry::register_dir(&pool, checkout.path(), true)
        .await
        .unwrap();
    let new: Vec<(&str, i32)> = again
        .iter()
        .filter(|m| m.new && m.active)
        .map(|m| (m.name.as_str(), m.version))
        .collect();
    assert_eq!(new, [("demand_forecast", 2)]);
    assert_eq!(
        lyra::serve::pending_pipeline_run(&pool).await.unwrap(),
        Some(as_of)
    );
    pipeline.stop().await;
    models.stop().await;
    auth.stop().await;
}
