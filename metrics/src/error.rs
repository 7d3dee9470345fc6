//! The one error type of the service; internal errors are logged once and answered opaquely.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use lyra_common::token::TokenError;

/// What a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// 401: no token, or one that does not verify (the answer of the shared extractor).
    #[error(transparent)]
    Token(#[from] TokenError),
    /// 400: a parameter is malformed or out of range; the message names it.
    #[error("{0}")]
    BadRequest(String),
    /// 403: the token acts for no organisation (bank admins) or lacks `metrics:read`.
    #[error("{0}")]
    Forbidden(&'static str),
    /// 404: no such outlet in the organisation — the same answer whether it belongs to
    /// another organisation or does not exist.
    #[error("not found")]
    NotFound,
    /// 500.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for MetricsError {
    fn from(e: sqlx::Error) -> Self {
        // The SQL functions raise no_data_found for an outlet outside the organisation.
        if let sqlx::Error::Database(db) = &e
            && db.code().as_deref() == Some("P0002")
        {
            return MetricsError::NotFound;
        }
        MetricsError::Internal(e.into())
    }
}

impl IntoResponse for MetricsError {
    fn into_response(self) -> Response {
        let status = match &self {
            MetricsError::Token(_) => return self.into_token_response(),
            MetricsError::BadRequest(_) => StatusCode::BAD_REQUEST,
            MetricsError::Forbidden(_) => StatusCode::FORBIDDEN,
            MetricsError::NotFound => StatusCode::NOT_FOUND,
            MetricsError::Internal(e) => {
                tracing::error!(error = format!("{e:#}"), "internal error");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let message = match &self {
            MetricsError::Internal(_) => "internal error".to_string(),
            other => other.to_string(),
        };
        (status, Json(serde_json::json!({ "error": message }))).into_response()
    }
}

impl MetricsError {
    fn into_token_response(self) -> Response {
        match self {
            MetricsError::Token(e) => e.into_response(),
            other => other.into_response(),
        }
    }
}
