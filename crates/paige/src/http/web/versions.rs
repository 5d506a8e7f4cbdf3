//! Settings → Secrets → a key's history: its kept versions (number, when,
//! by whom; never a value) and, for those who may overwrite it, a "Roll
//! back" button on each older version, which seals that version's value
//! again as a new version. Viewers see the history without the buttons,
//! and a rollback they post anyway is refused by `Paige::authorize`.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::pages::{Layout, PageError, Section, When, render};
use super::session::{Posted, WebUser, urlencode};
use crate::auth::roles::{Action, allows};
use crate::http::AppState;
use crate::model::now_millis;

#[derive(Debug)]
pub struct VersionRow {
    pub version: i64,
    pub when: When,
    pub by: String,
    pub current: bool,
}

#[derive(Template)]
#[template(path = "secret_versions.html")]
struct VersionsPage {
    page: Layout,
    slug: String,
    key: String,
    can_write: bool,
    rows: Vec<VersionRow>,
    kept: u32,
    notice: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct VersionsQuery {
    /// After a rollback: the version restored and the new one.
    restored: Option<i64>,
    now: Option<i64>,
}

/// `GET /projects/{slug}/settings/secrets/{key}/versions`.
pub async fn page(
    State(state): State<AppState>,
    user: WebUser,
    Path((slug, key)): Path<(String, String)>,
    Query(query): Query<VersionsQuery>,
) -> Result<Response, PageError> {
    let (project, role) = state.paige.authorize(&user.user, &slug, Action::ListKeys).await?;
    let versions = state.paige.secret_versions_in(&project, &key).await?;
    let current = versions.first().map(|v| v.version);
    let now = now_millis();
    let rows = versions
        .into_iter()
        .map(|v| VersionRow {
            current: Some(v.version) == current,
            version: v.version,
            when: When::new(v.updated_at, now),
            by: v.updated_by,
        })
        .collect();
    let notice = match (query.restored, query.now) {
        (Some(old), Some(new)) => Some(format!(
            "Rolled {key} back to the value of version {old}, now version {new}. Executions started from now on get it."
        )),
        _ => None,
    };
    let page = VersionsPage {
        page: user
            .layout(
                &state,
                format!("History of {key} · {slug}"),
                Some((&project, role, Section::Secrets)),
            )
            .await?,
        slug: project.slug.clone(),
        key,
        can_write: allows(role, Action::WriteSecrets),
        rows,
        kept: state.paige.config().secret_versions,
        notice,
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Deserialize)]
pub struct RollbackForm {
    version: i64,
}

/// `POST /projects/{slug}/settings/secrets/{key}/rollback`.
pub async fn rollback(
    State(state): State<AppState>,
    Path((slug, key)): Path<(String, String)>,
    Posted { user, form }: Posted<RollbackForm>,
) -> Result<Response, PageError> {
    let (project, _) = state.paige.authorize(&user.user, &slug, Action::WriteSecrets).await?;
    let outcome = state
        .paige
        .rollback_secret_in(&project, &key, form.version, &user.actor())
        .await?;
    let target = format!(
        "/projects/{}/settings/secrets/{}/versions?restored={}&now={}",
        project.slug,
        urlencode(&key),
        form.version,
        outcome.version
    );
    Ok(Redirect::to(&target).into_response())
}
