//! `/projects`: the user's projects with their role, and the switcher.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::pages::{Layout, PageError, Section, render};
use super::session::WebUser;
use crate::http::AppState;
use crate::model::Role;

#[derive(Template)]
#[template(path = "projects.html")]
struct ProjectsPage {
    page: Layout,
}

impl ProjectsPage {
    fn rows(&self) -> &[(String, Role)] {
        &self.page.projects
    }
}

/// `GET /projects`.
pub async fn list(State(state): State<AppState>, user: WebUser) -> Result<Response, PageError> {
    let page = user.layout(&state, "Projects", None).await?;
    Ok(render(StatusCode::OK, &ProjectsPage { page }))
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
