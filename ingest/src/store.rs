//! From staging to storage, in the one database transaction that also records the batch:
//! idempotency, set-based checks (duplicates within the file, unknown references), the
//! insert-if-absent of rows, quarantine, and the rollups.

use lyra_common::formats::Entity;
use serde_json::{Value, json};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::parse::{Counts, Format, Keys};
use crate::schema;

/// How refused rows are handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Any refused row rejects the whole batch; nothing is stored.
    Strict,
    /// Good rows are stored; refused rows go to the quarantine.
    Lenient,
}

impl Mode {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Strict => "strict",
            Mode::Lenient => "lenient",
        }
    }
}

/// What an upload is.
#[derive(Debug, Clone)]
pub struct Upload {
    /// Which file.
    pub entity: Entity,
    /// Its format.
    pub format: Format,
    /// Strict or lenient.
    pub mode: Mode,
    /// The client's idempotency key.
    pub key: String,
    /// Who sent it (token subject).
    pub created_by: String,
    /// SHA-256 of the payload.
    pub sha256: Vec<u8>,
    /// Payload size.
    pub bytes: u64,
}

/// How an upload ended.
#[derive(Debug)]
pub enum Outcome {
    /// Stored; the transaction must be committed. The report.
    Committed(Value),
    /// Refused in strict mode; roll back, then [`record_rejected`].
    Rejected(Value),
    /// The key was seen before with the same payload: the original answer (status, body).
    Replay(u16, Value),
    /// The key was seen before with another payload.
    KeyReused,
}

/// Errors listed in a report; the rest are counted (and, in lenient mode, quarantined).
const REPORT_ERRORS: i64 = 100;

fn key_column(entity: Entity) -> &'static str {
    entity.fields()[0]
}

/// Creates the staging table for one upload (dropped at commit or rollback).
pub async fn create_staging(conn: &mut PgConnection, entity: Entity) -> sqlx::Result<()> {
    let columns: Vec<String> = schema::fields(entity)
        .iter()
        // Typed: the parser has checked every value, so COPY's own conversion is the cast.
        .map(|(name, kind)| format!("{name} {}", kind.sql_type()))
        .collect();
    let sql = format!(
        "CREATE TEMP TABLE staging (line bigint NOT NULL, {}, error_field text, error_reason text, raw text) ON COMMIT DROP",
        columns.join(", ")
    );
    sqlx::query(&sql).execute(conn).await?;
    Ok(())
}

/// The COPY statement that [`crate::parse::Parser`]'s output (binary rows) feeds.
pub fn copy_statement(entity: Entity) -> String {
    format!(
        "COPY pg_temp.staging (line, {}, error_field, error_reason, raw) FROM STDIN WITH (FORMAT binary)",
        entity.fields().join(", ")
    )
}

async fn existing(conn: &mut PgConnection, upload: &Upload) -> sqlx::Result<Option<Outcome>> {
    let row: Option<(Vec<u8>, String, String, Value)> = sqlx::query_as(
        "SELECT payload_sha256, kind, status, report FROM ingest.batches WHERE idempotency_key = $1",
    )
    .bind(&upload.key)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|(sha, kind, status, report)| {
        if sha == upload.sha256 && kind == upload.entity.file_stem() {
            Outcome::Replay(if status == "committed" { 200 } else { 422 }, report)
        } else {
            Outcome::KeyReused
        }
    }))
}

