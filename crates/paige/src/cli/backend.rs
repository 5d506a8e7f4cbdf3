//! One command set, two back ends: `Local` calls `Paige` on this machine's
//! store, `Remote` calls a server's API. Each method answers the same view
//! (`views.rs`) either way, so the commands are written once.

use std::path::Path;

use secrecy::SecretString;

use super::failure::CliResult;
use super::remote::Client;
use super::views::{
    AuditEntry, AuditList, CodePushed, ExecutionDetail, ExecutionList, ExecutionSummary, Imported, ImportedEntry,
    MemberEntry, MemberList, ProjectEntry, ProjectList, SecretEntry, SecretList, SecretWritten,
};
use crate::Paige;
use crate::model::{Actor, Page, format_utc};
use crate::projects::parse_role;
use crate::secrets::dotenv;

pub enum Backend<'a> {
    /// This machine's store, acting as the OS user who runs the command.
    Local { paige: &'a Paige, actor: Actor },
    /// A server's API, acting as the token's user.
    Remote(&'a Client),
}

impl Backend<'_> {
    pub async fn list_projects(&self) -> CliResult<ProjectList> {
        match self {
            Self::Local { paige, .. } => Ok(ProjectList {
                projects: paige
                    .list_projects()
                    .await?
                    .into_iter()
                    .map(|p| ProjectEntry {
                        slug: p.slug,
                        role: None,
                        created_at: format_utc(p.created_at),
                    })
                    .collect(),
            }),
            Self::Remote(client) => client.list_projects().await,
        }
    }

    /// Creates a project; locally with `owner` (if any), remotely owned by the caller.
    pub async fn create_project(&self, slug: &str, owner: Option<&str>) -> CliResult<ProjectEntry> {
        match self {
            Self::Local { paige, actor } => {
                let p = paige.create_project(slug, owner, actor).await?;
                Ok(ProjectEntry {
                    slug: p.slug,
                    role: owner.map(|_| "owner".to_owned()),
                    created_at: format_utc(p.created_at),
                })
            }
            Self::Remote(client) => client.create_project(slug).await,
        }
    }

    pub async fn list_members(&self, slug: &str) -> CliResult<MemberList> {
        match self {
            Self::Local { paige, .. } => Ok(MemberList {
                members: paige
                    .list_members(slug)
                    .await?
                    .into_iter()
                    .map(|m| MemberEntry {
                        email: m.email,
                        role: m.role.to_string(),
                    })
                    .collect(),
            }),
            Self::Remote(client) => client.list_members(slug).await,
        }
    }

    pub async fn add_member(&self, slug: &str, email: &str, role: &str) -> CliResult<MemberEntry> {
        let parsed = parse_role(role)?;
        match self {
            Self::Local { paige, actor } => {
                paige.add_member(slug, email, parsed, actor).await?;
                Ok(MemberEntry {
                    email: paige.user(email).await?.email,
                    role: parsed.to_string(),
                })
            }
            Self::Remote(client) => client.add_member(slug, email, parsed.as_str()).await,
        }
    }

    pub async fn remove_member(&self, slug: &str, email: &str) -> CliResult<()> {
        match self {
            Self::Local { paige, actor } => Ok(paige.remove_member(slug, email, actor).await?),
            Self::Remote(client) => client.remove_member(slug, email).await,
        }
    }

    pub async fn list_secrets(&self, slug: &str) -> CliResult<SecretList> {
        match self {
            Self::Local { paige, .. } => Ok(SecretList {
                secrets: paige.list_secrets(slug).await?.iter().map(SecretEntry::from).collect(),
            }),
            Self::Remote(client) => client.list_secrets(slug).await,
        }
    }

    pub async fn set_secret(&self, slug: &str, key: &str, value: &SecretString) -> CliResult<SecretWritten> {
        match self {
            Self::Local { paige, actor } => {
                let set = paige.set_secret(slug, key, value, actor).await?;
                Ok(SecretWritten {
                    key: set.outcome.key,
                    version: set.outcome.version,
                    created: set.outcome.created,
                    warning: set.warning.map(|w| w.to_string()),
                })
            }
            Self::Remote(client) => client.set_secret(slug, key, value).await,
        }
    }

    /// Deletes a secret; the version it had, where the back end says it.
    pub async fn delete_secret(&self, slug: &str, key: &str) -> CliResult<Option<i64>> {
        match self {
            Self::Local { paige, actor } => Ok(Some(paige.delete_secret(slug, key, actor).await?)),
            Self::Remote(client) => client.delete_secret(slug, key).await.map(|()| None),
        }
    }

    /// Imports a whole `.env` text: every line or none. Locally it is
    /// parsed here; remotely the server parses it, with the same parser.
    pub async fn import_secrets(&self, slug: &str, text: &str) -> CliResult<Imported> {
        match self {
            Self::Local { paige, actor } => {
                let entries: Vec<(String, SecretString)> =
                    dotenv::parse(text)?.into_iter().map(|e| (e.key, e.value)).collect();
                let outcomes = paige.import_secrets(slug, &entries, actor).await?;
                Ok(Imported {
                    secrets: outcomes
                        .into_iter()
                        .map(|o| ImportedEntry {
                            key: o.key,
                            version: o.version,
                            created: o.created,
                        })
                        .collect(),
                })
            }
            Self::Remote(client) => {
                // Refuse a malformed file before it leaves this machine.
                dotenv::parse(text)?;
                client.import_secrets(slug, text).await
            }
        }
    }

    pub async fn audit(&self, slug: &str, limit: u32) -> CliResult<AuditList> {
        match self {
            Self::Local { paige, .. } => {
                let project = paige.project(slug).await?;
                let page = Page { before_id: None, limit };
                let events = paige.audit_events(&project, page).await?;
                Ok(AuditList {
                    events: events.into_iter().map(AuditEntry::from).collect(),
                })
            }
            Self::Remote(client) => client.audit(slug, limit).await,
        }
    }

    pub async fn list_executions(&self, slug: &str, limit: u32) -> CliResult<ExecutionList> {
        match self {
            Self::Local { paige, .. } => {
                let page = Page { before_id: None, limit };
                let records = paige.list_executions(slug, page).await?;
                Ok(ExecutionList {
                    executions: records.iter().map(ExecutionSummary::from).collect(),
                })
            }
            Self::Remote(client) => client.list_executions(slug, limit).await,
        }
    }

    pub async fn execution(&self, slug: &str, id: i64) -> CliResult<ExecutionDetail> {
        match self {
            Self::Local { paige, .. } => Ok(ExecutionDetail::from(&paige.execution(slug, id).await?)),
            Self::Remote(client) => client.execution(slug, id).await,
        }
    }

    /// Pushes the code tree in `dir`. Locally it replaces the stored tree
    /// at once; remotely each file is written in turn (`progress` is told
    /// of each), and files removed from `dir` stay on the server.
    pub async fn push_code(&self, slug: &str, dir: &Path, progress: &mut dyn FnMut(u64, u64)) -> CliResult<CodePushed> {
        match self {
            Self::Local { paige, actor } => {
                let summary = paige.push_code(slug, dir, actor).await?;
                Ok(CodePushed {
                    files: summary.files,
                    bytes: summary.bytes,
                    warnings: summary.warnings.iter().map(|f| f.to_json(slug)).collect(),
                })
            }
            Self::Remote(client) => super::push::push_remote(client, slug, dir, progress).await,
        }
    }
}
