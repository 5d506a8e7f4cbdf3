//! Persistence for executions (the runtime's part of the store).
//!
//! A separate trait so the runtime's records stay apart from the secrets';
//! every `Store` is also an `ExecutionStore`. Bot code has its own trait,
//! `CodeStore` (see `store::code`).
//!
//! Nothing here ever holds a secret value: an execution records the *names*
//! of the secrets it was given, and its log lines have already been through
//! the redactor when they reach the store.

use async_trait::async_trait;

use crate::error::Result;
use crate::model::execution::{ExecutionRecord, ExecutionStatus, LogLine};
use crate::model::{Actor, Millis, NewAudit, Page, ProjectRecord, RuntimeMode};

/// A new execution, recorded as `running` together with its audit record.
#[derive(Debug, Clone)]
pub struct NewExecution<'a> {
    pub project_id: i64,
    pub trigger: &'a str,
    pub command: &'a [String],
    pub secret_names: &'a [String],
    pub started_at: Millis,
    /// When the execution is certainly over, even if its process and its
    /// server died without saying so (see `fail_abandoned_executions`).
    pub deadline_at: Millis,
    /// A forwarded webhook's method and (redacted) path.
    pub request: Option<(&'a str, &'a str)>,
}

impl NewExecution<'_> {
    /// The `execution.start` audit record of execution `id`: it names the
    /// secrets the bot receives (names only, never values).
    pub(crate) fn start_audit(&self, id: i64) -> NewAudit<'static> {
        let names = if self.secret_names.is_empty() {
            "none".to_owned()
        } else {
            self.secret_names.join(", ")
        };
        NewAudit {
            project_id: Some(self.project_id),
            action: "execution.start",
            key: None,
            version: None,
            detail: Some(format!("execution #{id} ({}); secrets: {names}", self.trigger)),
        }
    }
}

/// How an execution ended.
/// One execution's end, for [`ExecutionStore::finish_executions`].
#[derive(Debug, Clone, Copy)]
pub struct Finish<'a> {
    pub execution_id: i64,
    pub last_lines: &'a [LogLine],
    pub outcome: &'a ExecutionOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionOutcome {
    pub status: ExecutionStatus,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub error: Option<String>,
    pub finished_at: Millis,
    pub duration_ms: i64,
    pub output_bytes: i64,
    pub truncated: bool,
    /// The status of the bot's answer to a forwarded webhook.
    pub response_status: Option<i32>,
}

#[async_trait]
pub trait ExecutionStore: Send + Sync {
    /// Records a new `running` execution and, in the same transaction, an
    /// `execution.start` audit record naming the secrets it receives.
    /// Returns the execution's id.
    ///
    /// It commits without waiting for the disk (it is on the way to the
    /// bot's `exec`): a crash of paige never loses it; a power loss may
    /// until SQLite's WAL is synced right after, in the background, and a
    /// crash of the PostgreSQL server may until its WAL writer flushes it
    /// (or any durable commit does). See `store::relaxed` for the details.
    async fn create_execution(&self, new: NewExecution<'_>, actor: &Actor) -> Result<i64>;

    /// Appends log lines (their `seq` values are new for this execution).
    async fn append_execution_log(&self, execution_id: i64, lines: &[LogLine]) -> Result<()>;

    /// Appends the last log lines and records the outcome, in one
    /// transaction that commits without waiting for the disk, as the
    /// opening record's does (it is on the way to the execution's answer):
    /// visible to every reader at once, durable as that record is.
    async fn finish_execution(
        &self,
        execution_id: i64,
        last_lines: &[LogLine],
        outcome: &ExecutionOutcome,
    ) -> Result<()>;

    /// [`ExecutionStore::finish_execution`] for several executions, in one
    /// durable transaction (one fsync for all). One that is no longer
    /// running (the sweep failed it meanwhile) is left as it is; returns
    /// how many were finished.
    async fn finish_executions(&self, finishes: &[Finish<'_>]) -> Result<usize>;

    /// One execution of a project; `None` if it does not exist in that project.
    async fn execution(&self, project_id: i64, execution_id: i64) -> Result<Option<ExecutionRecord>>;

    /// A project's executions, newest first.
    async fn list_executions(&self, project_id: i64, page: Page) -> Result<Vec<ExecutionRecord>>;

    /// Log lines of one execution with `seq > after_seq`, in order, at most `limit`.
    async fn execution_log(&self, execution_id: i64, after_seq: Option<i64>, limit: u32) -> Result<Vec<LogLine>>;

    /// Marks `failed`, with [`ABANDONED_ERROR`], every execution still
    /// `running` past its deadline: its process died with the server that
    /// ran it. Returns how many. Safe to run on every node at once.
    async fn fail_abandoned_executions(&self, now: Millis) -> Result<u64>;

    /// Moves the deadline of a `running` execution (a warm process's start
    /// record, renewed while the process lives).
    async fn extend_execution_deadline(&self, execution_id: i64, deadline_at: Millis) -> Result<()>;

    /// The runtime mode of a project; `None` if there is no such project.
    async fn runtime_mode(&self, project_id: i64) -> Result<Option<RuntimeMode>>;

    /// What a webhook for `slug` needs to know first, in one read: the
    /// project, its mode, its code revision and its secrets generation.
    /// `None` if there is no such project.
    async fn hook_target(&self, slug: &str) -> Result<Option<HookTarget>>;

    /// Sets a project's runtime mode, with a `project.runtime_mode` audit
    /// record, in one transaction.
    async fn set_runtime_mode(&self, project_id: i64, mode: RuntimeMode, actor: &Actor) -> Result<()>;
}

/// A project as the webhook path sees it on every request. The code
/// revision and the secrets generation (moved on by every change to the
/// project's secrets, in the writing transaction) say whether what a warm
/// process was started with is still current, without reading the code or
/// decrypting a secret.
#[derive(Debug, Clone)]
pub struct HookTarget {
    pub project: ProjectRecord,
    pub mode: RuntimeMode,
    /// `None`: the project has no code in the database.
    pub code_revision: Option<i64>,
    pub secrets_generation: i64,
}

/// The error of an execution found `running` past its deadline.
pub const ABANDONED_ERROR: &str =
    "interrupted: the server running this execution stopped before it ended (crash or kill); its outcome is unknown";