/// Finishes an upload whose rows are in `staging`: everything after the last byte.
/// `keys`, when the parser kept them, are the ids of the rows it accepted.
pub async fn complete(
    conn: &mut PgConnection,
    upload: &Upload,
    counts: Counts,
    keys: Option<Keys>,
) -> sqlx::Result<Outcome> {
    // Temporary tables are never analysed automatically; without statistics the planner
    // picks nested loops that are quadratic on a large file. A small sample is plenty for
    // these plans, and six times quicker to take than the default one.
    sqlx::query("SET LOCAL default_statistics_target = 10")
        .execute(&mut *conn)
        .await?;
    sqlx::query("ANALYZE staging").execute(&mut *conn).await?;
    // One upload per key at a time; the second waits, then finds the first's batch.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('ingest key ' || $1, 0))")
        .bind(&upload.key)
        .execute(&mut *conn)
        .await?;
    if let Some(outcome) = existing(conn, upload).await? {
        return Ok(outcome);
    }
    // Sorted on another thread while the database checks the batch.
    let sorted_keys = keys.map(|keys| tokio::task::spawn_blocking(move || keys.sorted_copy()));
    let total = counts.rows as i64;
    let unknown_references = check_references(conn, upload.entity).await?;
    let mut refused = counts.refused as i64 + unknown_references;
    // The parser's ids are exactly the rows to store unless the database refused some.
    let sorted_keys = sorted_keys.filter(|_| unknown_references == 0);
    // Transactions look for ids repeated within the file only when they must (see
    // `store_transactions`); master data always, since an upsert cannot take a key twice.
    let duplicates_marked = upload.entity != Entity::Transactions;
    if duplicates_marked {
        refused += mark_repeated_ids(conn, upload.entity).await?;
    }
    let batch_id = Uuid::new_v4();
    if upload.mode == Mode::Strict && refused > 0 {
        // The report lists every refusal, repeated ids included.
        if !duplicates_marked {
            refused += mark_repeated_ids(conn, upload.entity).await?;
        }
        return rejected(conn, upload, batch_id, total, refused).await;
    }
    exclusively(conn).await?;
    let stored = match upload.entity {
        Entity::Transactions => match store_transactions(conn, batch_id, sorted_keys).await? {
            Some(stored) => stored,
            None => {
                // Some id repeats within the file or is stored already: the careful way.
                refused += mark_repeated_ids(conn, upload.entity).await?;
                if upload.mode == Mode::Strict && refused > 0 {
                    return rejected(conn, upload, batch_id, total, refused).await;
                }
                store_transactions_absent(conn, batch_id).await?
            }
        },
        Entity::Customers => upsert(conn, Entity::Customers, "ingest.customers").await?,
        Entity::Merchants => upsert(conn, Entity::Merchants, "ingest.merchants").await?,
        Entity::Organisations => unreachable!("organisations are created by bank admins"),
    };
    let duplicate = total - refused - stored;
    let errors = errors(conn, refused).await?;
    let report = report(
        upload,
        batch_id,
        "committed",
        total,
        stored,
        duplicate,
        refused,
        errors,
    );
    insert_batch(conn, upload, batch_id, "committed", &report).await?;
    if refused > 0 {
        sqlx::query(
            "INSERT INTO ingest.quarantine (batch_id, line, field, reason, raw)
             SELECT $1, line, error_field, error_reason, coalesce(raw, '') FROM staging WHERE error_field IS NOT NULL",
        )
        .bind(batch_id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(Outcome::Committed(report))
}

/// The answer to a strict upload with refused rows.
async fn rejected(
    conn: &mut PgConnection,
    upload: &Upload,
    batch_id: Uuid,
    total: i64,
    refused: i64,
) -> sqlx::Result<Outcome> {
    let errors = errors(conn, refused).await?;
    Ok(Outcome::Rejected(report(
        upload, batch_id, "rejected", total, 0, 0, refused, errors,
    )))
}

/// Records a strict rejection (after the upload's transaction was rolled back), so that the
/// same key and payload get the same answer. If a concurrent upload recorded the key
/// first, its outcome is returned instead.
pub async fn record_rejected(
    conn: &mut PgConnection,
    upload: &Upload,
    report: &Value,
) -> sqlx::Result<Outcome> {
    let batch_id: Uuid = report["batch_id"]
        .as_str()
        .and_then(|s| Uuid::parse_str(s).ok())
        .unwrap_or_else(Uuid::new_v4);
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('ingest key ' || $1, 0))")
        .bind(&upload.key)
        .execute(&mut *conn)
        .await?;
    if let Some(outcome) = existing(conn, upload).await? {
        return Ok(outcome);
    }
    insert_batch(conn, upload, batch_id, "rejected", report).await?;
    Ok(Outcome::Rejected(report.clone()))
}

async fn insert_batch(
    conn: &mut PgConnection,
    upload: &Upload,
    id: Uuid,
    status: &str,
    report: &Value,
) -> sqlx::Result<()> {
    let n = |k: &str| report[k].as_i64().unwrap_or(0);
    sqlx::query(
        "INSERT INTO ingest.batches (batch_id, idempotency_key, kind, format, mode, payload_sha256, payload_bytes,
                                     status, rows_total, rows_stored, rows_duplicate, rows_rejected, report, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(id)
    .bind(&upload.key)
    .bind(upload.entity.file_stem())
    .bind(upload.format.as_str())
    .bind(upload.mode.as_str())
    .bind(&upload.sha256)
    .bind(upload.bytes as i64)
    .bind(status)
    .bind(n("rows_total"))
    .bind(n("rows_stored"))
    .bind(n("rows_duplicate"))
    .bind(n("rows_rejected"))
    .bind(report)
    .bind(&upload.created_by)
    .execute(conn)
    .await?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn report(
    upload: &Upload,
    batch_id: Uuid,
    status: &str,
    total: i64,
    stored: i64,
    duplicate: i64,
    refused: i64,
    errors: Vec<Value>,
) -> Value {
    json!({
        "batch_id": batch_id,
        "idempotency_key": upload.key,
        "kind": upload.entity.file_stem(),
        "format": upload.format.as_str(),
        "mode": upload.mode.as_str(),
        "status": status,
        "rows_total": total,
        "rows_stored": stored,
        "rows_duplicate": duplicate,
        "rows_rejected": refused,
        "errors_shown": errors.len(),
        "errors": errors,
    })
}

/// The first refusals, in line order.
async fn errors(conn: &mut PgConnection, refused: i64) -> sqlx::Result<Vec<Value>> {
    if refused == 0 {
        return Ok(Vec::new());
    }
    let rows: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT line, error_field, error_reason FROM staging WHERE error_field IS NOT NULL ORDER BY line LIMIT $1",
    )
    .bind(REPORT_ERRORS)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(line, field, reason)| json!({"line": line, "field": field, "reason": reason}))
        .collect())
}

