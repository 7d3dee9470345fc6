//! The handlers, the access guard and the service's one error type.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Multipart, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use lyra_common::token::{Authenticated, Claims};
use serde_json::{Value, json};

use crate::batch::{self, BatchError};
use crate::live::{LookupError, Served};
use crate::registry::{self, NewVersion, RegistryError};
use crate::validate::{Report, validate};
use crate::{Access, MAX_BATCH_ROWS, ModelState};

/// What a handler can fail with. Client errors carry a message that names the problem;
/// internal errors are logged once and answered opaquely.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the body cannot be read.
    #[error("{0}")]
    BadRequest(String),
    /// 403: the token may not call this route.
    #[error("{0}")]
    Forbidden(&'static str),
    /// 404: no such model or version.
    #[error("{0}")]
    NotFound(String),
    /// 409: the request does not fit the registry's state (no active version, nothing to
    /// roll back to).
    #[error("{0}")]
    Conflict(String),
    /// 413: too many rows.
    #[error("{0}")]
    TooLarge(String),
    /// 422: the input does not fit the model's contract.
    #[error("{0}")]
    Unprocessable(String),
    /// 422: the upload failed validation; the report says why.
    #[error("model {0:?} failed validation")]
    Invalid(String, Box<Report>),
    /// 500.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::Internal(e.into())
    }
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::UnknownModel(_) | RegistryError::UnknownVersion(..) => {
                ApiError::NotFound(e.to_string())
            }
            RegistryError::NothingToRollBack(_) => ApiError::Conflict(e.to_string()),
            RegistryError::Sql(e) => e.into(),
        }
    }
}

impl From<LookupError> for ApiError {
    fn from(e: LookupError) -> Self {
        match e {
            LookupError::Unknown(_) => ApiError::NotFound(e.to_string()),
            LookupError::NoActiveVersion(_) => ApiError::Conflict(e.to_string()),
            LookupError::Internal(e) => ApiError::Internal(e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unprocessable(_) | ApiError::Invalid(..) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Internal(e) => {
                tracing::error!(error = format!("{e:#}"), "internal error");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let body = match self {
            ApiError::Internal(_) => json!({"error": "internal error"}),
            ApiError::Invalid(name, report) => json!({
                "error": format!("model {name:?} failed validation: {}", report.text()),
                "report": *report,
            }),
            other => json!({"error": other.to_string()}),
        };
        (status, Json(body)).into_response()
    }
}

/// The access check of every route, built from the route table: verifies the token (401),
/// checks its role and scopes (403) before the body is read, and hands the claims on.
pub async fn guard(
    State((state, access)): State<(ModelState, Access)>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let claims = match Authenticated::from_request_parts(&mut parts, &state).await {
        Ok(Authenticated(claims)) => claims,
        Err(e) => return e.into_response(),
    };
    if !access.allows(&claims) {
        tracing::info!(
            sub = claims.sub,
            role = claims.role.as_str(),
            "access denied"
        );
        return ApiError::Forbidden(access.requirement()).into_response();
    }
    parts.extensions.insert(claims);
    next.run(Request::from_parts(parts, body)).await
}

pub async fn list(State(state): State<ModelState>) -> Result<Json<Value>, ApiError> {
    let models = registry::list(state.db.pool()).await?;
    Ok(Json(json!({ "models": models })))
}

pub async fn describe(
    State(state): State<ModelState>,
    Path(name): Path<String>,
) -> Result<Json<registry::ModelDetail>, ApiError> {
    Ok(Json(registry::describe(state.db.pool(), &name).await?))
}

/// The three parts of an upload.
const PARTS: [&str; 3] = ["model.onnx", "contract.json", "sample.json"];

pub async fn upload(
    State(state): State<ModelState>,
    Path(name): Path<String>,
    Extension(claims): Extension<Claims>,
    mut multipart: Multipart,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let mut files: [Option<Bytes>; 3] = [None, None, None];
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| ApiError::BadRequest(format!("multipart body: {e}")))?
    {
        let part = field.name().unwrap_or_default().to_string();
        let Some(i) = PARTS.iter().position(|p| *p == part) else {
            return Err(ApiError::BadRequest(format!(
                "unexpected part {part:?}: send model.onnx, contract.json and sample.json"
            )));
        };
        let bytes = field
            .bytes()
            .await
            .map_err(|e| ApiError::BadRequest(format!("part {part}: {e}")))?;
        files[i] = Some(bytes);
    }
    let missing: Vec<&str> = PARTS
        .iter()
        .zip(&files)
        .filter(|(_, f)| f.is_none())
        .map(|(p, _)| *p)
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::BadRequest(format!(
            "missing part(s): {} (a multipart form with model.onnx, contract.json and sample.json)",
            missing.join(", ")
        )));
    }
    let [Some(onnx), Some(contract), Some(sample)] = files else {
        unreachable!("checked above");
    };
    let json = |part: &str, bytes: &Bytes| {
        serde_json::from_slice::<Value>(bytes)
            .map_err(|e| ApiError::Unprocessable(format!("{part} is not JSON: {e}")))
    };
    let (contract, sample) = (
        json("contract.json", &contract)?,
        json("sample.json", &sample)?,
    );

