//! A project's runtime mode (`http`: a warm Express app behind
//! `/hooks/{slug}/…`; `event`: one process per event), and the test event
//! of an `http` project.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::executions::ExecutionSummary;
use crate::auth::roles::Action;
use crate::error::Error;
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiPath, Caller, JsonBody, RequestShape};
use crate::model::RuntimeMode;

#[derive(Debug, Serialize, ToSchema)]
pub struct RuntimeView {
    /// `http` or `event`.
    mode: String,
    /// Where webhooks for the bot go (`http` mode), relative to the server.
    hooks: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRuntime {
    /// `http` or `event`.
    mode: String,
}

impl RequestShape for SetRuntime {
    const SHAPE: &'static str = r#"{"mode": "http" | "event"}"#;
}

fn view(slug: &str, mode: RuntimeMode) -> RuntimeView {
    RuntimeView {
        mode: mode.to_string(),
        hooks: format!("/hooks/{slug}/"),
    }
}

/// The project's runtime mode.
#[utoipa::path(
    get, path = "/api/v1/projects/{slug}/runtime", tag = "executions",
    params(("slug" = String, Path)),
    responses((status = 200, body = RuntimeView), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("session" = []))
)]
pub async fn get_runtime(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(slug): ApiPath<String>,
) -> Result<Json<RuntimeView>, ApiError> {
    let (project, _) = state.paige.authorize(&caller.user, &slug, Action::ReadLogs).await?;
    let mode = state.paige.runtime_mode(&project.slug).await?;
    Ok(Json(view(&project.slug, mode)))
}

/// Sets the project's runtime mode (developers and up; audited).
#[utoipa::path(
    put, path = "/api/v1/projects/{slug}/runtime", tag = "executions",
    params(("slug" = String, Path)),
    request_body = SetRuntime,
    responses(
        (status = 200, body = RuntimeView),
        (status = 400, body = ErrorBody, description = "invalid_runtime_mode"),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub async fn put_runtime(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(slug): ApiPath<String>,
    JsonBody(body): JsonBody<SetRuntime>,
) -> Result<Json<RuntimeView>, ApiError> {
    let (project, _) = state.paige.authorize(&caller.user, &slug, Action::PushCode).await?;
    let mode = RuntimeMode::named(&body.mode)?;
    state
        .paige
        .set_runtime_mode(&project.slug, mode, &caller.actor())
        .await?;
    Ok(Json(view(&project.slug, mode)))
}

/// Posts a WhatsApp Cloud API test message to an `http` project's bot
/// (signed with `X-Hub-Signature-256` when the project has
/// `WHATSAPP_APP_SECRET`); answers with its execution.
#[utoipa::path(
    post, path = "/api/v1/projects/{slug}/test-event", tag = "executions",
    params(("slug" = String, Path)),
    responses(
        (status = 201, body = ExecutionSummary),
        (status = 400, body = ErrorBody, description = "not_http_mode, bot_busy"),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub async fn send_test_event(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(slug): ApiPath<String>,
) -> Result<(StatusCode, Json<ExecutionSummary>), ApiError> {
    let (project, _) = state.paige.authorize(&caller.user, &slug, Action::RunBot).await?;
    let (paige, slug, actor) = (state.paige.clone(), project.slug.clone(), caller.actor());
    let id = tokio::spawn(async move { paige.send_whatsapp_test_event(&slug, &actor).await })
        .await
        .map_err(|e| Error::internal(format!("the test event task failed: {e}")))??;
    let execution = state.paige.execution(&project.slug, id).await?;
    Ok((StatusCode::CREATED, Json(ExecutionSummary::from(&execution.record))))
}
