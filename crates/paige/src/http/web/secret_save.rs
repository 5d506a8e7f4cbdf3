//! `POST /projects/{slug}/settings/secrets`: the add/overwrite form.
//!
//! Without JavaScript an overwrite takes one refusal at most: every
//! problem of the form is reported at once (the key exists and the box is
//! not ticked, and the value is missing), the "replace" tick is kept
//! across errors, and the focus goes to the first field in error. The
//! value is never shown again: it must be typed again after any refusal.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use zeroize::Zeroizing;

use super::pages::{PageError, render};
use super::secrets::{SecretForm, Sort, build};
use super::session::{self, PostedRaw, urlencode};
use crate::auth::roles::Action;
use crate::error::Error;
use crate::http::AppState;
use crate::secrets::RuleError;
use crate::secrets::rules::check_key;

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

/// Puts a refused key's rule on the form, with its suggestion if any.
fn key_refused(shown: &mut SecretForm, rule: &RuleError) {
    shown.key_error = Some(rule.to_string());
    if let RuleError::KeyLowercase { suggestion } = rule {
        shown.suggestion = Some(suggestion.clone());
    }
}

/// Adds a secret, or overwrites one when the "replace" box is ticked.
pub async fn save(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    PostedRaw { user, form, body }: PostedRaw<SaveForm>,
) -> Result<Response, PageError> {
    let (project, role) = state.paige.authorize(&user.user, &slug, Action::WriteSecrets).await?;
    let mut shown = SecretForm {
        key: form.key.clone(),
        replace: form.replace.is_some(),
        ..SecretForm::default()
    };
    let (state, user, project) = (&state, &user, &project);
    let refuse = |status: StatusCode, shown: SecretForm| async move {
        let page = build(state, user, project, role, (String::new(), Sort::Name), shown).await?;
        Ok::<_, PageError>(render(status, &page))
    };
    if let Err(rule) = check_key(&form.key) {
        key_refused(&mut shown, &rule);
        return refuse(StatusCode::BAD_REQUEST, shown).await;
    }
    let exists = state
        .paige
        .list_secrets_in(project)
        .await?
        .iter()
        .any(|s| s.key == form.key);
    if exists {
        shown.confirm = true;
        if !shown.replace {
            shown.replace_error = Some(format!(
                "{} already has a value. Tick “Replace the current value” to overwrite it.",
                form.key
            ));
        }
    }
    let value = chosen_value(&body);
    let value = match value {
        Ok(value) if shown.replace_error.is_none() => value,
        Ok(_) => return refuse(StatusCode::CONFLICT, shown).await,
        Err(message) => {
            shown.value_error = Some(message);
            return refuse(StatusCode::BAD_REQUEST, shown).await;
        }
    };
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
                | RuleError::KeyReserved { .. } => key_refused(&mut shown, &rule),
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