/// Refuses every row whose id an earlier line of the file has already used; returns how
/// many.
async fn mark_repeated_ids(conn: &mut PgConnection, entity: Entity) -> sqlx::Result<i64> {
    let key = key_column(entity);
    let marked = sqlx::query(&format!(
        "UPDATE staging s SET error_field = '{key}', error_reason = 'the same id as line ' || d.first_line
           FROM (SELECT {key}, min(line) AS first_line FROM staging WHERE error_field IS NULL
                  GROUP BY {key} HAVING count(*) > 1) d
          WHERE s.{key} = d.{key} AND s.line <> d.first_line AND s.error_field IS NULL"
    ))
    .execute(conn)
    .await?;
    Ok(marked.rows_affected() as i64)
}

/// Refuses rows naming a merchant, customer or organisation the database does not know;
/// returns how many.
async fn check_references(conn: &mut PgConnection, entity: Entity) -> sqlx::Result<i64> {
    let references: &[(&str, &str, &str)] = match entity {
        Entity::Transactions => &[
            ("merchant_id", "ingest.merchants", "unknown merchant "),
            ("customer_id", "ingest.customers", "unknown customer "),
        ],
        Entity::Merchants => &[("org_id", "auth.organisations", "unknown organisation ")],
        _ => &[],
    };
    let mut refused = 0;
    for (column, table, reason) in references {
        refused += sqlx::query(&format!(
            "UPDATE staging s SET error_field = '{column}', error_reason = '{reason}' || s.{column}
              WHERE s.error_field IS NULL AND s.{column} IS NOT NULL
                AND NOT EXISTS (SELECT FROM {table} r WHERE r.{column} = s.{column})"
        ))
        .execute(&mut *conn)
        .await?
        .rows_affected() as i64;
    }
    Ok(refused)
}

fn columns(entity: Entity) -> String {
    entity.fields().join(", ")
}

