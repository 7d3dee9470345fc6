//! Lyra's ingest service: takes bank transactions and master data in (schema `ingest`),
//! validates them, stores each exactly once and keeps the rollups fresh.
//!
//! `POST /v1/transactions`, `/v1/customers`, `/v1/merchants` take CSV or NDJSON exactly as
//! `lyra generate` writes them, streamed: [`parse::Parser`] turns each chunk into binary
//! COPY rows for a staging table while the payload is hashed, so nothing holds the whole
//! file. Then, in the same database transaction, [`store::complete`] settles the
//! idempotency key, checks what needs the database (unknown references; ids repeated in
//! the file or stored already, looked for only when the id registry refuses the batch as
//! a whole), inserts what is new, quarantines refused rows (lenient mode), queues the
//! touched merchant-days and records the batch. The client's answer is sent after the commit; the
//! rollup worker recomputes the queued rollups a moment later (well within 5 s).

pub mod copy;
pub mod parse;
pub mod schema;
pub mod store;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{FromRef, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::StreamExt;
use lyra_common::db::Db;
use lyra_common::formats::Entity;
use lyra_common::token::{Authenticated, Claims, Role, TokenVerifier};
use lyra_common::{Application, Service, Settings};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use sqlx::Connection;
use uuid::Uuid;

use crate::parse::{FileError, Format, Parser};
use crate::store::{Mode, Outcome, Upload};

/// The scope an API token needs to write bank data.
pub const SCOPE: &str = "ingest:write";
/// How much parsed output is collected before it is sent to COPY.
const COPY_CHUNK: usize = 256 * 1024;

#[derive(Clone)]
struct IngestState {
    db: Db,
    verifier: Arc<TokenVerifier>,
}

impl FromRef<IngestState> for Arc<TokenVerifier> {
    fn from_ref(state: &IngestState) -> Self {
        state.verifier.clone()
    }
}

/// What a handler can fail with; internal errors are logged once and answered opaquely.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// 400: the request or the file as a whole is unacceptable.
    #[error("{0}")]
    BadRequest(String),
    /// 403: the token lacks the `ingest:write` scope.
    #[error("this needs an API token with scope ingest:write")]
    Forbidden,
    /// 404: no such batch.
    #[error("not found")]
    NotFound,
    /// 422: the idempotency key was used before with another payload.
    #[error("Idempotency-Key was already used with a different payload")]
    KeyReused,
    /// 500.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for IngestError {
    fn from(e: sqlx::Error) -> Self {
        IngestError::Internal(e.into())
    }
}

impl IntoResponse for IngestError {
    fn into_response(self) -> Response {
        let status = match &self {
            IngestError::BadRequest(_) => StatusCode::BAD_REQUEST,
            IngestError::Forbidden => StatusCode::FORBIDDEN,
            IngestError::NotFound => StatusCode::NOT_FOUND,
            IngestError::KeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            IngestError::Internal(e) => {
                tracing::error!(error = format!("{e:#}"), "internal error");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let message = match &self {
            IngestError::Internal(_) => "internal error".to_string(),
            other => other.to_string(),
        };
        (status, Json(serde_json::json!({ "error": message }))).into_response()
    }
}

fn require_scope(claims: &Claims) -> Result<(), IngestError> {
    if claims.has_scope(SCOPE) || claims.role == Role::BankAdmin {
        Ok(())
    } else {
        Err(IngestError::Forbidden)
    }
}

#[derive(Deserialize)]
struct UploadQuery {
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    format: Option<String>,
}

fn format_of(query: &UploadQuery, headers: &HeaderMap) -> Result<Format, IngestError> {
    let declared = query.format.clone().or_else(|| {
        headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                let mime = v.split(';').next().unwrap_or("").trim();
                match mime {
                    "application/x-ndjson" | "application/ndjson" | "application/jsonl" => {
                        "ndjson".into()
                    }
                    "text/csv" => "csv".into(),
                    other => other.to_string(),
                }
            })
    });
    match declared.as_deref() {
        Some("csv") | None => Ok(Format::Csv),
        Some("ndjson") => Ok(Format::Ndjson),
        Some(other) => Err(IngestError::BadRequest(format!(
            "format: {other:?} is not supported; send text/csv or application/x-ndjson"
        ))),
    }
}

