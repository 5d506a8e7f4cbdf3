//! Bot executions: code, environment, limits, redacted logs (SPEC §4).
//!
//! [`Paige::execute`] runs one execution to its end:
//!
//! 1. resolves the project's secrets once (one consistent read), so an
//!    overwrite takes effect on the next execution and none sees a mix;
//! 2. records the execution as `running`, with an `execution.start` audit
//!    record naming the secrets, in one transaction;
//! 3. spawns the entry point (default `node app.js` in this node's copy of
//!    the project's current code, see `code_cache`) in its own process
//!    group, as the project's own Unix user when paige is root (see
//!    [`sandbox`]), with an environment built from nothing (see [`env`]: the
//!    platform set plus the secrets), the event as JSON on its stdin;
//! 4. streams stdout and stderr through one [`paige_redact::Redactor`] built
//!    from the resolved values (one stream each) into the log, written to
//!    the store every 100 ms while it runs, and to an optional live callback;
//! 5. enforces the time limit (SIGKILL to the whole group) and the output
//!    limit (the rest is discarded, with a note); when the last running
//!    execution of a project ends, kills what its user left running
//!    outside the group;
//! 6. records the status, exit code or signal, redacted error and duration.
//!
//! A server bounds how many run at once with [`ExecutionSlots`] and
//! [`Paige::execute_queued`].

pub mod bwrap;
pub mod code;
mod code_cache;
pub mod env;
pub mod jail;
pub mod limits;
mod process;
pub mod sandbox;
mod slots;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use paige_redact::Redactor;
use secrecy::ExposeSecret;

use crate::Paige;
use crate::error::{Error, Result};
use crate::store::executions::{ExecutionOutcome, NewExecution};
use crate::store::{Actor, Millis, Page, ProjectRecord, now_millis};
use process::{Capture, ProcessGroup};
use sandbox::{BotIdentity, Isolation, RunLock};

pub use crate::store::executions::{ExecutionRecord, ExecutionStatus, LogLine, Stream};
pub use code::{CodeLimits, CodeSummary, ENTRY_POINT, check_code_path};
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
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Webhook => "webhook",
            Self::Test => "test",
            Self::Api => "api",
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
pub struct Execution {
    pub record: ExecutionRecord,
    pub log: Vec<LogLine>,
}

/// A fresh private directory for HOME and TMPDIR, removed afterwards.
struct TempHome {
    path: PathBuf,
}

impl TempHome {
    fn create(execution_id: i64) -> Result<Self> {
        use std::os::unix::fs::DirBuilderExt;
        let path = std::env::temp_dir().join(format!("paige-exec-{execution_id}-{:016x}", rand::random::<u64>()));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .map_err(|e| Error::Config(format!("cannot create {}: {e}", path.display())))?;
        Ok(Self { path })
    }
}

impl Drop for TempHome {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
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

impl Paige {
    /// Marks `failed` every execution left `running` past its deadline by a
    /// server that died (crash, `kill -9`, power loss); returns how many.
    pub async fn fail_abandoned_executions(&self) -> Result<u64> {
        self.store.fail_abandoned_executions(now_millis()).await
    }

    /// Runs [`Paige::fail_abandoned_executions`] now and then every
    /// `every`, for as long as the returned future is polled. Each node of
    /// a deployment may run it: the update is idempotent.
    pub async fn sweep_abandoned_executions(self, every: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match self.fail_abandoned_executions().await {
                Ok(0) => {}
                Ok(n) => tracing::warn!(executions = n, "marked abandoned executions failed"),
                // The database is away or failing: the next sweep retries.
                Err(e) => tracing::debug!(error = %e, "the sweep for abandoned executions failed"),
            }
        }
    }

