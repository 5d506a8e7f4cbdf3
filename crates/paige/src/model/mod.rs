//! The bottom layer: the records every other module passes around, the
//! roles, who acts, times, and the limits of SPEC §2 and of bot code.
//!
//! Nothing here touches a database, a file or a key: the store, the crypto
//! and the domain modules above all depend on these types, and they depend
//! on nothing but [`crate::error`].

pub mod code;
pub mod code_limits;
pub mod execution;
pub mod findings;
pub mod invite;
pub mod rules;
pub mod runtime_mode;
mod times;

use std::fmt;

pub use code::{CodeEntry, CodeKind, CodeMeta, CodeRevision, CodeTotals, NewCodeEntry};
pub use code_limits::CodeLimits;
pub use execution::{ExecutionRecord, ExecutionStatus, LogLine, Stream};
pub use findings::{CodeFinding, NewFinding};
pub use invite::{INVITE_TTL_MS, Invitation, InviteAnswer, InviteState, NewInvite};
pub use runtime_mode::RuntimeMode;
pub use times::{Millis, Utc, format_utc, now_millis};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Viewer,
    Developer,
    Admin,
    Owner,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Owner, Role::Admin, Role::Developer, Role::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Developer => "developer",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who did something, for `updated_by` and the audit log.
#[derive(Debug, Clone)]
pub struct Actor {
    /// An email for a signed-in user or token; `cli:<os user>` for the CLI.
    pub name: String,
    pub user_id: Option<i64>,
    /// The HTTP request id, when there is one.
    pub request_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub user_id: i64,
    pub email: String,
    pub role: Role,
}

#[derive(Clone)]
pub struct UserRecord {
    pub id: i64,
    pub email: String,
    pub password_hash: String,
    pub created_at: Millis,
}

impl fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserRecord")
            .field("id", &self.id)
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

/// A data key as the database stores it: opaque bytes, and which key
/// provider (`file`, `transit`) and which of its keys wrapped them.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedKey {
    pub provider: String,
    pub key_id: String,
    pub blob: Vec<u8>,
}

impl fmt::Debug for WrappedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WrappedKey")
            .field("provider", &self.provider)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
pub struct ProjectRecord {
    pub id: i64,
    pub slug: String,
    pub created_at: Millis,
    /// The project's data key, wrapped by the master key `kek_id` of the
    /// key provider `key_provider` (`file` or `transit`).
    pub wrapped_data_key: Vec<u8>,
    pub kek_id: String,
    pub key_provider: String,
}

impl fmt::Debug for ProjectRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProjectRecord")
            .field("id", &self.id)
            .field("slug", &self.slug)
            .field("kek_id", &self.kek_id)
            .field("key_provider", &self.key_provider)
            .finish_non_exhaustive()
    }
}

impl ProjectRecord {
    /// The project's data key as stored.
    pub fn wrapped_key(&self) -> WrappedKey {
        WrappedKey {
            provider: self.key_provider.clone(),
            key_id: self.kek_id.clone(),
            blob: self.wrapped_data_key.clone(),
        }
    }
}

/// A key's listing entry: never a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretMeta {
    pub key: String,
    pub version: i64,
    pub updated_at: Millis,
    pub updated_by: String,
}

/// A project's record with its current sealed values, read in one
/// snapshot; `secrets` is `None` when they are unchanged since the
/// generation the caller already holds (`Store::sealed_secrets_since`).
#[derive(Debug, Clone)]
pub struct SealedRead {
    pub project: ProjectRecord,
    /// `projects.secrets_generation`: moved by every change to the
    /// project's secrets, in the changing transaction (migration 0012).
    pub generation: i64,
    pub secrets: Option<Vec<SealedSecret>>,
}

/// A current value as stored, for decryption.
#[derive(Clone)]
pub struct SealedSecret {
    pub key: String,
    pub version: i64,
    pub ciphertext: Vec<u8>,
}

impl fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedSecret")
            .field("key", &self.key)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// What a write did to one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOutcome {
    pub key: String,
    pub version: i64,
    /// True when the key had no current value before.
    pub created: bool,
    pub updated_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub id: i64,
    pub at: Millis,
    pub actor: String,
    pub project: Option<String>,
    pub action: String,
    pub key: Option<String>,
    pub version: Option<i64>,
    pub request_id: Option<String>,
    /// Free text without values: a role, an email, a count.
    pub detail: Option<String>,
}

/// A record to append to the audit log.
#[derive(Debug, Clone, Default)]
pub struct NewAudit<'a> {
    pub project_id: Option<i64>,
    pub action: &'a str,
    pub key: Option<&'a str>,
    pub version: Option<i64>,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Copy)]
pub struct Page {
    /// Return events with an id below this one (newest first).
    pub before_id: Option<i64>,
    pub limit: u32,
}

impl Page {
    /// The page as its statement binds it: ids below this, at most that many.
    pub(crate) fn bounds(self) -> (i64, i64) {
        (self.before_id.unwrap_or(i64::MAX), i64::from(self.limit))
    }
}
