//! The second wall between organisations: row-level security in Postgres, and roles that
//! cannot switch it off. Real Postgres, connecting as the real service roles.

use std::collections::BTreeSet;

use lyra_common::db::{Db, DbError, DbRole, OrgId};
use lyra_common::testing::{TestDb, fresh_db};
use sqlx::{Executor, PgPool, Row};

const A: OrgId = OrgId(101);
const B: OrgId = OrgId(202);

/// Every tenant-scoped table (a table with an `org_id` column) and how to give it a row of
/// organisation `org`. A new tenant table that is not listed here fails
/// `the_test_covers_every_tenant_table`.
fn seed_statements(org: OrgId) -> Vec<(&'static str, String)> {
    let o = org.0;
    let user = format!("'00000000-0000-0000-0000-{o:012}'");
    vec![
        ("auth.organisations", format!("INSERT INTO auth.organisations (org_id, name) VALUES ({o}, 'Org {o}')")),
        (
            "ingest.merchants",
            format!(
                "INSERT INTO ingest.merchants (merchant_id, org_id, name, mcc, region, city, latitude, longitude, opened_on)
                 VALUES ({o}000, {o}, 'Shop {o}', 5411, 'Moscow', 'Moscow', 55.7, 37.6, '2020-01-01')"
            ),
        ),
        (
            "auth.memberships",
            format!(
                "INSERT INTO auth.users (user_id, email, display_name, password_hash) VALUES ({user}, 'u{o}@example.com', 'U', 'x');
                 INSERT INTO auth.memberships (org_id, user_id, role) VALUES ({o}, {user}, 'owner')"
            ),
        ),
        (
            "auth.sessions",
            format!(
                "INSERT INTO auth.sessions (session_id, user_id, org_id, role, expires_at)
                 VALUES ({user}, {user}, {o}, 'owner', now() + interval '1 day')"
            ),
        ),
        (
            "auth.api_tokens",
            format!(
                "INSERT INTO auth.api_tokens (token_id, org_id, name, scopes, secret_hash, created_by)
                 VALUES ({user}, {o}, 'script', ARRAY['ingest:write'], '\\x00', {user})"
            ),
        ),
        ("auth.audit_log", format!("INSERT INTO auth.audit_log (org_id, event) VALUES ({o}, 'login_success')")),
    ]
}

/// The tenant roles that can read `table`.
async fn readers(admin: &PgPool, table: &str) -> Vec<DbRole> {
    let mut roles = Vec::new();
    for role in [DbRole::App, DbRole::Auth] {
        let can: bool = sqlx::query_scalar("SELECT has_table_privilege($1, $2, 'SELECT')")
            .bind(role.role_name())
            .bind(table)
            .fetch_one(admin)
            .await
            .unwrap();
        if can {
            roles.push(role);
        }
    }
    roles
}

async fn tenant_tables(admin: &PgPool) -> BTreeSet<String> {
    sqlx::query_scalar(
        "SELECT c.table_schema || '.' || c.table_name FROM information_schema.columns c
           JOIN information_schema.tables t USING (table_schema, table_name)
          WHERE c.column_name = 'org_id' AND t.table_type = 'BASE TABLE'
            AND c.table_schema NOT IN ('pg_catalog', 'information_schema')",
    )
    .fetch_all(admin)
    .await
    .unwrap()
    .into_iter()
    .collect()
}

async fn seeded() -> (TestDb, PgPool) {
    let db = fresh_db().await;
    let admin = db.admin_pool().await;
    // A merchant of nobody: competitors are in the data but belong to no tenant.
    admin
        .execute(
            "INSERT INTO ingest.merchants (merchant_id, org_id, name, mcc, region, city, latitude, longitude, opened_on)
             VALUES (1, NULL, 'Competitor', 5411, 'Moscow', 'Moscow', 55.7, 37.6, '2020-01-01')",
        )
        .await
        .unwrap();
    for org in [A, B] {
        for (_, sql) in seed_statements(org) {
            admin.execute(sql.as_str()).await.unwrap();
        }
    }
    (db, admin)
}

async fn app_db(db: &TestDb) -> Db {
    Db::connect_as(DbRole::App, &db.settings().database)
        .await
        .expect("the app role is unprivileged")
}

async fn role_db(db: &TestDb, role: DbRole) -> Db {
    Db::connect_as(role, &db.settings().database)
        .await
        .expect("service roles are unprivileged")
}

#[tokio::test]
async fn the_test_covers_every_tenant_table() {
    let db = fresh_db().await;
    let listed: BTreeSet<String> = seed_statements(A)
        .into_iter()
        .map(|(t, _)| t.to_string())
        .collect();
    assert_eq!(tenant_tables(&db.admin_pool().await).await, listed);
}

