//! Project members (owners and admins).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::roles::Action;
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiPath, Caller, JsonBody, RequestShape};
use crate::http::membership;

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberView {
    email: String,
    role: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberList {
    members: Vec<MemberView>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    email: String,
    /// owner, admin, developer or viewer.
    #[schema(pattern = "^(owner|admin|developer|viewer)$")]
    role: String,
}

impl RequestShape for AddMember {
    const SHAPE: &'static str = r#"{"email": string, "role": "owner" | "admin" | "developer" | "viewer"}"#;
}

/// The project's members.
#[utoipa::path(
    get, path = "/api/v1/projects/{slug}/members", tag = "members",
    params(("slug" = String, Path)),
    responses((status = 200, body = MemberList), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("session" = []))
)]
pub async fn list_members(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(slug): ApiPath<String>,
) -> Result<Json<MemberList>, ApiError> {
    let (project, _) = state
        .paige
        .authorize(&caller.user, &slug, Action::ManageMembers)
        .await?;
    let members = state.paige.list_members_in(&project).await?;
    Ok(Json(MemberList {
        members: members
            .into_iter()
            .map(|m| MemberView {
                email: m.email,
                role: m.role.to_string(),
            })
            .collect(),
    }))
}

/// Changes a member's role. Someone who is not a member yet is invited
/// instead (`POST /api/v1/projects/{slug}/invites`) and joins by accepting.
#[utoipa::path(
    post, path = "/api/v1/projects/{slug}/members", tag = "members",
    params(("slug" = String, Path)),
    request_body = AddMember,
    responses(
        (status = 200, body = MemberView, description = "role changed"),
        (status = 400, body = ErrorBody, description = "invalid_role, invalid_email"),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "no such project, or no such member (the same for an email with no account)"),
        (status = 409, body = ErrorBody, description = "the last owner cannot be demoted"),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub async fn add_member(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(slug): ApiPath<String>,
    JsonBody(body): JsonBody<AddMember>,
) -> Result<(StatusCode, Json<MemberView>), ApiError> {
    let (added, role, email) = membership::set_member(
        &state.paige,
        &caller.user,
        &caller.actor(),
        &slug,
        &body.email,
        &body.role,
    )
    .await?;
    let status = if added { StatusCode::CREATED } else { StatusCode::OK };
    Ok((
        status,
        Json(MemberView {
            email,
            role: role.to_string(),
        }),
    ))
}

/// Removes a member; it takes effect on their next request.
#[utoipa::path(
    delete, path = "/api/v1/projects/{slug}/members/{email}", tag = "members",
    params(("slug" = String, Path), ("email" = String, Path)),
    responses(
        (status = 204),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the last owner cannot be removed"),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((slug, email)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    membership::remove_member(&state.paige, &caller.user, &caller.actor(), &slug, &email).await?;
    Ok(StatusCode::NO_CONTENT)
}
