//! `/setup`: the first-run page. Shown only while no user exists and the
//! server holds the setup code `paige serve` printed; it creates the first
//! owner, signs them in and opens the projects page (with its "New
//! project" form). Once a user exists it is gone: `/setup` sends the
//! browser to the sign-in page.
//!
//! The form has no CSRF token: the setup code is the proof a cross-site
//! form cannot forge, and the page works only once.

use std::net::SocketAddr;

use askama::Template;
use axum::extract::{ConnectInfo, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use secrecy::SecretString;
use serde::Deserialize;

use super::pages::{Layout, PageError, render};
use crate::auth::device::{DEVICE_COOKIE, DEVICE_TTL_SECS};
use crate::auth::setup::SetupError;
use crate::http::AppState;
use crate::http::signin;
use crate::model::{Actor, now_millis};

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    page: Layout,
    email: String,
    error: Option<String>,
}

fn form(status: StatusCode, email: String, error: Option<String>) -> Response {
    let page = SetupPage {
        page: Layout::anonymous("Set up Paige Secrets"),
        email,
        error,
    };
    render(status, &page)
}

fn closed() -> Response {
    Redirect::to("/login").into_response()
}

/// `GET /setup`.
pub async fn page(State(state): State<AppState>) -> Result<Response, PageError> {
    if !state.first_run.is_open(&state.paige).await? {
        return Ok(closed());
    }
    Ok(form(StatusCode::OK, String::new(), None))
}

#[derive(Deserialize)]
pub struct SetupForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    email: String,
    password: Option<SecretString>,
}

/// `POST /setup`: checks the code (rate limited per address, as sign-in
/// is), creates the first owner and signs them in.
pub async fn create(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    axum::Form(body): axum::Form<SetupForm>,
) -> Result<Response, PageError> {
    let keys = [format!("setup:{}", peer.ip())];
    if let Err(wait) = state.limiter.check(&keys) {
        let secs = wait.as_secs_f64().ceil().max(1.0);
        let message = format!("Too many wrong setup codes from here. Wait {secs} s, then try again.");
        return Ok(form(StatusCode::TOO_MANY_REQUESTS, body.email, Some(message)));
    }
    let Some(password) = body.password else {
        return Ok(form(
            StatusCode::BAD_REQUEST,
            body.email,
            Some("Enter the setup code, an email and a password.".to_owned()),
        ));
    };
    let actor = Actor {
        name: "setup".to_owned(),
        user_id: None,
        request_id: None,
    };
    let user = match state
        .first_run
        .create_owner(&state.paige, &body.code, &body.email, &password, &actor)
        .await
    {
        Ok(user) => user,
        Err(SetupError::Closed) => return Ok(closed()),
        Err(SetupError::WrongCode) => {
            state.limiter.record_failure(&keys);
            let message = "That is not the setup code. Copy it from the line `paige serve` printed when it started.";
            return Ok(form(StatusCode::UNAUTHORIZED, body.email, Some(message.to_owned())));
        }
        Err(SetupError::Refused(e @ crate::error::Error::Invalid { .. })) => {
            return Ok(form(StatusCode::BAD_REQUEST, body.email, Some(e.to_string())));
        }
        Err(SetupError::Refused(e)) => return Err(e.into()),
    };
    let session = state.paige.start_session(&user).await?;
    let mut response = Redirect::to("/projects").into_response();
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        signin::session_cookie(&session, state.options.secure_cookies),
    );
    let device = state.paige.device_key()?.issue(&user.email, now_millis() / 1000);
    headers.append(
        header::SET_COOKIE,
        signin::cookie(
            DEVICE_COOKIE,
            &device,
            DEVICE_TTL_SECS,
            "/",
            state.options.secure_cookies,
        ),
    );
    Ok(response)
}