async fn upload(
    entity: Entity,
    state: IngestState,
    claims: Claims,
    query: UploadQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, IngestError> {
    require_scope(&claims)?;
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| IngestError::BadRequest("the Idempotency-Key header is required".into()))?
        .to_string();
    if key.len() > 200 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(IngestError::BadRequest(
            "Idempotency-Key: 1 to 200 visible ASCII characters".into(),
        ));
    }
    let mode = match query.mode.as_deref() {
        None | Some("strict") => Mode::Strict,
        Some("lenient") => Mode::Lenient,
        Some(other) => {
            return Err(IngestError::BadRequest(format!(
                "mode: {other:?} is not strict or lenient"
            )));
        }
    };
    let format = format_of(&query, &headers)?;

    let mut conn = state.db.pool().acquire().await?;
    let mut tx = conn.begin().await?;
    store::create_staging(&mut tx, entity).await?;
    let mut parser = Parser::new(entity, format, time::OffsetDateTime::now_utc());
    let mut hasher = Sha256::new();
    let mut bytes = 0u64;
    let mut out = Vec::with_capacity(COPY_CHUNK * 2);
    let phase = std::time::Instant::now();
    let counts = {
        let mut copy = tx.copy_in_raw(&store::copy_statement(entity)).await?;
        let mut stream = body.into_data_stream();
        let parsed: Result<_, IngestError> = async {
            while let Some(chunk) = stream.next().await {
                let chunk = chunk
                    .map_err(|e| IngestError::BadRequest(format!("the upload broke off: {e}")))?;
                hasher.update(&chunk);
                bytes += chunk.len() as u64;
                parser.feed(&chunk, &mut out).map_err(file_error)?;
                if out.len() >= COPY_CHUNK {
                    copy.send(std::mem::take(&mut out)).await?;
                }
            }
            let counts = parser.finish(&mut out).map_err(file_error)?;
            Ok(counts)
        }
        .await;
        match parsed {
            Ok(counts) => {
                copy.send(out).await?;
                copy.finish().await?;
                counts
            }
            Err(e) => {
                copy.abort("upload refused").await.ok();
                return Err(e);
            }
        }
    };
    let upload = Upload {
        entity,
        format,
        mode,
        key,
        created_by: claims.sub.clone(),
        sha256: hasher.finalize().to_vec(),
        bytes,
    };
    let received_ms = phase.elapsed().as_millis();
    let outcome = store::complete(&mut tx, &upload, counts, parser.take_keys()).await?;
    tracing::info!(
        received_ms,
        stored_ms = phase.elapsed().as_millis() - received_ms,
        rows = counts.rows,
        "upload processed"
    );
    let outcome = match outcome {
        Outcome::Committed(report) => {
            tx.commit().await?;
            tracing::info!(kind = entity.file_stem(), rows = %report["rows_stored"], "batch committed");
            return Ok((StatusCode::CREATED, Json(report)).into_response());
        }
        Outcome::Rejected(report) => {
            tx.rollback().await?;
            let mut tx = conn.begin().await?;
            let outcome = store::record_rejected(&mut tx, &upload, &report).await?;
            tx.commit().await?;
            outcome
        }
        other => {
            tx.rollback().await?;
            other
        }
    };
    Ok(match outcome {
        Outcome::Replay(status, report) => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
            Json(report),
        )
            .into_response(),
        Outcome::Rejected(report) => {
            (StatusCode::UNPROCESSABLE_ENTITY, Json(report)).into_response()
        }
        Outcome::KeyReused => return Err(IngestError::KeyReused),
        Outcome::Committed(_) => unreachable!("committed above"),
    })
}

fn file_error(e: FileError) -> IngestError {
    IngestError::BadRequest(e.to_string())
}

macro_rules! upload_handler {
    ($name:ident, $entity:expr) => {
        async fn $name(
            State(state): State<IngestState>,
            Authenticated(claims): Authenticated,
            Query(query): Query<UploadQuery>,
            headers: HeaderMap,
            body: Body,
        ) -> Result<Response, IngestError> {
            upload($entity, state, claims, query, headers, body).await
        }
    };
}

