//! Sign-in, sign-out and API tokens.

use std::net::SocketAddr;

use axum::Extension;
use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::Error;
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiPath, Caller, JsonBody, RequestShape};
use crate::http::logging::RequestId;
use crate::http::signin::{self, SignInError};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    email: String,
    #[schema(value_type = String, format = Password)]
    password: SecretString,
}

impl RequestShape for Login {
    const SHAPE: &'static str = r#"{"email": string, "password": string}"#;
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SignedIn {
    email: String,
}

/// Signs in with email and password; sets a new session cookie.
#[utoipa::path(
    post, path = "/api/v1/auth/login", tag = "auth",
    request_body = Login,
    responses(
        (status = 200, body = SignedIn, description = "signed in; `Set-Cookie` carries the session and a device cookie (`paige_device`) that keeps this client out of other clients' rate limit on its next sign-in"),
        (status = 401, body = ErrorBody, description = "wrong email or password (which one is not said)"),
        (status = 429, body = ErrorBody, description = "too many failed attempts; see `Retry-After`"),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(request_id): Extension<RequestId>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<Login>,
) -> Result<Response, ApiError> {
    let attempt = signin::Attempt {
        peer: peer.ip(),
        request_id: Some(request_id.0),
        email: &body.email,
        password: body.password,
        old_session: signin::session_from_headers(&headers),
        device: signin::device_from_headers(&headers),
    };
    let signed_in = signin::sign_in(&state, attempt).await.map_err(|e| match e {
        SignInError::RateLimited { retry_after_secs } => Error::RateLimited { retry_after_secs }.into(),
        SignInError::WrongCredentials => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "wrong email or password",
        ),
        SignInError::Failed(e) => ApiError::from(e),
    })?;
    let cookie = signin::session_cookie(&signed_in.session, state.options.secure_cookies);
    let mut response = Json(SignedIn {
        email: signed_in.user.email,
    })
    .into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    response
        .headers_mut()
        .append(header::SET_COOKIE, signed_in.device_cookie);
    Ok(response)
}

/// Ends the session and clears its cookie.
#[utoipa::path(
    post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204, description = "signed out"))
)]
pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let cleared = signin::sign_out(&state, &headers).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(header::SET_COOKIE, cleared);
    Ok(response)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NewToken {
    id: i64,
    /// Shown once; only its hash is stored.
    token: String,
}

/// Creates an API token for the caller. The token is in this answer only.
#[utoipa::path(
    post, path = "/api/v1/tokens", tag = "auth",
    responses((status = 201, body = NewToken), (status = 401, body = ErrorBody)),
    security(("bearer" = []), ("session" = []))
)]
pub async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<(StatusCode, Json<NewToken>), ApiError> {
    let (id, token) = state.paige.create_token(&caller.user.email, &caller.actor()).await?;
    Ok((
        StatusCode::CREATED,
        Json(NewToken {
            id,
            token: token.expose().to_owned(),
        }),
    ))
}

/// Revokes one of the caller's tokens; it stops working at once.
#[utoipa::path(
    delete, path = "/api/v1/tokens/{id}", tag = "auth",
    params(("id" = i64, Path, description = "token id")),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("session" = []))
)]
pub async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    state
        .paige
        .revoke_token(id, Some(caller.user.id), &caller.actor())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    email: String,
    /// The id of the API token this request presented (absent for a session).
    #[serde(skip_serializing_if = "Option::is_none")]
    token_id: Option<i64>,
}

/// Who the caller is: the CLI's `paige login` checks a token with it.
#[utoipa::path(
    get, path = "/api/v1/me", tag = "auth",
    responses((status = 200, body = Me)),
    security(("bearer" = []), ("session" = []))
)]
pub async fn me(caller: Caller) -> Json<Me> {
    Json(Me {
        email: caller.user.email,
        token_id: caller.token_id,
    })
}

/// Revokes the API token this request presents (`paige logout`).
#[utoipa::path(
    delete, path = "/api/v1/tokens/current", tag = "auth",
    responses(
        (status = 204, description = "revoked; it stops working at once"),
        (status = 400, body = ErrorBody, description = "not_a_token: the request was made with a session"),
    ),
    security(("bearer" = []))
)]
pub async fn revoke_current_token(State(state): State<AppState>, caller: Caller) -> Result<StatusCode, ApiError> {
    let id = caller.token_id.ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "not_a_token",
            "this request was not made with an API token; sign out instead",
        )
    })?;
    state
        .paige
        .revoke_token(id, Some(caller.user.id), &caller.actor())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
