//! Who is signed in, the CSRF check of every form, and the sign-in and
//! sign-out pages.
//!
//! CSRF tokens are derived from a secret the browser holds only in an
//! `HttpOnly`, `SameSite=Strict` cookie: for a signed-in user the session
//! id, for the sign-in form a random pre-session cookie. The token is
//! `SHA-256(purpose ‖ secret)`, so it is tied to that one session, another
//! session's token does not match, and the page that shows it does not
//! reveal the session id. Each page carries it masked with a fresh random
//! pad (`pad ‖ pad⊕token`, base64url); it is compared in constant time. A POST without a valid token is refused with 403 before
//! anything else happens.

use std::net::SocketAddr;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use secrecy::SecretString;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::pages::{Layout, PageError, Section, render};
use crate::http::AppState;
use crate::http::logging::RequestId;
use crate::http::signin::{self, SignInError};
use crate::model::{Actor, ProjectRecord, Role, UserRecord};

/// The pre-session cookie that ties the sign-in form to its browser.
pub const LOGIN_COOKIE: &str = "paige_login";
/// Form bodies above this are refused (a 64 KiB value, percent-encoded).
pub const FORM_LIMIT: usize = 256 * 1024;
const CSRF_PURPOSE: &str = "paige-csrf-v1";
const LOGIN_PURPOSE: &str = "paige-login-v1";

fn raw_token(purpose: &str, secret: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(purpose.as_bytes());
    hasher.update([0]);
    hasher.update(secret.as_bytes());
    hasher.finalize().into()
}

/// The token as put in a page: a fresh random pad and the token XORed with
/// it, so no two pages carry the same bytes (compressed pages cannot be
/// probed for it, BREACH-style).
fn token(purpose: &str, secret: &str) -> String {
    let raw = raw_token(purpose, secret);
    let mut masked = [0u8; 64];
    rand::rngs::OsRng.fill_bytes(&mut masked[..32]);
    let (pad, rest) = masked.split_at_mut(32);
    for ((m, p), r) in rest.iter_mut().zip(pad.iter()).zip(raw) {
        *m = p ^ r;
    }
    URL_SAFE_NO_PAD.encode(masked)
}

/// Whether `presented` is a masked form of the token for `purpose` and `secret`.
fn token_matches(purpose: &str, secret: &str, presented: Option<&str>) -> bool {
    let Some(bytes) = presented.and_then(|p| URL_SAFE_NO_PAD.decode(p).ok()) else {
        return false;
    };
    if bytes.len() != 64 {
        return false;
    }
    let raw = raw_token(purpose, secret);
    let unmasked: Vec<u8> = bytes[..32].iter().zip(&bytes[32..]).map(|(p, m)| p ^ m).collect();
    bool::from(unmasked.as_slice().ct_eq(&raw))
}

/// A signed-in user of the dashboard.
#[derive(Debug, Clone)]
pub struct WebUser {
    pub user: UserRecord,
    session: String,
    pub request_id: Option<String>,
}

impl WebUser {
    /// This session's CSRF token.
    pub fn csrf(&self) -> String {
        token(CSRF_PURPOSE, &self.session)
    }

    /// The frame of a page for this user; `project` is the current one.
    pub async fn layout(
        &self,
        state: &AppState,
        title: impl Into<String>,
        project: Option<(&ProjectRecord, Role, Section)>,
    ) -> Result<Layout, PageError> {
        Layout::new(state, &self.user, self.csrf(), title, project).await
    }

    pub fn actor(&self) -> Actor {
        Actor {
            name: self.user.email.clone(),
            user_id: Some(self.user.id),
            request_id: self.request_id.clone(),
        }
    }

    async fn from_parts(parts: &Parts, state: &AppState) -> Result<Option<Self>, PageError> {
        let request_id = parts.extensions.get::<RequestId>().map(|id| id.0.clone());
        Self::from_headers(&parts.headers, state, request_id).await
    }

    /// The user of the session in `headers`, if it is a live one.
    pub async fn from_headers(
        headers: &HeaderMap,
        state: &AppState,
        request_id: Option<String>,
    ) -> Result<Option<Self>, PageError> {
        let Some(session) = signin::session_from_headers(headers) else {
            return Ok(None);
        };
        let Some(user) = state.paige.session_user(session).await? else {
            return Ok(None);
        };
        Ok(Some(Self {
            user,
            session: session.to_owned(),
            request_id,
        }))
    }
}