upload_handler!(upload_transactions, Entity::Transactions);
upload_handler!(upload_customers, Entity::Customers);
upload_handler!(upload_merchants, Entity::Merchants);

async fn batch(
    State(state): State<IngestState>,
    Authenticated(claims): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, IngestError> {
    require_scope(&claims)?;
    let id = Uuid::parse_str(&id).map_err(|_| IngestError::NotFound)?;
    let row: Option<(String, time::OffsetDateTime, serde_json::Value)> =
        sqlx::query_as("SELECT status, created_at, report FROM ingest.batches WHERE batch_id = $1")
            .bind(id)
            .fetch_optional(state.db.pool())
            .await?;
    let (status, created_at, mut report) = row.ok_or(IngestError::NotFound)?;
    report["status"] = status.into();
    report["created_at"] = serde_json::to_value(created_at).unwrap_or_default();
    Ok(Json(report))
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    after_line: i64,
    #[serde(default)]
    limit: Option<i64>,
}

async fn quarantine(
    State(state): State<IngestState>,
    Authenticated(claims): Authenticated,
    Path(id): Path<String>,
    Query(page): Query<Page>,
) -> Result<Json<serde_json::Value>, IngestError> {
    require_scope(&claims)?;
    let id = Uuid::parse_str(&id).map_err(|_| IngestError::NotFound)?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT FROM ingest.batches WHERE batch_id = $1)")
            .bind(id)
            .fetch_one(state.db.pool())
            .await?;
    if !exists {
        return Err(IngestError::NotFound);
    }
    let limit = page.limit.unwrap_or(1000).clamp(1, 10_000);
    let rows: Vec<(i64, String, String, String)> = sqlx::query_as(
        "SELECT line, field, reason, raw FROM ingest.quarantine WHERE batch_id = $1 AND line > $2
          ORDER BY line LIMIT $3",
    )
    .bind(id)
    .bind(page.after_line)
    .bind(limit)
    .fetch_all(state.db.pool())
    .await?;
    let next = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| r.0))
        .flatten();
    let rows: Vec<serde_json::Value> = rows
        .into_iter()
        .map(|(line, field, reason, raw)| serde_json::json!({"line": line, "field": field, "reason": reason, "raw": raw}))
        .collect();
    Ok(Json(
        serde_json::json!({ "rows": rows, "next_after_line": next }),
    ))
}

/// The service's routes; the shell adds health, readiness and metrics around them.
pub fn routes(db: Db, verifier: Arc<TokenVerifier>) -> Router {
    Router::new()
        .route("/v1/transactions", post(upload_transactions))
        .route("/v1/customers", post(upload_customers))
        .route("/v1/merchants", post(upload_merchants))
        .route("/v1/batches/{id}", get(batch))
        .route("/v1/batches/{id}/quarantine", get(quarantine))
        .with_state(IngestState { db, verifier })
}

/// Connects, binds and assembles the service, and starts the rollup worker.
pub async fn build(settings: Settings) -> anyhow::Result<Application> {
    let verifier = TokenVerifier::remote(format!(
        "{}/.well-known/jwks.json",
        settings.upstream(Service::Auth)
    ));
    Application::build(Service::Ingest, &settings, move |db| {
        tokio::spawn(rollup_worker(db.clone()));
        routes(db, verifier)
    })
    .await
}

/// Drains the rollup queue: every committed batch's rollups are recomputed within a moment
/// of its commit (polled every 100 ms). Stops when the pool is closed.
async fn rollup_worker(db: Db) {
    loop {
        let drained = async {
            let mut tx = db.pool().begin().await?;
            let found = store::drain_one(&mut tx).await?;
            tx.commit().await?;
            Ok::<bool, sqlx::Error>(found)
        }
        .await;
        match drained {
            Ok(true) => continue,
            Ok(false) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
            Err(sqlx::Error::PoolClosed) => break,
            Err(e) => {
                tracing::warn!(error = %e, "rollup worker: will retry");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    }
}
