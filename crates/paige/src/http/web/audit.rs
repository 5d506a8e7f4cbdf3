//! The audit log (owners and admins), newest first, filterable by key and action.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::pages::{Layout, PageError, Section, When, render};
use super::session::WebUser;
use crate::auth::roles::Action;
use crate::http::AppState;
use crate::model::{AuditEvent, Page};

/// The actions a project's log holds, for the filter.
pub const ACTIONS: &[&str] = &[
    "secret.create",
    "secret.overwrite",
    "secret.delete",
    "execution.start",
    "member.add",
    "member.role",
    "member.remove",
    "code.push",
    "code.put",
    "code.import",
    "code.warnings",
    "code.fix",
    "project.create",
];

/// Events shown on one page.
const SHOWN: usize = 100;
/// Events read at most to fill one filtered page.
const SCANNED: usize = 5_000;
const BATCH: u32 = 500;

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    page: Layout,
    slug: String,
    events: Vec<(AuditEvent, When)>,
    key: String,
    action: String,
    actions: &'static [&'static str],
    next_before: Option<i64>,
}

impl AuditPage {
    fn is_action(&self, action: &&str) -> bool {
        self.action == *action
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    key: Option<String>,
    action: Option<String>,
    before: Option<i64>,
}

/// `GET /projects/{slug}/audit?key=&action=&before=`.
pub async fn page(
    State(state): State<AppState>,
    user: WebUser,
    Path(slug): Path<String>,
    Query(query): Query<AuditQuery>,
) -> Result<Response, PageError> {
    let (project, role) = state.paige.authorize(&user.user, &slug, Action::ReadAudit).await?;
    let key = query.key.unwrap_or_default().trim().to_owned();
    let action = query.action.unwrap_or_default();
    let mut events = Vec::new();
    let mut before = query.before;
    let mut scanned = 0;
    let mut more = false;
    'scan: while scanned < SCANNED {
        let batch = state
            .paige
            .audit_events(
                &project,
                Page {
                    before_id: before,
                    limit: BATCH,
                },
            )
            .await?;
        let full = batch.len() == BATCH as usize;
        for event in batch {
            scanned += 1;
            before = Some(event.id);
            let key_ok = key.is_empty() || event.key.as_deref() == Some(key.as_str());
            let action_ok = action.is_empty() || event.action == action;
            if key_ok && action_ok {
                let when = When::now(event.at);
                events.push((event, when));
                if events.len() == SHOWN {
                    more = true;
                    break 'scan;
                }
            }
        }
        if !full {
            break;
        }
        more = scanned >= SCANNED;
    }
    let page = AuditPage {
        page: user
            .layout(
                &state,
                format!("Audit log · {}", project.slug),
                Some((&project, role, Section::Audit)),
            )
            .await?,
        slug: project.slug.clone(),
        events,
        key,
        action,
        actions: ACTIONS,
        next_before: if more { before } else { None },
    };
    Ok(render(StatusCode::OK, &page))
}
