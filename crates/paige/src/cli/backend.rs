//! One command set, two back ends: `Local` calls `Paige` on this machine's
//! store, `Remote` calls a server's API. Each method answers the same view
//! (`views.rs`) either way, so the commands are written once.

use std::path::Path;

use secrecy::SecretString;

use super::failure::CliResult;
use super::remote::Client;
use super::views::{
    AuditEntry, AuditList, CodePushed, ExecutionDetail, ExecutionList, ExecutionSummary, Imported, ImportedEntry,
    InviteEntry, MemberEntry, MemberList, ProjectEntry, ProjectList, RolledBack, RuntimeModeView, SecretEntry,
    SecretList, SecretWritten, SkippedView, VersionEntry, VersionList,
};
use crate::Paige;
use crate::model::{Actor, Page, RuntimeMode, format_utc};
use crate::projects::parse_role;
use crate::secrets::dotenv;
use crate::secrets::guard::to_json;

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

    /// Invites `email` with `role`; they join when they accept it.
    pub async fn invite_member(&self, slug: &str, email: &str, role: &str) -> CliResult<InviteEntry> {
        let parsed = parse_role(role)?;
        match self {
            Self::Local { paige, actor } => {
                let project = paige.project(slug).await?;
                let invite = paige.invite(&project, email, parsed, actor).await?;
                Ok(InviteEntry {
                    id: invite.id,
                    email: invite.email,
                    role: invite.role.to_string(),
                    expires_at: format_utc(invite.expires_at),
                })
            }
            Self::Remote(client) => client.invite_member(slug, email, parsed.as_str()).await,
        }
    }

    /// The project's runtime mode, after setting it to `mode` if given.
    pub async fn runtime_mode(&self, slug: &str, mode: Option<&str>) -> CliResult<RuntimeModeView> {
        match self {
            Self::Local { paige, actor } => {
                if let Some(mode) = mode {
                    let parsed = RuntimeMode::named(mode)?;
                    paige.set_runtime_mode(slug, parsed, actor).await?;
                }
                Ok(RuntimeModeView {
                    mode: paige.runtime_mode(slug).await?.to_string(),
                })
            }
            Self::Remote(client) => match mode {
                Some(mode) => client.set_runtime_mode(slug, mode).await,
                None => client.runtime_mode(slug).await,
            },
        }
    }

    /// Posts the WhatsApp test message to an `http` project's bot. Locally
    /// the bot runs in this process and stops with it.
    pub async fn test_event(&self, slug: &str) -> CliResult<ExecutionSummary> {
        match self {
            Self::Local { paige, actor } => {
                let sent = paige.send_whatsapp_test_event(slug, actor).await;
                paige.stop_warm_bots().await;
                Ok(ExecutionSummary::from(&paige.execution(slug, sent?).await?.record))
            }
            Self::Remote(client) => client.test_event(slug).await,
        }
    }

    pub async fn secret_versions(&self, slug: &str, key: &str) -> CliResult<VersionList> {
        match self {
            Self::Local { paige, .. } => Ok(VersionList {
                key: key.to_owned(),
                versions: paige
                    .secret_versions(slug, key)
                    .await?
                    .into_iter()
                    .map(|v| VersionEntry {
                        version: v.version,
                        created_at: format_utc(v.updated_at),
                        created_by: v.updated_by,
                    })
                    .collect(),
            }),
            Self::Remote(client) => client.secret_versions(slug, key).await,
        }
    }

    pub async fn rollback_secret(&self, slug: &str, key: &str, version: i64) -> CliResult<RolledBack> {
        match self {
            Self::Local { paige, actor } => {
                let outcome = paige.rollback_secret(slug, key, version, actor).await?;
                Ok(RolledBack {
                    key: key.to_owned(),
                    version: outcome.version,
                    restored_from: version,
                })
            }
            Self::Remote(client) => client.rollback_secret(slug, key, version).await,
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

    /// Pushes the code tree in `dir`, replacing the stored tree at once,
    /// locally or through the API's whole-tree `PUT …/code` (`progress`
    /// follows the upload's building and answer).
    pub async fn push_code(&self, slug: &str, dir: &Path, progress: &mut dyn FnMut(u64, u64)) -> CliResult<CodePushed> {
        match self {
            Self::Local { paige, actor } => {
                let summary = paige.push_code(slug, dir, actor).await?;
                Ok(CodePushed {
                    files: summary.files,
                    bytes: summary.bytes,
                    warnings: summary.warnings.iter().map(|f| to_json(f, slug)).collect(),
                    skipped: SkippedView::of(summary.skipped),
                })
            }
            Self::Remote(client) => super::push::push_remote(client, slug, dir, progress).await,
        }
    }
}