    /// Runs one execution of a project to its end and returns its record.
    /// A bot that fails, times out or cannot start is a recorded execution
    /// (`Ok`), not an `Err`; `Err` is for an unknown project or a store failure.
    ///
    /// Cancel safety: dropping the future kills the process group, but the
    /// record stays `running`. A server should run it in a spawned task.
    pub async fn execute(
        &self,
        slug: &str,
        request: ExecutionRequest,
        live: Option<LiveOutput<'_>>,
    ) -> Result<ExecutionRecord> {
        let project = self.project(slug).await?;
        self.execute_project(&project, request, live).await
    }

    /// Like [`Paige::execute`], after waiting for a slot of `slots`. The
    /// secrets are resolved when the slot is granted, not when queued.
    pub async fn execute_queued(
        &self,
        slots: &ExecutionSlots,
        slug: &str,
        request: ExecutionRequest,
        live: Option<LiveOutput<'_>>,
    ) -> Result<ExecutionRecord> {
        let project = self.project(slug).await?;
        let _permit = slots.acquire(project.id).await;
        self.execute_project(&project, request, live).await
    }

    /// A project's executions, newest first.
    pub async fn list_executions(&self, slug: &str, page: Page) -> Result<Vec<ExecutionRecord>> {
        let project = self.project(slug).await?;
        self.store.list_executions(project.id, page).await
    }