#[tokio::test]
async fn every_tenant_table_forces_row_level_security() {
    let db = fresh_db().await;
    let admin = db.admin_pool().await;
    for table in tenant_tables(&admin).await {
        let row = sqlx::query(
            "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = $1::regclass",
        )
        .bind(&table)
        .fetch_one(&admin)
        .await
        .unwrap();
        assert!(
            row.get::<bool, _>(0),
            "{table}: row-level security not enabled"
        );
        assert!(
            row.get::<bool, _>(1),
            "{table}: row-level security not forced"
        );
        let readers = readers(&admin, &table).await;
        assert!(!readers.is_empty(), "{table}: no tenant role reads it");
        for role in readers {
            let policy: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT FROM pg_policies p
                                 WHERE p.schemaname || '.' || p.tablename = $1
                                   AND p.cmd IN ('SELECT', 'ALL') AND $2 = ANY (p.roles))",
            )
            .bind(&table)
            .bind(role.role_name())
            .fetch_one(&admin)
            .await
            .unwrap();
            assert!(policy, "{table}: no read policy for {}", role.role_name());
        }
    }
}

#[tokio::test]
async fn an_organisation_sees_only_its_own_rows_without_any_where_clause() {
    let (db, admin) = seeded().await;
    for table in tenant_tables(&admin).await {
        for role in readers(&admin, &table).await {
            let app = role_db(&db, role).await;
            for (me, other) in [(A, B), (B, A)] {
                let mut tx = app.begin_for_org(me).await.unwrap();
                let orgs: Vec<Option<i64>> =
                    sqlx::query_scalar(&format!("SELECT org_id FROM {table}"))
                        .fetch_all(&mut *tx)
                        .await
                        .unwrap();
                assert!(!orgs.is_empty(), "{table}: {me} sees none of its own rows");
                assert!(
                    orgs.iter().all(|o| *o == Some(me.0)),
                    "{table}: {me} sees {orgs:?}, including {other}'s"
                );
                tx.rollback().await.unwrap();
            }
            // No organisation set: nothing at all, also on a connection that served one before.
            for _ in 0..3 {
                let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
                    .fetch_one(app.pool())
                    .await
                    .unwrap();
                assert_eq!(n, 0, "{table}: rows visible with no organisation set");
            }
        }
    }
}

#[tokio::test]
async fn a_tenant_cannot_write_into_another_organisation() {
    let (db, _admin) = seeded().await;
    let app = app_db(&db).await;
    let mut tx = app.begin_for_org(A).await.unwrap();
    let updated = sqlx::query("UPDATE ingest.merchants SET name = 'hijacked' WHERE org_id = $1")
        .bind(B.0)
        .execute(&mut *tx)
        .await;
    // The tenant role has no UPDATE privilege at all; were it granted, RLS would still hide B's rows.
    assert!(updated.is_err() || updated.unwrap().rows_affected() == 0);
}

#[tokio::test]
async fn the_app_role_cannot_switch_row_level_security_off() {
    let (db, _admin) = seeded().await;
    let app = app_db(&db).await;
    let attempts = [
        "ALTER TABLE ingest.merchants DISABLE ROW LEVEL SECURITY",
        "ALTER TABLE ingest.merchants NO FORCE ROW LEVEL SECURITY",
        "DROP POLICY tenant ON ingest.merchants",
        "CREATE POLICY open ON ingest.merchants USING (true)",
        "SET ROLE lyra_admin",
        "SET ROLE lyra_platform",
        "SET SESSION AUTHORIZATION lyra_admin",
        "ALTER ROLE lyra_app BYPASSRLS",
        "CREATE TABLE public.sneaky (org_id bigint)",
        "CREATE OR REPLACE FUNCTION lyra.current_org_id() RETURNS bigint LANGUAGE sql AS 'SELECT 202::bigint'",
    ];
    for sql in attempts {
        let mut conn = app.pool().acquire().await.unwrap();
        assert!(
            conn.execute(sql).await.is_err(),
            "lyra_app could run: {sql}"
        );
    }
    // row_security = off makes a policy-filtered query fail rather than return everything.
    let mut conn = app.pool().acquire().await.unwrap();
    conn.execute("SET row_security = off").await.unwrap();
    let err = conn
        .execute("SELECT * FROM ingest.merchants")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("row-level security"), "{err}");
}

#[tokio::test]
async fn raw_bank_data_and_truth_are_out_of_reach() {
    let db = fresh_db().await;
    let app = db.pool(DbRole::App).await;
    let platform = db.pool(DbRole::Platform).await;
    for sql in [
        "SELECT * FROM ingest.transactions",
        "SELECT * FROM ingest.customers",
        "SELECT * FROM truth.customers",
    ] {
        assert!(
            app.fetch_all(sql).await.is_err(),
            "lyra_app could run: {sql}"
        );
    }
    for sql in [
        "SELECT * FROM truth.customers",
        "SELECT * FROM truth.switches",
    ] {
        assert!(
            platform.fetch_all(sql).await.is_err(),
            "lyra_platform could run: {sql}"
        );
    }
    platform
        .fetch_all("SELECT * FROM ingest.transactions")
        .await
        .expect("the platform reads transactions");
}

