//! The one mapping from library errors to HTTP answers.
//!
//! Bodies are `{"error":{"code","message"}}`. Internal failures are logged
//! with the request id and answered with a generic message: no internals,
//! and never a value (no error variant carries one).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::Error;
use crate::secrets::RuleError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    retry_after_secs: Option<u64>,
}

/// The error body.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, documented code, e.g. `invalid_key`, `not_found`.
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after_secs: None,
        }
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        let status = match &error {
            Error::Rule(RuleError::TooManySecrets(_) | RuleError::ProjectTooLarge(_)) => StatusCode::CONFLICT,
            Error::Rule(_) | Error::Invalid { .. } => StatusCode::BAD_REQUEST,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::AlreadyExists(_) | Error::Conflict(_) => StatusCode::CONFLICT,
            Error::Unauthenticated => StatusCode::UNAUTHORIZED,
            Error::Forbidden => StatusCode::FORBIDDEN,
            Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            e if e.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
            Error::Integrity { .. }
            | Error::DataKey { .. }
            | Error::Config(_)
            | Error::Corrupt(_)
            | Error::Io { .. }
            | Error::Internal(_)
            | Error::Database(_)
            | Error::Unavailable(_)
            | Error::KeyService(_)
            | Error::Migration(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let retry_after_secs = match &error {
            Error::RateLimited { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        };
        if status.is_server_error() {
            // Our errors carry no values, so the detail is safe to log.
            tracing::error!(code = error.code(), error = %error, "request failed");
            let (code, message) = if matches!(error, Error::KeyService(_)) {
                ("unavailable", "the key service is unavailable; try again shortly")
            } else if status == StatusCode::SERVICE_UNAVAILABLE {
                ("unavailable", "the database is unavailable; try again shortly")
            } else {
                ("internal", "internal error; the server log has the details")
            };
            return Self::new(status, code, message);
        }
        Self {
            status,
            code: error.code(),
            message: error.to_string(),
            retry_after_secs,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_database_is_503_and_other_failures_500() {
        let status = |e: sqlx::Error| ApiError::from(Error::Database(e)).status;
        assert_eq!(status(sqlx::Error::PoolTimedOut), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            status(sqlx::Error::Io(std::io::ErrorKind::ConnectionRefused.into())),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(status(sqlx::Error::RowNotFound), StatusCode::INTERNAL_SERVER_ERROR);
        // A write whose group-commit batch failed keeps the distinction.
        let batch = |e: sqlx::Error| ApiError::from(Error::batch_failed(&e)).status;
        assert_eq!(batch(sqlx::Error::PoolTimedOut), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(batch(sqlx::Error::RowNotFound), StatusCode::INTERNAL_SERVER_ERROR);
        let body = ApiError::from(Error::Database(sqlx::Error::PoolTimedOut));
        assert_eq!(
            (body.code, body.message.as_str()),
            ("unavailable", "the database is unavailable; try again shortly")
        );
    }
}
