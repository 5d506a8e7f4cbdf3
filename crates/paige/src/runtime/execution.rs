//! One execution as a value, through its steps:
//!
//! 1. prepare ([`Paige::prepare_execution`]): the code lease, the command
//!    line, the secrets; nothing recorded yet;
//! 2. [`Execution::start`]: its command masked, its opening record made
//!    ready; from there its redactor is built on a blocking thread (unless
//!    this node holds the project's);
//! 3. [`Execution::spawn`]: recorded as `running`, with its audit record,
//!    while its [`ChildSpec`] starts in its bubblewrap sandbox under its
//!    resource limits: `bwrap` waits for the committed record's id before
//!    anything else (`launch::LateEnv`), so no bot runs unrecorded (opted
//!    out of the sandbox: recorded, then started with a [`Sandbox`] home).
//!    The output is read only once the redactor is built;
//! 4. [`Execution::supervise`]: output, limits, the sweep afterwards;
//! 5. [`Execution::finish`]: the end recorded, in the one shape every
//!    ending takes ([`End`]).
//!
//! A bot that fails, times out or cannot start is a recorded [`End`]; an
//! `Err` is paige's own failure (the store, most often).

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::Duration;

use paige_redact::Redactor;
use tokio::task::JoinHandle;

use super::bwrap::HOME_DIR;
use super::capture::Capture;
use super::child::{ChildSpec, Confinement};
use super::code_cache::CodeTree;
use super::env::{ChildEnv, EXECUTION_ID_VAR, Platform};
use super::jail::Ending;
use super::launch::LateEnv;
use super::limits::LimitHit;
use super::prepare::Prepared;
use super::process::{self, LogSink, Running};
use super::record::{self, End, Output};
use super::sandbox::{self, BotIdentity, Isolation, Sandbox};
use super::sandbox_pool::{Layout, LayoutKey};
use super::timing::Phases;
use super::{ExecutionRequest, LiveOutput, deadline};
use crate::Paige;
use crate::error::{Error, Result};
use crate::model::execution::{ExecutionRecord, ExecutionStatus, LogLine, Stream};
use crate::model::{Millis, ProjectRecord, now_millis};
use crate::secrets::Resolved;
use crate::store::executions::{ExecutionOutcome, NewExecution};

/// The error of an execution whose redactor could not be built.
const REDACTOR_FAILED: &str = "the execution's redactor could not be built";

/// A recorded execution of one project, from its start to its end.
pub(super) struct Execution<'a, 'l> {
    paige: &'a Paige,
    project: ProjectRecord,
    request: ExecutionRequest,
    /// Its opening record, written by [`Execution::spawn`];
    /// [`Execution::finish`] completes it.
    opening: Opening,
    argv: Vec<String>,
    workdir: Option<PathBuf>,
    /// The code lease, kept until the bot's processes are gone.
    code: Option<CodeTree>,
    /// The secrets, kept until the bot has them in its environment.
    secrets: Option<Resolved>,
    /// Set by [`Execution::spawn`] without the sandbox (a home on the host).
    sandbox: Option<Sandbox>,
    /// Set by [`Execution::spawn`] in the sandbox: its cgroup and watchdog.
    ending: Option<Ending>,
    capture: CaptureSlot<'l>,
    phases: Phases,
}

/// The output side of an execution: unless the node holds it, its
/// redactor is built on a blocking thread from the opening record on,
/// while `bwrap` starts, and waited for before anything of the bot's is
/// read ([`Execution::capture`]).
enum CaptureSlot<'l> {
    Building {
        build: RedactorBuild,
        live: Option<LiveOutput<'l>>,
        limit: usize,
    },
    Ready(Capture<'l>),
    /// The build failed (a panic: a bug); nothing of the bot's is shown.
    Failed,
}

/// A redactor built for one execution.
struct RedactorBuild {
    /// The project and secrets generation of the values it is built
    /// from: it is kept for later executions under them once built.
    project_id: i64,
    generation: i64,
    /// A copy of the values, until [`RedactorBuild::begin`]: not before
    /// the opening record, whose round trips to the database thread would
    /// wait for a core the build holds (measured on two cores).
    due: Option<Resolved>,
    begun: Option<JoinHandle<Redactor>>,
}

