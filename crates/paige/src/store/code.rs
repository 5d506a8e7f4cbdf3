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

use super::traits::SecretWrite;
use crate::error::Result;
use crate::model::code::{CodeEntry, CodeRevision, NewCodeEntry};
use crate::model::code_limits::CodeLimits;
use crate::model::{Actor, CodeFinding, NewFinding, WriteOutcome};

/// A code change and what the code guard found in it: the findings are
/// stored with the revision the change makes, in its transaction, with a
/// `code.warnings` audit record when there are any.
#[derive(Debug)]
pub struct CodeChange<T> {
    pub entries: T,
    pub findings: Vec<NewFinding>,
}

/// What a stored code change made: the revision, and its findings with ids.
#[derive(Debug, Clone)]
pub struct CodeChanged {
    pub revision: CodeRevision,
    pub findings: Vec<CodeFinding>,
}

/// The code guard's "move into Secrets": one rewritten file, the findings
/// of its new content, and the secret to store (`None` when the value
/// already is the project's secret), all in one transaction.
#[derive(Debug)]
pub struct CodeFix {
    /// The revision the file was read at: the fix is refused (`conflict`)
    /// if the code changed since.
    pub expected_revision: i64,
    pub file: NewCodeEntry,
    pub findings: Vec<NewFinding>,
    pub secret: Option<SecretWrite>,
    /// Versions kept per key for that secret, the current one included.
    pub keep: u32,
    /// The audit detail of the `code.fix` record (place and key, never the value).
    pub detail: String,
}

/// What a fix stored.
#[derive(Debug, Clone)]
pub struct CodeFixed {
    pub changed: CodeChanged,
    pub secret: Option<WriteOutcome>,
}

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
        change: CodeChange<Vec<NewCodeEntry>>,
        action: &str,
        actor: &Actor,
    ) -> Result<CodeChanged>;

    /// Writes one regular file (an upsert), after checking it against the
    /// project's entries and `limits` inside the transaction; bumps the
    /// revision and appends a `code.put` audit record. A refused write
    /// changes nothing.
    async fn put_code_file(
        &self,
        project_id: i64,
        change: CodeChange<NewCodeEntry>,
        limits: &CodeLimits,
        actor: &Actor,
    ) -> Result<CodeChanged>;

    /// The code guard's findings in the project's current code.
    async fn code_findings(&self, project_id: i64) -> Result<Vec<CodeFinding>>;

    /// Moves one hard-coded value into Secrets (see [`CodeFix`]): the
    /// secret's new version and its audit record, the rewritten file as a
    /// new revision with its `code.fix` audit record, and the file's
    /// findings, all or nothing.
    async fn fix_code(&self, project_id: i64, fix: CodeFix, limits: &CodeLimits, actor: &Actor) -> Result<CodeFixed>;

    /// Sends every entry of the project's current code to `sink`, all from
    /// one consistent read, and returns the revision they make up (`None`,
    /// with nothing sent, if the project has no code). Stops with an error
    /// if the sink is closed.
    async fn read_code(&self, project_id: i64, sink: CodeSink) -> Result<Option<CodeRevision>>;
}
