//! Persistence behind one trait, so the embedded SQLite store and a
//! PostgreSQL store can serve the same code above them.
//!
//! The store never sees a plaintext value or key: it receives ciphertext
//! from closures that the domain layer builds, and it calls them inside its
//! transaction, once the version a value will have is known. That keeps the
//! version bump, the sealed value (whose associated data includes the
//! version), the project limits and the audit record in one transaction.

pub mod code;
pub mod executions;
mod group_commit;
pub mod postgres;
mod postgres_code;
mod postgres_executions;
mod postgres_group;
mod rows;
pub mod sqlite;
mod sqlite_code;
mod sqlite_executions;
mod sqlite_group;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::error::Result;

pub use code::CodeStore;
pub use executions::ExecutionStore;
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// Milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

pub fn now_millis() -> Millis {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}

/// RFC 3339 in UTC with milliseconds, ISO date first: `2026-11-28T03:20:11.123Z`.
pub fn format_utc(millis: Millis) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| format!("@{millis}ms"))
}

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

#[derive(Clone)]
pub struct ProjectRecord {
    pub id: i64,
    pub slug: String,
    pub created_at: Millis,
    /// The project's data key, wrapped by the master key `kek_id`.
    pub wrapped_data_key: Vec<u8>,
    pub kek_id: String,
}

impl fmt::Debug for ProjectRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProjectRecord")
            .field("id", &self.id)
            .field("slug", &self.slug)
            .field("kek_id", &self.kek_id)
            .finish_non_exhaustive()
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

/// Seals the value of one write for the version the store assigns. Owned,
/// so a store may run it on another task (the SQLite store's group commit).
pub type SealFn = Arc<dyn Fn(i64) -> Vec<u8> + Send + Sync>;

/// Produces a wrapped data key for the project id the store assigns.
pub type WrapFn<'a> = &'a (dyn Fn(i64) -> Vec<u8> + Send + Sync);

/// Re-wraps one project's data key: (project id, wrapped, kek id) -> new wrapped.
pub type RewrapFn<'a> = &'a (dyn Fn(i64, &[u8], &str) -> Result<Vec<u8>> + Send + Sync);

/// One value to write.
pub struct SecretWrite {
    pub key: String,
    /// Plaintext length in bytes, for the project's size limit.
    pub value_len: usize,
    pub seal: SealFn,
}

impl fmt::Debug for SecretWrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretWrite")
            .field("key", &self.key)
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

#[async_trait]
pub trait Store: ExecutionStore + CodeStore + Send + Sync + fmt::Debug {
    // Users and tokens.
    async fn create_user(&self, email: &str, password_hash: &str, actor: &Actor) -> Result<UserRecord>;
    async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>>;
    async fn user_by_id(&self, user_id: i64) -> Result<Option<UserRecord>>;
    async fn create_token(&self, user_id: i64, token_hash: &[u8], actor: &Actor) -> Result<i64>;
    /// The unrevoked token with this hash: its owner and the stored hash.
    async fn token_by_hash(&self, token_hash: &[u8]) -> Result<Option<(UserRecord, Vec<u8>)>>;
    /// Revokes a token; `owner` limits it to that user's tokens. False if
    /// there was no such live token.
    async fn revoke_token(&self, token_id: i64, owner: Option<i64>, actor: &Actor) -> Result<bool>;

    // Sessions (dashboard sign-in). Ids are stored hashed.
    async fn create_session(&self, id_hash: &[u8], user_id: i64, expires_at: Millis) -> Result<()>;
    /// The user of a live session, refreshing its last-seen time. A session
    /// idle for more than `idle_ms`, or past its absolute expiry, is deleted.
    async fn session_user(&self, id_hash: &[u8], idle_ms: i64) -> Result<Option<UserRecord>>;
    async fn delete_session(&self, id_hash: &[u8]) -> Result<()>;

    // Projects and members.
    /// Creates a project; `wrap` seals a fresh data key for the assigned id.
    /// `owner` becomes its first member with the owner role.
    async fn create_project(
        &self,
        slug: &str,
        kek_id: &str,
        wrap: WrapFn<'_>,
        owner: Option<i64>,
        actor: &Actor,
    ) -> Result<ProjectRecord>;
    async fn project_by_slug(&self, slug: &str) -> Result<Option<ProjectRecord>>;
    async fn list_projects(&self) -> Result<Vec<ProjectRecord>>;
    /// The projects a user is a member of, with their role, by slug.
    async fn projects_for_user(&self, user_id: i64) -> Result<Vec<(ProjectRecord, Role)>>;
    /// Adds a member or changes their role; true if the member is new.
    /// Refuses (conflict) to leave a project without an owner.
    async fn set_member(&self, project_id: i64, user_id: i64, role: Role, actor: &Actor) -> Result<bool>;
    /// Removes a member; false if they were not one. Refuses (conflict) to
    /// remove the last owner.
    async fn remove_member(&self, project_id: i64, user_id: i64, actor: &Actor) -> Result<bool>;
    async fn member_role(&self, project_id: i64, user_id: i64) -> Result<Option<Role>>;
    /// A project and the user's role in it (if any), in one read: the check
    /// every API request makes.
    async fn project_and_role(&self, slug: &str, user_id: i64) -> Result<Option<(ProjectRecord, Option<Role>)>>;
    /// Members with their email and role, by email.
    async fn list_members(&self, project_id: i64) -> Result<Vec<Member>>;

    // Secrets.
    /// Writes every entry or none, with one audit record each; the project's
    /// limits are checked against the totals after the writes.
    async fn write_secrets(
        &self,
        project_id: i64,
        writes: Vec<SecretWrite>,
        actor: &Actor,
    ) -> Result<Vec<WriteOutcome>>;
    /// Deletes a key's current value; `None` if it had none.
    async fn delete_secret(&self, project_id: i64, key: &str, actor: &Actor) -> Result<Option<i64>>;
    /// Current keys, sorted by key.
    async fn list_secrets(&self, project_id: i64) -> Result<Vec<SecretMeta>>;
    /// The project's record and every current sealed value, read together.
    async fn sealed_secrets(&self, slug: &str) -> Result<Option<(ProjectRecord, Vec<SealedSecret>)>>;

    // Master key rotation.
    /// Re-wraps every project's data key in one transaction; returns how many.
    async fn rewrap_data_keys(&self, new_kek_id: &str, rewrap: RewrapFn<'_>, actor: &Actor) -> Result<usize>;
    /// The distinct master key ids that wrap data keys now.
    async fn kek_ids_in_use(&self) -> Result<Vec<String>>;

    // Audit.
    async fn audit_events(&self, project_id: i64, page: Page) -> Result<Vec<AuditEvent>>;
    async fn append_audit(&self, event: NewAudit<'_>, actor: &Actor) -> Result<()>;

    /// Checks that the database answers.
    async fn ping(&self) -> Result<()>;

    /// Closes connections cleanly (checkpoints the WAL on SQLite).
    async fn close(&self);
}
