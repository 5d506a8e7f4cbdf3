//! Bot executions: code, environment, limits, redacted logs (SPEC §4).
//!
//! [`Paige::execute`] runs one execution to its end, as one value
//! (`execution::Execution`) taken through its steps:
//!
//! 1. prepare (`prepare`): leases this node's copy of the project's current
//!    code (see `code_cache`), works out the command (default `node
//!    app.js` in that code) and resolves the project's secrets once (one
//!    consistent read), so an overwrite takes effect on the next execution
//!    and none sees a mix;
//! 2. start: records the execution as `running`, with an `execution.start`
//!    audit record naming the secrets, in one transaction (`record`);
//! 3. spawn: starts the bot from one `child::ChildSpec` in its
//!    [`bwrap`] sandbox (own PID, mount, IPC and UTS namespaces; the code
//!    read-only at `/app`, a private size-limited `/tmp` as its home,
//!    nothing of paige's data dir), under the execution's [`limits`]
//!    (cgroup or rlimits, see [`jail`]), as the project's own Unix user
//!    when paige is root (see [`sandbox`]), with an environment built from
//!    nothing (see [`env`]: the platform set plus the secrets), the event
//!    as JSON on its stdin; on a server, in the sandbox the project's
//!    previous execution left prepared for this layout, if there is one
//!    (see [`sandbox_pool`]);
//! 4. supervise (`process`, `capture`): streams stdout and stderr through
//!    one [`paige_redact::Redactor`] built from the resolved values (one
//!    stream each) into the log, written to the store every 100 ms while
//!    it runs, and to an optional live callback; enforces the time limit
//!    (SIGKILL to the sandbox, whose PID namespace takes every process of
//!    the bot with it) and the output limit (the rest is discarded, with a
//!    note); a resource limit reached ends it with that limit named;
//! 5. finish: records the status, exit code or signal, redacted error and
//!    duration (`record`). `PAIGE_LOG=paige::runtime::timing=debug` shows
//!    the time of each step (`timing`).
//!
//! A server bounds how many run at once with [`ExecutionSlots`] and
//! [`Paige::execute_queued`].

pub mod bwrap;
mod capture;
mod child;
pub mod code;
mod code_cache;
mod code_fix;
mod code_push;
pub mod code_tree;
pub mod env;
mod exec_group;
mod execution;
mod executions;
pub mod jail;
mod launch;
pub mod limits;
mod prepare;
mod process;
mod record;
pub mod sandbox;
pub mod sandbox_pool;
mod slots;
mod timing;
pub mod warm;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::model::{Actor, Millis};

pub use crate::model::execution::{ExecutionRecord, ExecutionStatus, LogLine, Stream};
pub use code::{CodeLimits, CodeSummary, ENTRY_POINT, Skipped, check_code_path};
pub use code_fix::FixOutcome;
pub use slots::{ExecutionSlots, SlotPermit};

/// Default time limit of an execution.
pub const DEFAULT_TIME_LIMIT: Duration = Duration::from_secs(30);
/// Default output limit of an execution (stdout and stderr together, after redaction).
pub const DEFAULT_OUTPUT_LIMIT: usize = 1024 * 1024;

/// An execution's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub time: Duration,
    pub output_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            time: DEFAULT_TIME_LIMIT,
            output_bytes: DEFAULT_OUTPUT_LIMIT,
        }
    }
}

/// What started an execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// `paige run` on the server's machine.
    Manual,
    /// An incoming message.
    Webhook,
    /// A test event from the dashboard.
    Test,
    /// `POST /api/v1/projects/{slug}/executions`.
    Api,
    /// A warm bot process's start record: what it printed outside any
    /// request (start-up, timers), and how it ended.
    Start,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Webhook => "webhook",
            Self::Test => "test",
            Self::Api => "api",
            Self::Start => "start",
        }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct ExecutionRequest {
    /// Program and arguments (the program is looked up in the platform
    /// `PATH`); `None` runs the entry point, `node app.js`, in the project's
    /// code tree.
    pub command: Option<Vec<String>>,
    /// Working directory; `None` is the project's code tree (or, for an
    /// explicit command of a project without code, the execution's home).
    pub workdir: Option<PathBuf>,
    /// Written to the process's stdin as JSON (one line).
    pub event: serde_json::Value,
    pub trigger: Trigger,
    pub actor: Actor,
    pub limits: Limits,
    /// Notified to stop the execution early: its process group is killed
    /// and it is recorded as failed ("cancelled"). `paige run` uses it for
    /// Ctrl-C; a server may use it on shutdown.
    pub cancel: Option<Arc<tokio::sync::Notify>>,
}

impl ExecutionRequest {
    /// The entry point for `event`, with the default limits.
    pub fn entry_point(event: serde_json::Value, trigger: Trigger, actor: Actor) -> Self {
        Self {
            command: None,
            workdir: None,
            event,
            trigger,
            actor,
            limits: Limits::default(),
            cancel: None,
        }
    }
}

/// Receives redacted output as the process writes it (`Stream::System`
/// for the runtime's own notes, each ending with a newline).
pub type LiveOutput<'a> = &'a mut (dyn FnMut(Stream, &[u8]) + Send);

/// An execution with its whole log.
#[derive(Debug, Clone)]
pub struct StoredExecution {
    pub record: ExecutionRecord,
    pub log: Vec<LogLine>,
}

const LOG_PAGE: u32 = 10_000;

/// Past its time limit, an execution's supervisor kills it within a second
/// or two and records the end; one still `running` this long after its
/// limit was abandoned by a server that died.
const ABANDONED_AFTER: Duration = Duration::from_secs(60);

/// How often `paige serve` looks for abandoned executions.
pub const ABANDONED_SWEEP_EVERY: Duration = Duration::from_secs(60);

/// When an execution started at `started_at` with this time limit is
/// certainly over.
fn deadline(started_at: Millis, time_limit: Duration) -> Millis {
    let millis = |d: Duration| Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX);
    started_at
        .saturating_add(millis(time_limit))
        .saturating_add(millis(ABANDONED_AFTER))
}

/// The usual name of a signal, for error messages.
pub fn signal_name(signal: i32) -> &'static str {
    match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        _ => "signal",
    }
}
