//! The project's audit log (owners and admins), newest first.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::timestamp;
use crate::auth::roles::Action;
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiPath, Caller, PageQuery, next_before};

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
    params(("slug" = String, Path), PageQuery),
    responses((status = 200, body = AuditPage), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("session" = []))
)]
pub async fn list_audit(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(slug): ApiPath<String>,
    query: PageQuery,
) -> Result<Json<AuditPage>, ApiError> {
    let (project, _) = state.paige.authorize(&caller.user, &slug, Action::ReadAudit).await?;
    let page = query.page();
    let events = state.paige.audit_events(&project, page).await?;
    let next_before = next_before(page, events.iter().map(|e| e.id));
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
