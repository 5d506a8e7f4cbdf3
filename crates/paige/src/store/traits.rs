//! The store's interface: the [`Store`] trait (with [`CodeStore`] and
//! [`ExecutionStore`]) and what its writes take.
//!
//! The store never sees a plaintext value or key: it receives ciphertext
//! from closures that the domain layer builds, and it calls them inside its
//! transaction, once the version a value will have is known. That keeps the
//! version bump, the sealed value (whose associated data includes the
//! version), the project limits and the audit record in one transaction.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;

use super::access::AccessStore;
use super::accounts::AccountStore;
use super::code::CodeStore;
use super::executions::ExecutionStore;
use super::keys::KeyStore;
use super::retention::RetentionStore;
use super::snapshot::PoolStat;
use super::versions::VersionStore;
use crate::error::Result;
use crate::model::{
    Actor, AuditEvent, Member, Millis, NewAudit, Page, ProjectRecord, Role, SealedRead, SealedSecret, SecretMeta,
    UserRecord, WrappedKey, WriteOutcome,
};

/// A `known` generation no project has: generations start at 0.
pub const NO_GENERATION: i64 = -1;

/// Seals the value of one write for the version the store assigns. Owned,
/// so a store may run it on another task (the SQLite store's group commit).
pub type SealFn = Arc<dyn Fn(i64) -> Vec<u8> + Send + Sync>;

/// Produces a wrapped data key for the project id the store assigns. A
/// future: a key service may take a round trip to wrap it.
pub type WrapFn<'a> = &'a (dyn Fn(i64) -> WrapFuture<'a> + Send + Sync);
pub type WrapFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<WrappedKey>> + Send + 'a>>;

/// Re-wraps one project's data key: (project id, wrapped, kek id) -> new wrapped.
pub type RewrapFn<'a> = &'a (dyn Fn(i64, &[u8], &str) -> Result<Vec<u8>> + Send + Sync);

/// One value to write.
pub struct SecretWrite {
    pub key: String,
    /// Plaintext length in bytes, for the project's size limit.
    pub value_len: usize,
    pub seal: SealFn,
    /// The version whose value this write restores (a rollback), for its
    /// audit record.
    pub rollback_of: Option<i64>,
}

impl fmt::Debug for SecretWrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretWrite")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

#[async_trait]
pub trait Store:
    ExecutionStore
    + CodeStore
    + AccountStore
    + AccessStore
    + VersionStore
    + RetentionStore
    + KeyStore
    + Send
    + Sync
    + fmt::Debug
{
    // Users and tokens.
    async fn create_user(&self, email: &str, password_hash: &str, actor: &Actor) -> Result<UserRecord>;
    async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>>;
    async fn user_by_id(&self, user_id: i64) -> Result<Option<UserRecord>>;
    async fn create_token(&self, user_id: i64, token_hash: &[u8], actor: &Actor) -> Result<i64>;
    /// The unrevoked token with this hash: its owner, its id and the stored hash.
    async fn token_by_hash(&self, token_hash: &[u8]) -> Result<Option<(UserRecord, i64, Vec<u8>)>>;
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
    /// `keep` is how many versions of each key written are kept, the new
    /// one included; older ones are deleted in the same transaction.
    async fn write_secrets(
        &self,
        project_id: i64,
        writes: Vec<SecretWrite>,
        keep: u32,
        actor: &Actor,
    ) -> Result<Vec<WriteOutcome>>;
    /// Deletes a key's current value and all its previous versions; `None`
    /// if it had no value.
    async fn delete_secret(&self, project_id: i64, key: &str, actor: &Actor) -> Result<Option<i64>>;
    /// Current keys, sorted by key.
    async fn list_secrets(&self, project_id: i64) -> Result<Vec<SecretMeta>>;
    /// The project's record and every current sealed value, read together.
    async fn sealed_secrets(&self, slug: &str) -> Result<Option<(ProjectRecord, Vec<SealedSecret>)>> {
        Ok(self.sealed_secrets_since(slug, NO_GENERATION).await?.map(|read| {
            let secrets = read.secrets.unwrap_or_default();
            (read.project, secrets)
        }))
    }
    /// The project's record and its secrets generation, with its sealed
    /// values unless the generation is still `known` (then `secrets` is
    /// `None`: the caller's copy of that generation is current). One
    /// statement, one snapshot.
    async fn sealed_secrets_since(&self, slug: &str, known: i64) -> Result<Option<SealedRead>>;

    // Master key rotation.
    /// Re-wraps every project's data key in one transaction; returns how many.
    async fn rewrap_data_keys(&self, new_kek_id: &str, rewrap: RewrapFn<'_>, actor: &Actor) -> Result<usize>;
    /// The distinct ids of the master key files that wrap data keys now.
    async fn kek_ids_in_use(&self) -> Result<Vec<String>>;

    // Audit.
    async fn audit_events(&self, project_id: i64, page: Page) -> Result<Vec<AuditEvent>>;
    async fn append_audit(&self, event: NewAudit<'_>, actor: &Actor) -> Result<()>;

    /// Checks that the database answers.
    async fn ping(&self) -> Result<()>;

    // Backups (`snapshot.rs`).
    /// Writes a consistent copy of the embedded database to `dest` while
    /// writers go on; refused on PostgreSQL (pg_dump backs it up).
    async fn snapshot_into(&self, dest: &Path) -> Result<()>;
    /// Problems the database's own integrity check finds; none if sound.
    async fn integrity_problems(&self) -> Result<Vec<String>>;
    /// Connections of each pool, for the metrics.
    fn pool_stats(&self) -> Vec<PoolStat>;

    /// Closes connections cleanly (checkpoints the WAL on SQLite).
    async fn close(&self);
}