    let checked = {
        let (name, onnx, contract, sample) =
            (name.clone(), onnx.clone(), contract.clone(), sample.clone());
        let _cpu = state.cpu.acquire().await.map_err(anyhow::Error::from)?;
        tokio::task::spawn_blocking(move || {
            validate(&name, &onnx, &contract, &sample).map(|v| v.report)
        })
        .await
        .map_err(anyhow::Error::from)?
    };
    let report = match checked {
        Ok(report) => report,
        Err(report) => {
            tracing::info!(
                model = name,
                problems = report.problems.len(),
                "upload failed validation"
            );
            return Err(ApiError::Invalid(name, Box::new(report)));
        }
    };
    let stored = registry::store(
        state.db.pool(),
        NewVersion {
            name: &name,
            onnx: &onnx,
            contract: &contract,
            sample: &sample,
            uploaded_by: &claims.sub,
            report: &report,
        },
    )
    .await?;
    tracing::info!(
        model = name,
        version = stored.version,
        by = claims.sub,
        "model version stored"
    );
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "name": stored.name,
            "version": stored.version,
            "sha256": stored.sha256,
            "active": false,
            "report": report,
        })),
    ))
}

pub async fn activate(
    State(state): State<ModelState>,
    Path((name, version)): Path<(String, String)>,
    Extension(claims): Extension<Claims>,
) -> Result<Json<registry::Activated>, ApiError> {
    let version: i32 =
        version.parse().ok().filter(|v| *v > 0).ok_or_else(|| {
            ApiError::NotFound(format!("model {name:?} has no version {version:?}"))
        })?;
    let done = registry::activate(state.db.pool(), &name, version, &claims.sub).await?;
    // This instance need not wait for its own notification.
    state.live.refresh().await.ok();
    Ok(Json(done))
}

pub async fn rollback(
    State(state): State<ModelState>,
    Path(name): Path<String>,
    Extension(claims): Extension<Claims>,
) -> Result<Json<registry::Activated>, ApiError> {
    let done = registry::rollback(state.db.pool(), &name, &claims.sub).await?;
    state.live.refresh().await.ok();
    Ok(Json(done))
}

pub async fn predict(
    State(state): State<ModelState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let arrow = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(batch::ARROW_STREAM));
    // The version active now; the request finishes on it whatever is activated meanwhile.
    let served = state.live.get(&name).await?;
    let _cpu = state.cpu.acquire().await.map_err(anyhow::Error::from)?;
    let answer = tokio::task::spawn_blocking(move || run(&served, &body, arrow))
        .await
        .map_err(anyhow::Error::from)??;
    Ok(([(header::CONTENT_TYPE, "application/json")], answer).into_response())
}

/// Parse, check, infer and render: everything CPU-bound of a predict request. `arrow`:
/// the body is an Arrow IPC stream, else JSON.
fn run(served: &Arc<Served>, body: &[u8], arrow: bool) -> Result<Vec<u8>, ApiError> {
    let contract = served.model.contract();
    let input = if arrow {
        batch::matrix_from_arrow(contract, body, MAX_BATCH_ROWS)
    } else {
        let parsed = batch::parse(body).map_err(ApiError::BadRequest)?;
        batch::matrix(contract, parsed, MAX_BATCH_ROWS)
    };
    let (input, rows) = input.map_err(|e| match e {
        BatchError::TooMany { .. } => ApiError::TooLarge(e.to_string()),
        BatchError::Invalid(m) => ApiError::Unprocessable(m),
    })?;
    let outputs = served.model.infer(&input, rows)?;
    let mut rendered = serde_json::Map::new();
    for (spec, values) in contract.outputs.iter().zip(&outputs.values) {
        let columns: serde_json::Map<String, Value> = spec
            .columns
            .iter()
            .enumerate()
            .map(|(c, column)| (column.clone(), values.column_json(c, spec.width())))
            .collect();
        rendered.insert(spec.name.clone(), Value::Object(columns));
    }
    let answer = json!({
        "model": served.name,
        "version": served.version,
        "rows": rows,
        "outputs": rendered,
    });
    Ok(serde_json::to_vec(&answer).map_err(anyhow::Error::from)?)
}
