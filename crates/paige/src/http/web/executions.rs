//! Executions: recent runs with their status, each opening its redacted
//! log (stdout and stderr told apart), and "Send test event".

use askama::Template;
use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::pages::{Layout, PageError, Section, When, duration, render};
use super::sent::{self, Claim, SentForms};
use super::session::{Posted, WebUser};
use crate::auth::roles::{Action, allows};
use crate::error::Error;
use crate::http::AppState;
use crate::model::{Page, ProjectRecord, Role, RuntimeMode};
use crate::runtime::{ExecutionRecord, ExecutionRequest, ExecutionStatus, LogLine, Trigger};

/// Executions listed on the page.
const RECENT: u32 = 50;
/// A test event's JSON text is limited to this.
const EVENT_LIMIT: usize = 64 * 1024;
const DEFAULT_EVENT: &str = "{\n  \"type\": \"message\",\n  \"from\": \"+15550100\",\n  \"text\": \"hello\"\n}";

#[derive(Debug)]
pub struct Row {
    pub record: ExecutionRecord,
    pub when: When,
    pub took: String,
}

impl Row {
    fn new(record: ExecutionRecord) -> Self {
        Self {
            when: When::now(record.started_at),
            took: duration(record.duration_ms),
            record,
        }
    }

    pub fn status(&self) -> &'static str {
        self.record.status.as_str()
    }

    pub fn exit(&self) -> String {
        match (self.record.exit_code, self.record.signal) {
            (Some(code), _) => code.to_string(),
            (None, Some(signal)) => format!("signal {signal}"),
            _ => "—".to_owned(),
        }
    }
}

#[derive(Template)]
#[template(path = "executions.html")]
struct ExecutionsPage {
    page: Layout,
    slug: String,
    rows: Vec<Row>,
    can_run: bool,
    event: String,
    event_error: Option<String>,
    /// This render's key: the form is sent once, however often it is posted.
    run_key: String,
    /// `http` or `event`.
    mode: String,
    /// May change the runtime mode (developers and up).
    can_set_mode: bool,
}

async fn build(
    state: &AppState,
    user: &WebUser,
    project: &ProjectRecord,
    role: Role,
    event: String,
    event_error: Option<String>,
) -> Result<ExecutionsPage, PageError> {
    let rows = state
        .paige
        .list_executions(
            &project.slug,
            Page {
                before_id: None,
                limit: RECENT,
            },
        )
        .await?
        .into_iter()
        .map(Row::new)
        .collect();
    Ok(ExecutionsPage {
        page: user
            .layout(
                state,
                format!("Executions · {}", project.slug),
                Some((project, role, Section::Executions)),
            )
            .await?,
        slug: project.slug.clone(),
        rows,
        can_run: allows(role, Action::RunBot),
        event,
        event_error,
        run_key: sent::new_key(),
        mode: state.paige.runtime_mode(&project.slug).await?.to_string(),
        can_set_mode: allows(role, Action::PushCode),
    })
}

/// `GET /projects/{slug}/executions`.
pub async fn page(
    State(state): State<AppState>,
    user: WebUser,
    Path(slug): Path<String>,
) -> Result<Response, PageError> {
    let (project, role) = state.paige.authorize(&user.user, &slug, Action::ReadLogs).await?;
    let page = build(&state, &user, &project, role, DEFAULT_EVENT.to_owned(), None).await?;
    Ok(render(StatusCode::OK, &page))
}

#[derive(Deserialize)]
pub struct TestEvent {
    #[serde(default)]
    event: String,
    /// The form's key (see `sent.rs`); a form without one runs each time.
    run_key: Option<String>,
}

