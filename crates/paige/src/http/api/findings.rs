//! The code guard's findings (SPEC §1, "not in code"): list the hard-coded
//! values of the project's current code, and move one into Secrets.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::timestamp;
use crate::auth::roles::Action;
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiPath, Caller, JsonBody, RequestShape};
use crate::model::CodeFinding;
use crate::secrets::guard::message;

/// One finding of the code guard: where and what, never the value.
#[derive(Debug, Serialize, ToSchema)]
pub struct CodeWarning {
    /// For `POST …/code/findings/{id}/fix`.
    id: i64,
    /// The code revision it was found in.
    revision: i64,
    file: String,
    /// 1-based.
    line: i64,
    /// 1-based, in bytes.
    column: i64,
    /// `secret` (one of the project's own values) or `credential` (a
    /// recognisable credential).
    kind: &'static str,
    /// The credential rule's name, e.g. `stripe_secret_key`, or
    /// `project_value`.
    rule: String,
    /// The project secret's key (kind `secret`).
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    /// A masked fingerprint of a credential, e.g. `sk_live_…4f2a`; never
    /// for a project value.
    #[serde(skip_serializing_if = "Option::is_none")]
    fingerprint: Option<String>,
    /// The key a fix stores the value under unless told otherwise.
    suggested_key: String,
    /// The warning as the CLI prints it, with how to move it into Secrets.
    message: String,
}

impl CodeWarning {
    pub fn new(finding: &CodeFinding, slug: &str) -> Self {
        let f = &finding.finding;
        CodeWarning {
            id: finding.id,
            revision: finding.revision,
            file: f.file.clone(),
            line: f.line,
            column: f.column,
            kind: f.kind(),
            rule: f.rule.clone(),
            key: f.key.clone(),
            fingerprint: f.fingerprint.clone(),
            suggested_key: f.suggested_key.clone(),
            message: message(f, slug, finding.id),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FindingList {
    findings: Vec<CodeWarning>,
}

/// The code guard's findings in the project's current code, by file and line.
#[utoipa::path(
    get, path = "/api/v1/projects/{slug}/code/findings", tag = "executions",
    params(("slug" = String, Path)),
    responses(
        (status = 200, body = FindingList),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "no such project, or not a member"),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub async fn list_findings(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(slug): ApiPath<String>,
) -> Result<Json<FindingList>, ApiError> {
    let (project, _) = state.paige.authorize(&caller.user, &slug, Action::ListKeys).await?;
    let findings = state.paige.code_findings(&project.slug).await?;
    Ok(Json(FindingList {
        findings: findings.iter().map(|f| CodeWarning::new(f, &project.slug)).collect(),
    }))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FixFinding {
    /// The secret's key; the finding's `suggested_key` if left out.
    #[serde(default)]
    key: Option<String>,
}

impl RequestShape for FixFinding {
    const SHAPE: &'static str = r#"{"key": string (optional)}"#;
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FindingFixed {
    file: String,
    line: i64,
    /// The key the code now reads as `process.env.KEY`.
    key: String,
    /// The secret's new version; absent when the value already was that
    /// secret and only the code changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    updated_at: Option<String>,
    /// The code revision the fix made.
    revision: i64,
    /// The findings left in that file.
    remaining: Vec<CodeWarning>,
}

/// Moves one finding's value into Secrets: stores it (read again from the
/// stored code, never sent) as a secret, unless it already is one, and
/// rewrites that occurrence to `process.env.KEY`, in one transaction.
#[utoipa::path(
    post, path = "/api/v1/projects/{slug}/code/findings/{id}/fix", tag = "executions",
    params(("slug" = String, Path), ("id" = i64, Path)),
    request_body = FixFinding,
    responses(
        (status = 200, body = FindingFixed),
        (status = 400, body = ErrorBody, description = "unfixable_finding (a comment, an encoded form, a \
            file other than JavaScript or TypeScript: the message says what to do by hand), invalid_key"),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "no such finding in the current code"),
        (status = 409, body = ErrorBody, description = "conflict: the code changed, or the key holds \
            another value; too_many_secrets, project_too_large"),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub async fn fix_finding(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((slug, id)): ApiPath<(String, i64)>,
    JsonBody(body): JsonBody<FixFinding>,
) -> Result<Json<FindingFixed>, ApiError> {
    // It writes both the code and a secret.
    state.paige.authorize(&caller.user, &slug, Action::PushCode).await?;
    let (project, _) = state.paige.authorize(&caller.user, &slug, Action::WriteSecrets).await?;
    let fixed = state
        .paige
        .fix_code_finding(&project.slug, id, body.key.as_deref(), &caller.actor())
        .await?;
    Ok(Json(FindingFixed {
        file: fixed.file,
        line: fixed.line,
        key: fixed.key,
        version: fixed.secret.as_ref().map(|s| s.version),
        updated_at: fixed.secret.as_ref().map(|s| timestamp(s.updated_at)),
        revision: fixed.revision,
        remaining: fixed
            .remaining
            .iter()
            .map(|f| CodeWarning::new(f, &project.slug))
            .collect(),
    }))
}