impl RedactorBuild {
    fn begin(&mut self) {
        if let Some(values) = self.due.take() {
            self.begun = Some(values.redactor_in_background());
        }
    }

    /// The redactor, once built (begun now if it was not: the bot never
    /// started); else how its build ended, for the log (never the
    /// panic's text: it could quote what was built).
    async fn built(mut self) -> std::result::Result<Redactor, &'static str> {
        self.begin();
        match self.begun {
            Some(build) => build
                .await
                .map_err(|e| if e.is_panic() { "panicked" } else { "was cancelled" }),
            None => Err("never began"),
        }
    }
}

impl CaptureSlot<'_> {
    /// Begins building the redactor, if it is to be built.
    fn begin_build(&mut self) {
        if let CaptureSlot::Building { build, .. } = self {
            build.begin();
        }
    }
}

/// An execution's opening record, through its writing.
enum Opening {
    /// Not written yet: what it says.
    Due(Box<DueRecord>),
    Written(Box<ExecutionRecord>),
    /// Writing it failed (the store's error, until the execution returns
    /// it): nothing of the execution is recorded.
    Failed(Option<Error>),
}

/// An opening record not written yet.
struct DueRecord {
    project_id: i64,
    trigger: &'static str,
    command: Vec<String>,
    secret_names: Vec<String>,
    started_at: Millis,
    deadline_at: Millis,
    actor: crate::model::Actor,
}

impl Opening {
    /// Writes the record if it is due (with its `execution.start` audit
    /// record, in one transaction); its id, or `None` if it failed (the
    /// store's error is then kept for [`Opening::take_error`]).
    async fn write(&mut self, store: &dyn crate::store::Store, phases: &mut Phases) -> Option<i64> {
        let written = match self {
            Opening::Written(record) => return Some(record.id),
            Opening::Failed(_) => return None,
            Opening::Due(due) => {
                let new = NewExecution {
                    project_id: due.project_id,
                    trigger: due.trigger,
                    command: &due.command,
                    secret_names: &due.secret_names,
                    started_at: due.started_at,
                    deadline_at: due.deadline_at,
                    request: None,
                };
                record::open(store, new, &due.actor).await
            }
        };
        phases.mark("record");
        match written {
            Ok(record) => {
                let id = record.id;
                *self = Opening::Written(Box::new(record));
                Some(id)
            }
            Err(e) => {
                *self = Opening::Failed(Some(e));
                None
            }
        }
    }

    /// The error writing the record failed with (once).
    fn take_error(&mut self) -> Error {
        match self {
            Opening::Failed(error) => error.take(),
            Opening::Due(_) | Opening::Written(_) => None,
        }
        .unwrap_or_else(|| Error::internal("the execution's opening record failed"))
    }

    /// The written record's id, if it is written.
    fn id(&self) -> Option<i64> {
        match self {
            Opening::Written(record) => Some(record.id),
            Opening::Due(_) | Opening::Failed(_) => None,
        }
    }
}

/// What [`Execution::spawn`] came to.
#[derive(Debug)]
pub(super) enum Spawned {
    Running(Running),
    /// The bot could not be started (a note in its log says why).
    Failed(End),
}

