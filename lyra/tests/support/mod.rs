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
