//! The project's audit log (owners and admins), newest first.

use axum::Json;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::timestamp;
use crate::auth::roles::Action;
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiPath, Caller};
use crate::store::Page;

pub const MAX_PAGE: u32 = 200;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Return events older than this id (the `next_before` of the previous page).
    before: Option<i64>,
    /// Page size, 1–200 (default 50).
    limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditView {
    id: i64,
    at: String,
    actor: String,
    action: String,
    key: Option<String>,
    version: Option<i64>,
    request_id: Option<String>,
    detail: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    events: Vec<AuditView>,
    /// Pass as `before` for the next page; absent on the last page.
    next_before: Option<i64>,
}

#[utoipa::path(
    get, path = "/api/v1/projects/{slug}/audit", tag = "audit",
    params(("slug" = String, Path), AuditQuery),
    responses((status = 200, body = AuditPage), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("session" = []))
)]
pub async fn list_audit(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(slug): ApiPath<String>,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AuditPage>, ApiError> {
    let (project, _) = state.paige.authorize(&caller.user, &slug, Action::ReadAudit).await?;
    let Query(query) = query.map_err(|_| {
        ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "invalid_query",
            "query parameters are `before` (an event id) and `limit` (1–200)",
        )
    })?;
    let limit = query.limit.unwrap_or(50).clamp(1, MAX_PAGE);
    let events = state
        .paige
        .store()
        .audit_events(
            project.id,
            Page {
                before_id: query.before,
                limit,
            },
        )
        .await?;
    let next_before = (events.len() == limit as usize)
        .then(|| events.last().map(|e| e.id))
        .flatten();
    Ok(Json(AuditPage {
        events: events
            .into_iter()
            .map(|e| AuditView {
                id: e.id,
                at: timestamp(e.at),
                actor: e.actor,
                action: e.action,
                key: e.key,
                version: e.version,
                request_id: e.request_id,
                detail: e.detail,
            })
            .collect(),
        next_before,
    }))
}
