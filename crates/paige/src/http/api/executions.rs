//! Bot code and executions: upload code, run the bot for an event, read
//! the (redacted) results.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::findings::CodeWarning;
use super::timestamp;
use crate::auth::roles::Action;
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiPath, Caller, JsonBody, PageQuery, RequestShape, next_before};
use crate::runtime::{CodeLimits, ExecutionRecord, ExecutionRequest, LogLine, Trigger};

#[derive(Debug, Serialize, ToSchema)]
pub struct CodeWritten {
    /// Files in the project's code tree after the write.
    files: usize,
    bytes: u64,
    /// What the code guard found in the file: hard-coded project values and
    /// credentials, by line and name, never the value. The write is done.
    warnings: Vec<CodeWarning>,
}

/// Writes one file of the project's bot code (raw bytes). The path is
/// relative to the code tree: no `..`, no absolute paths.
#[utoipa::path(
    put, path = "/api/v1/projects/{slug}/code/{*path}", tag = "executions",
    params(("slug" = String, Path), ("path" = String, Path, description = "e.g. `app.js` or `lib/util.js`")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses(
        (status = 200, body = CodeWritten),
        (status = 400, body = ErrorBody, description = "invalid_code_path; secret_in_flow: a flow JSON file \
            (`flows/*.json`) holding a project secret's value, a credential, `process.env.` or `{{secrets.`"),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody, description = "over the per-file limit"),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub async fn put_code(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((slug, path)): ApiPath<(String, String)>,
    body: Body,
) -> Result<Json<CodeWritten>, ApiError> {
    let (project, _) = state.paige.authorize(&caller.user, &slug, Action::PushCode).await?;
    let limit = usize::try_from(CodeLimits::default().max_file_bytes).unwrap_or(usize::MAX);
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("a code file is limited to {limit} bytes"),
        )
    })?;
    let summary = state
        .paige
        .put_code_file(&project.slug, &path, &bytes, &caller.actor())
        .await?;
    Ok(Json(CodeWritten {
        files: summary.files,
        bytes: summary.bytes,
        warnings: summary
            .warnings
            .iter()
            .map(|f| CodeWarning::new(f, &project.slug))
            .collect(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunEvent {
    /// Handed to the bot as JSON on its standard input.
    #[schema(value_type = Object)]
    pub(super) event: serde_json::Map<String, serde_json::Value>,
}

impl RequestShape for RunEvent {
    const SHAPE: &'static str = r#"{"event": {...}}"#;
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExecutionSummary {
    id: i64,
    /// `running`, `succeeded`, `failed` or `timed_out`.
    status: String,
    exit_code: Option<i32>,
    signal: Option<i32>,
    duration_ms: Option<i64>,
    trigger: String,
    actor: String,
    started_at: String,
    /// The secrets it was given: names only.
    secret_names: Vec<String>,
    /// A forwarded webhook's method, path (redacted) and answer's status.
    #[serde(skip_serializing_if = "Option::is_none")]
    request_method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_status: Option<i32>,
}

impl From<&ExecutionRecord> for ExecutionSummary {
    fn from(r: &ExecutionRecord) -> Self {
        Self {
            id: r.id,
            status: r.status.as_str().to_owned(),
            exit_code: r.exit_code,
            signal: r.signal,
            duration_ms: r.duration_ms,
            trigger: r.trigger.clone(),
            actor: r.actor.clone(),
            started_at: timestamp(r.started_at),
            secret_names: r.secret_names.clone(),
            request_method: r.request_method.clone(),
            request_path: r.request_path.clone(),
            response_status: r.response_status,
        }
    }
}

/// Runs the project's bot (`node app.js`) for one event and answers when it
/// has finished. A bot that fails or times out is still 201: see `status`.
#[utoipa::path(
    post, path = "/api/v1/projects/{slug}/executions", tag = "executions",
    params(("slug" = String, Path)),
    request_body = RunEvent,
    responses(
        (status = 201, body = ExecutionSummary),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub async fn run_execution(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(slug): ApiPath<String>,
    JsonBody(body): JsonBody<RunEvent>,
) -> Result<(StatusCode, Json<ExecutionSummary>), ApiError> {
    let (project, _) = state.paige.authorize(&caller.user, &slug, Action::RunBot).await?;
    let request = ExecutionRequest::entry_point(serde_json::Value::Object(body.event), Trigger::Api, caller.actor());
    // In its own task: a client that hangs up must not kill the bot half-way
    // and leave its record `running`.
    let (paige, slots) = (state.paige.clone(), state.slots.clone());
    let run = tokio::spawn(async move { paige.execute_queued(&slots, &project.slug, request, None).await });
    let record = run
        .await
        .map_err(|e| crate::error::Error::internal(format!("the execution task failed: {e}")))??;
    Ok((StatusCode::CREATED, Json(ExecutionSummary::from(&record))))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExecutionList {
    executions: Vec<ExecutionSummary>,
    next_before: Option<i64>,
}

/// Recent executions, newest first.
#[utoipa::path(
    get, path = "/api/v1/projects/{slug}/executions", tag = "executions",
    params(("slug" = String, Path), PageQuery),
    responses((status = 200, body = ExecutionList), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("session" = []))
)]
pub async fn list_executions(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(slug): ApiPath<String>,
    query: PageQuery,
) -> Result<Json<ExecutionList>, ApiError> {
    let (project, _) = state.paige.authorize(&caller.user, &slug, Action::ReadLogs).await?;
    let page = query.page();
    let records = state.paige.list_executions(&project.slug, page).await?;
    let next_before = next_before(page, records.iter().map(|r| r.id));
    Ok(Json(ExecutionList {
        executions: records.iter().map(ExecutionSummary::from).collect(),
        next_before,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LogLineView {
    seq: i64,
    /// `stdout`, `stderr` or `system` (the runtime's own notes).
    stream: String,
    at: String,
    text: String,
}

impl From<&LogLine> for LogLineView {
    fn from(line: &LogLine) -> Self {
        Self {
            seq: line.seq,
            stream: line.stream.as_str().to_owned(),
            at: timestamp(line.at),
            text: line.text.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExecutionView {
    #[serde(flatten)]
    summary: ExecutionSummary,
    /// Why it failed or timed out (redacted).
    error: Option<String>,
    finished_at: Option<String>,
    /// True when output past the limit was dropped.
    truncated: bool,
    /// The redacted log, line by line.
    log: Vec<LogLineView>,
}

/// One execution with its redacted log.
#[utoipa::path(
    get, path = "/api/v1/projects/{slug}/executions/{id}", tag = "executions",
    params(("slug" = String, Path), ("id" = i64, Path)),
    responses((status = 200, body = ExecutionView), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("session" = []))
)]
pub async fn get_execution(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((slug, id)): ApiPath<(String, i64)>,
) -> Result<Json<ExecutionView>, ApiError> {
    let (project, _) = state.paige.authorize(&caller.user, &slug, Action::ReadLogs).await?;
    let execution = state.paige.execution(&project.slug, id).await?;
    let record = &execution.record;
    Ok(Json(ExecutionView {
        summary: ExecutionSummary::from(record),
        error: record.error.clone(),
        finished_at: record.finished_at.map(timestamp),
        truncated: record.truncated,
        log: execution.log.iter().map(LogLineView::from).collect(),
    }))
}
