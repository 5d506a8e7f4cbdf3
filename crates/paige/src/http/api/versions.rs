//! A key's versions: list them (number, time, author; never a value) and
//! roll back to one, which seals its value again as a new version.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::timestamp;
use crate::auth::roles::Action;
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiPath, Caller, JsonBody, RequestShape};

#[derive(Debug, Serialize, ToSchema)]
pub struct VersionView {
    version: i64,
    /// When this version was set.
    created_at: String,
    /// Who set it.
    created_by: String,
    /// True for the key's current value.
    current: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VersionList {
    key: String,
    /// Newest first; the deployment keeps the last N of each key.
    versions: Vec<VersionView>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    /// The kept version whose value becomes the key's value again.
    version: i64,
}

impl RequestShape for RollbackRequest {
    const SHAPE: &'static str = r#"{"version": integer}"#;
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RolledBack {
    key: String,
    /// The new version, holding the value of `restored_from`.
    version: i64,
    restored_from: i64,
    updated_at: String,
}

/// A key's kept versions, newest first: version, time and author, never values.
#[utoipa::path(
    get, path = "/api/v1/projects/{slug}/secrets/{key}/versions", tag = "secrets",
    params(("slug" = String, Path), ("key" = String, Path)),
    responses(
        (status = 200, body = VersionList),
        (status = 400, body = ErrorBody, description = "invalid_key"),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "no such project or key, or not a member"),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub async fn list_versions(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((slug, key)): ApiPath<(String, String)>,
) -> Result<Json<VersionList>, ApiError> {
    let (project, _) = state.paige.authorize(&caller.user, &slug, Action::ListKeys).await?;
    let versions = state.paige.secret_versions_in(&project, &key).await?;
    let current = versions.first().map(|v| v.version);
    Ok(Json(VersionList {
        key,
        versions: versions
            .into_iter()
            .map(|v| VersionView {
                current: Some(v.version) == current,
                version: v.version,
                created_at: timestamp(v.updated_at),
                created_by: v.updated_by,
            })
            .collect(),
    }))
}

/// Restores the value of a kept version as a new version (versions never
/// go back), with an audit record. Same permission as overwriting.
#[utoipa::path(
    post, path = "/api/v1/projects/{slug}/secrets/{key}/rollback", tag = "secrets",
    params(("slug" = String, Path), ("key" = String, Path)),
    request_body = RollbackRequest,
    responses(
        (status = 200, body = RolledBack),
        (status = 400, body = ErrorBody, description = "invalid_key, invalid_json"),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "no such project, key or kept version"),
        (status = 415, body = ErrorBody),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub async fn rollback(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((slug, key)): ApiPath<(String, String)>,
    JsonBody(body): JsonBody<RollbackRequest>,
) -> Result<Json<RolledBack>, ApiError> {
    let (project, _) = state.paige.authorize(&caller.user, &slug, Action::WriteSecrets).await?;
    let outcome = state
        .paige
        .rollback_secret_in(&project, &key, body.version, &caller.actor())
        .await?;
    Ok(Json(RolledBack {
        key: outcome.key,
        version: outcome.version,
        restored_from: body.version,
        updated_at: timestamp(outcome.updated_at),
    }))
}
