//! `POST /projects/{slug}/runtime`: the project's runtime mode, from the
//! small form on its Executions page (developers and up).

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::pages::PageError;
use super::session::Posted;
use crate::auth::roles::Action;
use crate::http::AppState;
use crate::model::RuntimeMode;

#[derive(Deserialize)]
pub struct ModeForm {
    #[serde(default)]
    mode: String,
}

pub async fn save(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Posted { user, form }: Posted<ModeForm>,
) -> Result<Response, PageError> {
    let (project, _) = state.paige.authorize(&user.user, &slug, Action::PushCode).await?;
    let mode = RuntimeMode::named(&form.mode)?;
    state.paige.set_runtime_mode(&project.slug, mode, &user.actor()).await?;
    Ok(Redirect::to(&format!("/projects/{}/executions", project.slug)).into_response())
}
