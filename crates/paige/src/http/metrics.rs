//! `GET /metrics`: the process's metrics in the OpenMetrics text format.
//!
//! On the main listener it exists only when a metrics token is configured
//! (`--metrics-token-file`), and answers only `Authorization: Bearer
//! <that token>`; without one the route is not found. `--metrics-listen`
//! serves it alone, without a token, on an address of its own (for a
//! private interface that only the scraper reaches).

use std::future::Future;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;

use super::ApiError;
use super::state::AppState;
use crate::Paige;

fn scrape(paige: &Paige) -> Response {
    (
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        paige.metrics_text(),
    )
        .into_response()
}

/// The main listener's `/metrics`, behind the metrics token.
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(token) = &state.options.metrics_token else {
        return super::api::no_route().await.into_response();
    };
    let sent = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or_default();
    if !bool::from(sent.as_bytes().ct_eq(token.expose_secret().as_bytes())) {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "send `Authorization: Bearer <metrics token>`",
        )
        .into_response();
    }
    scrape(&state.paige)
}

/// Serves `/metrics` alone on `listener` until `shutdown` completes.
pub async fn serve_alone(
    listener: TcpListener,
    paige: Paige,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new().route("/metrics", get(move || async move { scrape(&paige) }));
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}
