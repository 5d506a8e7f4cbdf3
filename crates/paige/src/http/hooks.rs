//! `/hooks/{slug}/{*path}`, any method: inbound webhooks for a project's
//! warm bot (`runtime::warm`). Public: the bot authenticates the request
//! (Meta's signature, Stripe's), paige does not. An unknown slug, a project
//! in `event` mode and one without code all get the same bare 404.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::error::Error;
use crate::http::AppState;
use crate::runtime::warm::{HookBody, HookRequest, HookResponse};

/// The bare 404 of every hook that is not there.
fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found\n").into_response()
}

/// `/hooks/{slug}` (the bot's `/`).
pub async fn forward_root(state: State<AppState>, Path(slug): Path<String>, request: Request) -> Response {
    forward_to(state, slug, request).await
}

/// `/hooks/{slug}/{*path}`.
pub async fn forward(
    state: State<AppState>,
    Path((slug, _path)): Path<(String, String)>,
    request: Request,
) -> Response {
    forward_to(state, slug, request).await
}

async fn forward_to(State(state): State<AppState>, slug: String, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let client = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    // The path as the caller wrote it (not decoded), below the slug.
    let raw = parts.uri.path();
    let prefix_len = "/hooks/".len() + slug_len_in(raw);
    let below = raw.get(prefix_len..).filter(|p| !p.is_empty()).unwrap_or("/");
    let path_and_query = match parts.uri.query() {
        Some(query) => format!("{below}?{query}"),
        None => below.to_owned(),
    };
    let limit = state.paige.config().warm.body_limit;
    let Ok(body) = axum::body::to_bytes(Body::new(body), limit).await else {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is limited to {limit} bytes\n"),
        )
            .into_response();
    };
    let hook = HookRequest {
        method: parts.method,
        path_and_query,
        headers: parts.headers,
        body,
        client,
        https: state.options.secure_cookies,
    };
    match state.paige.forward_webhook(&slug, hook).await {
        Ok(answer) => into_response(answer),
        Err(Error::NotFound(_)) => not_found(),
        Err(e) => {
            tracing::error!(error = %e, "a webhook could not be forwarded");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
        }
    }
}

/// The length of the (still encoded) slug segment of `/hooks/{slug}/…`.
fn slug_len_in(raw: &str) -> usize {
    let rest = raw.strip_prefix("/hooks/").unwrap_or("");
    rest.find('/').unwrap_or(rest.len())
}

/// The bot's answer as it streams (or paige's own, whole).
fn into_response(answer: HookResponse) -> Response {
    let body = match answer.body {
        HookBody::Full(bytes) => Body::from(bytes),
        HookBody::Streaming(streamed) => Body::new(streamed),
    };
    let mut response = Response::new(body);
    *response.status_mut() = answer.status;
    *response.headers_mut() = answer.headers;
    if let Some(id) = answer.execution_id {
        response
            .headers_mut()
            .insert("x-paige-execution-id", axum::http::HeaderValue::from(id));
    }
    response
}