/// Transactions, the usual case: every accepted row is new, so all of them go into the id
/// registry and the table without first looking each id up. If an id is stored already or
/// repeats within the file, the registry's primary key refuses the insert; then the
/// attempt is undone and `None` tells the caller to mark the repeats and take
/// [`store_transactions_absent`]. Returns the number of rows stored.
async fn store_transactions(
    conn: &mut PgConnection,
    batch_id: Uuid,
    sorted_keys: Option<tokio::task::JoinHandle<Vec<u8>>>,
) -> sqlx::Result<Option<i64>> {
    let registry = match sorted_keys {
        Some(task) => Registry::Copy(
            task.await
                .map_err(|e| sqlx::Error::Protocol(format!("sorting the ids: {e}")))?,
        ),
        None => Registry::Insert,
    };
    sqlx::query("SAVEPOINT all_new").execute(&mut *conn).await?;
    match insert_transactions(
        conn,
        batch_id,
        "staging WHERE error_field IS NULL",
        registry,
    )
    .await
    {
        Ok(stored) => {
            sqlx::query("RELEASE SAVEPOINT all_new")
                .execute(&mut *conn)
                .await?;
            Ok(Some(stored))
        }
        Err(sqlx::Error::Database(e)) if e.constraint() == Some("transaction_ids_pkey") => {
            sqlx::query("ROLLBACK TO SAVEPOINT all_new")
                .execute(&mut *conn)
                .await?;
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Transactions, insert-if-absent by bank id: the rows whose id is not in the registry.
/// Batches are applied one at a time (see `complete`), so "absent" cannot change
/// underneath; the registry's primary key still refuses a duplicate from any other writer.
async fn store_transactions_absent(conn: &mut PgConnection, batch_id: Uuid) -> sqlx::Result<i64> {
    let cols = columns(Entity::Transactions);
    sqlx::query(&format!(
        "CREATE TEMP TABLE fresh ON COMMIT DROP AS
         SELECT {cols} FROM staging s
          WHERE s.error_field IS NULL
            AND NOT EXISTS (SELECT FROM ingest.transaction_ids i WHERE i.txn_id = s.txn_id)"
    ))
    .execute(&mut *conn)
    .await?;
    sqlx::query("ANALYZE fresh").execute(&mut *conn).await?;
    insert_transactions(conn, batch_id, "fresh", Registry::Insert).await
}

/// How the new ids reach the registry.
enum Registry {
    /// From the source rows, sorted by the database.
    Insert,
    /// This binary COPY stream of the same ids, sorted already.
    Copy(Vec<u8>),
}

/// Inserts the rows of `source` (new ids, none repeated) into the registry and the table,
/// and queues their rollups. Returns how many there were.
async fn insert_transactions(
    conn: &mut PgConnection,
    batch_id: Uuid,
    source: &str,
    registry: Registry,
) -> sqlx::Result<i64> {
    // The rollups of what is new are recomputed just after the commit (`drain_one`); what
    // to recompute is queued here, in the batch's own transaction: each merchant's first
    // and last day in the batch. Those days also say which partitions must exist.
    let (first, last): (Option<time::Date>, Option<time::Date>) = sqlx::query_as(&format!(
        "WITH queued AS (
             INSERT INTO ingest.rollup_queue (batch_id, merchant_id, first_day, last_day)
             SELECT $1::uuid, merchant_id, (min(booked_at) AT TIME ZONE 'Europe/Moscow')::date,
                    (max(booked_at) AT TIME ZONE 'Europe/Moscow')::date
               FROM {source} GROUP BY merchant_id
             RETURNING first_day, last_day)
         SELECT min(first_day), max(last_day) FROM queued"
    ))
    .bind(batch_id)
    .fetch_one(&mut *conn)
    .await?;
    let (Some(first), Some(last)) = (first, last) else {
        return Ok(0);
    };
    sqlx::query("SELECT ingest.ensure_transaction_partitions($1, $2)")
        .bind(first)
        .bind(last)
        .execute(&mut *conn)
        .await?;
    // In key order, so the index is filled page after page (twice as fast as at random).
    match registry {
        Registry::Insert => {
            sqlx::query(&format!(
                "INSERT INTO ingest.transaction_ids (txn_id) SELECT txn_id FROM {source} ORDER BY txn_id"
            ))
            .execute(&mut *conn)
            .await?;
        }
        Registry::Copy(stream) => {
            let mut copy = conn
                .copy_in_raw("COPY ingest.transaction_ids (txn_id) FROM STDIN WITH (FORMAT binary)")
                .await?;
            for chunk in stream.chunks(1 << 20) {
                copy.send(chunk).await?;
            }
            copy.finish().await?;
        }
    }
    let cols = columns(Entity::Transactions);
    let stored = sqlx::query(&format!(
        "INSERT INTO ingest.transactions ({cols}) SELECT {cols} FROM {source}"
    ))
    .execute(&mut *conn)
    .await?
    .rows_affected() as i64;
    Ok(stored)
}

/// Customers and merchants: upsert by id. "Duplicates" here are rows identical to what is
/// stored already.
async fn upsert(conn: &mut PgConnection, entity: Entity, table: &str) -> sqlx::Result<i64> {
    let fields = entity.fields();
    let key = fields[0];
    let updates: Vec<String> = fields[1..]
        .iter()
        .map(|f| format!("{f} = excluded.{f}"))
        .collect();
    let changed: Vec<String> = fields[1..]
        .iter()
        .map(|f| format!("{table}.{f} IS DISTINCT FROM excluded.{f}"))
        .collect();
    let stored = sqlx::query(&format!(
        "INSERT INTO {table} ({}) SELECT {} FROM staging WHERE error_field IS NULL
         ON CONFLICT ({key}) DO UPDATE SET {} WHERE {}",
        fields.join(", "),
        columns(entity),
        updates.join(", "),
        changed.join(" OR ")
    ))
    .execute(&mut *conn)
    .await?
    .rows_affected() as i64;
    Ok(stored)
}

/// Recomputes the rollups for the (merchant, customer, day) triples in `touched`, from the
/// transactions themselves: exact, and the same whatever order batches arrive in.
async fn refresh_rollups(conn: &mut PgConnection) -> sqlx::Result<()> {
    // A customer's first purchase may move earlier: that day's "new" count changes too.
    sqlx::query(
        "INSERT INTO touched (merchant_id, customer_id, day)
         SELECT mc.merchant_id, mc.customer_id, (mc.first_at AT TIME ZONE 'Europe/Moscow')::date
           FROM ingest.merchant_customers mc
           JOIN (SELECT DISTINCT merchant_id, customer_id FROM touched) k USING (merchant_id, customer_id)
          WHERE mc.first_at IS NOT NULL",
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query(&format!(
        "{MERCHANT_CUSTOMERS} FROM (SELECT DISTINCT merchant_id, customer_id FROM touched) k
           JOIN ingest.transactions t ON t.merchant_id = k.merchant_id AND t.customer_id = k.customer_id
          GROUP BY t.merchant_id, t.customer_id {UPSERT_MC}"
    ))
    .execute(&mut *conn)
    .await?;
    // The planner's row count (touched was just analysed) is enough to choose.
    let days: i64 = sqlx::query_scalar(
        "SELECT reltuples::bigint FROM pg_class WHERE oid = 'pg_temp.touched'::regclass",
    )
    .fetch_one(&mut *conn)
    .await?;
    // A small batch reads its merchant-days through the (merchant_id, booked_at) index; a
    // large one is cheaper as one pass over its merchants' rows.
    let source = if days <= BULK_DAYS {
        "SELECT t.merchant_id, t.customer_id, k.day, sum(t.amount_minor) AS revenue,
                count(*) FILTER (WHERE t.amount_minor > 0) AS purchases
           FROM (SELECT DISTINCT merchant_id, day FROM touched) k
           JOIN ingest.transactions t ON t.merchant_id = k.merchant_id
            AND t.booked_at >= (k.day::timestamp AT TIME ZONE 'Europe/Moscow')
            AND t.booked_at < ((k.day + 1)::timestamp AT TIME ZONE 'Europe/Moscow')
          GROUP BY 1, 2, 3"
    } else {
        "SELECT a.* FROM (
             SELECT merchant_id, customer_id, (booked_at AT TIME ZONE 'Europe/Moscow')::date AS day,
                    sum(amount_minor) AS revenue, count(*) FILTER (WHERE amount_minor > 0) AS purchases
               FROM ingest.transactions
              WHERE merchant_id IN (SELECT DISTINCT merchant_id FROM touched)
              GROUP BY 1, 2, 3) a
           JOIN (SELECT DISTINCT merchant_id, day FROM touched) k USING (merchant_id, day)"
    };
    sqlx::query(&daily(source)).execute(&mut *conn).await?;
    Ok(())
}

/// Recomputes the rollups of the oldest queued batch, if any; returns whether there was
/// one. Runs under the same lock as batches, so the two never interleave; the queue rows
/// go in the same transaction as the recomputation.
pub async fn drain_one(conn: &mut PgConnection) -> sqlx::Result<bool> {
    exclusively(conn).await?;
    let batch: Option<Uuid> =
        sqlx::query_scalar("SELECT batch_id FROM ingest.rollup_queue LIMIT 1")
            .fetch_optional(&mut *conn)
            .await?;
    let Some(batch) = batch else { return Ok(false) };
    sqlx::query(
        "CREATE TEMP TABLE touched ON COMMIT DROP AS
         SELECT DISTINCT t.merchant_id, t.customer_id, (t.booked_at AT TIME ZONE 'Europe/Moscow')::date AS day
           FROM ingest.rollup_queue q
           JOIN ingest.transactions t ON t.merchant_id = q.merchant_id
            AND t.booked_at >= (q.first_day::timestamp AT TIME ZONE 'Europe/Moscow')
            AND t.booked_at < ((q.last_day + 1)::timestamp AT TIME ZONE 'Europe/Moscow')
          WHERE q.batch_id = $1",
    )
    .bind(batch)
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM ingest.rollup_queue WHERE batch_id = $1")
        .bind(batch)
        .execute(&mut *conn)
        .await?;
    sqlx::query("ANALYZE touched").execute(&mut *conn).await?;
    refresh_rollups(conn).await?;
    Ok(true)
}

/// Applying a batch, recomputing rollups and rebuilding them take turns, one at a time, so
/// the rollups of two batches never interleave; and their large sorts and hashes stay in
/// memory. For the rest of the caller's transaction.
async fn exclusively(conn: &mut PgConnection) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('ingest store'))")
        .execute(&mut *conn)
        .await?;
    sqlx::query("SET LOCAL work_mem = '256MB'")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Above this many merchant-days a batch's rollups are recomputed in one pass.
const BULK_DAYS: i64 = 20_000;

const MERCHANT_CUSTOMERS: &str = "INSERT INTO ingest.merchant_customers
        (merchant_id, customer_id, first_at, last_at, transactions, revenue_minor)
     SELECT t.merchant_id, t.customer_id,
            min(t.booked_at) FILTER (WHERE t.amount_minor > 0),
            max(t.booked_at) FILTER (WHERE t.amount_minor > 0),
            count(*) FILTER (WHERE t.amount_minor > 0),
            sum(t.amount_minor)";
const UPSERT_MC: &str = "ON CONFLICT (merchant_id, customer_id) DO UPDATE SET first_at = excluded.first_at,
        last_at = excluded.last_at, transactions = excluded.transactions, revenue_minor = excluded.revenue_minor";

/// The daily rollup from `source`: rows of (merchant_id, customer_id, day, revenue,
/// purchases), one per customer and merchant-day (so no DISTINCT is needed).
fn daily(source: &str) -> String {
    format!(
        "INSERT INTO ingest.merchant_daily
             (merchant_id, day, revenue_minor, transactions, unique_customers, new_customers, returning_customers)
         SELECT x.merchant_id, x.day, sum(x.revenue), sum(x.purchases), count(*) FILTER (WHERE x.purchases > 0),
                count(*) FILTER (WHERE x.purchases > 0 AND (mc.first_at AT TIME ZONE 'Europe/Moscow')::date = x.day),
                count(*) FILTER (WHERE x.purchases > 0 AND (mc.first_at AT TIME ZONE 'Europe/Moscow')::date <> x.day)
           FROM ({source}) x
           LEFT JOIN ingest.merchant_customers mc ON mc.merchant_id = x.merchant_id AND mc.customer_id = x.customer_id
          GROUP BY x.merchant_id, x.day
         ON CONFLICT (merchant_id, day) DO UPDATE SET revenue_minor = excluded.revenue_minor,
             transactions = excluded.transactions, unique_customers = excluded.unique_customers,
             new_customers = excluded.new_customers, returning_customers = excluded.returning_customers"
    )
}

/// Rebuilds both rollups from all transactions (after a bulk load such as `lyra generate`).
pub async fn rebuild_rollups(conn: &mut PgConnection) -> sqlx::Result<()> {
    exclusively(conn).await?;
    sqlx::query("TRUNCATE ingest.merchant_customers, ingest.merchant_daily")
        .execute(&mut *conn)
        .await?;
    sqlx::query(&format!(
        "{MERCHANT_CUSTOMERS} FROM ingest.transactions t GROUP BY t.merchant_id, t.customer_id"
    ))
    .execute(&mut *conn)
    .await?;
    sqlx::query(&daily(
        "SELECT merchant_id, customer_id, (booked_at AT TIME ZONE 'Europe/Moscow')::date AS day,
                sum(amount_minor) AS revenue, count(*) FILTER (WHERE amount_minor > 0) AS purchases
           FROM ingest.transactions GROUP BY 1, 2, 3",
    ))
    .execute(&mut *conn)
    .await?;
    Ok(())
}
