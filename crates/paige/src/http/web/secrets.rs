//! Settings → Secrets: the keys with when and by whom each was last set
//! (sorted by name or by last update, filtered by a part of the name), the
//! form to add or overwrite one (`secret_save.rs`), a pasted `.env` file
//! (`secret_import.rs`), and deletion with a confirm step.
//!
//! No value ever reaches a page: the value fields are never filled in, a
//! refused form comes back with the key kept and the value emptied, and
//! the notice after a redirect names the key only.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::pages::{Layout, PageError, Section, When, render};
use super::session::{Posted, WebUser, urlencode};
use crate::auth::roles::{Action, allows};
use crate::error::Error;
use crate::http::AppState;
use crate::model::{ProjectRecord, Role, now_millis};
use crate::secrets::rules::{KEY_MAX_LEN, VALUE_MIN_BYTES, check_key};

#[derive(Debug)]
pub struct Row {
    pub key: String,
    pub when: When,
    pub by: String,
}

/// The add/overwrite form as shown again after a refusal: the key and the
/// "replace" tick, never the value.
#[derive(Debug, Default)]
pub struct SecretForm {
    pub key: String,
    pub key_error: Option<String>,
    /// A valid key the refused one may have meant (never a reserved name).
    pub suggestion: Option<String>,
    pub value_error: Option<String>,
    pub form_error: Option<String>,
    /// The key exists: the "replace" box is shown (and required).
    pub confirm: bool,
    /// The "replace" box was ticked: it stays ticked after an error.
    pub replace: bool,
    /// The key exists and the box was not ticked: said once, in the box.
    pub replace_error: Option<String>,
}

impl SecretForm {
    /// The field that gets the focus (`autofocus`): the first in error.
    pub fn focus(&self) -> &'static str {
        if self.key_error.is_some() {
            "key"
        } else if self.value_error.is_some() {
            "value"
        } else if self.replace_error.is_some() {
            "replace"
        } else {
            ""
        }
    }

    /// The key error without its "did you mean …?", which is shown as a link.
    pub fn key_error_text(&self) -> &str {
        let error = self.key_error.as_deref().unwrap_or_default();
        match &self.suggestion {
            Some(s) => error.strip_suffix(&format!("did you mean {s}?")).unwrap_or(error),
            None => error,
        }
    }
}

/// The order of the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    #[default]
    Name,
    /// Most recently updated first.
    Updated,
}

impl Sort {
    fn from_query(sort: Option<&str>) -> Self {
        match sort {
            Some("updated") => Self::Updated,
            _ => Self::Name,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::Updated => "updated",
        }
    }
}

#[derive(Template)]
#[template(path = "secrets.html")]
pub struct SecretsPage {
    pub page: Layout,
    pub slug: String,
    pub can_write: bool,
    pub rows: Vec<Row>,
    pub total: usize,
    pub filter: String,
    pub sort: Sort,
    pub notice: Option<String>,
    pub warning: Option<String>,
    pub form: SecretForm,
    pub key_max: usize,
    /// The code guard's findings in the project's code.
    pub findings: Vec<super::findings::FindingRow>,
    /// The user may move a finding into Secrets (writes code and secrets).
    pub can_fix: bool,
    pub value_min: usize,
}

