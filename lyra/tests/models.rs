//! Models end to end: the real auth, gateway and model-svc. A bank admin's platform tokens
//! (scopes models:admin and models:predict, exchanged at auth) upload, activate and predict
//! through the gateway; a tenant's owner gets 403; `lyra models` drives the same registry
//! from the command line, and its activations reach the running service.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use lyra_auth::admin::{self, Membership};
use lyra_common::db::OrgId;
use lyra_common::testing::{Running, fresh_db};
use lyra_common::token::Role;
use serde_json::{Value, json};

mod support;

const PASSWORD: &str = "Tundra-Lantern-Violet-42";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("model-svc/tests/fixtures")
}

fn lyra_models(db_url: &str, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_lyra"))
        .env_remove("LYRA_CONFIG")
        .env("DATABASE_URL", db_url)
        .stdin(Stdio::null())
        .arg("models")
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "lyra models {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

async fn platform_token(auth: &Running, pool: &sqlx::PgPool, scope: &str) -> String {
    let api = admin::create_platform_token(pool, "models@bank.example", scope, &[scope.into()])
        .await
        .unwrap();
    support::exchange(auth, &api).await["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn platform_tokens_upload_and_predict_through_the_gateway_and_the_cli_activates() {
    let db = fresh_db().await;
    let pool = db.admin_pool().await;
    admin::create_user(
        &pool,
        "models@bank.example",
        "Models",
        PASSWORD,
        Membership::BankAdmin,
    )
    .await
    .unwrap();
    admin::create_org(&pool, "Alpha", Some(1)).await.unwrap();
    admin::create_user(
        &pool,
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
    let models = Running::start(lyra_model_svc::build(settings.clone()).await.unwrap());
    settings.gateway.upstreams.model_svc = Some(models.base.clone());
    let gateway = Running::start(lyra_gateway::build(settings).await.unwrap());
    let http = reqwest::Client::new();
    let admin_token = platform_token(&auth, &pool, "models:admin").await;
    let predict_token = platform_token(&auth, &pool, "models:predict").await;

    // Upload through the gateway (a multipart form), as a platform token with models:admin.
    let dir = fixtures().join("logistic_propensity");
    let form = reqwest::multipart::Form::new()
        .part(
            "model.onnx",
            reqwest::multipart::Part::bytes(std::fs::read(dir.join("model.onnx")).unwrap()),
        )
        .part(
            "contract.json",
            reqwest::multipart::Part::bytes(std::fs::read(dir.join("contract.json")).unwrap()),
        )
        .part(
            "sample.json",
            reqwest::multipart::Part::bytes(std::fs::read(dir.join("sample.json")).unwrap()),
        );
    let uploaded = http
        .post(gateway.url("/v1/models/logistic_propensity/versions"))
        .bearer_auth(&admin_token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), 201);

    // The CLI sees it, activates it; the running service serves it.
    let url = db.admin_url();
    let list = lyra_models(url, &["list"]);
    assert!(
        list.contains("logistic_propensity") && list.contains(" - "),
        "{list}"
    );
    let out = lyra_models(url, &["activate", "logistic_propensity", "1"]);
    assert!(out.contains("version 1 active"), "{out}");
    let sample: Value =
        serde_json::from_slice(&std::fs::read(dir.join("sample.json")).unwrap()).unwrap();
    let predict = |token: String| {
        let (http, url, body) = (
            http.clone(),
            gateway.url("/v1/models/logistic_propensity/predict"),
            json!({"rows": sample["input"]}),
        );
        async move {
            http.post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let answer = predict(predict_token.clone()).await;
    assert_eq!(answer.status(), 200);
    let answer: Value = answer.json().await.unwrap();
    assert_eq!(
        (answer["version"].as_i64(), answer["rows"].as_i64()),
        (Some(1), Some(16))
    );
    assert_eq!(
        answer["outputs"]["probability"]["groceries"]
            .as_array()
            .unwrap()
            .len(),
        16
    );

    // The same files again store nothing new; a retrained model (here: a new description)
    // uploaded and activated from the CLI reaches the service within a few seconds.
    let same = lyra_models(url, &["upload", dir.to_str().unwrap()]);
    assert!(
        same.contains("version 1: already the newest version, active"),
        "{same}"
    );
    let retrained = tempfile::tempdir().unwrap();
    let copy = retrained.path().join("logistic_propensity");
    std::fs::create_dir(&copy).unwrap();
    for file in ["model.onnx", "sample.json"] {
        std::fs::copy(dir.join(file), copy.join(file)).unwrap();
    }
    let mut contract: Value =
        serde_json::from_slice(&std::fs::read(dir.join("contract.json")).unwrap()).unwrap();
    contract["description"] = "retrained".into();
    std::fs::write(copy.join("contract.json"), contract.to_string()).unwrap();
    let again = lyra_models(url, &["upload", copy.to_str().unwrap(), "--activate"]);
    assert!(
        again.contains("version 2: validated and stored, active"),
        "{again}"
    );
    let started = std::time::Instant::now();
    loop {
        let v: Value = predict(predict_token.clone()).await.json().await.unwrap();
        if v["version"] == 2 {
            break;
        }
        assert!(
            started.elapsed().as_secs() < 5,
            "the CLI's activation did not reach model-svc"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let back = lyra_models(url, &["rollback", "logistic_propensity"]);
    assert!(back.contains("rolled back to version 1 (was 2)"), "{back}");

    // Scopes and tenants: predict needs models:predict, upload models:admin; an owner of an
    // organisation gets nothing.
    assert_eq!(predict(admin_token.clone()).await.status(), 403);
    let owner: Value = http
        .post(gateway.url("/v1/auth/login"))
        .json(&json!({"email": "owner@alpha.example", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let owner = owner["access_token"].as_str().unwrap().to_string();
    assert_eq!(predict(owner.clone()).await.status(), 403);
    let listed = http
        .get(gateway.url("/v1/models"))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 403);
    let listed = http
        .get(gateway.url("/v1/models"))
        .bearer_auth(&predict_token)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
}

#[tokio::test]
async fn register_dir_stores_each_model_once_and_activates_only_what_it_stores() {
    let db = fresh_db().await;
    let pool = db.admin_pool().await;
    let done = lyra_model_svc::registry::register_dir(&pool, &fixtures(), true)
        .await
        .unwrap();
    let names: Vec<&str> = done.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        ["kmeans_segments", "logistic_propensity", "mlp_spend"]
    );
    assert!(done.iter().all(|m| m.new && m.active && m.version == 1));
    let again = lyra_model_svc::registry::register_dir(&pool, &fixtures(), true)
        .await
        .unwrap();
    assert!(again.iter().all(|m| !m.new && m.active && m.version == 1));

    // A checkout whose logistic model changed: only that one is stored and activated.
    let names = ["kmeans_segments", "logistic_propensity", "mlp_spend"];
    let checkout = support::models_checkout(&fixtures(), &names, "logistic_propensity");
    let changed = lyra_model_svc::registry::register_dir(&pool, checkout.path(), true)
        .await
        .unwrap();
    let summary: Vec<(&str, i32, bool, bool)> = changed
        .iter()
        .map(|m| (m.name.as_str(), m.version, m.new, m.active))
        .collect();
    assert_eq!(
        summary,
        [
            ("kmeans_segments", 1, false, true),
            ("logistic_propensity", 2, true, true),
            ("mlp_spend", 1, false, true),
        ]
    );

    // An admin rolls back; starting again from either checkout keeps the admin's choice.
    lyra_model_svc::registry::activate(&pool, "logistic_propensity", 1, "admin")
        .await
        .unwrap();
    for dir in [checkout.path(), fixtures().as_path()] {
        let done = lyra_model_svc::registry::register_dir(&pool, dir, true)
            .await
            .unwrap();
        assert!(done.iter().all(|m| !m.new), "{done:?}");
        let active = lyra_model_svc::registry::active_version(&pool, "logistic_propensity")
            .await
            .unwrap();
        assert_eq!(active, Some(Some(1)));
    }
}