/// Pages need a session; without one the browser is sent to sign in and
/// brought back afterwards.
impl FromRequestParts<AppState> for WebUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match Self::from_parts(parts, state).await {
            Ok(Some(user)) => Ok(user),
            Ok(None) => {
                let next = parts.uri.path_and_query().map_or("/projects", |p| p.as_str());
                let target = format!("/login?next={}", urlencode(next));
                Err(Redirect::to(&target).into_response())
            }
            Err(e) => Err(e.into_response()),
        }
    }
}

/// Percent-encodes a query parameter value.
pub fn urlencode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~/".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[derive(Debug, Default, Deserialize)]
struct CsrfField {
    csrf: Option<String>,
}

/// A form posted by the signed-in user, its CSRF token checked.
#[derive(Debug)]
pub struct Posted<T> {
    pub user: WebUser,
    pub form: T,
}

/// A form posted by the signed-in user with its raw body, for fields that
/// must not go through serde's lossy UTF-8 decoding (secret values).
#[derive(Debug)]
pub struct PostedRaw<T> {
    pub user: WebUser,
    pub form: T,
    /// The `application/x-www-form-urlencoded` body as sent.
    pub body: Bytes,
}

/// The signed-in user and the body of a form whose CSRF token matched.
async fn checked_form(request: Request, state: &AppState) -> Result<(WebUser, Bytes), Response> {
    let (parts, body) = request.into_parts();
    let user = WebUser::from_parts(&parts, state)
        .await
        .map_err(IntoResponse::into_response)?
        .ok_or_else(|| {
            PageError::forbidden("Your session has ended, so the form was not accepted. Sign in and try again.")
                .into_response()
        })?;
    let bytes = axum::body::to_bytes(body, FORM_LIMIT).await.map_err(|_| {
        PageError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Too large",
            format!("Forms are limited to {FORM_LIMIT} bytes."),
        )
        .into_response()
    })?;
    let presented: CsrfField = serde_urlencoded::from_bytes(&bytes).unwrap_or_default();
    if !token_matches(CSRF_PURPOSE, &user.session, presented.csrf.as_deref()) {
        return Err(refused_form().into_response());
    }
    Ok((user, bytes))
}

fn parse_form<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, PageError> {
    // serde's messages may quote the input, so they are not shown.
    serde_urlencoded::from_bytes(bytes).map_err(|_| PageError::bad_request("The form is incomplete or malformed."))
}

impl<T: DeserializeOwned> FromRequest<AppState> for Posted<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let (user, bytes) = checked_form(request, state).await?;
        let form = parse_form(&bytes).map_err(IntoResponse::into_response)?;
        Ok(Self { user, form })
    }
}

impl<T: DeserializeOwned> FromRequest<AppState> for PostedRaw<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let (user, body) = checked_form(request, state).await?;
        let form = parse_form(&body).map_err(IntoResponse::into_response)?;
        Ok(Self { user, form, body })
    }
}

/// The bytes of field `name` in a urlencoded form body, percent-decoded
/// but not turned into text (the first occurrence; `None` if absent).
/// `+` is a space; a `%` not followed by two hex digits stays as it is,
/// as browsers and `serde_urlencoded` read it.
pub fn form_field_bytes(body: &[u8], name: &str) -> Option<Zeroizing<Vec<u8>>> {
    body.split(|b| *b == b'&').find_map(|pair| {
        let (n, value) = match pair.iter().position(|b| *b == b'=') {
            Some(at) => (&pair[..at], &pair[at + 1..]),
            None => (pair, &[][..]),
        };
        (*percent_decode(n) == *name.as_bytes()).then(|| percent_decode(value))
    })
}

fn percent_decode(input: &[u8]) -> Zeroizing<Vec<u8>> {
    let hex = |b: u8| char::from(b).to_digit(16).and_then(|d| u8::try_from(d).ok());
    let mut out = Zeroizing::new(Vec::with_capacity(input.len()));
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                input.get(i + 1).copied().and_then(hex),
                input.get(i + 2).copied().and_then(hex),
            ) {
                (Some(high), Some(low)) => {
                    out.push(high << 4 | low);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            other => out.push(other),
        }
        i += 1;
    }
    out
}

fn refused_form() -> PageError {
    PageError::forbidden(
        "The form was refused: its security token is missing or does not belong to your session. \
         Nothing was changed. Reload the page and try again.",
    )
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    page: Layout,
    csrf: String,
    email: String,
    next: String,
    error: Option<String>,
    notice: Option<&'static str>,
    /// Seconds to wait under the sign-in rate limit (counted down by
    /// paige.js; the form stays usable without it).
    wait_secs: Option<u64>,
    /// No user exists yet and this server holds a setup code: the page
    /// points to `/setup`.
    first_run: bool,
}

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    signed_out: Option<String>,
}