    /// One execution of a project, with its whole log. An id of another
    /// project is `NotFound`.
    pub async fn execution(&self, slug: &str, id: i64) -> Result<Execution> {
        let project = self.project(slug).await?;
        let record = self
            .store
            .execution(project.id, id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("execution {id} of project {slug}")))?;
        let mut log = Vec::new();
        loop {
            let after = log.last().map(|l: &LogLine| l.seq);
            let page = self.store.execution_log(record.id, after, LOG_PAGE).await?;
            let done = page.len() < LOG_PAGE as usize;
            log.extend(page);
            if done {
                break;
            }
        }
        Ok(Execution { record, log })
    }

    /// Log lines of one execution after `after_seq`, for following a
    /// running execution.
    pub async fn execution_log(&self, slug: &str, id: i64, after_seq: Option<i64>, limit: u32) -> Result<Vec<LogLine>> {
        let project = self.project(slug).await?;
        self.store
            .execution(project.id, id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("execution {id} of project {slug}")))?;
        self.store.execution_log(id, after_seq, limit).await
    }

    async fn execute_project(
        &self,
        project: &ProjectRecord,
        request: ExecutionRequest,
        live: Option<LiveOutput<'_>>,
    ) -> Result<ExecutionRecord> {
        let started = Instant::now();
        let started_at = now_millis();
        let mut phases = Phases::new(started);
        if request.command.as_ref().is_some_and(Vec::is_empty) {
            return Err(Error::invalid("empty_command", "the command to run is empty"));
        }
        // This node's copy of the current code, leased until the end of
        // the execution (an explicit command with its own workdir needs none).
        let tree = if request.command.is_none() || request.workdir.is_none() {
            self.code_tree(project).await?
        } else {
            None
        };
        phases.mark("code");
        let live_tree = tree.as_ref().map(|t| t.path.clone());
        let (argv, workdir) = match &request.command {
            Some(argv) => (argv.clone(), request.workdir.clone().or(live_tree)),
            None => {
                let argv = vec!["node".to_owned(), ENTRY_POINT.to_owned()];
                match live_tree {
                    Some(tree) if tree.join(ENTRY_POINT).is_file() => {
                        (argv, Some(request.workdir.clone().unwrap_or(tree)))
                    }
                    _ => {
                        let error = format!(
                            "the project has no entry point: {ENTRY_POINT} is missing from its code \
                             (push the bot code with `paige code push {} DIR`)",
                            project.slug
                        );
                        return self
                            .record_not_started(project, &request, &argv, started_at, error)
                            .await;
                    }
                }
            }
        };

        // The one read of the secrets for this execution.
        let resolved = self.resolve(&project.slug).await?;
        phases.mark("resolve");
        if resolved.project_id != project.id {
            return Err(Error::NotFound(format!("project {}", project.slug)));
        }
        let pairs: Vec<(&str, &[u8])> = resolved
            .secrets
            .iter()
            .map(|(k, v)| (k.as_str(), v.expose_secret().as_bytes()))
            .collect();
        let redactor = Redactor::new(&pairs);
        drop(pairs);
        phases.mark("redactor");
        let redact = |text: &str| String::from_utf8_lossy(&redactor.redact(text.as_bytes())).into_owned();
        let mut secret_names: Vec<String> = resolved.secrets.iter().map(|(k, _)| k.clone()).collect();
        secret_names.sort();
        let shown_command: Vec<String> = argv.iter().map(|a| redact(a)).collect();

        let id = self
            .store
            .create_execution(
                NewExecution {
                    project_id: project.id,
                    trigger: request.trigger.as_str(),
                    command: &shown_command,
                    secret_names: &secret_names,
                    started_at,
                    deadline_at: deadline(started_at, request.limits.time),
                },
                &request.actor,
            )
            .await?;
        let mut record = ExecutionRecord {
            id,
            project_id: project.id,
            status: ExecutionStatus::Running,
            trigger: request.trigger.as_str().to_owned(),
            actor: request.actor.name.clone(),
            command: shown_command,
            secret_names,
            started_at,
            finished_at: None,
            duration_ms: None,
            exit_code: None,
            signal: None,
            error: None,
            output_bytes: 0,
            truncated: false,
        };

        phases.mark("record");
        let mut capture = Capture::new(&redactor, live, request.limits.output_bytes);
        let result = self
            .run_child(
                project,
                &request,
                &argv,
                workdir,
                &resolved,
                id,
                &mut capture,
                &mut phases,
            )
            .await;
        drop(resolved);
        // The process group is gone: the tree may be removed by a later build.
        drop(tree);
        let (status, exit_code, signal, error) = match result {
            Ok(end) => end,
            Err(e) => {
                // Best effort: the store may be what failed.
                let message = redact(&format!("the execution could not be recorded: {e}"));
                let outcome = outcome(&capture, started, ExecutionStatus::Failed, None, None, Some(message));
                let lines = capture.lines.take();
                let _ = self.store.finish_execution(id, &lines, &outcome).await;
                return Err(e);
            }
        };
        let error = error.map(|e| redact(&e));
        let outcome = outcome(&capture, started, status, exit_code, signal, error);
        let lines = capture.lines.take();
        self.store.finish_execution(id, &lines, &outcome).await?;
        phases.mark("finish");
        phases.report(id);
        record.status = outcome.status;
        record.finished_at = Some(outcome.finished_at);
        record.duration_ms = Some(outcome.duration_ms);
        record.exit_code = outcome.exit_code;
        record.signal = outcome.signal;
        record.error = outcome.error;
        record.output_bytes = outcome.output_bytes;
        record.truncated = outcome.truncated;
        Ok(record)
    }

    /// Spawns and supervises the process; returns (status, exit code,
    /// signal, unredacted error message).
    #[allow(clippy::too_many_arguments, reason = "one private step of execute_project")]
    async fn run_child(
        &self,
        project: &ProjectRecord,
        request: &ExecutionRequest,
        argv: &[String],
        workdir: Option<PathBuf>,
        resolved: &crate::secrets::Resolved,
        id: i64,
        capture: &mut Capture<'_, '_>,
        phases: &mut Phases,
    ) -> Result<(ExecutionStatus, Option<i32>, Option<i32>, Option<String>)> {
        use std::os::unix::process::ExitStatusExt;

        let home = TempHome::create(id)?;
        let cwd = workdir.unwrap_or_else(|| home.path.clone());
        let mut command = tokio::process::Command::new(&argv[0]);
        let (bot, run_lock) = match self.config.bot_users.isolation() {
            Isolation::PerProject { uid_base } => {
                match self.prepare_bot_user(project, uid_base, &cwd, &home.path).await {
                    Ok((bot, lock, killed)) => {
                        if killed > 0 {
                            capture.note(&format!(
                            "killed {killed} process(es) of the project's user that an earlier execution left running"
                        ));
                        }
                        command.uid(bot.uid).gid(bot.gid);
                        phases.mark("sandbox");
                        (Some(bot), Some(lock))
                    }
                    Err(e) => {
                        let error = format!("cannot start the bot as its project's user: {e}");
                        tracing::error!(project = %project.slug, execution_id = id, "{error}");
                        capture.note(&error);
                        return Ok((ExecutionStatus::Failed, None, None, Some(error)));
                    }
                }
            }
            Isolation::SameAsPaige { .. } => (None, None),
        };
        command
            .args(&argv[1..])
            .current_dir(&cwd)
            .process_group(0)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        env::apply(
            &mut command,
            &env::Platform {
                slug: &project.slug,
                execution_id: id,
                trigger: request.trigger.as_str(),
                home: &home.path,
            },
            resolved,
        );
        let spawned = command.spawn();
        drop(command);
        phases.mark("spawn");
        let child = match spawned {
            Ok(child) => child,
            Err(e) => {
                // EPERM and EINVAL are what setuid/setgid fail with: paige
                // may not switch users, or the id is not mapped in its
                // user namespace.
                let error = match bot {
                    Some(bot) if matches!(e.raw_os_error(), Some(1 | 22)) => format!(
                        "cannot start `{}` as uid {}: {e} (paige must be allowed to switch users, and the \
                         uid must exist in its user namespace: see --bot-uid-base)",
                        argv[0], bot.uid
                    ),
                    _ => format!("cannot start `{}`: {e}", argv[0]),
                };
                capture.note(&error);
                return Ok((ExecutionStatus::Failed, None, None, Some(error)));
            }
        };
        let mut group = ProcessGroup::new(child.id());
        let end = process::supervise(child, &mut group, capture, self.store.as_ref(), id, request).await;
        // Kills what left the process group (setsid), unless another
        // execution of the project is still running.
        if let Some(lock) = run_lock {
            let killed = tokio::task::spawn_blocking(move || lock.release()).await.unwrap_or(0);
            if killed > 0 {
                capture.note(&format!(
                    "killed {killed} process(es) of the project's user that outlived their execution \
                     (they had left its process group)"
                ));
            }
        }
        let end = end?;
        phases.mark("run");
        let code = end.status.code();
        let signal = end.status.signal();
        Ok(if end.timed_out {
            let error = format!(
                "the time limit of {} was reached; the process group was killed",
                process::format_duration(request.limits.time)
            );
            (ExecutionStatus::TimedOut, code, signal, Some(error))
        } else if end.cancelled {
            let error = "the execution was cancelled; the process group was killed".to_owned();
            (ExecutionStatus::Failed, code, signal, Some(error))
        } else if let Some(signal) = signal {
            let error = format!("the bot was killed by signal {signal} ({})", signal_name(signal));
            (ExecutionStatus::Failed, None, Some(signal), Some(error))
        } else if code == Some(0) {
            (ExecutionStatus::Succeeded, code, None, None)
        } else {
            let error = format!("the bot exited with code {}", code.unwrap_or(-1));
            (ExecutionStatus::Failed, code, None, Some(error))
        })
    }

    /// Readies the per-project user for one execution (off the async
    /// threads: it walks the code tree and may kill left-over processes):
    /// the files it needs, then the run lock. Returns the identity, the
    /// lock and how many left-over processes were killed.
    async fn prepare_bot_user(
        &self,
        project: &ProjectRecord,
        uid_base: u32,
        workdir: &std::path::Path,
        home: &std::path::Path,
    ) -> Result<(BotIdentity, RunLock, usize)> {
        let bot = BotIdentity::for_project(uid_base, project.id)?;
        let data_dir = self.config.data_dir.clone();
        let project_code_dir = self.code_dir(project.id);
        let (workdir, home) = (workdir.to_path_buf(), home.to_path_buf());
        tokio::task::spawn_blocking(move || {
            let layout = sandbox::Layout {
                data_dir: &data_dir,
                project_code_dir: &project_code_dir,
                workdir: &workdir,
                home: &home,
            };
            sandbox::prepare(&layout, bot)?;
            let (lock, killed) = RunLock::acquire(&sandbox::lock_dir(&data_dir), bot.uid)?;
            Ok((bot, lock, killed))
        })
        .await
        .map_err(|e| Error::Config(format!("the bot's preparation stopped: {e}")))?
    }

    /// Records an execution that never started a process (no secrets given).
    async fn record_not_started(
        &self,
        project: &ProjectRecord,
        request: &ExecutionRequest,
        argv: &[String],
        started_at: i64,
        error: String,
    ) -> Result<ExecutionRecord> {
        let id = self
            .store
            .create_execution(
                NewExecution {
                    project_id: project.id,
                    trigger: request.trigger.as_str(),
                    command: argv,
                    secret_names: &[],
                    started_at,
                    deadline_at: deadline(started_at, Duration::ZERO),
                },
                &request.actor,
            )
            .await?;
        let finished_at = now_millis();
        let outcome = ExecutionOutcome {
            status: ExecutionStatus::Failed,
            exit_code: None,
            signal: None,
            error: Some(error.clone()),
            finished_at,
            duration_ms: finished_at - started_at,
            output_bytes: 0,
            truncated: false,
        };
        let note = LogLine {
            seq: 0,
            stream: Stream::System,
            at: finished_at,
            text: error,
        };
        self.store
            .finish_execution(id, std::slice::from_ref(&note), &outcome)
            .await?;
        Ok(ExecutionRecord {
            id,
            project_id: project.id,
            status: outcome.status,
            trigger: request.trigger.as_str().to_owned(),
            actor: request.actor.name.clone(),
            command: argv.to_vec(),
            secret_names: Vec::new(),
            started_at,
            finished_at: Some(finished_at),
            duration_ms: Some(outcome.duration_ms),
            exit_code: None,
            signal: None,
            error: outcome.error,
            output_bytes: 0,
            truncated: false,
        })
    }
}

