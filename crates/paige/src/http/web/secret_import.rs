//! A whole `.env` file pasted into the Secrets page: a preview, then all
//! or nothing, through the same code path as `paige secrets import`
//! (`secrets::dotenv::parse_all`, then `Paige::import_secrets`).
//!
//! The preview lists the keys to add, the keys to replace, and every line
//! refused with its rule; it never shows a value (only key names, line
//! numbers and rules). So that the values need not travel back through the
//! page, the parsed entries wait here, in memory on this node, under a
//! random token that the preview's "Import" form carries; they are tied
//! to the user and the project, kept for [`sent::KEEP`] at most, taken
//! once, and zeroized when dropped. The "Import" form is idempotent like
//! "Send test event": its token is claimed in [`SentForms`], so a double
//! click imports once and both answers go to the same notice.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use askama::Template;
use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use secrecy::SecretString;
use serde::Deserialize;

use super::pages::{Layout, PageError, Section, render};
use super::sent::{self, Claim, SentForms};
use super::session::{self, Posted, PostedRaw};
use crate::auth::roles::Action;
use crate::error::Error;
use crate::http::AppState;
use crate::secrets::RuleError;
use crate::secrets::dotenv::{self, Refused};

/// At most this many previews wait at once; beyond it the oldest go.
const MOST: usize = 100;

/// Parsed files waiting for their "Import" click.
#[derive(Default)]
pub struct PendingImports {
    waiting: Mutex<HashMap<String, Pending>>,
}

struct Pending {
    at: Instant,
    user_id: i64,
    project_id: i64,
    entries: Vec<(String, SecretString)>,
}

impl PendingImports {
    fn hold(&self, user_id: i64, project_id: i64, entries: Vec<(String, SecretString)>) -> String {
        let now = Instant::now();
        let mut waiting = self.waiting.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        waiting.retain(|_, p| now.duration_since(p.at) < sent::KEEP);
        if waiting.len() >= MOST
            && let Some(oldest) = waiting.iter().min_by_key(|(_, p)| p.at).map(|(k, _)| k.clone())
        {
            waiting.remove(&oldest);
        }
        let token = sent::new_key();
        waiting.insert(
            token.clone(),
            Pending {
                at: now,
                user_id,
                project_id,
                entries,
            },
        );
        token
    }

    /// The entries held under `token` for this user and project, once.
    fn take(&self, token: &str, user_id: i64, project_id: i64) -> Option<Vec<(String, SecretString)>> {
        let mut waiting = self.waiting.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let fits = waiting
            .get(token)
            .is_some_and(|p| p.user_id == user_id && p.project_id == project_id && p.at.elapsed() < sent::KEEP);
        fits.then(|| waiting.remove(token)).flatten().map(|p| p.entries)
    }
}

/// A key of the preview and the line it is on.
pub struct Line {
    pub line: usize,
    pub key: String,
}

#[derive(Template)]
#[template(path = "secret_import.html")]
struct PreviewPage {
    page: Layout,
    slug: String,
    add: Vec<Line>,
    replace: Vec<Line>,
    refused: Vec<Refused>,
    /// The token of the "Import" form; only when every line passes.
    token: Option<String>,
}