/// Where to go after signing in when `next` is missing or refused.
const LANDING: &str = "/projects";

/// Whether `next` is a path on this server and nothing else: one `/` not
/// followed by `/` or `\` (browsers read `//host` and `/\host` as another
/// origin), and only visible ASCII, so no backslash, space or control
/// character anywhere (browsers drop tabs and line breaks from a URL, so
/// `/\t/host` is `//host`; CR/LF cannot go in a header). A genuine `next`
/// is always ASCII: it is a request's own path and query, percent-encoded.
fn is_local_path(next: &str) -> bool {
    let bytes = next.as_bytes();
    bytes.first() == Some(&b'/')
        && !matches!(bytes.get(1), Some(b'/' | b'\\'))
        && bytes.iter().all(|b| (0x21..=0x7e).contains(b) && *b != b'\\')
}

/// Only paths on this server are followed after signing in; anything else
/// falls back to the landing page, before any other work is done.
fn safe_next(next: Option<&str>) -> String {
    next.filter(|n| is_local_path(n)).unwrap_or(LANDING).to_owned()
}

fn login_secret(headers: &HeaderMap) -> Option<&str> {
    signin::cookie_from_headers(headers, LOGIN_COOKIE).filter(|v| v.len() >= 32)
}

fn login_form(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    email: String,
    next: String,
    error: Option<String>,
    notice: Option<&'static str>,
) -> Response {
    let page = LoginPage {
        page: Layout::anonymous("Sign in"),
        csrf: String::new(),
        email,
        next,
        error,
        notice,
        wait_secs: None,
        first_run: false,
    };
    render_login(state, headers, status, page)
}

/// Renders the sign-in `page` with its token, tied to the browser's
/// pre-session cookie (set here when the browser has none).
fn render_login(state: &AppState, headers: &HeaderMap, status: StatusCode, mut page: LoginPage) -> Response {
    let (secret, fresh) = match login_secret(headers) {
        Some(secret) => (secret.to_owned(), false),
        None => {
            let mut bytes = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut bytes);
            (URL_SAFE_NO_PAD.encode(bytes), true)
        }
    };
    page.csrf = token(LOGIN_PURPOSE, &secret);
    let mut response = render(status, &page);
    if fresh {
        let cookie = signin::cookie(LOGIN_COOKIE, &secret, 3600, "/login", state.options.secure_cookies);
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

/// `GET /login`: the sign-in form (or the projects, when signed in).
pub async fn login_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<LoginQuery>,
    parts: RequestParts,
) -> Response {
    if let Ok(Some(_)) = WebUser::from_parts(&parts.0, &state).await {
        return Redirect::to(&safe_next(query.next.as_deref())).into_response();
    }
    let page = LoginPage {
        page: Layout::anonymous("Sign in"),
        csrf: String::new(),
        email: String::new(),
        next: safe_next(query.next.as_deref()),
        error: None,
        notice: query.signed_out.is_some().then_some("You have signed out."),
        wait_secs: None,
        first_run: state.first_run.is_open(&state.paige).await.unwrap_or(false),
    };
    render_login(&state, &headers, StatusCode::OK, page)
}

/// The request's head, for handlers that look at the session themselves.
#[derive(Debug)]
pub struct RequestParts(Parts);

impl<S: Send + Sync> FromRequestParts<S> for RequestParts {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.clone()))
    }
}

#[derive(Deserialize)]
pub struct LoginForm {
    csrf: Option<String>,
    #[serde(default)]
    email: String,
    password: Option<SecretString>,
    next: Option<String>,
}