impl<'a, 'l> Execution<'a, 'l> {
    /// Makes the prepared execution's opening record ready (`running`,
    /// with an `execution.start` audit record naming the secrets, and the
    /// command masked), and starts building its redactor unless this node
    /// holds it. Nothing is written yet: [`Execution::spawn`] does.
    pub(super) fn start(
        paige: &'a Paige,
        project: ProjectRecord,
        request: ExecutionRequest,
        prepared: Prepared,
        live: Option<LiveOutput<'l>>,
        phases: Phases,
    ) -> Self {
        let secret_names = prepared.secret_names();
        let resolved = &prepared.secrets;
        // The project's redactor as an earlier execution at this
        // generation built it, if this node holds it.
        let held = paige.redactors.get(resolved.project_id, resolved.generation);
        let arguments: Vec<&[u8]> = prepared.argv.iter().map(|a| a.as_bytes()).collect();
        let shown_command = match &held {
            Some(redactor) => shown(redactor, &arguments),
            // Masked exactly as the whole redactor would, by one of only
            // the values that can occur in it: quick, and the whole one is
            // built while the bot starts.
            None => shown(&resolved.redactor_for(&arguments), &arguments),
        };
        let started_at = phases.started_at();
        let opening = Opening::Due(Box::new(DueRecord {
            project_id: project.id,
            trigger: request.trigger.as_str(),
            command: shown_command,
            secret_names,
            started_at,
            deadline_at: deadline(started_at, request.limits.time),
            actor: request.actor.clone(),
        }));
        let limit = request.limits.output_bytes;
        let capture = match held {
            Some(redactor) => CaptureSlot::Ready(Capture::new(redactor, live, limit)),
            None => CaptureSlot::Building {
                build: RedactorBuild {
                    project_id: resolved.project_id,
                    generation: resolved.generation,
                    due: Some(resolved.copy()),
                    begun: None,
                },
                live,
                limit,
            },
        };
        Self {
            paige,
            project,
            request,
            opening,
            argv: prepared.argv,
            workdir: prepared.workdir,
            code: prepared.code,
            secrets: Some(prepared.secrets),
            sandbox: None,
            ending: None,
            capture,
            phases,
        }
    }

    /// Records the execution as `running` and starts the bot in its
    /// sandbox: the entry point (or the command) as the project's own user
    /// when paige is root, with an environment built from nothing, under
    /// the execution's resource limits. Without the sandbox (the
    /// operator's opt-out), directly, as paige's user. An `Err` is the
    /// store's: then no bot ran.
    pub(super) async fn spawn(&mut self) -> Result<Spawned> {
        let isolation = Isolation::of(self.paige.config.bot_users);
        let secrets = self
            .secrets
            .take()
            .ok_or_else(|| Error::internal("an execution was started twice"))?;
        if isolation.sandboxed() {
            return self.spawn_confined(isolation, secrets).await;
        }
        let Some(id) = self.opening.write(self.paige.store.as_ref(), &mut self.phases).await else {
            return Err(self.opening.take_error());
        };
        self.capture.begin_build();
        let sandbox = Sandbox::new(id)?;
        let cwd = self.workdir.clone().unwrap_or_else(|| sandbox.home().to_path_buf());
        let spawned = self.child(sandbox.home(), cwd, &secrets, None).spawn();

        drop(secrets);
        self.sandbox = Some(sandbox);
        self.phases.mark("spawn");
        match spawned {
            Ok(child) => Ok(Spawned::Running(Running::new(child))),
            Err(error) => {
                self.capture().await?.note(&error);
                Ok(Spawned::Failed(End::failed(error)))
            }
        }
    }

