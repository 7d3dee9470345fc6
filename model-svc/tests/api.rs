//! model-svc over real HTTP with a real database: upload, validation reports, versions,
//! activation, rollback, predict and its refusals, the access matrix built from the route
//! table, the forged-token battery, and activation reaching a second instance while
//! requests keep flowing.
//!
//! Tokens are signed here with a key of the test's own, published by a small JWKS server
//! standing in for auth (a service test cannot depend on the auth crate).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use lyra_common::db::OrgId;
use lyra_common::testing::{Running, TestDb, fresh_db};
use lyra_common::token::{AUDIENCE, Claims, ISSUER, Role};
use lyra_model_svc::Access;
use reqwest::{Method, StatusCode};
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde_json::{Value, json};

const KID: &str = "test-key";

struct Keys {
    private_der: Vec<u8>,
    public_raw: Vec<u8>,
}

impl Keys {
    fn new() -> Keys {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        Keys {
            private_der: pkcs8.as_ref().to_vec(),
            public_raw: pair.public_key().as_ref().to_vec(),
        }
    }

    fn claims(&self, role: Role, org: Option<OrgId>, scopes: &[&str]) -> Claims {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        Claims {
            sub: format!("test-{}", role.as_str()),
            org,
            role,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            typ: "access".into(),
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            exp: now + 900,
            iat: now,
            jti: uuid(),
        }
    }

    fn sign(&self, claims: &Claims) -> String {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.kid = Some(KID.into());
        jsonwebtoken::encode(
            &header,
            claims,
            &jsonwebtoken::EncodingKey::from_ed_der(&self.private_der),
        )
        .unwrap()
    }

    fn token(&self, role: Role, org: Option<OrgId>, scopes: &[&str]) -> String {
        self.sign(&self.claims(role, org, scopes))
    }
}

