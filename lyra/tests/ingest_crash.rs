//! Crash tests: `kill -9` the ingest service in the middle of a large upload, and restart
//! PostgreSQL in the middle of another; re-sending with the same key must leave exactly the
//! file's rows and per-merchant sums. A test binary of its own: it restarts the cluster.

mod support;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lyra_common::db::DbRole;
use lyra_common::testing::{Running, TestDb, fresh_db, restart_server};
use support::*;

struct IngestProcess {
    child: Child,
    base: String,
}

impl IngestProcess {
    fn spawn(db: &TestDb, auth: &Running, port: u16) -> IngestProcess {
        let child = Command::new(env!("CARGO_BIN_EXE_lyra"))
            .args(["serve", "ingest"])
            .env("LYRA_DATABASE__APP_URL", db.url(DbRole::App))
            .env("LYRA_DATABASE__PLATFORM_URL", db.url(DbRole::Platform))
            .env("LYRA_DATABASE__AUTH_URL", db.url(DbRole::Auth))
            .env("LYRA_SERVICES__INGEST__PORT", port.to_string())
            .env("LYRA_GATEWAY__UPSTREAMS__AUTH", &auth.base)
            .env("LYRA_LOG__FILTER", "warn")
            .env_remove("DATABASE_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "ingest did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        IngestProcess {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for IngestProcess {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// Sends `body` slowly (64 KiB every 10 ms) so that something can happen in the middle.
async fn slow_upload(
    url: String,
    token: String,
    key: &'static str,
    body: Vec<u8>,
) -> Result<u16, String> {
    let chunks: Vec<Vec<u8>> = body.chunks(64 * 1024).map(<[u8]>::to_vec).collect();
    let stream = futures::stream::iter(chunks).then(|chunk| async move {
        tokio::time::sleep(Duration::from_millis(10)).await;
        Ok::<_, std::io::Error>(chunk)
    });
    reqwest::Client::new()
        .post(url)
        .bearer_auth(token)
        .header("idempotency-key", key)
        .header("content-type", "text/csv")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .map_err(|e| e.to_string())
}

use futures::StreamExt;

async fn stored_sums(db: &TestDb) -> (i64, BTreeMap<i64, i64>) {
    let pool = db.admin_pool().await;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM ingest.transactions")
        .fetch_one(&pool)
        .await
        .unwrap();
    let sums = sqlx::query_as::<_, (i64, i64)>(
        "SELECT merchant_id, sum(amount_minor)::bigint FROM ingest.transactions GROUP BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap()
    .into_iter()
    .collect();
    (count, sums)
}

async fn prepare(
    files: &std::path::Path,
    auth: &Running,
    db: &TestDb,
    ingest: &IngestProcess,
    token: &str,
) {
    create_orgs(db, files).await;
    for (path, file) in [
        ("/v1/customers", "customers.csv"),
        ("/v1/merchants", "merchants.csv"),
    ] {
        let body = std::fs::read(files.join(file)).unwrap();
        let response = upload(
            &format!("{}{path}", ingest.base),
            token,
            file,
            body,
            "text/csv",
        )
        .await;
        assert_eq!(response.status(), 201, "{file}");
    }
    let _ = auth;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_or_doubled_when_ingest_or_postgres_dies_mid_upload() {
    let files = tempfile::tempdir().unwrap();
    bank_files(files.path(), 2500, 150, 12);
    let csv = std::fs::read(files.path().join("transactions.csv")).unwrap();
    let text = String::from_utf8(csv.clone()).unwrap();
    let expected_rows = text.lines().count() as i64 - 1;
    let expected_sums = sums_per_merchant(&text);
    println!("file: {expected_rows} rows, {} bytes", csv.len());

    // 1. kill -9 the ingest service in the middle of the upload.
    let db = fresh_db().await;
    let auth = Running::start(lyra_auth::build(db.settings()).await.unwrap());
    let token = platform_access_token(&db, &auth).await;
    let port = lyra_common::localpg::free_port().unwrap();
    let mut ingest = IngestProcess::spawn(&db, &auth, port);
    prepare(files.path(), &auth, &db, &ingest, &token).await;
    let url = format!("{}/v1/transactions", ingest.base);
    let sending = tokio::spawn(slow_upload(
        url.clone(),
        token.clone(),
        "crash-key",
        csv.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(700)).await;
    ingest.child.kill().unwrap();
    ingest.child.wait().unwrap();
    let result = sending.await.unwrap();
    assert!(
        result.is_err() || result.as_ref().is_ok_and(|s| *s >= 500),
        "the upload cannot have succeeded: {result:?}"
    );
    assert_eq!(stored_sums(&db).await.0, 0, "nothing half-stored");
    drop(ingest);
    let ingest = IngestProcess::spawn(&db, &auth, port);
    let response = upload(&url, &token, "crash-key", csv.clone(), "text/csv").await;
    assert_eq!(response.status(), 201);
    let again = upload(&url, &token, "crash-key", csv.clone(), "text/csv").await;
    assert_eq!(again.status(), 200, "a second re-send is a replay");
    assert_eq!(
        stored_sums(&db).await,
        (expected_rows, expected_sums.clone())
    );
    // The rollups follow, from the queue written with the batch.
    let pool = db.admin_pool().await;
    let started = Instant::now();
    loop {
        let queued: i64 = sqlx::query_scalar("SELECT count(*) FROM ingest.rollup_queue")
            .fetch_one(&pool)
            .await
            .unwrap();
        if queued == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "rollups not recomputed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rollup: BTreeMap<i64, i64> = sqlx::query_as::<_, (i64, i64)>(
        "SELECT merchant_id, sum(revenue_minor)::bigint FROM ingest.merchant_daily GROUP BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap()
    .into_iter()
    .collect();
    assert_eq!(rollup, expected_sums);
    drop(ingest);
    auth.stop().await;

    // 2. Restart PostgreSQL in the middle of the upload (a separate run, a fresh database).
    let db = fresh_db().await;
    let auth = Running::start(lyra_auth::build(db.settings()).await.unwrap());
    let token = platform_access_token(&db, &auth).await;
    let ingest = IngestProcess::spawn(&db, &auth, port);
    prepare(files.path(), &auth, &db, &ingest, &token).await;
    let sending = tokio::spawn(slow_upload(
        url.clone(),
        token.clone(),
        "restart-key",
        csv.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(700)).await;
    if !restart_server() {
        eprintln!(
            "DATABASE_URL is set: the PostgreSQL restart half of this test needs the private cluster"
        );
        return;
    }
    let result = sending.await.unwrap();
    assert!(
        result.is_err() || result.as_ref().is_ok_and(|s| *s >= 500),
        "{result:?}"
    );
    assert_eq!(stored_sums(&db).await.0, 0, "nothing half-stored");
    // The services reconnect by themselves; the client re-sends with the same key.
    let mut status = 0;
    for _ in 0..20 {
        status = upload(&url, &token, "restart-key", csv.clone(), "text/csv")
            .await
            .status()
            .as_u16();
        if status == 201 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(status, 201);
    assert_eq!(stored_sums(&db).await, (expected_rows, expected_sums));
    drop(ingest);
    auth.stop().await;
}
