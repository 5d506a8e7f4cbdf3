//! Projects: the caller's, and new ones.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::timestamp;
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{Caller, JsonBody, RequestShape};

#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectView {
    slug: String,
    /// The caller's role in it.
    role: String,
    created_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectList {
    projects: Vec<ProjectView>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProject {
    /// 1–63 of a-z, 0-9, `-`; starts with a letter, does not end with `-`.
    #[schema(pattern = "^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$", min_length = 1, max_length = 63)]
    slug: String,
}

impl RequestShape for CreateProject {
    const SHAPE: &'static str = r#"{"slug": string}"#;
}

/// The projects the caller is a member of, with their role.
#[utoipa::path(
    get, path = "/api/v1/projects", tag = "projects",
    responses((status = 200, body = ProjectList), (status = 401, body = ErrorBody)),
    security(("bearer" = []), ("session" = []))
)]
pub async fn list_projects(State(state): State<AppState>, caller: Caller) -> Result<Json<ProjectList>, ApiError> {
    let projects = state.paige.projects_for(&caller.user).await?;
    Ok(Json(ProjectList {
        projects: projects
            .into_iter()
            .map(|(project, role)| ProjectView {
                slug: project.slug,
                role: role.to_string(),
                created_at: timestamp(project.created_at),
            })
            .collect(),
    }))
}

/// Creates a project; the caller becomes its owner.
#[utoipa::path(
    post, path = "/api/v1/projects", tag = "projects",
    request_body = CreateProject,
    responses(
        (status = 201, body = ProjectView),
        (status = 400, body = ErrorBody, description = "invalid_slug"),
        (status = 409, body = ErrorBody, description = "already_exists"),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub async fn create_project(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<CreateProject>,
) -> Result<(StatusCode, Json<ProjectView>), ApiError> {
    let project = state
        .paige
        .create_project(&body.slug, Some(&caller.user.email), &caller.actor())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(ProjectView {
            slug: project.slug,
            role: "owner".to_owned(),
            created_at: timestamp(project.created_at),
        }),
    ))
}
