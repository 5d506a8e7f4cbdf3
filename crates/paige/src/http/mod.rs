//! `paige serve`: the JSON API of SPEC §6 and the dashboard (`web/`) over axum.
//!
//! The HTTP layer is a thin translation: extract the caller and the input,
//! call one `Paige` method, shape the answer. Authorization goes through
//! `Paige::authorize` (the role table lives in `auth::roles`); errors are
//! mapped to statuses in `error.rs` alone.

pub mod api;
mod error;
mod extract;
mod hooks;
pub(crate) mod logging;
mod membership;
pub mod metrics;
pub mod signin;
mod state;
pub mod web;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::{any, get};
use tokio::net::TcpListener;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::Paige;
use crate::auth::ratelimit::LoginLimiter;
use crate::auth::setup::FirstRun;
use crate::runtime::ExecutionSlots;
use api::SecurityAddon;

pub use error::ApiError;
pub use extract::{BODY_LIMIT, Caller};
pub use state::{AppState, ServeOptions};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Paige Secrets API",
        description = "Write-only, per-project secrets. Errors are {\"error\":{\"code\",\"message\"}}."
    ),
    modifiers(&SecurityAddon)
)]
struct ApiDoc;

/// The whole application: API routes (documented in OpenAPI as they are
/// registered, so the document always matches), health check, logging.
pub fn router(state: AppState) -> Router {
    let (api, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(api::routes())
        .split_for_parts();
    let doc = Arc::new(api::openapi::complete(doc));
    api.route("/api/v1/openapi.json", get(move || api::openapi_json(Arc::clone(&doc))))
        .route("/healthz", get(api::healthz))
        .route("/metrics", get(metrics::metrics))
        .route("/hooks/{slug}", any(hooks::forward_root))
        .route("/hooks/{slug}/{*path}", any(hooks::forward))
        .merge(web::routes(state.clone()))
        .fallback(api::no_route)
        .layer(axum::middleware::from_fn(logging::log_request))
        .with_state(state)
}

/// Serves until `shutdown` completes, then lets in-flight requests finish
/// and closes the store.
pub async fn serve(
    listener: TcpListener,
    paige: Paige,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut options = options;
    let prepared_idle = options.prepared_idle;
    let state = AppState {
        paige: paige.clone(),
        limiter: Arc::new(LoginLimiter::new(options.login_limits)),
        slots: ExecutionSlots::for_this_machine(),
        // Held in one place only, not in the options every handler sees.
        first_run: Arc::new(FirstRun::new(options.setup_code.take())),
        options,
    };
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let sweeper = tokio::spawn(
        paige
            .clone()
            .sweep_abandoned_executions(crate::runtime::ABANDONED_SWEEP_EVERY),
    );
    let idle_stopper = tokio::spawn(paige.clone().stop_idle_bots(std::time::Duration::from_secs(5)));
    // A server: each execution leaves a sandbox prepared for the next
    // (unless the operator set no idle time).
    paige.sandboxes.enable(prepared_idle);
    // No Nagle delay: a streamed answer (a webhook's, `hooks.rs`) writes
    // its head before its body, and the body's small segment must not wait
    // for the caller's delayed ACK (40 ms on Linux).
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let result = axum::serve(listener, app).with_graceful_shutdown(shutdown).await;
    sweeper.abort();
    idle_stopper.abort();
    paige.stop_warm_bots().await;
    paige.sandboxes.clear().await;
    paige.close().await;
    result
}
