//! Secrets: list by name, set, delete. No route ever returns a value.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::timestamp;
use crate::auth::roles::Action;
use crate::error::Error;
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiPath, Caller, Credentials, JsonBody, RequestShape, invalid_token};
use crate::model::{SecretMeta, Utc};

/// One key of a listing, borrowed from what the store read.
#[derive(Debug, Serialize, ToSchema)]
pub struct SecretView<'a> {
    key: &'a str,
    #[serde(serialize_with = "display")]
    #[schema(value_type = String)]
    updated_at: Utc,
    updated_by: &'a str,
    version: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SecretList<'a> {
    #[serde(serialize_with = "views")]
    #[schema(value_type = Vec<SecretView>)]
    secrets: &'a [SecretMeta],
}

/// A time written as text straight into the output.
fn display<S: serde::Serializer>(time: &Utc, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(time)
}

fn views<S: serde::Serializer>(secrets: &&[SecretMeta], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(secrets.iter().map(|s| SecretView {
        key: &s.key,
        updated_at: Utc(s.updated_at),
        updated_by: &s.updated_by,
        version: s.version,
    }))
}

/// The listing's JSON, written straight into a body sized for it.
fn listing_response(secrets: &[SecretMeta]) -> Result<Response, ApiError> {
    // A key line is `{"key":…,"updated_at":"…24…","updated_by":…,"version":N}`.
    let guess = 16
        + secrets
            .iter()
            .map(|s| 72 + s.key.len() + s.updated_by.len())
            .sum::<usize>();
    let mut body = Vec::with_capacity(guess);
    serde_json::to_writer(&mut body, &SecretList { secrets })
        .map_err(|e| ApiError::from(Error::internal(e.to_string())))?;
    Ok((
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body,
    )
        .into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutSecret {
    /// UTF-8, 4 bytes to 64 KiB, no NUL. Write-only: never returned.
    #[schema(value_type = String, format = Password, min_length = 4)]
    value: SecretString,
}

impl RequestShape for PutSecret {
    const SHAPE: &'static str = r#"{"value": string}"#;
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SecretWritten {
    key: String,
    version: i64,
    updated_at: String,
    /// Present when the value was accepted with advice (e.g. under 8 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    warning: Option<String>,
}

/// Keys with when and by whom each was last updated; never values.
#[utoipa::path(
    get, path = "/api/v1/projects/{slug}/secrets", tag = "secrets",
    params(("slug" = String, Path)),
    responses(
        (status = 200, body = SecretList),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "no such project, or not a member"),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub async fn list_secrets(
    State(state): State<AppState>,
    credentials: Credentials,
    ApiPath(slug): ApiPath<String>,
) -> Result<Response, ApiError> {
    let secrets = match credentials {
        // One statement: the token, the membership and the keys.
        Credentials::Token { token, .. } => state
            .paige
            .list_secrets_for_token(&token, &slug)
            .await?
            .ok_or_else(invalid_token)?,
        Credentials::Session(caller) => {
            let (project, _) = state.paige.authorize(&caller.user, &slug, Action::ListKeys).await?;
            state.paige.list_secrets_in(&project).await?.into()
        }
    };
    listing_response(&secrets)
}

/// Sets a secret: 201 when the key is new, 200 when it is overwritten.
#[utoipa::path(
    put, path = "/api/v1/projects/{slug}/secrets/{key}", tag = "secrets",
    params(("slug" = String, Path), ("key" = String, Path, description = "A-Z, 0-9, _; 1–128 characters")),
    request_body = PutSecret,
    responses(
        (status = 201, body = SecretWritten, description = "created"),
        (status = 200, body = SecretWritten, description = "overwritten"),
        (status = 400, body = ErrorBody, description = "invalid_key, lowercase_key, reserved_key, value_too_short, value_too_large, value_contains_nul, invalid_json"),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "too_many_secrets, project_too_large"),
        (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub async fn put_secret(
    State(state): State<AppState>,
    credentials: Credentials,
    ApiPath((slug, key)): ApiPath<(String, String)>,
    JsonBody(body): JsonBody<PutSecret>,
) -> Result<(StatusCode, Json<SecretWritten>), ApiError> {
    let (project, actor) = match credentials {
        // One statement for the token, the membership, the role and the project.
        Credentials::Token { token, request_id } => {
            let grant = state
                .paige
                .authorize_token(&token, &slug, Action::WriteSecrets)
                .await?
                .ok_or_else(invalid_token)?;
            let actor = grant.actor(request_id);
            (grant.project, actor)
        }
        Credentials::Session(caller) => {
            let (project, _) = state.paige.authorize(&caller.user, &slug, Action::WriteSecrets).await?;
            (project, caller.actor())
        }
    };
    let set = state.paige.set_secret_in(&project, &key, &body.value, &actor).await?;
    let status = if set.outcome.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(SecretWritten {
            key: set.outcome.key,
            version: set.outcome.version,
            updated_at: timestamp(set.outcome.updated_at),
            warning: set.warning.map(|w| w.to_string()),
        }),
    ))
}

/// Deletes a secret.
#[utoipa::path(
    delete, path = "/api/v1/projects/{slug}/secrets/{key}", tag = "secrets",
    params(("slug" = String, Path), ("key" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("session" = []))
)]
pub async fn delete_secret(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((slug, key)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let (project, _) = state.paige.authorize(&caller.user, &slug, Action::WriteSecrets).await?;
    state.paige.delete_secret(&project.slug, &key, &caller.actor()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportSecrets {
    /// The text of a `.env` file (as `paige secrets import` reads it).
    #[schema(value_type = String, format = Password)]
    dotenv: SecretString,
}

impl RequestShape for ImportSecrets {
    const SHAPE: &'static str = r#"{"dotenv": string}"#;
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Imported {
    /// Keys written, with their new versions.
    secrets: Vec<ImportedSecret>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportedSecret {
    key: String,
    version: i64,
    /// True when the key was new.
    created: bool,
}

/// Imports a `.env` file: every line is applied, or none.
#[utoipa::path(
    post, path = "/api/v1/projects/{slug}/secrets", tag = "secrets",
    params(("slug" = String, Path)),
    request_body = ImportSecrets,
    responses(
        (status = 200, body = Imported),
        (status = 400, body = ErrorBody, description = "invalid_env_file and the key and value rules; nothing was written"),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "too_many_secrets, project_too_large"),
        (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody),
    ),
    security(("bearer" = []), ("session" = []))
)]
pub async fn import_secrets(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(slug): ApiPath<String>,
    JsonBody(body): JsonBody<ImportSecrets>,
) -> Result<Json<Imported>, ApiError> {
    use secrecy::ExposeSecret;
    let (project, _) = state.paige.authorize(&caller.user, &slug, Action::WriteSecrets).await?;
    let entries: Vec<(String, SecretString)> = crate::secrets::dotenv::parse(body.dotenv.expose_secret())?
        .into_iter()
        .map(|e| (e.key, e.value))
        .collect();
    let outcomes = state
        .paige
        .import_secrets(&project.slug, &entries, &caller.actor())
        .await?;
    Ok(Json(Imported {
        secrets: outcomes
            .into_iter()
            .map(|o| ImportedSecret {
                key: o.key,
                version: o.version,
                created: o.created,
            })
            .collect(),
    }))
}