    /// [`Execution::spawn`] in the sandbox.
    async fn spawn_confined(&mut self, isolation: Isolation, secrets: Resolved) -> Result<Spawned> {
        let user = match isolation {
            Isolation::PerProject { uid_base } => {
                match project_user(uid_base, self.project.id, self.code.as_ref().map(|t| t.path.clone())).await {
                    Ok(bot) => Some(bot),
                    Err(e) => {
                        let error = format!("cannot start the bot as its project's user: {e}");
                        tracing::error!(project = %self.project.slug, "{error}");
                        self.capture().await?.note(&error);
                        return Ok(Spawned::Failed(End::failed(error)));
                    }
                }
            }
            Isolation::SameAsPaige { .. } => None,
        };
        self.phases.mark("sandbox");
        let config = &self.paige.config;
        let confinement = Confinement {
            code: self.code.as_ref().map(|tree| tree.path.as_path()),
            hidden: vec![config.data_dir.clone(), config.master_key_path()],
            limits: config.resource_limits,
            // Before its execution has an id.
            group_name: format!("exec-{:016x}", rand::random::<u64>()),
            socket_dir: None,
        };
        let cwd = self.workdir.clone().unwrap_or_else(|| PathBuf::from(HOME_DIR));
        // From the fields, not `self`: the futures hold them across the start.
        let platform = platform(&self.project, None, &self.request, Path::new(HOME_DIR));
        let child = child_spec(&self.argv, platform, cwd, &secrets, user);
        // A sandbox `paige serve` prepared for this layout, if there is
        // one; and the layout to prepare the next one with (not for a
        // program that is not there: its start fails before any sandbox).
        let pool = Arc::clone(&self.paige.sandboxes);
        let code = self.code.as_ref().map(|tree| tree.path.clone());
        let layout = (pool.is_enabled() && child.program_exists())
            .then(|| {
                let ids = user.map(|bot| (bot.uid, bot.gid));
                LayoutKey::new(
                    self.project.id,
                    ids,
                    code.as_deref(),
                    child.sandbox_cwd(code.as_deref()),
                )
            })
            .flatten()
            .map(|key| Layout {
                key,
                code: self.code.as_ref().and_then(|tree| tree.share().ok()),
                hidden: confinement.hidden.clone(),
                limits: confinement.limits,
            });
        let prepared = match &layout {
            Some(layout) => pool.take(&layout.key).await,
            None => None,
        };
        if prepared.is_some() {
            self.phases.mark("prepared");
        }
        // The record is written while `bwrap` execs (or right away, in a
        // prepared sandbox); it waits for the id.
        let (store, opening, phases) = (self.paige.store.as_ref(), &mut self.opening, &mut self.phases);
        let capture = &mut self.capture;
        let late_env: LateEnv<'_> = Box::pin(async move {
            let id = opening.write(store, phases).await?;
            capture.begin_build();
            Some(vec![(EXECUTION_ID_VAR, id.to_string())])
        });
        let spawned = match prepared {
            Some(prepared) => {
                let spawned = child.spawn_prepared(prepared, Some(late_env)).await;
                // The next execution's, while this one's bot runs (not
                // before: its start would compete with the opening
                // record's commit, which the bot waits for).
                if let Some(layout) = layout {
                    pool.prepare(layout, true);
                }
                spawned
            }
            None => {
                let spawned = child.spawn_confined(&confinement, Some(late_env)).await;
                // After this one's: two sandboxes starting at once on two
                // cores would each take longer.
                if let Some(layout) = layout {
                    pool.prepare(layout, false);
                }
                spawned
            }
        };
        drop(child);
        drop(secrets);
        if let Opening::Failed(_) = self.opening {
            // The store's failure, not the bot's: it never ran.
            return Err(self.opening.take_error());
        }
        self.phases.mark("spawn");
        match spawned {
            Ok((child, ending)) => {
                self.ending = Some(ending);
                Ok(Spawned::Running(Running::new(child)))
            }
            Err(error) => {
                self.capture().await?.note(&error);
                Ok(Spawned::Failed(End::failed(error)))
            }
        }
    }

    /// The bot's process: its home is `home` as the bot sees it.
    fn child<'s>(
        &'s self,
        home: &'s Path,
        cwd: PathBuf,
        secrets: &'s Resolved,
        user: Option<BotIdentity>,
    ) -> ChildSpec<'s> {
        let platform = platform(&self.project, self.opening.id(), &self.request, home);
        child_spec(&self.argv, platform, cwd, secrets, user)
    }

    /// Runs the bot to its end: the event on its stdin, its output
    /// through the redactor into the log (written to the store as it
    /// comes), the time and output limits. Then, unless another execution
    /// of the project still runs, kills what its user left running.
    pub(super) async fn supervise(&mut self, running: Running) -> Result<End> {
        let execution_id = self
            .opening
            .id()
            .ok_or_else(|| Error::internal("an execution ran unrecorded"))?;
        let sink = LogSink {
            store: self.paige.store.as_ref(),
            execution_id,
        };
        self.capture().await?;
        let CaptureSlot::Ready(capture) = &mut self.capture else {
            return Err(Error::internal("the redactor is not ready"));
        };
        let end = process::supervise(running, capture, sink, &self.request).await;
        // The sandbox is gone with bwrap; its cgroup goes now.
        let (confined, hit) = match self.ending.take() {
            Some(ending) => (true, ending.finish().await),
            None => (false, None),
        };
        let mut end = end?;
        self.phases.mark("run");
        if confined {
            end.status = bot_status(end.status);
        }
        let mut outcome = End::of(&end, self.request.limits.time);
        let cpu = self.paige.config.resource_limits.cpu_time;
        let hit = hit.or_else(|| (confined && end.status.signal() == Some(SIGXCPU)).then_some(LimitHit::CpuTime(cpu)));
        if let Some(hit) = hit
            && !end.timed_out
            && !end.cancelled
        {
            let error = format!("{hit}: the sandbox was killed");
            self.capture().await?.note(&error);
            outcome.status = ExecutionStatus::Failed;
            outcome.error = Some(error);
        }
        Ok(outcome)
    }

    /// Spawns and supervises.
    pub(super) async fn run(&mut self) -> Result<End> {
        match self.spawn().await? {
            Spawned::Running(running) => self.supervise(running).await,
            Spawned::Failed(end) => Ok(end),
        }
    }

    /// Records the end (its error masked) with the last log lines, and
    /// returns the record. An `end` that is an `Err` is recorded as a
    /// failure, as far as the store allows, and returned.
    pub(super) async fn finish(mut self, end: Result<End>) -> Result<ExecutionRecord> {
        // The bot's processes are gone: its home goes, and its code tree
        // may be removed by a later build.
        self.sandbox = None;
        self.code = None;
        self.secrets = None;
        // The redactor masks the error: waited for if the bot never started.
        let end = match self.capture().await {
            Ok(_) => end,
            Err(e) => end.and(Err(e)),
        };
        let store = self.paige.store.as_ref();
        // A bot that never started may not be recorded yet: it is now.
        if self.opening.write(store, &mut self.phases).await.is_none() {
            // Nothing of it is recorded: the first error is the answer.
            return Err(end.err().unwrap_or_else(|| self.opening.take_error()));
        }
        let Opening::Written(record) = std::mem::replace(&mut self.opening, Opening::Failed(None)) else {
            return Err(Error::internal("an execution's record was lost"));
        };
        let record = *record;
        match end {
            Ok(end) => {
                let outcome = self.outcome(end);
                let lines = self.take_lines();
                let record = record::close(store, record, &lines, outcome).await?;
                self.phases.mark("finish");
                self.phases.report(record.id);
                Ok(record)
            }
            Err(e) => {
                // Best effort: the store may be what failed.
                let outcome = self.outcome(End::failed(format!("the execution could not be recorded: {e}")));
                let lines = self.take_lines();
                let _ = record::close(store, record, &lines, outcome).await;
                Err(e)
            }
        }
    }

    fn outcome(&self, mut end: End) -> ExecutionOutcome {
        let output = match &self.capture {
            CaptureSlot::Ready(capture) => {
                end.error = end.error.map(|e| capture.redact(&e));
                Output {
                    bytes: capture.written,
                    truncated: capture.truncated,
                }
            }
            // Nothing to mask with: no text of the runtime's is kept.
            CaptureSlot::Building { .. } | CaptureSlot::Failed => {
                end.error = end.error.map(|_| REDACTOR_FAILED.to_owned());
                Output::default()
            }
        };
        end.outcome(now_millis(), millis(self.phases.elapsed()), output)
    }

    /// The log lines not yet written.
    fn take_lines(&mut self) -> Vec<LogLine> {
        match &mut self.capture {
            CaptureSlot::Ready(capture) => capture.lines.take(),
            CaptureSlot::Building { .. } | CaptureSlot::Failed => Vec::new(),
        }
    }

    /// The capture, once the redactor is built: waits for what is left of
    /// its build (the first time, while the sandbox starts).
    async fn capture(&mut self) -> Result<&mut Capture<'l>> {
        let slot = std::mem::replace(&mut self.capture, CaptureSlot::Failed);
        self.capture = match slot {
            CaptureSlot::Building { build, live, limit } => {
                let (project_id, generation) = (build.project_id, build.generation);
                match build.built().await {
                    Ok(redactor) => {
                        self.phases.mark("redactor");
                        let redactor = Arc::new(redactor);
                        self.paige
                            .redactors
                            .insert(project_id, generation, Arc::clone(&redactor));
                        CaptureSlot::Ready(Capture::new(redactor, live, limit))
                    }
                    Err(how) => {
                        tracing::error!(execution_id = self.opening.id(), "building the redactor {how}");
                        CaptureSlot::Failed
                    }
                }
            }
            ready_or_failed => ready_or_failed,
        };
        match &mut self.capture {
            CaptureSlot::Ready(capture) => Ok(capture),
            CaptureSlot::Building { .. } | CaptureSlot::Failed => Err(Error::internal(REDACTOR_FAILED)),
        }
    }

    /// Records an execution that never started a process and never read
    /// the secrets: failed, with `error` as its one log line.
    pub(super) async fn not_started(
        paige: &Paige,
        project: &ProjectRecord,
        request: &ExecutionRequest,
        argv: &[String],
        error: String,
        started_at: Millis,
    ) -> Result<ExecutionRecord> {
        let store = paige.store.as_ref();
        let new = NewExecution {
            project_id: project.id,
            trigger: request.trigger.as_str(),
            command: argv,
            secret_names: &[],
            started_at,
            deadline_at: deadline(started_at, Duration::ZERO),
            request: None,
        };
        let record = record::open(store, new, &request.actor).await?;
        let finished_at = now_millis();
        let note = LogLine {
            seq: 0,
            stream: Stream::System,
            at: finished_at,
            text: error.clone(),
        };
        let outcome = End::failed(error).outcome(finished_at, finished_at - started_at, Output::default());
        record::close(store, record, std::slice::from_ref(&note), outcome).await
    }
}

