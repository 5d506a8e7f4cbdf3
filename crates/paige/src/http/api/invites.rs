//! Invitations: owners and admins invite an email to a project, list and
//! cancel pending invitations; the invitee lists theirs and accepts or
//! declines. Inviting answers the same whether or not the email has an
//! account.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::timestamp;
use crate::auth::roles::Action;
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiPath, Caller, JsonBody, RequestShape};
use crate::http::membership;
use crate::model::{Invitation, InviteAnswer};

#[derive(Debug, Serialize, ToSchema)]
pub struct InviteView {
    id: i64,
    project: String,
    email: String,
    role: String,
    /// Who invited: an email, or `cli:<user>`.
    inviter: String,
    created_at: String,
    expires_at: String,
    /// pending, accepted, declined or cancelled.
    state: String,
}

impl From<Invitation> for InviteView {
    fn from(i: Invitation) -> Self {
        Self {
            id: i.id,
            project: i.project,
            email: i.email,
            role: i.role.to_string(),
            inviter: i.inviter,
            created_at: timestamp(i.created_at),
            expires_at: timestamp(i.expires_at),
            state: i.state.as_str().to_owned(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InviteList {
    invites: Vec<InviteView>,
}

impl From<Vec<Invitation>> for InviteList {
    fn from(invites: Vec<Invitation>) -> Self {
        Self {
            invites: invites.into_iter().map(InviteView::from).collect(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInvite {
    email: String,
    /// owner, admin, developer or viewer.
    role: String,
}

impl RequestShape for NewInvite {
    const SHAPE: &'static str = r#"{"email": string, "role": "owner" | "admin" | "developer" | "viewer"}"#;
}

/// Invites an email to the project; they join when they accept. The
/// answer is the same whether or not the email has an account.
#[utoipa::path(
    post, path = "/api/v1/projects/{slug}/invites", tag = "members",
    params(("slug" = String, Path)),
    request_body = NewInvite,
    responses(
        (status = 201, body = InviteView, description = "invited (valid for 7 days)"),
        (status = 400, body = ErrorBody, description = "invalid_role, invalid_email"),
        (status = 403, body = ErrorBody, description = "not an owner or admin, or an admin inviting an owner"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "already a member, or already invited"),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub async fn create_invite(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(slug): ApiPath<String>,
    JsonBody(body): JsonBody<NewInvite>,
) -> Result<(StatusCode, Json<InviteView>), ApiError> {
    let invite = membership::invite(
        &state.paige,
        &caller.user,
        &caller.actor(),
        &slug,
        &body.email,
        &body.role,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(invite.into())))
}

/// The project's pending invitations.
#[utoipa::path(
    get, path = "/api/v1/projects/{slug}/invites", tag = "members",
    params(("slug" = String, Path)),
    responses((status = 200, body = InviteList), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("session" = []))
)]
pub async fn list_invites(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(slug): ApiPath<String>,
) -> Result<Json<InviteList>, ApiError> {
    let (project, _) = state
        .paige
        .authorize(&caller.user, &slug, Action::ManageMembers)
        .await?;
    Ok(Json(state.paige.project_invites(&project).await?.into()))
}

/// Cancels a pending invitation of the project.
#[utoipa::path(
    delete, path = "/api/v1/projects/{slug}/invites/{id}", tag = "members",
    params(("slug" = String, Path), ("id" = i64, Path, description = "invitation id")),
    responses(
        (status = 204, description = "cancelled"),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "no such pending invitation"),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub async fn cancel_invite(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((slug, id)): ApiPath<(String, i64)>,
) -> Result<StatusCode, ApiError> {
    membership::cancel_invite(&state.paige, &caller.user, &caller.actor(), &slug, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's pending invitations (to the email of their account).
#[utoipa::path(
    get, path = "/api/v1/invites", tag = "members",
    responses((status = 200, body = InviteList), (status = 401, body = ErrorBody)),
    security(("bearer" = []), ("session" = []))
)]
pub async fn my_invites(State(state): State<AppState>, caller: Caller) -> Result<Json<InviteList>, ApiError> {
    Ok(Json(state.paige.invites_for(&caller.user).await?.into()))
}

async fn answer(
    state: &AppState,
    caller: &Caller,
    id: i64,
    answer: InviteAnswer,
) -> Result<Json<InviteView>, ApiError> {
    let invite = state
        .paige
        .answer_invite(&caller.user, id, answer, &caller.actor())
        .await?;
    Ok(Json(invite.into()))
}

/// Accepts one of the caller's invitations: they become a member with its role.
#[utoipa::path(
    post, path = "/api/v1/invites/{id}/accept", tag = "members",
    params(("id" = i64, Path, description = "invitation id")),
    responses(
        (status = 200, body = InviteView, description = "accepted; the caller is a member"),
        (status = 404, body = ErrorBody, description = "no such pending invitation for the caller"),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub async fn accept_invite(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<InviteView>, ApiError> {
    answer(&state, &caller, id, InviteAnswer::Accept).await
}

/// Declines one of the caller's invitations.
#[utoipa::path(
    post, path = "/api/v1/invites/{id}/decline", tag = "members",
    params(("id" = i64, Path, description = "invitation id")),
    responses(
        (status = 200, body = InviteView, description = "declined"),
        (status = 404, body = ErrorBody, description = "no such pending invitation for the caller"),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub async fn decline_invite(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<InviteView>, ApiError> {
    answer(&state, &caller, id, InviteAnswer::Decline).await
}