/// `POST /projects/{slug}/executions`: runs the bot for a test event and,
/// when it is done, shows its log.
pub async fn send_test(
    State(state): State<AppState>,
    Extension(sent_forms): Extension<Arc<SentForms>>,
    Path(slug): Path<String>,
    Posted { user, form }: Posted<TestEvent>,
) -> Result<Response, PageError> {
    let (project, role) = state.paige.authorize(&user.user, &slug, Action::RunBot).await?;
    let parsed = if form.event.len() > EVENT_LIMIT {
        Err(format!("The event is limited to {EVENT_LIMIT} bytes."))
    } else {
        match serde_json::from_str::<serde_json::Value>(&form.event) {
            Ok(value @ serde_json::Value::Object(_)) => Ok(value),
            Ok(_) => Err("The event must be a JSON object, e.g. {\"text\": \"hello\"}.".to_owned()),
            Err(e) => Err(format!(
                "The event is not valid JSON (line {}, column {}).",
                e.line(),
                e.column()
            )),
        }
    };
    let event = match parsed {
        Ok(event) => event,
        Err(message) => {
            let page = build(&state, &user, &project, role, form.event, Some(message)).await?;
            return Ok(render(StatusCode::BAD_REQUEST, &page));
        }
    };
    let claim = form
        .run_key
        .as_deref()
        .filter(|key| !key.is_empty())
        .map(|key| sent_forms.claim(user.user.id, &project.slug, key));
    let reporter = match claim {
        Some(Claim::Again(first)) => {
            // The same form again: no second run; go to the first one's.
            return match sent::outcome(first).await {
                Ok(id) => Ok(Redirect::to(&format!("/projects/{}/executions/{id}", project.slug)).into_response()),
                Err(()) => Err(PageError::new(
                    StatusCode::CONFLICT,
                    "Already sent",
                    "This form was already sent and that run did not start. Reload the page to send the event again.",
                )),
            };
        }
        Some(Claim::First(reporter)) => Some(reporter),
        None => None,
    };
    // An `http` project's bot gets a WhatsApp message webhook instead.
    let http_mode = state.paige.runtime_mode(&project.slug).await? == RuntimeMode::Http;
    let actor = user.actor();
    let request = ExecutionRequest::entry_point(event, Trigger::Test, user.actor());
    // In its own task: a browser that goes away does not cut the run short,
    // and the form's key learns the outcome all the same.
    // The server's slots, shared with the API's executions.
    let (paige, slots) = (state.paige.clone(), state.slots.clone());
    let run_slug = project.slug.clone();
    let record = tokio::spawn(async move {
        let result = if http_mode {
            paige.send_whatsapp_test_event(&run_slug, &actor).await
        } else {
            paige
                .execute_queued(&slots, &run_slug, request, None)
                .await
                .map(|r| r.id)
        };
        if let Some(reporter) = reporter {
            reporter.send_replace(Some(result.as_ref().map(|id| *id).map_err(|_| ())));
        }
        result
    })
    .await
    .map_err(|_| PageError::from(Error::internal("the execution task failed")))??;
    Ok(Redirect::to(&format!("/projects/{}/executions/{record}", project.slug)).into_response())
}

#[derive(Template)]
#[template(path = "execution.html")]
struct ExecutionPage {
    page: Layout,
    slug: String,
    row: Row,
    log: Vec<LogLine>,
    running: bool,
}

/// `GET /projects/{slug}/executions/{id}`: one execution and its log.
pub async fn show(
    State(state): State<AppState>,
    user: WebUser,
    Path((slug, id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let (project, role) = state.paige.authorize(&user.user, &slug, Action::ReadLogs).await?;
    let id: i64 = id
        .parse()
        .map_err(|_| PageError::new(StatusCode::NOT_FOUND, "Not found", "There is no such execution."))?;
    let execution = state.paige.execution(&project.slug, id).await?;
    let page = ExecutionPage {
        page: user
            .layout(
                &state,
                format!("Execution {id} · {}", project.slug),
                Some((&project, role, Section::Executions)),
            )
            .await?,
        slug: project.slug.clone(),
        running: execution.record.status == ExecutionStatus::Running,
        row: Row::new(execution.record),
        log: execution.log,
    };
    Ok(render(StatusCode::OK, &page))
}
