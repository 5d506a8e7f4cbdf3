//! The code guard's findings on the Secrets page ("3 hard-coded
//! credentials in your code"), each with file:line and a "Move into
//! Secrets" button. The page shows where and what, never the value; the
//! button sends only the finding's id and the key.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::pages::{PageError, render};
use super::secrets::{SecretForm, build};
use super::session::{Posted, urlencode};
use crate::auth::roles::Action;
use crate::error::Error;
use crate::http::AppState;
use crate::model::ProjectRecord;

/// One finding as the page lists it.
#[derive(Debug)]
pub struct FindingRow {
    pub id: i64,
    /// `file:line`.
    pub place: String,
    /// "the value of KEY" or "a Stripe credential sk_live_…4f2a".
    pub what: String,
    pub suggested_key: String,
}

/// The project's current findings, for the Secrets page.
pub async fn rows(state: &AppState, project: &ProjectRecord) -> Result<Vec<FindingRow>, PageError> {
    let findings = state.paige.code_findings(&project.slug).await?;
    Ok(findings
        .into_iter()
        .map(|f| {
            let found = f.finding;
            let what = match &found.key {
                Some(key) => format!("the value of {key}"),
                None => {
                    let provider = crate::secrets::guard::rule(&found.rule).map_or("", |r| r.provider);
                    let shown = found.fingerprint.as_deref().unwrap_or_default();
                    format!("a {provider} credential {shown}")
                }
            };
            FindingRow {
                id: f.id,
                place: format!("{}:{}", found.file, found.line),
                what,
                suggested_key: found.suggested_key,
            }
        })
        .collect())
}

#[derive(Deserialize)]
pub struct FixForm {
    #[serde(default)]
    key: String,
}

/// `POST /projects/{slug}/settings/secrets/findings/{id}/fix`: moves one
/// finding into Secrets; a refusal comes back on the page, saying why.
pub async fn fix(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, i64)>,
    Posted { user, form }: Posted<FixForm>,
) -> Result<Response, PageError> {
    state.paige.authorize(&user.user, &slug, Action::PushCode).await?;
    let (project, role) = state.paige.authorize(&user.user, &slug, Action::WriteSecrets).await?;
    let key = Some(form.key.trim()).filter(|k| !k.is_empty());
    match state
        .paige
        .fix_code_finding(&project.slug, id, key, &user.actor())
        .await
    {
        Ok(fixed) => {
            let target = format!(
                "/projects/{}/settings/secrets?fixed={}",
                project.slug,
                urlencode(&fixed.key)
            );
            Ok(Redirect::to(&target).into_response())
        }
        Err(e @ (Error::Invalid { .. } | Error::Rule(_) | Error::Conflict(_))) => {
            let status = if matches!(e, Error::Conflict(_)) {
                StatusCode::CONFLICT
            } else {
                StatusCode::BAD_REQUEST
            };
            let mut page = build(
                &state,
                &user,
                &project,
                role,
                (String::new(), super::secrets::Sort::default()),
                SecretForm::default(),
            )
            .await?;
            page.warning = Some(e.to_string());
            Ok(render(status, &page))
        }
        Err(e) => Err(e.into()),
    }
}