#[tokio::test]
async fn the_platform_role_sees_every_merchant() {
    let (db, _admin) = seeded().await;
    let platform = Db::connect_as(DbRole::Platform, &db.settings().database)
        .await
        .unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM ingest.merchants")
        .fetch_one(platform.pool())
        .await
        .unwrap();
    assert_eq!(n, 3);
}

#[tokio::test]
async fn services_refuse_to_run_as_a_privileged_role() {
    let db = fresh_db().await;
    let mut settings = db.settings();
    settings.database.app_url = lyra_common::config::Secret::new(db.admin_url().to_string());
    match Db::connect_as(DbRole::App, &settings.database).await {
        Err(DbError::PrivilegedRole { role, reason }) => {
            assert_eq!(role, "lyra_admin");
            assert!(reason.contains("superuser"), "{reason}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn bank_transaction_ids_are_unique_across_partitions() {
    let db = fresh_db().await;
    let platform = db.pool(DbRole::Platform).await;
    let created: i32 = sqlx::query_scalar(
        "SELECT ingest.ensure_transaction_partitions('2026-01-01', '2026-03-31')",
    )
    .fetch_one(&platform)
    .await
    .unwrap();
    assert_eq!(created, 3);
    let again: i32 = sqlx::query_scalar(
        "SELECT ingest.ensure_transaction_partitions('2026-01-01', '2026-03-31')",
    )
    .fetch_one(&platform)
    .await
    .unwrap();
    assert_eq!(again, 0);
    platform
        .execute("INSERT INTO ingest.transaction_ids VALUES ('t1')")
        .await
        .unwrap();
    let dup = platform
        .execute("INSERT INTO ingest.transaction_ids VALUES ('t1')")
        .await;
    assert!(dup.unwrap_err().to_string().contains("duplicate key"));
    // Moscow months: 00:30 on 1 February in Moscow is still January in UTC, but belongs to February.
    platform
        .execute(
            "INSERT INTO ingest.transactions VALUES ('t2', '2026-02-01T00:30:00+03:00', 1, 1, 100, 'RUB', 'pos')",
        )
        .await
        .unwrap();
    let admin = db.admin_pool().await;
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM ingest.transactions_2026_02")
        .fetch_one(&admin)
        .await
        .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn the_mcc_catalogue_is_in_the_database() {
    let db = fresh_db().await;
    let app = db.pool(DbRole::App).await;
    let (codes, groups): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(DISTINCT category_group) FROM ingest.mcc_codes")
            .fetch_one(&app)
            .await
            .unwrap();
    assert_eq!(codes as usize, lyra_common::mcc::CATALOGUE.len());
    assert_eq!(groups, 20);
    let (description, group): (String, String) =
        sqlx::query_as("SELECT description, category_group FROM ingest.mcc_codes WHERE mcc = 5411")
            .fetch_one(&app)
            .await
            .unwrap();
    assert!(description.starts_with("Grocery"));
    assert_eq!(group, "groceries");
}

#[tokio::test]
async fn outlet_figures_follow_outlet_ownership() {
    let (db, admin) = seeded().await;
    // Every table the tenant role can read that is keyed by merchant is under RLS.
    let keyed: Vec<String> = sqlx::query_scalar(
        "SELECT c.table_schema || '.' || c.table_name FROM information_schema.columns c
           JOIN information_schema.tables t USING (table_schema, table_name)
          WHERE c.column_name = 'merchant_id' AND t.table_type = 'BASE TABLE'
            AND has_table_privilege('lyra_app', c.table_schema || '.' || c.table_name, 'SELECT')",
    )
    .fetch_all(&admin)
    .await
    .unwrap();
    assert!(
        keyed.contains(&"ingest.merchant_daily".to_string()),
        "{keyed:?}"
    );
    for table in &keyed {
        let forced: bool = sqlx::query_scalar(
            "SELECT relrowsecurity AND relforcerowsecurity FROM pg_class WHERE oid = $1::regclass",
        )
        .bind(table)
        .fetch_one(&admin)
        .await
        .unwrap();
        assert!(forced, "{table}");
    }
    for merchant in [A.0 * 1000, B.0 * 1000, 1] {
        sqlx::query("INSERT INTO ingest.merchant_daily VALUES ($1, '2026-10-01', 100, 1, 1, 1, 0)")
            .bind(merchant)
            .execute(&admin)
            .await
            .unwrap();
    }
    let app = app_db(&db).await;
    let mut tx = app.begin_for_org(A).await.unwrap();
    let seen: Vec<i64> = sqlx::query_scalar("SELECT merchant_id FROM ingest.merchant_daily")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(
        seen,
        vec![A.0 * 1000],
        "only A's outlet, not B's, not a competitor's"
    );
    let none: i64 = sqlx::query_scalar("SELECT count(*) FROM ingest.merchant_daily")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(none, 0);
    let customers = app
        .pool()
        .fetch_all("SELECT * FROM ingest.merchant_customers")
        .await;
    assert!(customers.is_err(), "per-customer rows are not for tenants");
}
