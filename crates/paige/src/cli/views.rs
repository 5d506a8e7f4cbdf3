//! What the project commands print with `--json`: one shape per command,
//! built from `Paige`'s records locally and read from the API's answers
//! remotely, so both back ends print the same.

use serde::{Deserialize, Serialize};

use crate::model::{AuditEvent, ExecutionRecord, LogLine, SecretMeta, format_utc};
use crate::runtime::{Skipped, StoredExecution};

#[derive(Debug, Serialize, Deserialize)]
pub struct ProjectList {
    pub projects: Vec<ProjectEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ProjectEntry {
    pub slug: String,
    /// The caller's role (remote); the operator of a local store sees all
    /// projects and has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    pub created_at: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct MemberList {
    pub members: Vec<MemberEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct MemberEntry {
    pub email: String,
    pub role: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct SecretList {
    pub secrets: Vec<SecretEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct SecretEntry {
    pub key: String,
    pub updated_at: String,
    pub updated_by: String,
    pub version: i64,
}

impl From<&SecretMeta> for SecretEntry {
    fn from(s: &SecretMeta) -> Self {
        Self {
            key: s.key.clone(),
            updated_at: format_utc(s.updated_at),
            updated_by: s.updated_by.clone(),
            version: s.version,
        }
    }
}

/// The result of `secrets set`.
#[derive(Debug, Serialize, Deserialize)]
pub struct SecretWritten {
    pub key: String,
    pub version: i64,
    #[serde(default)]
    pub created: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// The result of `secrets import`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Imported {
    pub secrets: Vec<ImportedEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ImportedEntry {
    pub key: String,
    pub version: i64,
    pub created: bool,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct AuditList {
    pub events: Vec<AuditEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub key: Option<String>,
    pub version: Option<i64>,
    pub request_id: Option<String>,
    pub detail: Option<String>,
}

impl From<AuditEvent> for AuditEntry {
    fn from(e: AuditEvent) -> Self {
        Self {
            id: e.id,
            at: format_utc(e.at),
            actor: e.actor,
            action: e.action,
            key: e.key,
            version: e.version,
            request_id: e.request_id,
            detail: e.detail,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ExecutionList {
    pub executions: Vec<ExecutionSummary>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecutionSummary {
    pub id: i64,
    pub status: String,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub duration_ms: Option<i64>,
    pub trigger: String,
    pub actor: String,
    pub started_at: String,
    pub secret_names: Vec<String>,
    /// A forwarded webhook's answer status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_status: Option<i32>,
}

impl From<&ExecutionRecord> for ExecutionSummary {
    fn from(r: &ExecutionRecord) -> Self {
        Self {
            id: r.id,
            status: r.status.as_str().to_owned(),
            exit_code: r.exit_code,
            signal: r.signal,
            duration_ms: r.duration_ms,
            trigger: r.trigger.clone(),
            actor: r.actor.clone(),
            started_at: format_utc(r.started_at),
            secret_names: r.secret_names.clone(),
            response_status: r.response_status,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ExecutionDetail {
    #[serde(flatten)]
    pub summary: ExecutionSummary,
    pub error: Option<String>,
    pub finished_at: Option<String>,
    pub truncated: bool,
    pub log: Vec<LogEntry>,
}

impl From<&StoredExecution> for ExecutionDetail {
    fn from(e: &StoredExecution) -> Self {
        Self {
            summary: ExecutionSummary::from(&e.record),
            error: e.record.error.clone(),
            finished_at: e.record.finished_at.map(format_utc),
            truncated: e.record.truncated,
            log: e.log.iter().map(LogEntry::from).collect(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct LogEntry {
    pub seq: i64,
    pub stream: String,
    pub at: String,
    pub text: String,
}

impl From<&LogLine> for LogEntry {
    fn from(l: &LogLine) -> Self {
        Self {
            seq: l.seq,
            stream: l.stream.as_str().to_owned(),
            at: format_utc(l.at),
            text: l.text.clone(),
        }
    }
}

/// The result of `code push`.
#[derive(Debug, Serialize, Deserialize)]
pub struct CodePushed {
    pub files: usize,
    pub bytes: u64,
    /// The code guard's findings (file, line, kind, key or rule, message).
    pub warnings: Vec<serde_json::Value>,
    /// Files the guard did not scan, when any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<SkippedView>,
}

/// Files the code guard did not scan, by reason, named as in the API.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct SkippedView {
    pub binary: usize,
    pub node_modules: usize,
}

impl SkippedView {
    /// `None` when the guard scanned every file.
    pub fn of(skips: Skipped) -> Option<Self> {
        (skips != Skipped::default()).then_some(Self {
            binary: skips.binary,
            node_modules: skips.vendored,
        })
    }

    /// The runtime's own words for it, for stderr.
    pub fn notice(&self) -> Option<String> {
        Skipped {
            vendored: self.node_modules,
            binary: self.binary,
        }
        .notice()
    }
}

/// `members add`: the invitation made (the invitee joins by accepting it).
#[derive(Debug, Serialize, Deserialize)]
pub struct InviteEntry {
    pub id: i64,
    pub email: String,
    pub role: String,
    pub expires_at: String,
}

/// `secrets versions`: a key's kept versions, never their values.
#[derive(Debug, Serialize, Deserialize)]
pub struct VersionList {
    pub key: String,
    pub versions: Vec<VersionEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct VersionEntry {
    pub version: i64,
    pub created_at: String,
    pub created_by: String,
}

/// `secrets rollback`: the new version that holds the old value.
#[derive(Debug, Serialize, Deserialize)]
pub struct RolledBack {
    pub key: String,
    pub version: i64,
    pub restored_from: i64,
}

/// `projects mode`: a project's runtime mode.
#[derive(Debug, Serialize, Deserialize)]
pub struct RuntimeModeView {
    pub mode: String,
}
