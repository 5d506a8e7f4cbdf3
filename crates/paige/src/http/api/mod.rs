//! The API's routes. Each handler carries its OpenAPI description, and
//! `routes()` registers handler and description together.

mod audit;
mod auth;
mod code_tree;
mod executions;
mod findings;
mod invites;
mod members;
pub mod openapi;
mod projects;
mod runtime;
mod secrets;
mod stream;
mod versions;

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::openapi::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::ApiError;
use crate::model::format_utc;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::create_token))
        .routes(routes!(auth::revoke_token))
        .routes(routes!(auth::revoke_current_token))
        .routes(routes!(auth::me))
        .routes(routes!(projects::list_projects, projects::create_project))
        .routes(routes!(secrets::list_secrets, secrets::import_secrets))
        .routes(routes!(secrets::put_secret, secrets::delete_secret))
        .routes(routes!(versions::list_versions))
        .routes(routes!(versions::rollback))
        .routes(routes!(members::list_members, members::add_member))
        .routes(routes!(members::remove_member))
        .routes(routes!(invites::list_invites, invites::create_invite))
        .routes(routes!(invites::cancel_invite))
        .routes(routes!(invites::my_invites))
        .routes(routes!(invites::accept_invite))
        .routes(routes!(invites::decline_invite))
        .routes(routes!(audit::list_audit))
        .routes(routes!(code_tree::push_tree))
        .routes(routes!(executions::put_code))
        .routes(routes!(findings::list_findings))
        .routes(routes!(findings::fix_finding))
        .routes(routes!(executions::list_executions, executions::run_execution))
        .routes(routes!(executions::get_execution))
        .routes(routes!(runtime::get_runtime, runtime::put_runtime))
        .routes(routes!(runtime::send_test_event))
        .routes(routes!(stream::execution_log))
        .routes(routes!(stream::run_streamed))
}

/// Declares the two ways to authenticate in the OpenAPI document.
#[derive(Debug)]
pub struct SecurityAddon;

impl Modify for SecurityAddon {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(crate::auth::sessions::SESSION_COOKIE))),
        );
    }
}

pub async fn openapi_json(doc: Arc<serde_json::Value>) -> Response {
    Json(doc.as_ref().clone()).into_response()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    status: &'static str,
}

/// Liveness and database reachability.
pub async fn healthz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    state.paige.health().await?;
    Ok(Json(Health { status: "ok" }))
}

pub async fn no_route() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

/// Timestamps in API bodies: RFC 3339, UTC, milliseconds.
fn timestamp(millis: i64) -> String {
    format_utc(millis)
}