/// `POST …/secrets/import`: reads the pasted file and shows what an
/// import would do. Changes nothing.
pub async fn preview(
    State(state): State<AppState>,
    Extension(pending): Extension<Arc<PendingImports>>,
    Path(slug): Path<String>,
    PostedRaw { user, form: _, body }: PostedRaw<session::Empty>,
) -> Result<Response, PageError> {
    let (project, role) = state.paige.authorize(&user.user, &slug, Action::WriteSecrets).await?;
    let bytes = session::form_field_bytes(&body, "env").unwrap_or_default();
    let mut parsed = match std::str::from_utf8(&bytes) {
        Ok(text) => dotenv::parse_all(text),
        Err(e) => dotenv::Parsed {
            entries: Vec::new(),
            refused: vec![Refused::whole_file(
                RuleError::ValueNotUtf8(e.valid_up_to()).code(),
                "the file must be UTF-8 text",
            )],
        },
    };
    if parsed.entries.is_empty() && parsed.refused.is_empty() {
        parsed.refused.push(Refused::whole_file(
            "invalid_env_file",
            "the file has no KEY=VALUE lines",
        ));
    }
    let existing = state.paige.list_secrets_in(&project).await?;
    let exists = |key: &str| existing.iter().any(|s| s.key == key);
    let (mut add, mut replace) = (Vec::new(), Vec::new());
    for e in &parsed.entries {
        let line = Line {
            line: e.line,
            key: e.key.clone(),
        };
        if exists(&e.key) { &mut replace } else { &mut add }.push(line);
    }
    let token = parsed.refused.is_empty().then(|| {
        let entries = parsed.entries.into_iter().map(|e| (e.key, e.value)).collect();
        pending.hold(user.user.id, project.id, entries)
    });
    let status = if token.is_some() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let page = PreviewPage {
        page: user
            .layout(
                &state,
                format!("Import a .env file · {slug}"),
                Some((&project, role, Section::Secrets)),
            )
            .await?,
        slug: project.slug.clone(),
        add,
        replace,
        refused: parsed.refused,
        token,
    };
    Ok(render(status, &page))
}

#[derive(Deserialize)]
pub struct ApplyForm {
    #[serde(default)]
    token: String,
}

/// How an import's counts travel through [`SentForms`]' outcome (an `i64`):
/// a project holds at most 1,000 secrets, so both fit.
const SPLIT: i64 = 1 << 20;

/// `POST …/secrets/import/apply`: imports every entry of the preview, or
/// none.
pub async fn apply(
    State(state): State<AppState>,
    Extension(pending): Extension<Arc<PendingImports>>,
    Extension(sent_forms): Extension<Arc<SentForms>>,
    Path(slug): Path<String>,
    Posted { user, form }: Posted<ApplyForm>,
) -> Result<Response, PageError> {
    let (project, _) = state.paige.authorize(&user.user, &slug, Action::WriteSecrets).await?;
    let done = |packed: i64| {
        let target = format!(
            "/projects/{}/settings/secrets?added={}&overwritten={}",
            project.slug,
            packed / SPLIT,
            packed % SPLIT
        );
        Redirect::to(&target).into_response()
    };
    let gone = || {
        PageError::new(
            StatusCode::CONFLICT,
            "Import expired",
            "This preview was already used or has expired, and nothing was imported from it. Paste the file again.",
        )
    };
    let reporter = match sent_forms.claim(user.user.id, &project.slug, &format!("import\u{0}{}", form.token)) {
        Claim::Again(first) => return sent::outcome(first).await.map(done).map_err(|()| gone()),
        Claim::First(reporter) => reporter,
    };
    let entries = pending.take(&form.token, user.user.id, project.id).ok_or_else(gone)?;
    // In its own task: a browser that goes away does not cut the import
    // short, and the form's token learns the outcome all the same.
    let (paige, actor) = (state.paige.clone(), user.actor());
    let import_slug = project.slug.clone();
    let outcomes = tokio::spawn(async move {
        let result = paige.import_secrets(&import_slug, &entries, &actor).await;
        let packed = result.as_ref().map(|outcomes| {
            let added = outcomes.iter().filter(|o| o.created).count();
            pack(added, outcomes.len() - added)
        });
        reporter.send_replace(Some(packed.map_err(|_| ())));
        result
    })
    .await
    .map_err(|_| PageError::from(Error::internal("the import task failed")))??;
    let added = outcomes.iter().filter(|o| o.created).count();
    Ok(done(pack(added, outcomes.len() - added)))
}

fn pack(added: usize, replaced: usize) -> i64 {
    let count = |n: usize| i64::try_from(n).unwrap_or(SPLIT - 1).min(SPLIT - 1);
    count(added) * SPLIT + count(replaced)
}