/// Where an execution's time went, as a `debug` event of target
/// `paige::runtime::timing` (`PAIGE_LOG=paige::runtime::timing=debug paige run …`).
struct Phases {
    last: Instant,
    marks: Vec<(&'static str, Duration)>,
}

impl Phases {
    fn new(started: Instant) -> Self {
        Self {
            last: started,
            marks: Vec::with_capacity(8),
        }
    }

    fn mark(&mut self, name: &'static str) {
        let now = Instant::now();
        self.marks.push((name, now - self.last));
        self.last = now;
    }

    fn report(&self, execution_id: i64) {
        if tracing::enabled!(target: "paige::runtime::timing", tracing::Level::DEBUG) {
            let phases: Vec<String> = self
                .marks
                .iter()
                .map(|(name, d)| format!("{name}={}us", d.as_micros()))
                .collect();
            tracing::debug!(target: "paige::runtime::timing", execution_id, phases = %phases.join(" "));
        }
    }
}

fn outcome(
    capture: &Capture<'_, '_>,
    started: Instant,
    status: ExecutionStatus,
    exit_code: Option<i32>,
    signal: Option<i32>,
    error: Option<String>,
) -> ExecutionOutcome {
    ExecutionOutcome {
        status,
        exit_code,
        signal,
        error,
        finished_at: now_millis(),
        duration_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
        output_bytes: i64::try_from(capture.written).unwrap_or(i64::MAX),
        truncated: capture.truncated,
    }
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
