//! Extractors: who is calling, and the request body and path, each failing
//! with an `ApiError` that names the rule and never echoes input values.

use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::logging::RequestId;
use super::{AppState, signin};
use crate::model::{Actor, Page, UserRecord};

/// Request bodies larger than this are refused with 413 before they are
/// read whole (a 64 KiB value fits with room for JSON escaping).
pub const BODY_LIMIT: usize = 128 * 1024;

/// How the caller proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    Token,
    Session,
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: UserRecord,
    pub credential: Credential,
    /// The id of the API token presented, when it was one.
    pub token_id: Option<i64>,
    pub request_id: Option<String>,
}

impl Caller {
    pub fn actor(&self) -> Actor {
        Actor {
            name: self.user.email.clone(),
            user_id: Some(self.user.id),
            request_id: self.request_id.clone(),
        }
    }
}

/// The bearer token of the `Authorization` header: `None` without the
/// header, 401 when it is not `Bearer <token>`.
fn bearer(parts: &Parts) -> Option<Result<&str, ApiError>> {
    let value = parts.headers.get(header::AUTHORIZATION)?;
    Some(
        value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthenticated",
                    "the Authorization header must be `Bearer <token>`",
                )
            }),
    )
}

/// The answer to a token that is not valid or has been revoked.
pub fn invalid_token() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "the API token is not valid or has been revoked",
    )
}

fn request_id(parts: &Parts) -> Option<String> {
    parts.extensions.get::<RequestId>().map(|id| id.0.clone())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let request_id = request_id(parts);
        let (user, credential, token_id) = if let Some(token) = bearer(parts) {
            match state.paige.token(token?).await? {
                Some((user, id)) => (Some(user), Credential::Token, Some(id)),
                None => (None, Credential::Token, None),
            }
        } else if let Some(session) = signin::session_from_headers(&parts.headers) {
            (state.paige.session_user(session).await?, Credential::Session, None)
        } else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "sign in, or send `Authorization: Bearer <token>`",
            ));
        };
        let user = user.ok_or_else(|| match credential {
            Credential::Token => invalid_token(),
            Credential::Session => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "the session has expired; sign in again",
            ),
        })?;
        Ok(Self {
            user,
            credential,
            token_id,
            request_id,
        })
    }
}

/// The caller of a hot route, whose handler checks an API token in the
/// same statement as the project and the caller's role there
/// (`Paige::authorize_token`): the token as sent, or a caller signed in by
/// session. A malformed `Authorization` header, or neither credential, is
/// refused here as [`Caller`] refuses it.
#[derive(Debug)]
pub enum Credentials {
    Token { token: String, request_id: Option<String> },
    Session(Caller),
}

impl FromRequestParts<AppState> for Credentials {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match bearer(parts) {
            Some(token) => Ok(Self::Token {
                token: token?.to_owned(),
                request_id: request_id(parts),
            }),
            None => Caller::from_request_parts(parts, state).await.map(Self::Session),
        }
    }
}

/// A JSON request body of a known shape.
pub trait RequestShape: DeserializeOwned {
    /// The shape, for error messages, e.g. `{"value": string}`.
    const SHAPE: &'static str;
    /// The largest body accepted, in bytes.
    const LIMIT: usize = BODY_LIMIT;
}

/// A JSON body: `application/json`, at most [`BODY_LIMIT`] bytes, exactly
/// the fields of `T` (unknown fields are refused).
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: RequestShape> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, ApiError> {
        let too_large = || {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("request bodies are limited to {} bytes", T::LIMIT),
            )
        };
        let headers = request.headers();
        let is_json = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the body must be JSON, sent with `Content-Type: application/json`",
            ));
        }
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|len| len > T::LIMIT) {
            return Err(too_large());
        }
        let bytes = axum::body::to_bytes(request.into_body(), T::LIMIT).await.map_err(|e| {
            let over_limit = std::error::Error::source(&e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            if over_limit {
                too_large()
            } else {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "unreadable_body",
                    "the request body could not be read",
                )
            }
        })?;
        // serde's own messages can quote the input, so they are not passed on.
        serde_json::from_slice(&bytes).map(JsonBody).map_err(|e| {
            let what = match e.classify() {
                serde_json::error::Category::Data => "has a missing, unknown or mistyped field",
                _ => "is not valid JSON",
            };
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                format!(
                    "the body {what} (line {}, column {}); expected {}",
                    e.line(),
                    e.column(),
                    T::SHAPE
                ),
            )
        })
    }
}

/// `?before=&limit=` of a newest-first listing, failing with 400.
#[derive(Debug, Clone, Copy, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items older than this id (the `next_before` of the previous page).
    before: Option<i64>,
    /// Page size, 1–200 (default 50; larger is taken as 200).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

impl PageQuery {
    pub const DEFAULT: u32 = 50;
    pub const MAX: u32 = 200;

    pub fn page(self) -> Page {
        Page {
            before_id: self.before,
            limit: self.limit.unwrap_or(Self::DEFAULT).clamp(1, Self::MAX),
        }
    }
}

/// The `before` for the page after one that returned `ids` (newest first):
/// none when the page was not full, so the last page says so.
pub fn next_before(page: Page, ids: impl DoubleEndedIterator<Item = i64> + ExactSizeIterator) -> Option<i64> {
    let full = ids.len() == page.limit as usize;
    ids.last().filter(|_| full)
}

impl<S: Send + Sync> FromRequestParts<S> for PageQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<PageQuery>::from_request_parts(parts, state)
            .await
            .map(|Query(query)| query)
            .map_err(|_| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_query",
                    "query parameters are `before` (an id) and `limit` (1–200)",
                )
            })
    }
}

/// Path parameters, failing with 400 instead of axum's plain-text answer.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| ApiPath(value))
            .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "invalid_path", "the URL path is malformed"))
    }
}
