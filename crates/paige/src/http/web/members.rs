//! Members (owners and admins): invite (and cancel pending invitations),
//! change role, remove with a confirm step.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::pages::{Layout, PageError, Section, When, render};
use super::session::{Posted, WebUser, urlencode};
use crate::auth::roles::Action;
use crate::error::Error;
use crate::http::AppState;
use crate::http::membership;
use crate::model::{Invitation, Member, ProjectRecord, Role};

#[derive(Template)]
#[template(path = "members.html")]
struct MembersPage {
    page: Layout,
    slug: String,
    members: Vec<Member>,
    /// Pending invitations, with when each expires.
    invites: Vec<(Invitation, When)>,
    roles: [Role; 4],
    notice: Option<String>,
    error: Option<String>,
    email: String,
    /// An error about one member's row (changing their role or removing
    /// them, such as the last owner), shown on that row, and whose row.
    row_error: Option<String>,
    row_email: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct MembersQuery {
    invited: Option<String>,
    cancelled: Option<String>,
    changed: Option<String>,
    removed: Option<String>,
}

async fn build(
    state: &AppState,
    user: &WebUser,
    project: &ProjectRecord,
    role: Role,
) -> Result<MembersPage, PageError> {
    let members = state.paige.list_members_in(project).await?;
    let invites = state
        .paige
        .project_invites(project)
        .await?
        .into_iter()
        .map(|i| {
            let expires = When::now(i.expires_at);
            (i, expires)
        })
        .collect();
    Ok(MembersPage {
        page: user
            .layout(
                state,
                format!("Members · {}", project.slug),
                Some((project, role, Section::Members)),
            )
            .await?,
        slug: project.slug.clone(),
        members,
        invites,
        roles: Role::ALL,
        notice: None,
        error: None,
        email: String::new(),
        row_error: None,
        row_email: String::new(),
    })
}

/// `GET /projects/{slug}/members`.
pub async fn page(
    State(state): State<AppState>,
    user: WebUser,
    Path(slug): Path<String>,
    Query(query): Query<MembersQuery>,
) -> Result<Response, PageError> {
    let (project, role) = state.paige.authorize(&user.user, &slug, Action::ManageMembers).await?;
    let mut page = build(&state, &user, &project, role).await?;
    page.notice = if let Some(email) = query.invited {
        Some(format!(
            "Invited {email}. The invitation waits on their Projects page once they sign in with that email."
        ))
    } else if let Some(email) = query.cancelled {
        Some(format!("Cancelled the invitation to {email}."))
    } else if let Some(email) = query.changed {
        Some(format!("Changed the role of {email}."))
    } else {
        query.removed.map(|email| format!("Removed {email}."))
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Deserialize)]
pub struct MemberForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
    /// `add` from the "Add a member" form, which must never change the role
    /// of someone already in the project; the role menus of the rows send
    /// none.
    intent: Option<String>,
}

/// `POST /projects/{slug}/members`: invites someone (the "Invite a
/// member" form, `intent=add`) or changes a member's role (a row's menu).
/// The invite form never re-roles an existing member: it is refused,
/// naming their role and the way to change it.
pub async fn save(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Posted { user, form }: Posted<MemberForm>,
) -> Result<Response, PageError> {
    let (project, role) = state.paige.authorize(&user.user, &slug, Action::ManageMembers).await?;
    let inviting = form.intent.as_deref() == Some("add");
    let result = if inviting {
        membership::invite(&state.paige, &user.user, &user.actor(), &slug, &form.email, &form.role)
            .await
            .map(|invite| format!("invited={}", urlencode(&invite.email)))
    } else {
        membership::set_member(&state.paige, &user.user, &user.actor(), &slug, &form.email, &form.role)
            .await
            .map(|(_, _, email)| format!("changed={}", urlencode(&email)))
    };
    match result {
        Ok(query) => Ok(Redirect::to(&format!("/projects/{}/members?{query}", project.slug)).into_response()),
        Err(e @ (Error::Invalid { .. } | Error::NotFound(_) | Error::Conflict(_) | Error::Forbidden)) => {
            let (status, message) = match e {
                Error::Forbidden => (
                    StatusCode::FORBIDDEN,
                    "Only an owner can make or unmake owners.".to_owned(),
                ),
                Error::NotFound(_) => (
                    StatusCode::NOT_FOUND,
                    format!("{} is not a member; invite them with the form below.", form.email),
                ),
                Error::Conflict(message) => (StatusCode::CONFLICT, message),
                other => (StatusCode::BAD_REQUEST, other.to_string()),
            };
            let mut page = build(&state, &user, &project, role).await?;
            let on_row = !inviting && page.members.iter().any(|m| m.email == form.email);
            if !on_row {
                page.error = Some(message);
                page.email = form.email;
            } else {
                // A member's row (its role menu): the error belongs on that
                // row, and the invite form stays empty.
                page.row_error = Some(message);
                page.row_email = form.email;
            }
            Ok(render(status, &page))
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /projects/{slug}/invites/{id}/cancel`: an owner or admin takes
/// back a pending invitation.
pub async fn cancel_invite(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, i64)>,
    Posted { user, form }: Posted<super::session::Empty>,
) -> Result<Response, PageError> {
    let _ = form;
    let invite = membership::cancel_invite(&state.paige, &user.user, &user.actor(), &slug, id).await?;
    let target = format!("/projects/{slug}/members?cancelled={}", urlencode(&invite.email));
    Ok(Redirect::to(&target).into_response())
}

#[derive(Template)]
#[template(path = "member_remove.html")]
struct RemovePage {
    page: Layout,
    slug: String,
    email: String,
}

#[derive(Debug, Deserialize)]
pub struct EmailQuery {
    #[serde(default)]
    email: String,
}

/// `GET /projects/{slug}/members/remove?email=…`: the confirm step.
pub async fn confirm_remove(
    State(state): State<AppState>,
    user: WebUser,
    Path(slug): Path<String>,
    Query(query): Query<EmailQuery>,
) -> Result<Response, PageError> {
    let (project, role) = state.paige.authorize(&user.user, &slug, Action::ManageMembers).await?;
    let page = RemovePage {
        page: user
            .layout(
                &state,
                format!("Remove {}? · {slug}", query.email),
                Some((&project, role, Section::Members)),
            )
            .await?,
        slug: project.slug.clone(),
        email: query.email,
    };
    Ok(render(StatusCode::OK, &page))
}

/// `POST /projects/{slug}/members/remove`.
pub async fn remove(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Posted { user, form }: Posted<EmailQuery>,
) -> Result<Response, PageError> {
    match membership::remove_member(&state.paige, &user.user, &user.actor(), &slug, &form.email).await {
        Ok(_) => {}
        // The last owner: shown on their row of the members page.
        Err(Error::Conflict(message)) => {
            let (project, role) = state.paige.authorize(&user.user, &slug, Action::ManageMembers).await?;
            let mut page = build(&state, &user, &project, role).await?;
            page.row_error = Some(message);
            page.row_email = form.email;
            return Ok(render(StatusCode::CONFLICT, &page));
        }
        Err(e) => return Err(e.into()),
    }
    let target = format!("/projects/{slug}/members?removed={}", urlencode(&form.email));
    Ok(Redirect::to(&target).into_response())
}
