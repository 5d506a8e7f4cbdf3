//! Sign-in and sign-out, shared by the JSON API (`POST /api/v1/auth/login`)
//! and the dashboard's form (`POST /login`), so both have the same rate
//! limits, audit record and session handling.

use std::net::IpAddr;

use axum::http::{HeaderMap, HeaderValue, header};
use secrecy::SecretString;

use super::AppState;
use crate::auth::device::{DEVICE_COOKIE, DEVICE_TTL_SECS};
use crate::auth::normalize_email;
use crate::auth::sessions::{ABSOLUTE_TIMEOUT_MS, SESSION_COOKIE, SessionId};
use crate::error::Error;
use crate::model::{Actor, UserRecord, now_millis};

/// Why a sign-in did not happen.
#[derive(Debug)]
pub enum SignInError {
    /// Too many failures on the address or the account.
    RateLimited { retry_after_secs: u64 },
    /// Wrong email or password; which one is never said.
    WrongCredentials,
    /// The store failed.
    Failed(Error),
}

impl From<Error> for SignInError {
    fn from(error: Error) -> Self {
        Self::Failed(error)
    }
}

/// A new session for a user who proved who they are.
#[derive(Debug)]
pub struct SignedIn {
    pub user: UserRecord,
    pub session: SessionId,
    /// A fresh device cookie for this browser and account (`Set-Cookie` value).
    pub device_cookie: HeaderValue,
}

/// One sign-in attempt as it arrived.
#[derive(Debug)]
pub struct Attempt<'a> {
    pub peer: IpAddr,
    pub request_id: Option<String>,
    pub email: &'a str,
    pub password: SecretString,
    /// The session cookie the browser sent, ended on success.
    pub old_session: Option<&'a str>,
    /// The device cookie the browser sent, if any.
    pub device: Option<&'a str>,
}

/// The rate-limit buckets an attempt counts against: a browser with a
/// valid device cookie for this account has its own (`device:<nonce>`),
/// so failures from elsewhere never hold it back; any other attempt falls
/// into the untrusted buckets of its address and of the account.
fn buckets(state: &AppState, attempt: &Attempt<'_>, account: &str, now_secs: i64) -> Result<Vec<String>, Error> {
    let key = state.paige.device_key()?;
    Ok(match attempt.device.and_then(|c| key.verify(c, account, now_secs)) {
        Some(device) => vec![format!("device:{}", device.0)],
        None => vec![format!("ip:{}", attempt.peer), format!("account:{account}")],
    })
}

/// Checks the rate limits (see [`buckets`]), the password (Argon2id,
/// equal work for unknown emails), records a failure in the limiter and
/// the audit log (`auth.login_failed`), and on success ends the session
/// the browser sent (if any), starts a new one and issues a new device
/// cookie.
pub async fn sign_in(state: &AppState, attempt: Attempt<'_>) -> Result<SignedIn, SignInError> {
    let account = normalize_email(attempt.email).unwrap_or_else(|_| attempt.email.to_lowercase());
    let now_secs = now_millis() / 1000;
    let keys = buckets(state, &attempt, &account, now_secs)?;
    if let Err(wait) = state.limiter.check(&keys) {
        return Err(SignInError::RateLimited {
            // Rounded up: a wait of 1.9 s said as "1 s" would send the user
            // back too early, into another refusal.
            retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
        });
    }
    let Some(user) = state.paige.verify_login(attempt.email, attempt.password).await? else {
        state.limiter.record_failure(&keys);
        let actor = Actor {
            name: format!("ip:{}", attempt.peer),
            user_id: None,
            request_id: attempt.request_id,
        };
        state.paige.record_failed_login(&account, &actor).await?;
        return Err(SignInError::WrongCredentials);
    };
    // Success empties the bucket it counted against: the device's own, or
    // the account's untrusted one (never the address's).
    state.limiter.record_success(keys.last().map_or("", String::as_str));
    // Sign-in always makes a new session; an old one the browser sent is ended.
    if let Some(old) = attempt.old_session {
        state.paige.end_session(old).await?;
    }
    let session = state.paige.start_session(&user).await?;
    let device_cookie = cookie(
        DEVICE_COOKIE,
        &state.paige.device_key()?.issue(&user.email, now_secs),
        DEVICE_TTL_SECS,
        "/",
        state.options.secure_cookies,
    );
    Ok(SignedIn {
        user,
        session,
        device_cookie,
    })
}

/// The device cookie the browser sent, if any.
pub fn device_from_headers(headers: &HeaderMap) -> Option<&str> {
    cookie_from_headers(headers, DEVICE_COOKIE).filter(|v| !v.is_empty())
}

/// Ends the session the browser sent, if any; returns the `Set-Cookie`
/// value that clears its cookie.
pub async fn sign_out(state: &AppState, headers: &HeaderMap) -> Result<HeaderValue, Error> {
    if let Some(session) = session_from_headers(headers) {
        state.paige.end_session(session).await?;
    }
    Ok(cookie(SESSION_COOKIE, "", 0, "/", state.options.secure_cookies))
}

/// The `Set-Cookie` value for a new session.
pub fn session_cookie(session: &SessionId, secure: bool) -> HeaderValue {
    cookie(
        SESSION_COOKIE,
        session.expose(),
        ABSOLUTE_TIMEOUT_MS / 1000,
        "/",
        secure,
    )
}

/// A cookie that scripts cannot read and other sites never make the
/// browser send.
pub fn cookie(name: &str, value: &str, max_age_secs: i64, path: &str, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let cookie = format!("{name}={value}; Path={path}; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}");
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

/// The value of cookie `name`, if the request carries it.
pub fn cookie_from_headers<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value)
}

/// The session id the browser sent, if any.
pub fn session_from_headers(headers: &HeaderMap) -> Option<&str> {
    cookie_from_headers(headers, SESSION_COOKIE).filter(|v| !v.is_empty())
}