/// `arguments` as the execution's record shows them: masked by `redactor`.
fn shown(redactor: &Redactor, arguments: &[&[u8]]) -> Vec<String> {
    arguments
        .iter()
        .map(|a| String::from_utf8_lossy(&redactor.redact(a)).into_owned())
        .collect()
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The project's user, with its code tree readable by its group (off the
/// async threads: the first time, it walks the tree).
pub(super) async fn project_user(uid_base: u32, project_id: i64, code: Option<PathBuf>) -> Result<BotIdentity> {
    let bot = BotIdentity::for_project(uid_base, project_id)?;
    if let Some(path) = code {
        tokio::task::spawn_blocking(move || sandbox::share_code(&path, bot))
            .await
            .map_err(|e| Error::internal(format!("the bot's preparation stopped: {e}")))??;
    }
    Ok(bot)
}

/// What the platform tells the bot of execution `execution_id` of
/// `project` (`None`: not recorded yet, see [`LateEnv`]): its home is
/// `home` as the bot sees it.
fn platform<'s>(
    project: &'s ProjectRecord,
    execution_id: Option<i64>,
    request: &'s ExecutionRequest,
    home: &'s Path,
) -> Platform<'s> {
    Platform {
        slug: &project.slug,
        execution_id,
        trigger: request.trigger.as_str(),
        home,
        port: None,
    }
}

/// The bot's process: `argv` in `cwd` as `user`, with the platform's
/// variables and the secrets.
fn child_spec<'s>(
    argv: &[String],
    platform: Platform<'s>,
    cwd: PathBuf,
    secrets: &'s Resolved,
    user: Option<BotIdentity>,
) -> ChildSpec<'s> {
    ChildSpec {
        program: argv[0].clone().into(),
        args: argv[1..].iter().map(Into::into).collect(),
        cwd,
        env: ChildEnv { platform, secrets },
        user,
    }
}

/// SIGXCPU: a process of the bot reached its CPU time (the soft rlimit).
const SIGXCPU: i32 = 24;

/// The bot's exit status from `bwrap`'s: `bwrap` exits with the bot's
/// code, or 128 + the signal that killed it (as shells report it). A bot
/// that exits with a code from 129 to 192 by itself reads as killed.
fn bot_status(status: ExitStatus) -> ExitStatus {
    match status.code() {
        Some(code @ 129..=192) => ExitStatus::from_raw(code - 128),
        _ => status,
    }
}
