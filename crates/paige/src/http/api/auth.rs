//! Sign-in, sign-out and API tokens.

use std::net::SocketAddr;

use axum::Extension;
use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::normalize_email;
use crate::auth::sessions::{ABSOLUTE_TIMEOUT_MS, SESSION_COOKIE};
use crate::error::Error;
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiPath, Caller, JsonBody, RequestShape};
use crate::http::logging::RequestId;
use crate::store::{Actor, NewAudit};

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

fn session_cookie(value: &str, max_age_secs: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let cookie = format!("{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}");
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

/// Signs in with email and password; sets a new session cookie.
#[utoipa::path(
    post, path = "/api/v1/auth/login", tag = "auth",
    request_body = Login,
    responses(
        (status = 200, body = SignedIn, description = "signed in; `Set-Cookie` carries the session"),
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
    let account = normalize_email(&body.email).unwrap_or_else(|_| body.email.to_lowercase());
    let keys = [format!("ip:{}", peer.ip()), format!("account:{account}")];
    if let Err(wait) = state.limiter.check(&keys) {
        return Err(Error::RateLimited {
            retry_after_secs: wait.as_secs().max(1),
        }
        .into());
    }
    let Some(user) = state.paige.verify_login(&body.email, body.password).await? else {
        state.limiter.record_failure(&keys);
        let actor = Actor {
            name: format!("ip:{}", peer.ip()),
            user_id: None,
            request_id: Some(request_id.0),
        };
        let audit = NewAudit {
            action: "auth.login_failed",
            detail: Some(format!("email {account}")),
            ..NewAudit::default()
        };
        state.paige.store().append_audit(audit, &actor).await?;
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "wrong email or password",
        ));
    };
    state.limiter.record_success(&keys[1]);
    // Sign-in always makes a new session; an old one the browser sent is ended.
    if let Some(old) = old_session(&headers) {
        state.paige.end_session(&old).await?;
    }
    let session = state.paige.start_session(&user).await?;
    let cookie = session_cookie(
        session.expose(),
        ABSOLUTE_TIMEOUT_MS / 1000,
        state.options.secure_cookies,
    );
    let mut response = Json(SignedIn { email: user.email }).into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}

fn old_session(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// Ends the session and clears its cookie.
#[utoipa::path(
    post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204, description = "signed out"))
)]
pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(session) = old_session(&headers) {
        state.paige.end_session(&session).await?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session_cookie("", 0, state.options.secure_cookies));
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
