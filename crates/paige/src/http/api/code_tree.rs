//! `PUT /api/v1/projects/{slug}/code`: the project's whole code tree in one
//! request, replaced in one transaction exactly like a local
//! `paige code push` (what is gone from the tree is removed; a refusal
//! changes nothing).
//!
//! The body is JSON with base64 contents rather than a tar stream: the
//! shape is stated whole in the OpenAPI document (so a generated client
//! and schemathesis can use it), and there is no archive format's corners
//! (hard links, devices, long-name extensions, absolute names) to refuse.
//! The cost, a third more bytes on the wire, is bounded by the body limit
//! derived from the code limits (`code_tree::max_tree_body_bytes`).

use axum::Json;
use axum::extract::State;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::findings::CodeWarning;
use crate::auth::roles::Action;
use crate::error::Error;
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiPath, Caller, JsonBody, RequestShape};
use crate::model::{CodeEntry, CodeKind};
use crate::runtime::CodeLimits;

/// Every entry of the new code tree; entries not listed are removed.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeTree {
    #[schema(max_items = 20000)]
    pub entries: Vec<TreeEntry>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TreeEntry {
    /// Relative, `/`-separated, e.g. `lib/util.js`: no `.`, `..` or empty
    /// component, no leading `/`.
    #[schema(min_length = 1, max_length = 1024)]
    pub path: String,
    /// `file`, or `symlink` (a relative link that stays inside the tree).
    pub kind: EntryKind,
    /// Standard base64 (with padding): the file's bytes, or the link's
    /// target.
    pub content: String,
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    File,
    Symlink,
}

impl RequestShape for CodeTree {
    const SHAPE: &'static str = r#"{"entries": [{"path": string, "kind": "file"|"symlink", "content": base64}]}"#;
    const LIMIT: usize = TREE_BODY_LIMIT;
}

const TREE_BODY_LIMIT: usize = 160 * 1024 * 1024;

/// How many files the code guard did not scan.
#[derive(Debug, Serialize, ToSchema)]
pub struct TreeSkipped {
    /// Under `node_modules/`.
    node_modules: usize,
    /// Not UTF-8 text.
    binary: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CodePushedBody {
    /// Regular files in the new tree (symlinks not counted).
    files: usize,
    bytes: u64,
    /// What the code guard found: by line and name, never the value. The
    /// push is done.
    warnings: Vec<CodeWarning>,
    skipped: TreeSkipped,
}

/// Replaces the project's whole bot code tree, atomically, as a local
/// `paige code push` does: files not in the body are removed, the code
/// guard scans every text file, and any refusal changes nothing.
#[utoipa::path(
    put, path = "/api/v1/projects/{slug}/code", tag = "executions",
    params(("slug" = String, Path)),
    request_body = CodeTree,
    responses(
        (status = 200, body = CodePushedBody),
        (status = 400, body = ErrorBody, description = "invalid_json; invalid_content (not base64); \
            invalid_code_path; code_file_too_large, code_too_many_files, code_too_large (the code limits); \
            secret_in_flow: a flow JSON file (`flows/*.json`) holding a project secret's value, a credential, \
            `process.env.` or `{{secrets.`"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody, description = "body_too_large: over the limit derived from the code limits"),
        (status = 415, body = ErrorBody),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub async fn push_tree(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(slug): ApiPath<String>,
    JsonBody(tree): JsonBody<CodeTree>,
) -> Result<Json<CodePushedBody>, ApiError> {
    let (project, _) = state.paige.authorize(&caller.user, &slug, Action::PushCode).await?;
    let mut entries = Vec::with_capacity(tree.entries.len());
    for entry in tree.entries {
        let content = STANDARD.decode(entry.content.as_bytes()).map_err(|_| {
            Error::invalid(
                "invalid_content",
                format!("the content of {:?} is not standard base64", entry.path),
            )
        })?;
        let kind = match entry.kind {
            EntryKind::File => CodeKind::File,
            EntryKind::Symlink => CodeKind::Symlink,
        };
        entries.push(CodeEntry {
            path: entry.path,
            kind,
            content,
        });
    }
    let summary = state
        .paige
        .push_code_entries(&project.slug, entries, &CodeLimits::default(), &caller.actor())
        .await?;
    Ok(Json(CodePushedBody {
        files: summary.files,
        bytes: summary.bytes,
        warnings: summary
            .warnings
            .iter()
            .map(|f| CodeWarning::new(f, &project.slug))
            .collect(),
        skipped: TreeSkipped {
            node_modules: summary.skipped.vendored,
            binary: summary.skipped.binary,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::code_tree::max_tree_body_bytes;

    #[test]
    fn the_body_limit_holds_the_largest_tree_the_code_limits_allow() {
        let needed = max_tree_body_bytes(&CodeLimits::default());
        assert!(u64::try_from(TREE_BODY_LIMIT).unwrap() >= needed, "{needed}");
    }
}