/// `POST /login`: the shared sign-in flow, then back to where the user was going.
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    parts: RequestParts,
    axum::Form(form): axum::Form<LoginForm>,
) -> Response {
    let headers = &parts.0.headers;
    let valid = login_secret(headers).is_some_and(|s| token_matches(LOGIN_PURPOSE, s, form.csrf.as_deref()));
    if !valid {
        return refused_form().into_response();
    }
    let next = safe_next(form.next.as_deref());
    let Some(password) = form.password else {
        return login_form(
            &state,
            headers,
            StatusCode::BAD_REQUEST,
            form.email,
            next,
            Some("Enter your email and password.".to_owned()),
            None,
        );
    };
    let request_id = parts.0.extensions.get::<RequestId>().map(|id| id.0.clone());
    let attempt = signin::Attempt {
        peer: peer.ip(),
        request_id,
        email: &form.email,
        password,
        old_session: signin::session_from_headers(headers),
        device: signin::device_from_headers(headers),
    };
    match signin::sign_in(&state, attempt).await {
        Ok(signed_in) => {
            let mut response = Redirect::to(&next).into_response();
            let cookie = signin::session_cookie(&signed_in.session, state.options.secure_cookies);
            response.headers_mut().append(header::SET_COOKIE, cookie);
            response
                .headers_mut()
                .append(header::SET_COOKIE, signed_in.device_cookie);
            // The pre-session cookie has done its job.
            let cleared = signin::cookie(LOGIN_COOKIE, "", 0, "/login", state.options.secure_cookies);
            response.headers_mut().append(header::SET_COOKIE, cleared);
            response
        }
        Err(SignInError::WrongCredentials) => login_form(
            &state,
            headers,
            StatusCode::UNAUTHORIZED,
            form.email,
            next,
            Some("Wrong email or password.".to_owned()),
            None,
        ),
        // The form again, not a dead end: the email kept, the wait shown
        // (and in `Retry-After`), so the user can sign in once it is over.
        Err(SignInError::RateLimited { retry_after_secs }) => {
            let page = LoginPage {
                page: Layout::anonymous("Sign in"),
                csrf: String::new(),
                email: form.email,
                next,
                error: None,
                notice: None,
                wait_secs: Some(retry_after_secs),
                first_run: false,
            };
            let mut response = render_login(&state, headers, StatusCode::TOO_MANY_REQUESTS, page);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            response
        }
        Err(SignInError::Failed(e)) => PageError::from(e).into_response(),
    }
}

#[derive(Deserialize)]
pub struct Empty {}

/// `POST /logout`: ends the session (CSRF-checked, so no other site can
/// sign the user out).
pub async fn logout(State(state): State<AppState>, headers: HeaderMap, posted: Posted<Empty>) -> Response {
    let _ = posted.user;
    match signin::sign_out(&state, &headers).await {
        Ok(cleared) => {
            let mut response = Redirect::to("/login?signed_out=1").into_response();
            response.headers_mut().insert(header::SET_COOKIE, cleared);
            response
        }
        Err(e) => PageError::from(e).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::{LANDING, form_field_bytes, is_local_path, safe_next};

    #[test]
    fn form_fields_are_decoded_to_bytes_not_text() {
        let body = b"csrf=abc&key=A_KEY&value=%FF%FEab+c%2B%zz%4&empty=&bare";
        assert_eq!(
            form_field_bytes(body, "value").unwrap().as_slice(),
            b"\xff\xfeab c+%zz%4"
        );
        assert_eq!(form_field_bytes(body, "key").unwrap().as_slice(), b"A_KEY");
        assert_eq!(form_field_bytes(body, "empty").unwrap().as_slice(), b"");
        assert_eq!(form_field_bytes(body, "bare").unwrap().as_slice(), b"");
        assert!(form_field_bytes(body, "pem").is_none());
        assert_eq!(form_field_bytes(b"va%6Cue=x", "value").unwrap().as_slice(), b"x");
    }

    #[test]
    fn only_same_origin_paths_are_followed() {
        let good = [
            "/projects",
            "/",
            "/projects/bot/settings/secrets?q=API&key=A_B",
            "/projects/bot/audit?key=&action=member.remove",
            "/a%2F%2Fb",
            "/%09/evil.example",
        ];
        for next in good {
            assert!(is_local_path(next), "{next:?} should be accepted");
            assert_eq!(safe_next(Some(next)), next);
        }
        let bad = [
            "",
            "//evil.example",
            "/\\evil.example",
            "/\t/evil.example/phish",
            "\t//evil.example",
            "/\n/evil.example",
            "/\r\nSet-Cookie:x=1",
            "/ok\r\nSet-Cookie:x=1",
            "/ok\\..\\evil",
            "/ok\u{7f}",
            "/ok\u{85}",
            "/caf\u{e9}",
            "/ with space",
            " /projects",
            "https://evil.example",
            "http:/evil.example",
            "javascript:alert(1)",
            "evil.example",
            "projects",
        ];
        for next in bad {
            assert!(!is_local_path(next), "{next:?} should be refused");
            assert_eq!(safe_next(Some(next)), LANDING);
        }
        assert_eq!(safe_next(None), LANDING);
    }
}
