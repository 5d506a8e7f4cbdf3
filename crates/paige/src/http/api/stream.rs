//! Streamed answers, as JSON lines (`application/x-ndjson`), one object a
//! line with a `type`: an execution's redacted log read from the database
//! as it grows (so any node can serve it), and a run whose live output is
//! streamed while the bot runs. The last line says how it ended.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use utoipa::{IntoParams, ToSchema};

use super::executions::{ExecutionSummary, LogLineView, RunEvent};
use crate::auth::roles::Action;
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiPath, Caller, JsonBody};
use crate::model::{ExecutionStatus, Stream};
use crate::runtime::{ExecutionRequest, Trigger};

/// How often a follower looks for new lines of a running execution.
const POLL_EVERY: Duration = Duration::from_millis(200);
/// Lines read from the database at once.
const PAGE: u32 = 1_000;
const NDJSON: &str = "application/x-ndjson";

#[derive(Debug, Clone, Copy, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// Only lines after this sequence number.
    #[param(minimum = 0)]
    after: Option<i64>,
    /// Keep the answer open while the execution runs, and end it when it ends.
    follow: Option<bool>,
}

/// One line of a streamed answer.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamEvent {
    /// A stored log line (the log endpoint).
    Line(LogLineView),
    /// Live output as the bot writes it, redacted (the run endpoint).
    Output { stream: String, text: String },
    /// The execution has ended (or, without `follow`, its state now).
    End { execution: ExecutionSummary },
    /// The stream stopped on a server error; the log so far was sent.
    Error { code: String, message: String },
}

fn encode(event: &StreamEvent) -> Bytes {
    let mut line = serde_json::to_vec(event).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

fn ndjson(rx: mpsc::Receiver<Bytes>) -> Response {
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|bytes| (Ok::<_, Infallible>(bytes), rx))
    });
    ([(header::CONTENT_TYPE, NDJSON)], Body::from_stream(body)).into_response()
}

/// An execution's redacted log as JSON lines; with `follow=true` the
/// answer stays open while the execution runs and ends with it.
#[utoipa::path(
    get, path = "/api/v1/projects/{slug}/executions/{id}/log", tag = "executions",
    params(("slug" = String, Path), ("id" = i64, Path), LogQuery),
    responses(
        (status = 200, content_type = "application/x-ndjson", body = StreamEvent,
         description = "one `line` object per log line, then one `end` object"),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub async fn execution_log(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((slug, id)): ApiPath<(String, i64)>,
    query: Result<Query<LogQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "query parameters are `after` (a sequence number) and `follow` (true or false)",
        )
    })?;
    let (project, _) = state.paige.authorize(&caller.user, &slug, Action::ReadLogs).await?;
    // Unknown ids are a 404 before the stream starts.
    state.paige.execution_record(&project.slug, id).await?;
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let paige = state.paige.clone();
    let follow = query.follow.unwrap_or(false);
    tokio::spawn(async move {
        if let Err(e) = follow_log(&paige, &project.slug, id, query.after, follow, &tx).await {
            let e = ApiError::from(e);
            let event = StreamEvent::Error {
                code: e.code.to_owned(),
                message: e.message,
            };
            let _ = tx.send(encode(&event)).await;
        }
    });
    Ok(ndjson(rx))
}

/// Sends the log after `after`; when following, polls until the execution
/// has ended and every line is sent. Stops early when the client is gone.
async fn follow_log(
    paige: &crate::Paige,
    slug: &str,
    id: i64,
    mut after: Option<i64>,
    follow: bool,
    tx: &mpsc::Sender<Bytes>,
) -> crate::Result<()> {
    let mut ended = false;
    loop {
        let lines = paige.execution_log(slug, id, after, PAGE).await?;
        for line in &lines {
            if tx
                .send(encode(&StreamEvent::Line(LogLineView::from(line))))
                .await
                .is_err()
            {
                return Ok(());
            }
            after = Some(line.seq);
        }
        if lines.len() == PAGE as usize {
            continue;
        }
        if ended {
            break;
        }
        let record = paige.execution_record(slug, id).await?;
        if record.status != ExecutionStatus::Running || !follow {
            // One more read: lines written just before it ended.
            ended = true;
            if follow {
                continue;
            }
            let end = StreamEvent::End {
                execution: ExecutionSummary::from(&record),
            };
            let _ = tx.send(encode(&end)).await;
            return Ok(());
        }
        tokio::select! {
            () = tokio::time::sleep(POLL_EVERY) => {}
            () = tx.closed() => return Ok(()),
        }
    }
    let record = paige.execution_record(slug, id).await?;
    let _ = tx
        .send(encode(&StreamEvent::End {
            execution: ExecutionSummary::from(&record),
        }))
        .await;
    Ok(())
}

/// Runs the project's bot for one event, streaming its redacted output as
/// JSON lines while it runs, then its summary (`paige run --remote`). The
/// bot runs to its end even if the client hangs up.
#[utoipa::path(
    post, path = "/api/v1/projects/{slug}/executions/stream", tag = "executions",
    params(("slug" = String, Path)),
    request_body = RunEvent,
    responses(
        (status = 200, content_type = "application/x-ndjson", body = StreamEvent,
         description = "`output` objects while the bot runs, then one `end` object"),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub async fn run_streamed(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(slug): ApiPath<String>,
    JsonBody(body): JsonBody<RunEvent>,
) -> Result<Response, ApiError> {
    let (project, _) = state.paige.authorize(&caller.user, &slug, Action::RunBot).await?;
    let request = ExecutionRequest::entry_point(serde_json::Value::Object(body.event), Trigger::Api, caller.actor());
    // Unbounded: the bot's output is bounded by its own limit, and a slow
    // client must not slow the bot down.
    let (live_tx, mut live_rx) = mpsc::unbounded_channel::<Bytes>();
    let (paige, slots) = (state.paige.clone(), state.slots.clone());
    tokio::spawn(async move {
        let output_tx = live_tx.clone();
        let mut live = move |stream: Stream, bytes: &[u8]| {
            let event = StreamEvent::Output {
                stream: stream.as_str().to_owned(),
                text: String::from_utf8_lossy(bytes).into_owned(),
            };
            let _ = output_tx.send(encode(&event));
        };
        let result = paige
            .execute_queued(&slots, &project.slug, request, Some(&mut live))
            .await;
        let event = match result {
            Ok(record) => StreamEvent::End {
                execution: ExecutionSummary::from(&record),
            },
            Err(e) => {
                let e = ApiError::from(e);
                StreamEvent::Error {
                    code: e.code.to_owned(),
                    message: e.message,
                }
            }
        };
        let _ = live_tx.send(encode(&event));
    });
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    tokio::spawn(async move {
        while let Some(bytes) = live_rx.recv().await {
            if tx.send(bytes).await.is_err() {
                // The client is gone; the bot goes on, its log is stored.
                break;
            }
        }
    });
    Ok(ndjson(rx))
}
