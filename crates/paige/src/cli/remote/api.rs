//! One method per command, as the API documents it (`/api/v1/openapi.json`).

use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use zeroize::Zeroizing;

use super::{Client, segment};
use crate::cli::failure::{Class, CliError, CliResult};
use crate::cli::views::{
    AuditList, ExecutionDetail, ExecutionList, ExecutionSummary, Imported, InviteEntry, MemberList, ProjectEntry,
    ProjectList, RolledBack, RuntimeModeView, SecretList, SecretWritten, VersionList,
};

/// The caller, as `GET /api/v1/me` says.
#[derive(Debug, serde::Deserialize)]
pub struct Me {
    pub email: String,
    pub token_id: Option<i64>,
}

fn project(slug: &str) -> String {
    format!("/api/v1/projects/{}", segment(slug))
}

/// A JSON body holding a value: encoded into memory that is wiped after.
fn sealed_json(body: &impl Serialize) -> CliResult<Zeroizing<Vec<u8>>> {
    serde_json::to_vec(body)
        .map(Zeroizing::new)
        .map_err(|e| CliError::new(Class::Failure, format!("cannot encode the request: {e}")))
}

impl Client {
    pub async fn me(&self) -> CliResult<Me> {
        self.json(self.request(Method::GET, "/api/v1/me")).await
    }

    pub async fn revoke_current_token(&self) -> CliResult<()> {
        self.send(self.request(Method::DELETE, "/api/v1/tokens/current"))
            .await
            .map(drop)
    }

    pub async fn list_projects(&self) -> CliResult<ProjectList> {
        self.json(self.request(Method::GET, "/api/v1/projects")).await
    }

    pub async fn create_project(&self, slug: &str) -> CliResult<ProjectEntry> {
        let body = serde_json::json!({ "slug": slug });
        self.json(self.request(Method::POST, "/api/v1/projects").json(&body))
            .await
    }

    pub async fn list_members(&self, slug: &str) -> CliResult<MemberList> {
        self.json(self.request(Method::GET, &format!("{}/members", project(slug))))
            .await
    }

    pub async fn invite_member(&self, slug: &str, email: &str, role: &str) -> CliResult<InviteEntry> {
        let body = serde_json::json!({ "email": email, "role": role });
        self.json(
            self.request(Method::POST, &format!("{}/invites", project(slug)))
                .json(&body),
        )
        .await
    }

    pub async fn runtime_mode(&self, slug: &str) -> CliResult<RuntimeModeView> {
        self.json(self.request(Method::GET, &format!("{}/runtime", project(slug))))
            .await
    }

    pub async fn set_runtime_mode(&self, slug: &str, mode: &str) -> CliResult<RuntimeModeView> {
        let body = serde_json::json!({ "mode": mode });
        self.json(
            self.request(Method::PUT, &format!("{}/runtime", project(slug)))
                .json(&body),
        )
        .await
    }

    pub async fn test_event(&self, slug: &str) -> CliResult<ExecutionSummary> {
        self.json(self.request(Method::POST, &format!("{}/test-event", project(slug))))
            .await
    }

    pub async fn secret_versions(&self, slug: &str, key: &str) -> CliResult<VersionList> {
        let path = format!("{}/secrets/{}/versions", project(slug), segment(key));
        self.json(self.request(Method::GET, &path)).await
    }

    pub async fn rollback_secret(&self, slug: &str, key: &str, version: i64) -> CliResult<RolledBack> {
        let path = format!("{}/secrets/{}/rollback", project(slug), segment(key));
        let body = serde_json::json!({ "version": version });
        self.json(self.request(Method::POST, &path).json(&body)).await
    }

    pub async fn remove_member(&self, slug: &str, email: &str) -> CliResult<()> {
        let path = format!("{}/members/{}", project(slug), segment(email));
        self.send(self.request(Method::DELETE, &path)).await.map(drop)
    }

    pub async fn list_secrets(&self, slug: &str) -> CliResult<SecretList> {
        self.json(self.request(Method::GET, &format!("{}/secrets", project(slug))))
            .await
    }

    pub async fn set_secret(&self, slug: &str, key: &str, value: &SecretString) -> CliResult<SecretWritten> {
        #[derive(Serialize)]
        struct Put<'a> {
            value: &'a str,
        }
        let body = sealed_json(&Put {
            value: value.expose_secret(),
        })?;
        let path = format!("{}/secrets/{}", project(slug), segment(key));
        let response = self
            .send(
                self.request(Method::PUT, &path)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.to_vec()),
            )
            .await?;
        let created = response.status() == reqwest::StatusCode::CREATED;
        let mut written: SecretWritten = self.decode(response).await?;
        written.created = created;
        Ok(written)
    }

    pub async fn delete_secret(&self, slug: &str, key: &str) -> CliResult<()> {
        let path = format!("{}/secrets/{}", project(slug), segment(key));
        self.send(self.request(Method::DELETE, &path)).await.map(drop)
    }

    pub async fn import_secrets(&self, slug: &str, dotenv: &str) -> CliResult<Imported> {
        #[derive(Serialize)]
        struct Import<'a> {
            dotenv: &'a str,
        }
        let body = sealed_json(&Import { dotenv })?;
        self.json(
            self.request(Method::POST, &format!("{}/secrets", project(slug)))
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_vec()),
        )
        .await
    }

    pub async fn audit(&self, slug: &str, limit: u32) -> CliResult<AuditList> {
        let path = format!("{}/audit", project(slug));
        self.json(self.request(Method::GET, &path).query(&[("limit", limit)]))
            .await
    }

    pub async fn list_executions(&self, slug: &str, limit: u32) -> CliResult<ExecutionList> {
        let path = format!("{}/executions", project(slug));
        self.json(self.request(Method::GET, &path).query(&[("limit", limit)]))
            .await
    }

    pub async fn execution(&self, slug: &str, id: i64) -> CliResult<ExecutionDetail> {
        let path = format!("{}/executions/{id}", project(slug));
        self.json(self.request(Method::GET, &path)).await
    }
}