impl SecretsPage {
    /// The link that lists the keys in `sort` order, keeping the filter.
    pub fn sort_href(&self, sort: &str) -> String {
        if self.filter.is_empty() {
            format!("?sort={sort}#list")
        } else {
            format!("?sort={sort}&q={}#list", urlencode(&self.filter))
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct SecretsQuery {
    q: Option<String>,
    sort: Option<String>,
    /// Prefill the form's key (the "Replace" link of a row).
    key: Option<String>,
    created: Option<String>,
    replaced: Option<String>,
    deleted: Option<String>,
    short: Option<String>,
    /// After an import: how many keys were added and replaced.
    added: Option<usize>,
    overwritten: Option<usize>,
    /// A finding was moved into Secrets under this key.
    fixed: Option<String>,
}

pub async fn build(
    state: &AppState,
    user: &WebUser,
    project: &ProjectRecord,
    role: Role,
    (filter, sort): (String, Sort),
    form: SecretForm,
) -> Result<SecretsPage, PageError> {
    let mut secrets = state.paige.list_secrets_in(project).await?;
    let total = secrets.len();
    match sort {
        Sort::Name => secrets.sort_by(|a, b| a.key.cmp(&b.key)),
        Sort::Updated => secrets.sort_by(|a, b| b.updated_at.cmp(&a.updated_at).then_with(|| a.key.cmp(&b.key))),
    }
    let needle = filter.trim().to_ascii_uppercase();
    let now = now_millis();
    let rows = secrets
        .into_iter()
        .filter(|s| needle.is_empty() || s.key.contains(&needle))
        .map(|s| Row {
            when: When::new(s.updated_at, now),
            key: s.key,
            by: s.updated_by,
        })
        .collect();
    let findings = super::findings::rows(state, project).await?;
    let page = user
        .layout(
            state,
            format!("Secrets · {}", project.slug),
            Some((project, role, Section::Secrets)),
        )
        .await?;
    Ok(SecretsPage {
        page,
        slug: project.slug.clone(),
        can_write: allows(role, Action::WriteSecrets),
        rows,
        total,
        filter,
        sort,
        notice: None,
        warning: None,
        form,
        key_max: KEY_MAX_LEN,
        value_min: VALUE_MIN_BYTES,
        findings,
        can_fix: allows(role, Action::WriteSecrets) && allows(role, Action::PushCode),
    })
}

/// A key from a query string, shown only if it is a valid key name.
fn shown_key(key: Option<&String>) -> Option<&str> {
    key.map(String::as_str).filter(|k| check_key(k).is_ok())
}

/// `GET /projects/{slug}/settings/secrets`.
pub async fn page(
    State(state): State<AppState>,
    user: WebUser,
    Path(slug): Path<String>,
    Query(query): Query<SecretsQuery>,
) -> Result<Response, PageError> {
    let (project, role) = state.paige.authorize(&user.user, &slug, Action::ListKeys).await?;
    let form = SecretForm {
        key: shown_key(query.key.as_ref()).unwrap_or_default().to_owned(),
        ..SecretForm::default()
    };
    let listing = (
        query.q.clone().unwrap_or_default(),
        Sort::from_query(query.sort.as_deref()),
    );
    let mut page = build(&state, &user, &project, role, listing, form).await?;
    page.notice = if let Some(key) = shown_key(query.created.as_ref()) {
        Some(format!("Added {key}. Executions started from now on have it."))
    } else if let Some(key) = shown_key(query.replaced.as_ref()) {
        Some(format!(
            "Replaced the value of {key}. Executions started from now on get the new value."
        ))
    } else if let (Some(added), Some(replaced)) = (query.added, query.overwritten) {
        Some(format!(
            "Imported the .env file: {added} added, {replaced} replaced. Executions started from now on get them."
        ))
    } else if let Some(key) = shown_key(query.fixed.as_ref()) {
        Some(format!("Moved into Secrets: the code now reads process.env.{key}."))
    } else {
        shown_key(query.deleted.as_ref()).map(|key| format!("Deleted {key}."))
    };
    if query.short.is_some() {
        page.warning = Some(crate::secrets::ValueWarning::Short.to_string());
    }
    Ok(render(StatusCode::OK, &page))
}

#[derive(Template)]
#[template(path = "secret_delete.html")]
struct DeletePage {
    page: Layout,
    slug: String,
    key: String,
    when: When,
    by: String,
}

/// `GET …/secrets/{key}/delete`: the confirm step.
pub async fn confirm_delete(
    State(state): State<AppState>,
    user: WebUser,
    Path((slug, key)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let (project, role) = state.paige.authorize(&user.user, &slug, Action::WriteSecrets).await?;
    let secret = state
        .paige
        .list_secrets_in(&project)
        .await?
        .into_iter()
        .find(|s| s.key == key)
        .ok_or_else(|| Error::NotFound(format!("secret {key} in project {slug}")))?;
    let page = DeletePage {
        page: user
            .layout(
                &state,
                format!("Delete {key}? · {slug}"),
                Some((&project, role, Section::Secrets)),
            )
            .await?,
        slug: project.slug.clone(),
        when: When::now(secret.updated_at),
        by: secret.updated_by,
        key,
    };
    Ok(render(StatusCode::OK, &page))
}

/// `POST …/secrets/{key}/delete`.
pub async fn delete(
    State(state): State<AppState>,
    Path((slug, key)): Path<(String, String)>,
    Posted { user, form: _ }: Posted<super::session::Empty>,
) -> Result<Response, PageError> {
    let (project, _) = state.paige.authorize(&user.user, &slug, Action::WriteSecrets).await?;
    state.paige.delete_secret(&project.slug, &key, &user.actor()).await?;
    let target = format!(
        "/projects/{}/settings/secrets?deleted={}",
        project.slug,
        urlencode(&key)
    );
    Ok(Redirect::to(&target).into_response())
}
