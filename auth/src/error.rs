//! The auth service's one error type. Client errors carry a safe message; internal errors
//! become an opaque 500 and are logged once, here.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// 400: the request is malformed or a value is unacceptable; the message says which.
    #[error("{0}")]
    BadRequest(String),
    /// 401: wrong e-mail or password, or an invalid/expired/reused token. Always the same text.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// 403: authenticated, but the role or scope does not allow this.
    #[error("forbidden")]
    Forbidden,
    /// 404: no such object — or one of another organisation, which must look the same.
    #[error("not found")]
    NotFound,
    /// 409: conflicts with existing data (e.g. the e-mail is taken).
    #[error("{0}")]
    Conflict(String),
    /// 429: too many failed attempts; retry after the given seconds.
    #[error("too many attempts")]
    Throttled {
        /// Seconds until the next attempt may succeed.
        retry_after: u64,
    },
    /// 500: anything else; logged, never shown.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for AuthError {
    fn from(e: sqlx::Error) -> Self {
        AuthError::Internal(e.into())
    }
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        let status = match &self {
            AuthError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AuthError::InvalidCredentials => StatusCode::UNAUTHORIZED,
            AuthError::Forbidden => StatusCode::FORBIDDEN,
            AuthError::NotFound => StatusCode::NOT_FOUND,
            AuthError::Conflict(_) => StatusCode::CONFLICT,
            AuthError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            AuthError::Internal(e) => {
                tracing::error!(error = format!("{e:#}"), "internal error");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let message = match &self {
            AuthError::Internal(_) => "internal error".to_string(),
            other => other.to_string(),
        };
        let mut response = (status, Json(serde_json::json!({ "error": message }))).into_response();
        if let AuthError::Throttled { retry_after } = self
            && let Ok(v) = HeaderValue::from_str(&retry_after.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}
