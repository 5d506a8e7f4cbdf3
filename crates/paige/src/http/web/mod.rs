//! The dashboard (SPEC §5): server-rendered pages over the same `Paige`
//! methods as the API, with `askama` templates (auto-escaped) from
//! `crates/paige/templates/` and a small stylesheet and script from
//! `crates/paige/static/`, embedded in the binary.
//!
//! Every page works without JavaScript: plain forms, POST → redirect → GET.
//! Every form carries a CSRF token tied to the session (see `session.rs`);
//! every project page goes through `Paige::authorize`. No page ever holds a
//! secret value: the value fields are write-only and never re-filled, and
//! notices after a redirect carry key names only.

mod audit;
mod executions;
mod findings;
mod members;
mod pages;
mod projects;
mod runtime;
mod secret_import;
mod secret_save;
mod secrets;
mod sent;
mod session;
mod setup;
mod versions;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use super::AppState;
pub use pages::PageError;

/// The dashboard's routes, with its security headers.
pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/projects") }))
        .route("/login", get(session::login_page).post(session::login))
        .route("/logout", post(session::logout))
        .route("/setup", get(setup::page).post(setup::create))
        .route("/projects", get(projects::list).post(projects::create))
        .route("/invites/{id}", post(projects::answer))
        .route("/projects/go", get(projects::go))
        .route(
            "/projects/{slug}/settings/secrets",
            get(secrets::page).post(secret_save::save),
        )
        .route("/projects/{slug}/settings/secrets/import", post(secret_import::preview))
        .route(
            "/projects/{slug}/settings/secrets/import/apply",
            post(secret_import::apply),
        )
        .route(
            "/projects/{slug}/settings/secrets/{key}/delete",
            get(secrets::confirm_delete).post(secrets::delete),
        )
        .route("/projects/{slug}/settings/secrets/{key}/versions", get(versions::page))
        .route(
            "/projects/{slug}/settings/secrets/{key}/rollback",
            post(versions::rollback),
        )
        .route(
            "/projects/{slug}/settings/secrets/findings/{id}/fix",
            post(findings::fix),
        )
        .route(
            "/projects/{slug}/executions",
            get(executions::page).post(executions::send_test),
        )
        .route("/projects/{slug}/executions/{id}", get(executions::show))
        .route("/projects/{slug}/runtime", post(runtime::save))
        .route("/projects/{slug}/members", get(members::page).post(members::save))
        .route(
            "/projects/{slug}/members/remove",
            get(members::confirm_remove).post(members::remove),
        )
        .route("/projects/{slug}/invites/{id}/cancel", post(members::cancel_invite))
        .route("/projects/{slug}/audit", get(audit::page))
        .route("/static/{file}", get(static_file))
        // The keys of "Send test event" forms already sent, on this node.
        .layer(axum::Extension(std::sync::Arc::new(sent::SentForms::default())))
        // Pasted .env files waiting for their "Import" click, on this node.
        .layer(axum::Extension(std::sync::Arc::new(
            secret_import::PendingImports::default(),
        )))
        .layer(axum::middleware::from_fn_with_state(state, signed_in_errors))
        .layer(axum::middleware::from_fn(security_headers))
        // gzip when the browser asks for it (a secrets page of 1,000 keys is
        // ~490 KB of HTML, ~17 KB gzipped). The CSRF token is masked afresh
        // in every page, so compression does not leak it (BREACH).
        .layer(tower_http::compression::CompressionLayer::new())
}

/// The Content-Security-Policy of every dashboard answer: only this
/// server's own stylesheet, script and images; no inline code; no framing.
pub const CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; \
                       form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Error pages keep the signed-in header and navigation: a handler's
/// `PageError` is rendered without knowing who asked, so when one comes
/// back and the request has a live session it is rendered again in that
/// user's layout (the session is looked up only for errors).
async fn signed_in_errors(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let headers = request.headers().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let Some(error) = response.extensions().get::<PageError>().cloned() else {
        return response;
    };
    let user = match session::WebUser::from_headers(&headers, &state, None).await {
        Ok(Some(user)) => user,
        _ => return response,
    };
    match pages::Layout::for_error(&state, &user.user, user.csrf(), error.title, &path).await {
        Ok(layout) => error.render_in(layout),
        Err(_) => response,
    }
}

async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

const STYLE: &str = include_str!("../../../static/paige.css");
const SCRIPT: &str = include_str!("../../../static/paige.js");

async fn static_file(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "paige.css" => (STYLE, "text/css; charset=utf-8"),
        "paige.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        _ => return PageError::new(StatusCode::NOT_FOUND, "Not found", "There is no such file.").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}
