//! Members (owners and admins): add, change role, remove with a confirm step.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::pages::{Layout, PageError, Section, render};
use super::session::{Posted, WebUser, urlencode};
use crate::auth::roles::Action;
use crate::error::Error;
use crate::http::AppState;
use crate::http::membership;
use crate::model::{Member, ProjectRecord, Role};

#[derive(Template)]
#[template(path = "members.html")]
struct MembersPage {
    page: Layout,
    slug: String,
    members: Vec<Member>,
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
    added: Option<String>,
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
    page.notice = if let Some(email) = query.added {
        Some(format!("Added {email}."))
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

/// Refuses the "Add a member" form for someone who is already a member,
/// naming their role and the way to change it, so a default role in the
/// form never re-roles anyone without a word.
async fn refuse_existing(state: &AppState, project: &ProjectRecord, email: &str) -> Result<(), Error> {
    let user = match state.paige.user(email).await {
        Ok(user) => user,
        // Unknown or invalid emails get their own message from `set_member`.
        Err(Error::NotFound(_) | Error::Invalid { .. }) => return Ok(()),
        Err(e) => return Err(e),
    };
    match state.paige.member_role(project, &user).await? {
        Some(current) => Err(Error::Conflict(format!(
            "{} is already a member as {current}; nothing was changed. \
             To change their role, use the Role menu on their row and press “Change role”.",
            user.email
        ))),
        None => Ok(()),
    }
}

/// `POST /projects/{slug}/members`: adds a member or changes a role.
pub async fn save(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Posted { user, form }: Posted<MemberForm>,
) -> Result<Response, PageError> {
    let (project, role) = state.paige.authorize(&user.user, &slug, Action::ManageMembers).await?;
    let checked = if form.intent.as_deref() == Some("add") {
        refuse_existing(&state, &project, &form.email).await
    } else {
        Ok(())
    };
    let result = match checked {
        Ok(()) => membership::set_member(&state.paige, &user.user, &user.actor(), &slug, &form.email, &form.role).await,
        Err(e) => Err(e),
    };
    match result {
        Ok((added, _, email)) => {
            let what = if added { "added" } else { "changed" };
            let target = format!("/projects/{}/members?{what}={}", project.slug, urlencode(&email));
            Ok(Redirect::to(&target).into_response())
        }
        Err(e @ (Error::Invalid { .. } | Error::NotFound(_) | Error::Conflict(_) | Error::Forbidden)) => {
            let (status, message) = match e {
                Error::Forbidden => (
                    StatusCode::FORBIDDEN,
                    "Only an owner can make or unmake owners.".to_owned(),
                ),
                Error::NotFound(_) => (
                    StatusCode::NOT_FOUND,
                    format!("There is no user {}; create the account first.", form.email),
                ),
                Error::Conflict(message) => (StatusCode::CONFLICT, message),
                other => (StatusCode::BAD_REQUEST, other.to_string()),
            };
            let mut page = build(&state, &user, &project, role).await?;
            let on_row = form.intent.as_deref() != Some("add") && page.members.iter().any(|m| m.email == form.email);
            if !on_row {
                page.error = Some(message);
                page.email = form.email;
            } else {
                // A member's row (its role menu): the error belongs on that
                // row, and the Add form stays empty.
                page.row_error = Some(message);
                page.row_email = form.email;
            }
            Ok(render(status, &page))
        }
        Err(e) => Err(e.into()),
    }
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
