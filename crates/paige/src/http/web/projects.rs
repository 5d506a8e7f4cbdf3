//! `/projects`: the user's projects with their role, the invitations
//! waiting for them (accept or decline), a "New project" form, and the
//! switcher.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::pages::{Layout, PageError, Section, When, render};
use super::session::{Posted, WebUser, urlencode};
use crate::error::Error;
use crate::http::AppState;
use crate::model::{Invitation, InviteAnswer, Role};

/// An invitation as the invitee sees it.
#[derive(Debug)]
struct InviteRow {
    invite: Invitation,
    expires: When,
}

#[derive(Template)]
#[template(path = "projects.html")]
struct ProjectsPage {
    page: Layout,
    invites: Vec<InviteRow>,
    notice: Option<String>,
    /// The "New project" form's error and what was typed.
    error: Option<String>,
    slug: String,
}

impl ProjectsPage {
    fn rows(&self) -> &[(String, Role)] {
        &self.page.projects
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct ProjectsQuery {
    joined: Option<String>,
    declined: Option<String>,
}

async fn build(state: &AppState, user: &WebUser) -> Result<ProjectsPage, PageError> {
    let invites = state
        .paige
        .invites_for(&user.user)
        .await?
        .into_iter()
        .map(|invite| InviteRow {
            expires: When::now(invite.expires_at),
            invite,
        })
        .collect();
    Ok(ProjectsPage {
        page: user.layout(state, "Projects", None).await?,
        invites,
        notice: None,
        error: None,
        slug: String::new(),
    })
}

/// `GET /projects`.
pub async fn list(
    State(state): State<AppState>,
    user: WebUser,
    Query(query): Query<ProjectsQuery>,
) -> Result<Response, PageError> {
    let mut page = build(&state, &user).await?;
    page.notice = if let Some(slug) = query.joined {
        Some(format!("You joined {slug}."))
    } else {
        query
            .declined
            .map(|slug| format!("You declined the invitation to {slug}."))
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Debug, Deserialize)]
pub struct NewProject {
    #[serde(default)]
    slug: String,
}

/// `POST /projects`: creates a project with the user as its owner, then
/// opens its (empty) secrets page.
pub async fn create(
    State(state): State<AppState>,
    Posted { user, form }: Posted<NewProject>,
) -> Result<Response, PageError> {
    let slug = form.slug.trim();
    match state
        .paige
        .create_project(slug, Some(&user.user.email), &user.actor())
        .await
    {
        Ok(project) => Ok(Redirect::to(&format!("/projects/{}/settings/secrets", project.slug)).into_response()),
        Err(e @ (Error::Invalid { .. } | Error::AlreadyExists(_))) => {
            // An existing slug is said as such: slugs are global names, like
            // a repository's, and the form must explain why it was refused.
            let status = if matches!(e, Error::AlreadyExists(_)) {
                StatusCode::CONFLICT
            } else {
                StatusCode::BAD_REQUEST
            };
            let message = match e {
                Error::AlreadyExists(_) => format!("The name {slug} is taken; choose another."),
                other => other.to_string(),
            };
            let mut page = build(&state, &user).await?;
            page.error = Some(message);
            page.slug = slug.to_owned();
            Ok(render(status, &page))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Deserialize)]
pub struct Answer {
    /// `accept` or `decline`.
    #[serde(default)]
    answer: String,
}

/// `POST /invites/{id}`: the invitee accepts (and lands in the project)
/// or declines.
pub async fn answer(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { user, form }: Posted<Answer>,
) -> Result<Response, PageError> {
    let answer = match form.answer.as_str() {
        "accept" => InviteAnswer::Accept,
        "decline" => InviteAnswer::Decline,
        _ => return Err(PageError::bad_request("Choose Accept or Decline.")),
    };
    let invite = state
        .paige
        .answer_invite(&user.user, id, answer, &user.actor())
        .await
        .map_err(|e| match e {
            Error::NotFound(_) => PageError::new(
                StatusCode::NOT_FOUND,
                "Not found",
                "This invitation is no longer open: it was answered, cancelled or has expired.",
            ),
            other => other.into(),
        })?;
    let target = match answer {
        InviteAnswer::Accept => format!("/projects/{}/settings/secrets", invite.project),
        InviteAnswer::Decline => format!("/projects?declined={}", urlencode(&invite.project)),
    };
    Ok(Redirect::to(&target).into_response())
}

#[derive(Debug, Deserialize)]
pub struct Go {
    slug: String,
    section: Option<String>,
}

/// `GET /projects/go?slug=…&section=…`: the project switcher's target.
pub async fn go(_user: WebUser, Query(go): Query<Go>) -> Response {
    let section = [Section::Secrets, Section::Executions, Section::Members, Section::Audit]
        .into_iter()
        .find(|s| go.section.as_deref() == Some(s.path()))
        .unwrap_or(Section::Secrets);
    if crate::projects::check_slug(&go.slug).is_err() {
        return PageError::new(StatusCode::NOT_FOUND, "Not found", "There is no such project.").into_response();
    }
    Redirect::to(&format!("/projects/{}/{}", go.slug, section.path())).into_response()
}