fn uuid() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "jti-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// A JWKS endpoint standing in for auth's.
async fn jwks_server(keys: &Keys) -> String {
    let body = json!({"keys": [{
        "kty": "OKP", "crv": "Ed25519", "x": B64.encode(&keys.public_raw),
        "kid": KID, "alg": "EdDSA", "use": "sig",
    }]});
    let app = axum::Router::new().route(
        "/.well-known/jwks.json",
        axum::routing::get(move || {
            let body = body.clone();
            async move { axum::Json(body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

struct TestModels {
    db: TestDb,
    keys: Keys,
    jwks: String,
    running: Running,
    http: reqwest::Client,
    admin: String,
}

impl TestModels {
    async fn spawn() -> TestModels {
        let db = fresh_db().await;
        let keys = Keys::new();
        let jwks = jwks_server(&keys).await;
        let admin = keys.token(Role::BankAdmin, None, &[]);
        TestModels {
            running: Running::start(start(&db, &jwks).await),
            db,
            keys,
            jwks,
            http: reqwest::Client::new(),
            admin,
        }
    }

    /// Another instance of model-svc on the same database.
    async fn another_instance(&self) -> Running {
        Running::start(start(&self.db, &self.jwks).await)
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> reqwest::Response {
        call(&self.http, &self.running, method, path, token, body).await
    }

    async fn upload(&self, name: &str, files: (Vec<u8>, Value, Value)) -> reqwest::Response {
        upload(&self.http, &self.running, &self.admin, name, files).await
    }

    async fn predict(&self, name: &str, body: Value) -> reqwest::Response {
        self.call(
            Method::POST,
            &format!("/v1/models/{name}/predict"),
            Some(&self.admin),
            Some(body),
        )
        .await
    }
}

async fn start(db: &TestDb, jwks: &str) -> lyra_common::Application {
    let mut settings = db.settings();
    settings.gateway.upstreams.auth = Some(jwks.to_string());
    lyra_model_svc::build(settings).await.unwrap()
}

async fn call(
    http: &reqwest::Client,
    running: &Running,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = http.request(method, running.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

async fn upload(
    http: &reqwest::Client,
    running: &Running,
    token: &str,
    name: &str,
    (onnx, contract, sample): (Vec<u8>, Value, Value),
) -> reqwest::Response {
    let form = reqwest::multipart::Form::new()
        .part(
            "model.onnx",
            reqwest::multipart::Part::bytes(onnx).file_name("model.onnx"),
        )
        .part(
            "contract.json",
            reqwest::multipart::Part::text(contract.to_string()),
        )
        .part(
            "sample.json",
            reqwest::multipart::Part::text(sample.to_string()),
        );
    http.post(running.url(&format!("/v1/models/{name}/versions")))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

fn fixture(name: &str) -> (Vec<u8>, Value, Value) {
    lyra_model_svc::registry::read_model_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
    .unwrap()
}

/// The fixture's sample input as a columnar predict body.
fn columns_body(contract: &Value, sample: &Value) -> Value {
    let columns: serde_json::Map<String, Value> = contract["input"]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(j, c)| {
            let values: Vec<Value> = sample["input"]
                .as_array()
                .unwrap()
                .iter()
                .map(|row| row[j].clone())
                .collect();
            (c.as_str().unwrap().to_string(), Value::Array(values))
        })
        .collect();
    json!({ "columns": columns })
}

/// The fixture's sample input as an Arrow IPC stream of float32 columns, last column first.
fn arrow_body(contract: &Value, sample: &Value) -> Vec<u8> {
    use arrow_array::{ArrayRef, Float32Array, RecordBatch};
    use arrow_schema::{DataType, Field, Schema};
    let names: Vec<&str> = contract["input"]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let rows = sample["input"].as_array().unwrap();
    let order: Vec<usize> = (0..names.len()).rev().collect();
    let schema = std::sync::Arc::new(Schema::new(
        order
            .iter()
            .map(|&j| Field::new(names[j], DataType::Float32, false))
            .collect::<Vec<_>>(),
    ));
    let arrays: Vec<ArrayRef> = order
        .iter()
        .map(|&j| -> ArrayRef {
            std::sync::Arc::new(Float32Array::from(
                rows.iter()
                    .map(|r| r[j].as_f64().unwrap() as f32)
                    .collect::<Vec<_>>(),
            ))
        })
        .collect();
    let batch = RecordBatch::try_new(schema.clone(), arrays).unwrap();
    let mut out = Vec::new();
    let mut writer = arrow_ipc::writer::StreamWriter::try_new(&mut out, &schema).unwrap();
    writer.write(&batch).unwrap();
    writer.finish().unwrap();
    drop(writer);
    out
}

async fn json_of(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn activate(t: &TestModels, name: &str, version: i32) -> (StatusCode, Value) {
    json_of(
        t.call(
            Method::POST,
            &format!("/v1/models/{name}/versions/{version}/activate"),
            Some(&t.admin),
            None,
        )
        .await,
    )
    .await
}

/// The version that answers a one-row prediction.
async fn served(t: &TestModels, name: &str, sample: &Value) -> i64 {
    let (_, body) = json_of(t.predict(name, json!({"rows": [sample["input"][0]]})).await).await;
    body["version"].as_i64().unwrap()
}

async fn rollback(t: &TestModels, name: &str) -> (StatusCode, Value) {
    json_of(
        t.call(
            Method::POST,
            &format!("/v1/models/{name}/rollback"),
            Some(&t.admin),
            None,
        )
        .await,
    )
    .await
}

#[tokio::test]
async fn upload_activate_predict_and_roll_back() {
    let t = TestModels::spawn().await;
    let (onnx, contract, sample) = fixture("mlp_spend");
    let (status, body) = json_of(
        t.upload(
            "mlp_spend",
            (onnx.clone(), contract.clone(), sample.clone()),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["version"], 1);
    assert_eq!(body["report"]["ok"], true);
    assert_eq!(body["sha256"].as_str().unwrap().len(), 64);

    let (status, body) = json_of(
        t.predict("mlp_spend", columns_body(&contract, &sample))
            .await,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "uploaded, not yet active: {body}"
    );
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("no active version"),
        "{body}"
    );

    let (status, body) = activate(&t, "mlp_spend", 1).await;
    assert_eq!(
        (status, &body["version"], &body["previous"]),
        (StatusCode::OK, &json!(1), &Value::Null)
    );

    // Columns in contract order or not, the sample's expected outputs come back.
    let (status, body) = json_of(
        t.predict("mlp_spend", columns_body(&contract, &sample))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (&body["model"], &body["version"], &body["rows"]),
        (&json!("mlp_spend"), &json!(1), &json!(16))
    );
    for (c, column) in ["p10", "p50", "p90"].iter().enumerate() {
        let got = body["outputs"]["spend_90d"][column].as_array().unwrap();
        for (r, v) in got.iter().enumerate() {
            let want = sample["outputs"]["spend_90d"][r][c].as_f64().unwrap();
            let v = v.as_f64().unwrap();
            assert!(
                (v - want).abs() <= 1e-3 + 1e-4 * want.abs(),
                "{column}[{r}]: {v} vs {want}"
            );
        }
    }
    let (status, rows) = json_of(
        t.predict("mlp_spend", json!({"rows": sample["input"]}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        rows["outputs"], body["outputs"],
        "rows and columns give the same answer"
    );
    // The same batch as an Arrow IPC stream (float32 columns, reversed order).
    let response = t
        .http
        .post(t.running.url("/v1/models/mlp_spend/predict"))
        .bearer_auth(&t.admin)
        .header("content-type", "application/vnd.apache.arrow.stream")
        .body(arrow_body(&contract, &sample))
        .send()
        .await
        .unwrap();
    let (status, arrow) = json_of(response).await;
    assert_eq!(status, StatusCode::OK, "{arrow}");
    assert_eq!(
        arrow["outputs"], body["outputs"],
        "Arrow and JSON give the same answer"
    );

    // Version 2 (another model of the same contract), activate, roll back.
    let (status, body) = json_of(
        t.upload("mlp_spend", (onnx, contract.clone(), sample.clone()))
            .await,
    )
    .await;
    assert_eq!((status, &body["version"]), (StatusCode::CREATED, &json!(2)));
    let (status, body) = activate(&t, "mlp_spend", 2).await;
    assert_eq!((status, &body["previous"]), (StatusCode::OK, &json!(1)));
    assert_eq!(served(&t, "mlp_spend", &sample).await, 2);
    let (status, body) = rollback(&t, "mlp_spend").await;
    assert_eq!(
        (status, &body["version"], &body["previous"]),
        (StatusCode::OK, &json!(1), &json!(2))
    );
    assert_eq!(served(&t, "mlp_spend", &sample).await, 1);
    let (status, body) = rollback(&t, "mlp_spend").await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "nothing before version 1: {body}"
    );

    let (status, detail) = json_of(
        t.call(Method::GET, "/v1/models/mlp_spend", Some(&t.admin), None)
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(detail["active_version"], 1);
    assert_eq!(detail["active_contract"]["name"], "mlp_spend");
    assert!(detail["active_contract"]["input"]["columns"].is_array());
    assert_eq!(detail["versions"].as_array().unwrap().len(), 2);
    assert_eq!(detail["versions"][0]["uploaded_by"], "test-bank_admin");
    assert_eq!(detail["versions"][0]["validation"]["ok"], true);
    let history: Vec<(String, i64)> = detail["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["action"].as_str().unwrap().to_string(),
                h["version"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        history,
        [
            ("rollback".to_string(), 1),
            ("activate".to_string(), 2),
            ("activate".to_string(), 1)
        ]
    );
    let (_, list) = json_of(
        t.call(Method::GET, "/v1/models", Some(&t.admin), None)
            .await,
    )
    .await;
    assert_eq!(list["models"][0]["name"], "mlp_spend");
    assert_eq!(list["models"][0]["latest_version"], 2);
    assert_eq!(list["models"][0]["active_version"], 1);

    let (status, body) = activate(&t, "mlp_spend", 7).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        body["error"].as_str().unwrap().contains("no version 7"),
        "{body}"
    );
}

#[tokio::test]
async fn a_failed_upload_answers_its_report_and_stores_nothing() {
    let t = TestModels::spawn().await;
    let (onnx, mut contract, sample) = fixture("kmeans_segments");
    contract["outputs"][1]["name"] = "distances".into();
    let (status, body) = json_of(
        t.upload("kmeans_segments", (onnx.clone(), contract, sample.clone()))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["report"]["ok"], false);
    let error = body["error"].as_str().unwrap();
    assert!(error.contains("sample.outputs.distances"), "{error}");
    let problem = &body["report"]["problems"][0];
    for field in ["what", "expected", "found"] {
        assert!(problem[field].is_string(), "{problem}");
    }
    let (status, _) = json_of(
        t.call(
            Method::GET,
            "/v1/models/kmeans_segments",
            Some(&t.admin),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing stored");

    let (status, body) = json_of(
        t.upload(
            "kmeans_segments",
            (b"garbage".to_vec(), fixture("kmeans_segments").1, sample),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["report"]["problems"][0]["what"], "model.onnx",
        "{body}"
    );

    let form =
        reqwest::multipart::Form::new().part("model.onnx", reqwest::multipart::Part::bytes(onnx));
    let response = t
        .http
        .post(t.running.url("/v1/models/kmeans_segments/versions"))
        .bearer_auth(&t.admin)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("missing part(s): contract.json, sample.json"),
        "{body}"
    );
}

#[tokio::test]
async fn predict_refuses_bad_input_and_names_the_problem() {
    let t = TestModels::spawn().await;
    let (onnx, contract, sample) = fixture("kmeans_segments");
    assert_eq!(
        t.upload("kmeans_segments", (onnx, contract.clone(), sample.clone()))
            .await
            .status(),
        201
    );
    activate(&t, "kmeans_segments", 1).await;
    let row = sample["input"][0].clone();
    let mut short = row.clone();
    short.as_array_mut().unwrap().pop();
    let mut with_null = columns_body(&contract, &sample);
    with_null["columns"]["age"][3] = Value::Null;
    let mut missing = columns_body(&contract, &sample);
    missing["columns"]
        .as_object_mut()
        .unwrap()
        .remove("spend_90");
    let mut extra = columns_body(&contract, &sample);
    extra["columns"]["shoe_size"] = extra["columns"]["age"].clone();
    let mut uneven = columns_body(&contract, &sample);
    uneven["columns"]["tenure_days"]
        .as_array_mut()
        .unwrap()
        .pop();
    let too_many = json!({ "rows": vec![row.clone(); 10_001] });
    let cases: Vec<(&str, Value, StatusCode, &str)> = vec![
        (
            "kmeans_segments",
            json!({"rows": [row.clone(), short]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "rows[1] has 53 values, expected 54",
        ),
        (
            "kmeans_segments",
            with_null,
            StatusCode::UNPROCESSABLE_ENTITY,
            "columns.age[3]: null (NaN) is not allowed",
        ),
        (
            "kmeans_segments",
            missing,
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing column(s): \"spend_90\"",
        ),
        (
            "kmeans_segments",
            extra,
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown column(s): \"shoe_size\"",
        ),
        (
            "kmeans_segments",
            uneven,
            StatusCode::UNPROCESSABLE_ENTITY,
            "\"tenure_days\" has 15 values",
        ),
        (
            "kmeans_segments",
            json!({"rows": [["x"]]}),
            StatusCode::BAD_REQUEST,
            "rows[0][0]: invalid type: string",
        ),
        (
            "kmeans_segments",
            too_many,
            StatusCode::PAYLOAD_TOO_LARGE,
            "10001 rows is more than the 10000",
        ),
        (
            "no_such_model",
            json!({"rows": [row]}),
            StatusCode::NOT_FOUND,
            "no model named \"no_such_model\"",
        ),
    ];
    for (name, body, status, needle) in cases {
        let (got, answer) = json_of(t.predict(name, body).await).await;
        assert_eq!(got, status, "{needle}: {answer}");
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(error.contains(needle), "{needle:?} not in {error:?}");
    }
    // int64 segments and float32 distances, columns named by the contract.
    let (status, body) = json_of(
        t.predict("kmeans_segments", json!({"rows": sample["input"]}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["outputs"]["segment"]["segment"],
        json!(
            sample["outputs"]["segment"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r[0].clone())
                .collect::<Vec<_>>()
        )
    );
    assert_eq!(
        body["outputs"]["distance"]["Champions"]
            .as_array()
            .unwrap()
            .len(),
        16
    );
}

#[tokio::test]
async fn every_route_needs_its_access_level() {
    let t = TestModels::spawn().await;
    let k = &t.keys;
    let owner = k.token(Role::Owner, Some(OrgId(1)), &[]);
    let org_script = k.token(
        Role::Service,
        Some(OrgId(1)),
        &["models:predict", "models:admin"],
    );
    let predictor = k.token(Role::Service, None, &["models:predict"]);
    let model_admin = k.token(Role::Service, None, &["models:admin"]);
    let ingester = k.token(Role::Service, None, &["ingest:write"]);
    for spec in lyra_model_svc::route_specs() {
        let path = spec
            .path
            .replace("{name}", "mlp_spend")
            .replace("{version}", "1");
        let status = |token: Option<String>| {
            let (method, path) = (spec.method.clone(), path.clone());
            let t = &t;
            async move {
                t.call(method, &path, token.as_deref(), Some(json!({})))
                    .await
                    .status()
            }
        };
        let what = format!("{} {}", spec.method, spec.path);
        assert_eq!(status(None).await, 401, "{what}: anonymous");
        for (who, token) in [
            ("tenant owner", &owner),
            ("organisation token", &org_script),
            ("ingest token", &ingester),
        ] {
            assert_eq!(status(Some(token.clone())).await, 403, "{what}: {who}");
        }
        let allowed = |token: &str| {
            let (s, token) = (status, token.to_string());
            async move { !matches!(s(Some(token)).await.as_u16(), 401 | 403) }
        };
        assert!(allowed(&t.admin).await, "{what}: bank admin");
        assert_eq!(
            allowed(&predictor).await,
            spec.access != Access::Admin,
            "{what}: models:predict"
        );
        assert_eq!(
            allowed(&model_admin).await,
            spec.access != Access::Predict,
            "{what}: models:admin"
        );
    }
}

#[tokio::test]
async fn forged_tokens_are_refused_on_every_route() {
    let t = TestModels::spawn().await;
    let valid = t.keys.claims(Role::BankAdmin, None, &[]);
    let forged =
        lyra_common::testing::forged_tokens(KID, &t.keys.private_der, &t.keys.public_raw, &valid);
    for spec in lyra_model_svc::route_specs() {
        let path = spec
            .path
            .replace("{name}", "mlp_spend")
            .replace("{version}", "1");
        for (name, token) in &forged {
            let response = t
                .call(spec.method.clone(), &path, Some(token), Some(json!({})))
                .await;
            assert_eq!(
                response.status(),
                401,
                "{} {}: {name}",
                spec.method,
                spec.path
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activation_reaches_another_instance_while_requests_keep_flowing() {
    let t = TestModels::spawn().await;
    let (onnx, contract, sample) = fixture("logistic_propensity");
    for _ in 1..=2 {
        let response = t
            .upload(
                "logistic_propensity",
                (onnx.clone(), contract.clone(), sample.clone()),
            )
            .await;
        assert_eq!(response.status(), 201);
    }
    activate(&t, "logistic_propensity", 1).await;
    let other = Arc::new(t.another_instance().await);
    let body = json!({"rows": sample["input"]});

    // A stream of predictions against both instances during activation and rollback.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let failures = Arc::new(AtomicUsize::new(0));
    let answered = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for target in [
        other.url("/v1/models/logistic_propensity/predict"),
        t.running.url("/v1/models/logistic_propensity/predict"),
    ] {
        for _ in 0..2 {
            let (stop, failures, answered, body, token, target) = (
                stop.clone(),
                failures.clone(),
                answered.clone(),
                body.clone(),
                t.admin.clone(),
                target.clone(),
            );
            clients.push(tokio::spawn(async move {
                let http = reqwest::Client::new();
                while !stop.load(Ordering::SeqCst) {
                    let response = http
                        .post(&target)
                        .bearer_auth(&token)
                        .json(&body)
                        .send()
                        .await;
                    match response {
                        Ok(r) if r.status() == 200 => {
                            let v: Value = r.json().await.unwrap();
                            assert!(v["version"] == 1 || v["version"] == 2);
                            answered.fetch_add(1, Ordering::SeqCst);
                        }
                        other => {
                            eprintln!("failed: {other:?}");
                            failures.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
            }));
        }
    }
    let version_on_other = || {
        let (http, url, token, body) = (
            t.http.clone(),
            other.url("/v1/models/logistic_propensity/predict"),
            t.admin.clone(),
            body.clone(),
        );
        async move {
            let v: Value = http
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["version"].as_i64().unwrap()
        }
    };
    assert_eq!(version_on_other().await, 1);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let waits = async |want: i64| {
        let started = Instant::now();
        while version_on_other().await != want {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "the other instance still serves the old version"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        started.elapsed()
    };
    activate(&t, "logistic_propensity", 2).await;
    let reached = waits(2).await;
    eprintln!("activation reached the other instance in {reached:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, _) = json_of(
        t.call(
            Method::POST,
            "/v1/models/logistic_propensity/rollback",
            Some(&t.admin),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
    let reached = waits(1).await;
    eprintln!("rollback reached the other instance in {reached:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;

    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.await.unwrap();
    }
    assert_eq!(failures.load(Ordering::SeqCst), 0);
    assert!(
        answered.load(Ordering::SeqCst) > 20,
        "{} answers",
        answered.load(Ordering::SeqCst)
    );
    let _ = &t.db;
}

#[tokio::test]
async fn a_change_whose_notification_is_lost_is_found_by_the_poll() {
    let t = TestModels::spawn().await;
    let (onnx, contract, sample) = fixture("mlp_spend");
    for _ in 1..=2 {
        let response = t
            .upload(
                "mlp_spend",
                (onnx.clone(), contract.clone(), sample.clone()),
            )
            .await;
        assert_eq!(response.status(), 201);
    }
    activate(&t, "mlp_spend", 1).await;
    let body = json!({"rows": [sample["input"][0]]});
    let (_, answer) = json_of(t.predict("mlp_spend", body.clone()).await).await;
    assert_eq!(answer["version"], 1);
    // Behind the service's back: no NOTIFY.
    sqlx::query("UPDATE models.models SET active_version = 2 WHERE name = 'mlp_spend'")
        .execute(&t.db.admin_pool().await)
        .await
        .unwrap();
    let started = Instant::now();
    loop {
        let (_, answer) = json_of(t.predict("mlp_spend", body.clone()).await).await;
        if answer["version"] == 2 {
            break;
        }
        assert!(
            started.elapsed() < lyra_model_svc::live::POLL_INTERVAL * 3,
            "the poll did not pick the change up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
