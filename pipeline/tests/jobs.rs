//! The feature export and the jobs on a real database with a handful of known transactions.

use lyra_common::db::DbRole;
use lyra_common::testing::{TestDb, fresh_db};
use lyra_pipeline::features;
use lyra_pipeline::jobs::{JobKind, Run, Trigger};
use lyra_pipeline::tasks::{self, Context};
use polars::prelude::*;
use sqlx::PgPool;
use time::Date;
use time::macros::date;

const AS_OF: Date = date!(2026 - 03 - 04);

/// Two outlets in Moscow (a grocery and a restaurant), three customers, Moscow times.
async fn arrange() -> (TestDb, PgPool) {
    let db = fresh_db().await;
    let admin = db.admin_pool().await;
    for statement in [
        "SELECT ingest.ensure_transaction_partitions('2025-08-01', '2026-06-01')",
        "INSERT INTO ingest.merchants (merchant_id, name, mcc, region, city, latitude, longitude, opened_on)
         VALUES (1, 'Grocer', 5411, 'Moscow', 'Moscow', 55.7, 37.6, '2020-01-01'),
                (2, 'Bistro', 5812, 'Moscow', 'Moscow', 55.7, 37.6, '2020-01-01')",
        "INSERT INTO ingest.customers (customer_id, birth_year, gender, home_region, client_since)
         VALUES (1, 1996, 'F', 'Moscow', '2023-08-18'), (2, 1980, 'M', 'Moscow', '2020-01-01'),
                (3, 1970, 'M', 'Moscow', '2020-01-01')",
        "INSERT INTO ingest.transactions (txn_id, booked_at, customer_id, merchant_id, amount_minor, currency, channel)
         VALUES ('a', '2026-03-03 09:00+03', 1, 1, 10000, 'RUB', 'pos'),
                ('b', '2026-01-23 20:00+03', 1, 2, 30000, 'RUB', 'ecom'),
                ('c', '2025-08-16 13:00+03', 1, 1, 60000, 'RUB', 'pos'),
                ('d', '2026-03-09 12:00+03', 1, 2, 5000, 'RUB', 'pos'),
                ('e', '2026-05-03 12:00+03', 1, 1, 1000, 'RUB', 'pos'),
                ('f', '2026-02-01 12:00+03', 2, 1, 20000, 'RUB', 'pos'),
                ('g', '2026-02-01 18:00+03', 2, 1, 10000, 'RUB', 'pos'),
                ('h', '2026-03-10 12:00+03', 3, 1, 1000, 'RUB', 'pos')",
        "INSERT INTO ingest.merchant_daily
         SELECT merchant_id, (booked_at AT TIME ZONE 'Europe/Moscow')::date, sum(amount_minor),
                count(*), count(DISTINCT customer_id), 0, 0
         FROM ingest.transactions GROUP BY 1, 2",
    ] {
        sqlx::query(statement).execute(&admin).await.expect(statement);
    }
    let pool = db.pool(DbRole::Platform).await;
    (db, pool)
}

fn f64_at(frame: &DataFrame, row: usize, name: &str) -> Option<f64> {
    frame.column(name).expect(name).f64().expect(name).get(row)
}

