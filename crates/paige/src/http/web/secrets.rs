//! Settings → Secrets: the keys with when and by whom each was last set,
//! the form to add or overwrite one, and deletion with a confirm step.
//!
//! No value ever reaches a page: the value fields are never filled in, a
//! refused form comes back with the key kept and the value emptied, and
//! the notice after a redirect names the key only.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use zeroize::Zeroizing;

use super::pages::{Layout, PageError, Section, When, render};
use super::session::{self, Posted, PostedRaw, WebUser, urlencode};
use crate::auth::roles::{Action, allows};
use crate::error::Error;
use crate::http::AppState;
use crate::model::{ProjectRecord, Role, now_millis};
use crate::secrets::RuleError;
use crate::secrets::rules::{KEY_MAX_LEN, check_key};

#[derive(Debug)]
pub struct Row {
    pub key: String,
    pub when: When,
    pub by: String,
}

/// The add/overwrite form as shown again after a refusal: the key, never the value.
#[derive(Debug, Default)]
pub struct SecretForm {
    pub key: String,
    pub key_error: Option<String>,
    pub value_error: Option<String>,
    pub form_error: Option<String>,
    /// The key exists: the "replace" box is shown (and required).
    pub confirm: bool,
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
    pub notice: Option<String>,
    pub warning: Option<String>,
    pub form: SecretForm,
    pub key_max: usize,
    /// The code guard's findings in the project's code.
    pub findings: Vec<super::findings::FindingRow>,
    /// The user may move a finding into Secrets (writes code and secrets).
    pub can_fix: bool,
}

#[derive(Debug, Default, Deserialize)]
pub struct SecretsQuery {
    q: Option<String>,
    /// Prefill the form's key (the "Replace" link of a row).
    key: Option<String>,
    created: Option<String>,
    replaced: Option<String>,
    deleted: Option<String>,
    short: Option<String>,
    /// A finding was moved into Secrets under this key.
    fixed: Option<String>,
}

pub(super) async fn build(
    state: &AppState,
    user: &WebUser,
    project: &ProjectRecord,
    role: Role,
    filter: String,
    form: SecretForm,
) -> Result<SecretsPage, PageError> {
    let secrets = state.paige.list_secrets_in(project).await?;
    let total = secrets.len();
    let needle = filter.to_ascii_uppercase();
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
        notice: None,
        warning: None,
        form,
        key_max: KEY_MAX_LEN,
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
    let mut page = build(&state, &user, &project, role, query.q.clone().unwrap_or_default(), form).await?;
    page.notice = if let Some(key) = shown_key(query.created.as_ref()) {
        Some(format!("Added {key}. Executions started from now on have it."))
    } else if let Some(key) = shown_key(query.replaced.as_ref()) {
        Some(format!(
            "Replaced the value of {key}. Executions started from now on get the new value."
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

/// The form's plain fields. The value fields (`value`, and `pem` for the
/// multi-line field of PEM keys) are read from the raw body instead, as
/// serde would turn bytes that are not UTF-8 into U+FFFD without a word.
#[derive(Deserialize)]
pub struct SaveForm {
    #[serde(default)]
    key: String,
    /// The "replace the current value" box.
    replace: Option<String>,
}

/// A value field as text: absent or empty is `None`; bytes that are not
/// UTF-8 are refused with the API's rule (`value_not_utf8`).
fn value_field(body: &[u8], name: &str) -> Result<Option<SecretString>, RuleError> {
    let Some(bytes) = session::form_field_bytes(body, name).filter(|b| !b.is_empty()) else {
        return Ok(None);
    };
    let text = std::str::from_utf8(&bytes).map_err(|e| RuleError::ValueNotUtf8(e.valid_up_to()))?;
    Ok(Some(SecretString::from(text)))
}

/// The one value the form carries. Browsers send a textarea's line breaks
/// as CRLF; a PEM key is kept with LF.
fn chosen_value(body: &[u8]) -> Result<SecretString, String> {
    let value = value_field(body, "value").map_err(|e| e.to_string())?;
    let pem = value_field(body, "pem").map_err(|e| e.to_string())?;
    match (value, pem) {
        (Some(_), Some(_)) => Err("Enter the value in one of the two fields, not both.".to_owned()),
        (None, None) => Err("Enter a value.".to_owned()),
        (Some(value), None) => Ok(value),
        (None, Some(pem)) => {
            let text = Zeroizing::new(pem.expose_secret().replace("\r\n", "\n"));
            Ok(SecretString::from(text.as_str()))
        }
    }
}

/// `POST /projects/{slug}/settings/secrets`: adds a secret, or overwrites
/// one when the "replace" box is ticked.
pub async fn save(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    PostedRaw { user, form, body }: PostedRaw<SaveForm>,
) -> Result<Response, PageError> {
    let (project, role) = state.paige.authorize(&user.user, &slug, Action::WriteSecrets).await?;
    let mut shown = SecretForm {
        key: form.key.clone(),
        ..SecretForm::default()
    };
    let (state, user, project) = (&state, &user, &project);
    let refuse = |status: StatusCode, shown: SecretForm| async move {
        let page = build(state, user, project, role, String::new(), shown).await?;
        Ok::<_, PageError>(render(status, &page))
    };
    if let Err(e) = check_key(&form.key) {
        shown.key_error = Some(e.to_string());
        return refuse(StatusCode::BAD_REQUEST, shown).await;
    }
    let value = match chosen_value(&body) {
        Ok(value) => value,
        Err(message) => {
            shown.value_error = Some(message);
            return refuse(StatusCode::BAD_REQUEST, shown).await;
        }
    };
    let exists = state
        .paige
        .list_secrets_in(project)
        .await?
        .iter()
        .any(|s| s.key == form.key);
    if exists && form.replace.is_none() {
        shown.confirm = true;
        shown.key_error = Some(format!(
            "{} already has a value. To overwrite it, tick “Replace the current value” and enter the value again.",
            form.key
        ));
        return refuse(StatusCode::CONFLICT, shown).await;
    }
    match state
        .paige
        .set_secret_in(project, &form.key, &value, &user.actor())
        .await
    {
        Ok(set) => {
            let what = if set.outcome.created { "created" } else { "replaced" };
            let short = if set.warning.is_some() { "&short=1" } else { "" };
            let target = format!(
                "/projects/{}/settings/secrets?{what}={}{short}",
                project.slug,
                urlencode(&set.outcome.key)
            );
            Ok(Redirect::to(&target).into_response())
        }
        Err(Error::Rule(rule)) => {
            let message = rule.to_string();
            match rule {
                RuleError::KeyEmpty
                | RuleError::KeyTooLong(_)
                | RuleError::KeyStartsWithDigit
                | RuleError::KeyLowercase { .. }
                | RuleError::KeyInvalidCharacter { .. }
                | RuleError::KeyReserved { .. } => shown.key_error = Some(message),
                RuleError::ValueNotUtf8(_)
                | RuleError::ValueContainsNul(_)
                | RuleError::ValueTooShort(_)
                | RuleError::ValueTooLarge(_) => shown.value_error = Some(message),
                RuleError::TooManySecrets(_) | RuleError::ProjectTooLarge(_) => shown.form_error = Some(message),
            }
            let status = if shown.form_error.is_some() {
                StatusCode::CONFLICT
            } else {
                StatusCode::BAD_REQUEST
            };
            refuse(status, shown).await
        }
        Err(e) => Err(e.into()),
    }
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
