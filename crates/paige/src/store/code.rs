//! Persistence for bot code (the runtime's code, shared by every node).
//!
//! The database is the source of truth for a project's code: its entries
//! (regular files and symlinks; directories are implied by the paths) and
//! a revision that counts up with every change, in the same transaction as
//! the entries and the audit record. A node copies the code to its local
//! disk to run it (see `runtime::code_cache`) and rebuilds that copy
//! whenever its revision is not the database's.
//!
//! Each revision also has a digest of its whole content, so a copy built
//! from a read that does not match it is refused, and a copy is reused only
//! for exactly the content it was built from.
//!
//! The implementation is `sql_code.rs`.

use async_trait::async_trait;

use crate::error::Result;
use crate::model::Actor;
use crate::model::code::{CodeEntry, CodeRevision, NewCodeEntry};
use crate::model::code_limits::CodeLimits;

/// A sink for the entries of one read of a project's code.
pub type CodeSink = tokio::sync::mpsc::Sender<CodeEntry>;

#[async_trait]
pub trait CodeStore: Send + Sync {
    /// The project's current revision (one small row); `None` if it has no code.
    async fn code_revision(&self, project_id: i64) -> Result<Option<CodeRevision>>;

    /// Replaces the project's whole code with `entries` (checked by the
    /// caller), bumps the revision and appends an audit record of `action`
    /// whose detail names the revision, in one transaction.
    async fn replace_code(
        &self,
        project_id: i64,
        entries: Vec<NewCodeEntry>,
        action: &str,
        actor: &Actor,
    ) -> Result<CodeRevision>;

    /// Writes one regular file (an upsert), after checking it against the
    /// project's entries and `limits` inside the transaction; bumps the
    /// revision and appends a `code.put` audit record. A refused write
    /// changes nothing.
    async fn put_code_file(
        &self,
        project_id: i64,
        entry: NewCodeEntry,
        limits: &CodeLimits,
        actor: &Actor,
    ) -> Result<CodeRevision>;

    /// Sends every entry of the project's current code to `sink`, all from
    /// one consistent read, and returns the revision they make up (`None`,
    /// with nothing sent, if the project has no code). Stops with an error
    /// if the sink is closed.
    async fn read_code(&self, project_id: i64, sink: CodeSink) -> Result<Option<CodeRevision>>;
}
