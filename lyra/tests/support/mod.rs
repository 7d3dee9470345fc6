//! What several system tests share: a bank admin's platform token, generated bank files,
//! and uploads.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use lyra_auth::admin::{self, Membership};
use lyra_common::testing::{Running, TestDb};
use lyra_datagen::{FileSink, Format, Preset};

/// Creates a bank admin with an `ingest:write` platform token and exchanges it at `auth`
/// for an access token.
pub async fn platform_access_token(db: &TestDb, auth: &Running) -> String {
    let pool = db.admin_pool().await;
    admin::create_user(
        &pool,
        "etl@bank.example",
        "ETL",
        "Tundra-Lantern-Violet-42",
        Membership::BankAdmin,
    )
    .await
    .unwrap();
    let token =
        admin::create_platform_token(&pool, "etl@bank.example", "etl", &["ingest:write".into()])
            .await
            .unwrap();
    let body = exchange(auth, &token).await;
    body["access_token"]
        .as_str()
        .expect("exchanged")
        .to_string()
}

/// Generates a small bank (CSV and NDJSON) into `dir`.
pub fn bank_files(dir: &Path, customers: u64, merchants: u64, months: u32) -> PathBuf {
    let mut config = Preset::Small.config(21);
    config.customers = customers;
    config.merchants = merchants;
    config.months = months;
    config.end = time::macros::date!(2026 - 10 - 31);
    for format in [Format::Csv, Format::Ndjson] {
        let mut sink = FileSink::create(dir, format).unwrap();
        lyra_datagen::generate(&config, format, &mut sink, 2, &mut |_, _| {}).unwrap();
        sink.finish().unwrap();
    }
    dir.to_path_buf()
}

/// Creates the organisations of `organisations.csv` (bank admins do that, not the feed).
pub async fn create_orgs(db: &TestDb, dir: &Path) {
    let pool = db.admin_pool().await;
    for line in std::fs::read_to_string(dir.join("organisations.csv"))
        .unwrap()
        .lines()
        .skip(1)
    {
        let (id, name) = line.split_once(',').unwrap();
        admin::create_org(&pool, name, Some(id.parse().unwrap()))
            .await
            .unwrap();
    }
}

/// Uploads a file to `url` with an idempotency key.
pub async fn upload(
    url: &str,
    token: &str,
    key: &str,
    body: Vec<u8>,
    content_type: &str,
) -> reqwest::Response {
    reqwest::Client::new()
        .post(url)
        .bearer_auth(token)
        .header("idempotency-key", key)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

/// Sum of amounts per merchant in a transactions CSV.
pub fn sums_per_merchant(csv: &str) -> std::collections::BTreeMap<i64, i64> {
    let mut sums = std::collections::BTreeMap::new();
    for line in csv.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        *sums.entry(f[3].parse::<i64>().unwrap()).or_insert(0) += f[4].parse::<i64>().unwrap();
    }
    sums
}

/// Exchanges an API token at auth's `POST /v1/auth/token`; returns the answer.
pub async fn exchange(auth: &Running, api_token: &str) -> serde_json::Value {
    reqwest::Client::new()
        .post(auth.url("/v1/auth/token"))
        .json(&serde_json::json!({ "api_token": api_token }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The password of every bank admin these helpers create.
pub const ADMIN_PASSWORD: &str = "Tundra-Lantern-Violet-42";
const ADMIN_EMAIL: &str = "pipeline-admin@bank.example";

/// A platform API token with `scopes`, made by a bank admin (created on first use, with
/// e-mail `pipeline-admin@bank.example`).
pub async fn bank_admin_api_token(db: &TestDb, scopes: &[&str]) -> String {
    let pool = db.admin_pool().await;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT FROM auth.users WHERE email = $1)")
            .bind(ADMIN_EMAIL)
            .fetch_one(&pool)
            .await
            .unwrap();
    if !exists {
        admin::create_user(
            &pool,
            ADMIN_EMAIL,
            "Admin",
            ADMIN_PASSWORD,
            Membership::BankAdmin,
        )
        .await
        .unwrap();
    }
    let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
    admin::create_platform_token(&pool, ADMIN_EMAIL, "test", &scopes)
        .await
        .unwrap()
}

/// Logs `email` in with [`ADMIN_PASSWORD`]; returns the access token.
pub async fn login(auth: &Running, email: &str) -> String {
    login_with(auth, email, ADMIN_PASSWORD).await
}

/// Logs `email` in with `password`; returns the access token.
pub async fn login_with(auth: &Running, email: &str, password: &str) -> String {
    let body: serde_json::Value = reqwest::Client::new()
        .post(auth.url("/v1/auth/login"))
        .json(&serde_json::json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("login of {email}: {body}"))
        .to_string()
}

/// Tokens that must be refused, forged from `access`'s claims and the real signing key.
pub async fn forgeries(db: &TestDb, auth: &Running, access: &str) -> Vec<(&'static str, String)> {
    let valid: lyra_common::token::Claims = reqwest::Client::new()
        .get(auth.url("/v1/auth/me"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (kid, private, public): (String, Vec<u8>, Vec<u8>) = sqlx::query_as(
        "SELECT kid, private_der, public_raw FROM auth.signing_keys WHERE retired_at IS NULL",
    )
    .fetch_one(&db.admin_pool().await)
    .await
    .unwrap();
    lyra_common::testing::forged_tokens(&kid, &private, &public, &valid)
}

/// A small bank in the database (1,500 customers, 150 merchants, organisations), through
/// the CLI like a user would load it.
pub async fn small_bank(db: &TestDb) {
    let status = tokio::process::Command::new(env!("CARGO_BIN_EXE_lyra"))
        .env("DATABASE_URL", db.admin_url())
        .args([
            "generate",
            "--preset",
            "small",
            "--seed",
            "5",
            "--customers",
            "1500",
        ])
        .args(["--merchants", "150"])
        .stderr(std::process::Stdio::null())
        .status()
        .await
        .unwrap();
    assert!(status.success());
}

/// A copy of the model directories `names` under `from`, as a new checkout would hold them,
/// with `changed`'s contract description edited (a retrained model: a new version to the
/// registry).
pub fn models_checkout(from: &Path, names: &[&str], changed: &str) -> tempfile::TempDir {
    let checkout = tempfile::tempdir().unwrap();
    for name in names {
        let to = checkout.path().join(name);
        std::fs::create_dir(&to).unwrap();
        for file in ["model.onnx", "contract.json", "sample.json"] {
            std::fs::copy(from.join(name).join(file), to.join(file)).unwrap();
        }
    }
    let contract = checkout.path().join(changed).join("contract.json");
    let mut c: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&contract).unwrap()).unwrap();
    c["description"] = "retrained".into();
    std::fs::write(&contract, serde_json::to_vec(&c).unwrap()).unwrap();
    checkout
}