#[tokio::test]
async fn an_export_before_the_data_is_refused_and_writes_nothing() {
    let dir = std::env::temp_dir().join(format!("lyra-features-early-{}", std::process::id()));
    let empty = fresh_db().await;
    let error = features::export(&empty.pool(DbRole::Platform).await, AS_OF, &dir)
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("no transactions in the database"),
        "{error:#}"
    );

    let (_db, pool) = arrange().await;
    // The first purchase is on 16 August 2025: nothing lies before the cut-off.
    let error = features::export(&pool, date!(2025 - 08 - 16), &dir)
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "no transactions before the cut-off 2025-08-16: the data runs from 2025-08-16 to 2026-05-03"
    );
    assert!(!dir.exists(), "nothing written");
    // A day later there is one.
    let info = features::export(&pool, date!(2025 - 08 - 17), &dir)
        .await
        .unwrap();
    assert_eq!(info.customers, 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn the_export_describes_the_data_before_the_cut_off_and_labels_what_follows() {
    let (_db, pool) = arrange().await;
    let dir = std::env::temp_dir().join(format!("lyra-features-{}", std::process::id()));
    let info = features::export(&pool, AS_OF, &dir).await.unwrap();
    assert_eq!(
        (info.customers, info.data_until.as_deref()),
        (2, Some("2026-05-03"))
    );
    // The data ends on 3 May, before the 90 days after 4 March are over.
    assert!(!info.customer_labels_complete);

    let read = |name: &str| {
        ParquetReader::new(std::fs::File::open(dir.join(name)).unwrap())
            .finish()
            .unwrap()
    };
    let customers = read("customers.parquet");
    let ids: Vec<i64> = customers
        .column("customer_id")
        .unwrap()
        .i64()
        .unwrap()
        .iter()
        .flatten()
        .collect();
    assert_eq!(ids, [1, 2], "customer 3 buys only after the cut-off");
    let expect = [
        (0, "recency_days", 1.0),
        (0, "txns_365", 3.0),
        (0, "spend_90", 400.0),
        (0, "spend_365", 1000.0),
        (0, "share_groceries", 0.7),
        (0, "purchases_groceries", 2.0),
        (0, "purchases_restaurants", 1.0),
        (0, "ecom_share_365", 1.0 / 3.0),
        (0, "age", 30.0),
        (0, "gender_f", 1.0),
        (0, "tenure_days", 929.0),
        (0, "label_spend_90", 60.0),
        (0, "label_spend_45", 50.0),
        (0, "label_buy_30_restaurants", 1.0),
        (0, "label_buy_30_groceries", 0.0),
        (1, "txns_365", 2.0),
        (1, "active_days_365", 1.0),
        (1, "bg_frequency", 0.0),
        (1, "bg_monetary", 0.0),
        (1, "hour_midday", 0.5),
        (1, "hour_evening", 0.5),
        (1, "label_spend_90", 0.0),
    ];
    for (row, name, want) in expect {
        let got = f64_at(&customers, row, name).unwrap();
        assert!(
            (got - want).abs() < 1e-9,
            "customer row {row} {name}: {got} != {want}"
        );
    }

    // Grocer from the week of 11 August 2025 to the week of 23 February 2026 (29 weeks),
    // bistro from the week of 19 January (6 weeks).
    let weeks = read("merchant_weeks.parquet");
    assert_eq!(weeks.height(), 29 + 6);
    let last_grocer = 28;
    assert_eq!(f64_at(&weeks, last_grocer, "target_rev_h1"), Some(100.0));
    assert_eq!(f64_at(&weeks, last_grocer, "rev_lag_3"), Some(0.0));
    // 1 February (a Sunday) is in the week of 26 January, inside the last eight weeks.
    assert_eq!(f64_at(&weeks, last_grocer, "rev_mean_8"), Some(300.0 / 8.0));
    assert_eq!(f64_at(&weeks, last_grocer, "target_rev_h8"), Some(0.0));
    std::fs::remove_dir_all(&dir).ok();
}

fn context(pool: &PgPool) -> Context {
    Context {
        pool: pool.clone(),
        models: None,
        batch_rows: 100,
    }
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

#[tokio::test]
async fn a_rerun_replaces_its_results_and_the_jobs_table_tells_what_happened() {
    let (_db, pool) = arrange().await;
    let ctx = context(&pool);
    let quiet = |_: u64, _: Option<u64>| {};
    for _ in 0..2 {
        tasks::run(&ctx, JobKind::Features, AS_OF, Trigger::Cli, &quiet)
            .await
            .unwrap();
        tasks::run(&ctx, JobKind::Peers, AS_OF, Trigger::Cli, &quiet)
            .await
            .unwrap();
    }
    assert_eq!(
        count(&pool, "SELECT count(*) FROM pipeline.customer_features").await,
        2
    );
    assert_eq!(
        count(&pool, "SELECT count(*) FROM pipeline.feature_sets").await,
        1
    );
    assert_eq!(
        count(&pool, "SELECT count(*) FROM pipeline.peer_groups").await,
        2
    );
    assert_eq!(
        count(&pool, "SELECT count(*) FROM pipeline.peer_members").await,
        2
    );
    let stored: Vec<f32> = sqlx::query_scalar(
        "SELECT f.features[array_position(s.columns, 'spend_90')]
         FROM pipeline.customer_features f JOIN pipeline.feature_sets s USING (as_of)
         ORDER BY customer_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(stored, [400.0, 300.0]);

    // Scoring without model-svc fails, and says what to configure.
    let error = tasks::run(&ctx, JobKind::Score, AS_OF, Trigger::Cli, &quiet)
        .await
        .unwrap_err();
    assert!(
        format!("{error:#}").contains("pipeline.api_token"),
        "{error:#}"
    );
    let jobs = lyra_pipeline::jobs::recent(&pool, 10).await.unwrap();
    let statuses: Vec<(&str, &str)> = jobs
        .iter()
        .map(|j| (j.kind.as_str(), j.status.as_str()))
        .collect();
    assert_eq!(
        statuses,
        [
            ("score", "failed"),
            ("peers", "succeeded"),
            ("features", "succeeded"),
            ("peers", "succeeded"),
            ("features", "succeeded"),
        ]
    );
    assert!(
        jobs[0]
            .error
            .as_deref()
            .unwrap()
            .contains("pipeline.api_token")
    );
    assert_eq!((jobs[2].done, jobs[2].total), (2, Some(2)));
}

#[tokio::test]
async fn one_run_per_kind_at_a_time_and_a_dead_run_is_taken_over() {
    let (_db, pool) = arrange().await;
    let first = Run::start(&pool, JobKind::Features, AS_OF, Trigger::Cli)
        .await
        .unwrap();
    let refused = Run::start(&pool, JobKind::Features, AS_OF, Trigger::Api)
        .await
        .err()
        .unwrap();
    assert!(
        refused.to_string().contains(&first.id.to_string()),
        "{refused}"
    );
    // Another kind may run meanwhile.
    Run::start(&pool, JobKind::Peers, AS_OF, Trigger::Cli)
        .await
        .unwrap();

    // The first run's process "dies": no heartbeat for ten minutes.
    sqlx::query(
        "UPDATE pipeline.jobs SET heartbeat_at = now() - interval '10 minutes' WHERE job_id = $1",
    )
    .bind(first.id)
    .execute(&pool)
    .await
    .unwrap();
    let second = Run::start(&pool, JobKind::Features, AS_OF, Trigger::Cli)
        .await
        .unwrap();
    let (status, error): (String, Option<String>) =
        sqlx::query_as("SELECT status, error FROM pipeline.jobs WHERE job_id = $1")
            .bind(first.id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(status, "failed");
    assert!(error.unwrap().contains("abandoned"));
    second.succeed(serde_json::json!({})).await.unwrap();
}
