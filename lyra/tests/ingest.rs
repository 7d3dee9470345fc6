//! The ingest service with the real auth service and a real database: formats, validation,
//! strict and lenient modes, idempotency, concurrency and fresh rollups.

mod support;

use std::collections::BTreeMap;

use lyra_common::testing::{Running, TestDb, fresh_db};
use serde_json::Value;
use support::*;

struct Ingest {
    db: TestDb,
    auth: Running,
    ingest: Running,
    token: String,
    files: tempfile::TempDir,
}

impl Ingest {
    /// Auth, ingest and a small generated bank (organisations created, nothing ingested).
    async fn start() -> Ingest {
        let db = fresh_db().await;
        let auth = Running::start(lyra_auth::build(db.settings()).await.unwrap());
        let mut settings = db.settings();
        settings.gateway.upstreams.auth = Some(auth.base.clone());
        let ingest = Running::start(lyra_ingest::build(settings).await.unwrap());
        let token = platform_access_token(&db, &auth).await;
        let files = tempfile::tempdir().unwrap();
        bank_files(files.path(), 300, 60, 3);
        create_orgs(&db, files.path()).await;
        Ingest {
            db,
            auth,
            ingest,
            token,
            files,
        }
    }

    fn file(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.files.path().join(name)).unwrap()
    }

    async fn send(&self, path: &str, key: &str, body: Vec<u8>, content_type: &str) -> (u16, Value) {
        let response = upload(&self.ingest.url(path), &self.token, key, body, content_type).await;
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Loads customers and merchants (the master data transactions refer to).
    async fn master_data(&self) {
        for (path, file) in [
            ("/v1/customers", "customers.csv"),
            ("/v1/merchants", "merchants.csv"),
        ] {
            let (status, report) = self
                .send(path, &format!("master-{file}"), self.file(file), "text/csv")
                .await;
            assert_eq!(status, 201, "{file}: {report}");
        }
    }

    /// Waits (at most 5 s, the freshness promise) until the rollup worker has caught up.
    async fn rollups_settled(&self) {
        let started = std::time::Instant::now();
        while self
            .scalar("SELECT count(*) FROM ingest.rollup_queue")
            .await
            > 0
        {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(5),
                "rollups not fresh after 5 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    async fn scalar(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(&self.db.admin_pool().await)
            .await
            .unwrap()
    }
}

fn rows(csv: &[u8]) -> i64 {
    String::from_utf8_lossy(csv).lines().count() as i64 - 1
}

#[tokio::test]
async fn a_generated_bank_goes_in_exactly_and_the_rollups_match() {
    let t = Ingest::start().await;
    t.master_data().await;
    let csv = t.file("transactions.csv");
    let (status, report) = t
        .send("/v1/transactions", "tx-1", csv.clone(), "text/csv")
        .await;
    assert_eq!(status, 201, "{report}");
    assert_eq!(report["rows_total"], rows(&csv));
    assert_eq!(report["rows_stored"], rows(&csv));
    assert_eq!(report["rows_rejected"], 0);
    assert_eq!(
        t.scalar("SELECT count(*) FROM ingest.transactions").await,
        rows(&csv)
    );
    assert_eq!(
        t.scalar("SELECT count(*) FROM ingest.transaction_ids")
            .await,
        rows(&csv)
    );
    assert_eq!(
        t.scalar("SELECT count(*) FROM ingest.customers").await,
        rows(&t.file("customers.csv"))
    );

    let expected = sums_per_merchant(&String::from_utf8(csv).unwrap());
    let stored: BTreeMap<i64, i64> = sqlx::query_as::<_, (i64, i64)>(
        "SELECT merchant_id, sum(amount_minor)::bigint FROM ingest.transactions GROUP BY 1",
    )
    .fetch_all(&t.db.admin_pool().await)
    .await
    .unwrap()
    .into_iter()
    .collect();
    assert_eq!(stored, expected);
    t.rollups_settled().await;
    let rollup: BTreeMap<i64, i64> = sqlx::query_as::<_, (i64, i64)>(
        "SELECT merchant_id, sum(revenue_minor)::bigint FROM ingest.merchant_daily GROUP BY 1",
    )
    .fetch_all(&t.db.admin_pool().await)
    .await
    .unwrap()
    .into_iter()
    .collect();
    assert_eq!(rollup, expected, "daily rollups add up to the file");
    // Every customer is new at a merchant exactly once.
    assert_eq!(
        t.scalar("SELECT sum(new_customers)::bigint FROM ingest.merchant_daily")
            .await,
        t.scalar("SELECT count(*) FROM ingest.merchant_customers WHERE transactions > 0")
            .await
    );

    let id = report["batch_id"].as_str().unwrap();
    let batch: Value = reqwest::Client::new()
        .get(t.ingest.url(&format!("/v1/batches/{id}")))
        .bearer_auth(&t.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(batch["status"], "committed");
    assert_eq!(batch["rows_stored"], report["rows_stored"]);
}

#[tokio::test]
async fn idempotency_keys_replay_refuse_other_payloads_and_rows_are_never_doubled() {
    let t = Ingest::start().await;
    t.master_data().await;
    let csv = t.file("transactions.csv");
    let (first, report) = t
        .send("/v1/transactions", "key-A", csv.clone(), "text/csv")
        .await;
    assert_eq!(first, 201);
    let (again, replay) = t
        .send("/v1/transactions", "key-A", csv.clone(), "text/csv")
        .await;
    assert_eq!(again, 200);
    assert_eq!(replay, report, "the original answer");
    let mut different = String::from_utf8(csv.clone()).unwrap();
    different.truncate(different.len() / 2);
    different.truncate(different.rfind('\n').unwrap() + 1);
    let (reused, _) = t
        .send(
            "/v1/transactions",
            "key-A",
            different.into_bytes(),
            "text/csv",
        )
        .await;
    assert_eq!(reused, 422);
    // A new key with rows already stored: counted as duplicates, never stored twice.
    let (fresh, dup) = t
        .send("/v1/transactions", "key-B", csv.clone(), "text/csv")
        .await;
    assert_eq!(fresh, 201);
    assert_eq!(dup["rows_stored"], 0);
    assert_eq!(dup["rows_duplicate"], rows(&csv));
    // The same rows as NDJSON, too.
    let (ndjson, dup) = t
        .send(
            "/v1/transactions",
            "key-C",
            t.file("transactions.ndjson"),
            "application/x-ndjson",
        )
        .await;
    assert_eq!(ndjson, 201, "{dup}");
    assert_eq!(dup["rows_duplicate"], rows(&csv));
    assert_eq!(
        t.scalar("SELECT count(*) FROM ingest.transactions").await,
        rows(&csv)
    );
}

/// The fast path (every row new) and the careful one (some id stored already or repeated
/// in the file) must agree on what is stored and what is refused.
#[tokio::test]
async fn a_partly_stored_file_stores_the_rest_and_a_repeated_id_alone_rejects_a_strict_batch() {
    let t = Ingest::start().await;
    t.master_data().await;
    let csv = String::from_utf8(t.file("transactions.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    let (header, body) = (lines[0], &lines[1..]);
    let file = |rows: &[&str]| format!("{header}\n{}\n", rows.join("\n")).into_bytes();
    let half = body.len() / 2;
    let (status, first) = t
        .send("/v1/transactions", "half", file(&body[..half]), "text/csv")
        .await;
    assert_eq!(
        (status, first["rows_stored"].as_i64()),
        (201, Some(half as i64))
    );
    // The whole file: the first half is stored already.
    let (status, whole) = t
        .send("/v1/transactions", "whole", file(body), "text/csv")
        .await;
    assert_eq!(status, 201, "{whole}");
    assert_eq!(
        whole["rows_stored"].as_i64(),
        Some((body.len() - half) as i64)
    );
    assert_eq!(whole["rows_duplicate"].as_i64(), Some(half as i64));
    assert_eq!(whole["rows_rejected"], 0);
    assert_eq!(
        t.scalar("SELECT count(*) FROM ingest.transactions").await,
        rows(csv.as_bytes())
    );
    assert_eq!(
        t.scalar("SELECT count(*) FROM ingest.transaction_ids")
            .await,
        rows(csv.as_bytes())
    );
    // A new row, then one reusing its id: the only fault, so the strict batch is refused
    // and names it; nothing of it is stored.
    let fresh = body[0].replacen(body[0].split(',').next().unwrap(), "fresh-1", 1);
    let (status, report) = t
        .send(
            "/v1/transactions",
            "repeat",
            file(&[&fresh, &fresh]),
            "text/csv",
        )
        .await;
    assert_eq!(status, 422, "{report}");
    assert_eq!(report["rows_rejected"], 1);
    assert_eq!(report["errors"][0]["line"], 3);
    assert_eq!(report["errors"][0]["reason"], "the same id as line 2");
    assert_eq!(
        t.scalar("SELECT count(*) FROM ingest.transactions WHERE txn_id = 'fresh-1'")
            .await,
        0
    );
    // Lenient: the first is stored, the repeat quarantined.
    let (status, report) = t
        .send(
            "/v1/transactions?mode=lenient",
            "repeat-lenient",
            file(&[&fresh, &fresh]),
            "text/csv",
        )
        .await;
    assert_eq!(status, 201, "{report}");
    assert_eq!(stored_and_rejected(&report), (1, 1));
    assert_eq!(
        t.scalar("SELECT count(*) FROM ingest.transactions WHERE txn_id = 'fresh-1'")
            .await,
        1
    );
}

fn stored_and_rejected(report: &Value) -> (i64, i64) {
    let n = |k: &str| report[k].as_i64().unwrap_or(-1);
    (n("rows_stored"), n("rows_rejected"))
}

fn bad_file(customer: &str, merchant: &str) -> String {
    format!(
        "\u{feff}txn_id,booked_at,customer_id,merchant_id,amount_minor,currency,channel\r\n\
         ok-1,2026-10-01T10:00:00+03:00,{customer},{merchant},1500,RUB,pos\r\n\
         bad-amount,2026-10-01T10:00:00+03:00,{customer},{merchant},15.00,RUB,pos\r\n\
         bad-merchant,2026-10-01T10:00:00+03:00,{customer},999999999,1500,RUB,pos\r\n\
         ok-1,2026-10-01T11:00:00+03:00,{customer},{merchant},700,RUB,pos\r\n\
         bad-currency,2026-10-01T10:00:00+03:00,{customer},{merchant},1500,ZZZ,pos\r\n\
         bad-future,2030-10-01T10:00:00+03:00,{customer},{merchant},1500,RUB,pos\r\n\
         bad-columns,2026-10-01T10:00:00+03:00,{customer}\r\n\
         ok-2,2026-10-02T09:30:00+03:00,{customer},{merchant},-300,RUB,ecom\r\n"
    )
}

async fn some_ids(t: &Ingest) -> (String, String) {
    let pool = t.db.admin_pool().await;
    let c: i64 = sqlx::query_scalar("SELECT min(customer_id) FROM ingest.customers")
        .fetch_one(&pool)
        .await
        .unwrap();
    let m: i64 = sqlx::query_scalar("SELECT min(merchant_id) FROM ingest.merchants")
        .fetch_one(&pool)
        .await
        .unwrap();
    (c.to_string(), m.to_string())
}

#[tokio::test]
async fn strict_mode_stores_nothing_and_names_every_problem() {
    let t = Ingest::start().await;
    t.master_data().await;
    let (c, m) = some_ids(&t).await;
    let (status, report) = t
        .send(
            "/v1/transactions",
            "strict-1",
            bad_file(&c, &m).into_bytes(),
            "text/csv",
        )
        .await;
    assert_eq!(status, 422, "{report}");
    assert_eq!(report["status"], "rejected");
    assert_eq!(report["rows_total"], 8);
    assert_eq!(report["rows_rejected"], 6);
    let errors: Vec<(i64, String)> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["line"].as_i64().unwrap(),
                e["field"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        errors,
        vec![
            (3, "amount_minor".into()),
            (4, "merchant_id".into()),
            (5, "txn_id".into()),
            (6, "currency".into()),
            (7, "booked_at".into()),
            (8, "-".into()),
        ]
    );
    let reasons: Vec<&str> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["reason"].as_str().unwrap())
        .collect();
    assert!(reasons[1].contains("unknown merchant 999999999"));
    assert!(reasons[2].contains("the same id as line 2"));
    assert_eq!(
        t.scalar("SELECT count(*) FROM ingest.transactions").await,
        0,
        "nothing stored"
    );
    // The same request gets the same answer.
    let (again, replay) = t
        .send(
            "/v1/transactions",
            "strict-1",
            bad_file(&c, &m).into_bytes(),
            "text/csv",
        )
        .await;
    assert_eq!((again, replay), (422, report));
}

#[tokio::test]
async fn lenient_mode_stores_good_rows_and_quarantines_the_rest() {
    let t = Ingest::start().await;
    t.master_data().await;
    let (c, m) = some_ids(&t).await;
    let (status, report) = t
        .send(
            "/v1/transactions?mode=lenient",
            "lenient-1",
            bad_file(&c, &m).into_bytes(),
            "text/csv",
        )
        .await;
    assert_eq!(status, 201, "{report}");
    assert_eq!(stored_and_rejected(&report), (2, 6));
    assert_eq!(
        t.scalar("SELECT count(*) FROM ingest.transactions").await,
        2
    );
    let id = report["batch_id"].as_str().unwrap();
    let quarantined: Value = reqwest::Client::new()
        .get(t.ingest.url(&format!("/v1/batches/{id}/quarantine")))
        .bearer_auth(&t.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rows = quarantined["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 6);
    assert_eq!(rows[0]["line"], 3);
    assert_eq!(rows[0]["field"], "amount_minor");
    assert!(rows[0]["raw"].as_str().unwrap().starts_with("bad-amount,"));
}

#[tokio::test]
async fn files_and_requests_that_cannot_be_batches_are_clear_400s() {
    let t = Ingest::start().await;
    let header = "txn_id,booked_at,customer_id,merchant_id,amount_minor,currency,channel\n";
    for (body, expected) in [
        ("", "the file is empty"),
        (header, "the file has a header but no rows"),
        ("id,amount\n1,2\n", "line 1: the header must be"),
    ] {
        let (status, answer) = t
            .send(
                "/v1/transactions",
                &format!("k-{}", body.len()),
                body.into(),
                "text/csv",
            )
            .await;
        assert_eq!(status, 400, "{answer}");
        assert!(
            answer["error"].as_str().unwrap().contains(expected),
            "{answer}"
        );
    }
    let missing_key = reqwest::Client::new()
        .post(t.ingest.url("/v1/transactions"))
        .bearer_auth(&t.token)
        .body(header.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(missing_key.status(), 400);
    assert!(
        missing_key
            .text()
            .await
            .unwrap()
            .contains("Idempotency-Key")
    );
    let anonymous = reqwest::Client::new()
        .post(t.ingest.url("/v1/transactions"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    // An organisation's read-only token may not write bank data.
    let pool = t.db.admin_pool().await;
    let org: i64 = sqlx::query_scalar("SELECT min(org_id) FROM auth.organisations")
        .fetch_one(&pool)
        .await
        .unwrap();
    lyra_auth::admin::create_user(
        &pool,
        "owner@org.example",
        "Owner",
        "Tundra-Lantern-Violet-42",
        lyra_auth::admin::Membership::Member(
            lyra_common::db::OrgId(org),
            lyra_common::token::Role::Owner,
        ),
    )
    .await
    .unwrap();
    let owner: Value = reqwest::Client::new()
        .post(t.auth.url("/v1/auth/login"))
        .json(&serde_json::json!({"email": "owner@org.example", "password": "Tundra-Lantern-Violet-42"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let forbidden = upload(
        &t.ingest.url("/v1/transactions"),
        owner["access_token"].as_str().unwrap(),
        "k",
        vec![],
        "text/csv",
    )
    .await;
    assert_eq!(forbidden.status(), 403);
}

#[tokio::test]
async fn an_ingested_transaction_is_in_the_rollups_within_five_seconds() {
    let t = Ingest::start().await;
    t.master_data().await;
    let (c, m) = some_ids(&t).await;
    let now = time::OffsetDateTime::now_utc().to_offset(time::macros::offset!(+3));
    let stamp = now
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let stamp = &stamp[..19];
    let file = format!(
        "txn_id,booked_at,customer_id,merchant_id,amount_minor,currency,channel\nfresh-1,{stamp}+03:00,{c},{m},123400,RUB,pos\n"
    );
    let started = std::time::Instant::now();
    let (status, report) = t
        .send("/v1/transactions", "fresh", file.into_bytes(), "text/csv")
        .await;
    assert_eq!(status, 201, "{report}");
    let pool = t.db.admin_pool().await;
    let (revenue, transactions, new): (i64, i64, i64) = loop {
        let row: Option<(i64, i64, i64)> = sqlx::query_as(
            "SELECT revenue_minor, transactions, new_customers FROM ingest.merchant_daily
              WHERE merchant_id = $1 AND day = $2",
        )
        .bind(m.parse::<i64>().unwrap())
        .bind(now.date())
        .fetch_optional(&pool)
        .await
        .unwrap();
        if let Some(row) = row {
            break row;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "not in the rollups after 5 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!((revenue, transactions, new), (123400, 1, 1));
    println!(
        "visible in the rollup {:?} after the upload started",
        started.elapsed()
    );
}

#[tokio::test]
async fn two_uploads_with_the_same_key_at_the_same_time_apply_once() {
    let t = Ingest::start().await;
    t.master_data().await;
    let csv = t.file("transactions.csv");
    let url = t.ingest.url("/v1/transactions");
    let (a, b) = tokio::join!(
        upload(&url, &t.token, "together", csv.clone(), "text/csv"),
        upload(&url, &t.token, "together", csv.clone(), "text/csv"),
    );
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 201]);
    let (ra, rb): (Value, Value) = (a.json().await.unwrap(), b.json().await.unwrap());
    assert_eq!(ra["batch_id"], rb["batch_id"], "one batch");
    assert_eq!(
        t.scalar("SELECT count(*) FROM ingest.batches").await,
        3,
        "customers, merchants, one transactions batch"
    );
    assert_eq!(
        t.scalar("SELECT count(*) FROM ingest.transactions").await,
        rows(&csv)
    );
}

#[tokio::test]
async fn master_data_is_upserted_by_id() {
    let t = Ingest::start().await;
    t.master_data().await;
    let (c, _) = some_ids(&t).await;
    let update = format!(
        "customer_id,birth_year,gender,home_region,client_since\n{c},1980,F,Kaliningrad Oblast,2020-01-01\n"
    );
    let (status, report) = t
        .send("/v1/customers", "update-1", update.into_bytes(), "text/csv")
        .await;
    assert_eq!(status, 201, "{report}");
    assert_eq!(report["rows_stored"], 1);
    let region: String =
        sqlx::query_scalar("SELECT home_region FROM ingest.customers WHERE customer_id = $1")
            .bind(c.parse::<i64>().unwrap())
            .fetch_one(&t.db.admin_pool().await)
            .await
            .unwrap();
    assert_eq!(region, "Kaliningrad Oblast");
    let unknown_org = "merchant_id,org_id,name,mcc,region,city,latitude,longitude,opened_on,closed_on\n\
                       1,424242,Shop,5411,Moscow,Moscow,55.7,37.6,2020-01-01,\n";
    let (status, report) = t
        .send("/v1/merchants", "m-bad", unknown_org.into(), "text/csv")
        .await;
    assert_eq!(status, 422);
    assert_eq!(report["errors"][0]["field"], "org_id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lyra_ingest_uploads_through_the_gateway_and_a_rerun_changes_nothing() {
    let t = Ingest::start().await;
    let mut settings = t.db.settings();
    settings.gateway.upstreams.auth = Some(t.auth.base.clone());
    settings.gateway.upstreams.ingest = Some(t.ingest.base.clone());
    let gateway = Running::start(lyra_gateway::build(settings).await.unwrap());
    let pool = t.db.admin_pool().await;
    let api_token = lyra_auth::admin::create_platform_token(
        &pool,
        "etl@bank.example",
        "cli",
        &["ingest:write".into()],
    )
    .await
    .unwrap();
    let run = |file: &str, extra: &[&str]| {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_lyra"));
        cmd.arg("ingest")
            .arg(t.files.path().join(file))
            .args(["--url", &gateway.base])
            .args(extra)
            .env("LYRA_API_TOKEN", &api_token);
        async move {
            let output = cmd.output().await.unwrap();
            (
                output.status.success(),
                String::from_utf8_lossy(&output.stderr).into_owned(),
            )
        }
    };
    for file in ["customers.csv", "merchants.ndjson", "transactions.csv"] {
        let (ok, stderr) = run(file, &[]).await;
        assert!(ok, "{file}: {stderr}");
    }
    let (ok, stderr) = run("transactions.csv", &[]).await;
    assert!(ok && stderr.contains("already ingested"), "{stderr}");
    let (ok, stderr) = run("transactions.ndjson", &["--key", "another-key"]).await;
    assert!(ok && stderr.contains(" 0 stored"), "{stderr}");
    assert_eq!(
        t.scalar("SELECT count(*) FROM ingest.transactions").await,
        rows(&t.file("transactions.csv"))
    );
    let (ok, stderr) = run("transactions.csv", &["--mode", "sloppy"]).await;
    assert!(!ok && stderr.contains("mode"), "{stderr}");
}
