//! One execution as a value, through its steps:
//!
//! 1. prepare ([`Paige::prepare_execution`]): the code lease, the command
//!    line, the secrets and their redactor; nothing recorded yet;
//! 2. [`Execution::start`]: recorded as `running`, with its audit record;
//! 3. [`Execution::spawn`]: its [`Sandbox`], then its [`ChildSpec`] started;
//! 4. [`Execution::supervise`]: output, limits, the sweep afterwards;
//! 5. [`Execution::finish`]: the end recorded, in the one shape every
//!    ending takes ([`End`]).
//!
//! A bot that fails, times out or cannot start is a recorded [`End`]; an
//! `Err` is paige's own failure (the store, most often).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::capture::Capture;
use super::child::ChildSpec;
use super::code_cache::CodeTree;
use super::env::{ChildEnv, Platform};
use super::prepare::Prepared;
use super::process::{self, LogSink, Running};
use super::record::{self, End, Output};
use super::sandbox::{BotIdentity, Isolation, Reach, Sandbox};
use super::timing::Phases;
use super::{ExecutionRequest, LiveOutput, deadline};
use crate::Paige;
use crate::error::{Error, Result};
use crate::secrets::Resolved;
use crate::store::executions::{ExecutionOutcome, ExecutionRecord, LogLine, NewExecution, Stream};
use crate::store::{Millis, ProjectRecord, now_millis};

/// A recorded execution of one project, from its start to its end.
pub(super) struct Execution<'a, 'l> {
    paige: &'a Paige,
    project: ProjectRecord,
    request: ExecutionRequest,
    /// As recorded at the start; [`Execution::finish`] completes it.
    record: ExecutionRecord,
    argv: Vec<String>,
    workdir: Option<PathBuf>,
    /// The code lease, kept until the bot's processes are gone.
    code: Option<CodeTree>,
    /// The secrets, kept until the bot has them in its environment.
    secrets: Option<Resolved>,
    /// Set by [`Execution::spawn`].
    sandbox: Option<Sandbox>,
    capture: Capture<'l>,
    phases: Phases,
}

/// What [`Execution::spawn`] came to.
#[derive(Debug)]
pub(super) enum Spawned {
    Running(Running),
    /// The bot could not be started (a note in its log says why).
    Failed(End),
}

impl<'a, 'l> Execution<'a, 'l> {
    /// Records the prepared execution as `running`, with an
    /// `execution.start` audit record naming the secrets, in one
    /// transaction. The command is recorded masked.
    pub(super) async fn start(
        paige: &'a Paige,
        project: ProjectRecord,
        request: ExecutionRequest,
        prepared: Prepared,
        live: Option<LiveOutput<'l>>,
        mut phases: Phases,
    ) -> Result<Self> {
        let secret_names = prepared.secret_names();
        let capture = Capture::new(prepared.redactor, live, request.limits.output_bytes);
        let shown_command: Vec<String> = prepared.argv.iter().map(|a| capture.redact(a)).collect();
        let started_at = phases.started_at();
        let new = NewExecution {
            project_id: project.id,
            trigger: request.trigger.as_str(),
            command: &shown_command,
            secret_names: &secret_names,
            started_at,
            deadline_at: deadline(started_at, request.limits.time),
        };
        let record = record::open(paige.store.as_ref(), new, &request.actor).await?;
        phases.mark("record");
        Ok(Self {
            paige,
            project,
            request,
            record,
            argv: prepared.argv,
            workdir: prepared.workdir,
            code: prepared.code,
            secrets: Some(prepared.secrets),
            sandbox: None,
            capture,
            phases,
        })
    }

    /// Readies the sandbox and starts the bot in it: the entry point (or
    /// the command) in its own process group, as the project's own user
    /// when paige is root, with an environment built from nothing.
    pub(super) async fn spawn(&mut self) -> Result<Spawned> {
        let mut sandbox = Sandbox::new(self.record.id)?;
        let cwd = self.workdir.clone().unwrap_or_else(|| sandbox.home().to_path_buf());
        if let Isolation::PerProject { uid_base } = self.paige.config.bot_users.isolation() {
            if let Err(e) = self.enter_as_project_user(&mut sandbox, uid_base, &cwd).await {
                let error = format!("cannot start the bot as its project's user: {e}");
                tracing::error!(project = %self.project.slug, execution_id = self.record.id, "{error}");
                self.capture.note(&error);
                return Ok(Spawned::Failed(End::failed(error)));
            }
            self.phases.mark("sandbox");
        }
        let secrets = self
            .secrets
            .take()
            .ok_or_else(|| Error::Config(format!("execution {} was started twice", self.record.id)))?;
        let spawned = self.child(&sandbox, cwd, &secrets).spawn();
        drop(secrets);
        self.sandbox = Some(sandbox);
        self.phases.mark("spawn");
        match spawned {
            Ok(child) => Ok(Spawned::Running(Running::new(child))),
            Err(error) => {
                self.capture.note(&error);
                Ok(Spawned::Failed(End::failed(error)))
            }
        }
    }

    /// The bot's process, as started in `sandbox`.
    fn child<'s>(&'s self, sandbox: &'s Sandbox, cwd: PathBuf, secrets: &'s Resolved) -> ChildSpec<'s> {
        ChildSpec {
            program: self.argv[0].clone().into(),
            args: self.argv[1..].iter().map(Into::into).collect(),
            cwd,
            env: ChildEnv {
                platform: Platform {
                    slug: &self.project.slug,
                    execution_id: self.record.id,
                    trigger: self.request.trigger.as_str(),
                    home: sandbox.home(),
                },
                secrets,
            },
            user: sandbox.user(),
        }
    }

    /// The project's user for this execution: its files laid out, its run
    /// lock held, and what an earlier execution left running killed.
    async fn enter_as_project_user(&mut self, sandbox: &mut Sandbox, uid_base: u32, cwd: &Path) -> Result<()> {
        let bot = BotIdentity::for_project(uid_base, self.project.id)?;
        let reach = Reach {
            data_dir: self.paige.config.data_dir.clone(),
            project_code_dir: self.paige.code_dir(self.project.id),
            workdir: cwd.to_path_buf(),
        };
        let killed = sandbox.enter(bot, reach).await?;
        if killed > 0 {
            self.capture.note(&format!(
                "killed {killed} process(es) of the project's user that an earlier execution left running"
            ));
        }
        Ok(())
    }

    /// Runs the bot to its end: the event on its stdin, its output
    /// through the redactor into the log (written to the store as it
    /// comes), the time and output limits. Then, unless another execution
    /// of the project still runs, kills what its user left running.
    pub(super) async fn supervise(&mut self, running: Running) -> Result<End> {
        let sink = LogSink {
            store: self.paige.store.as_ref(),
            execution_id: self.record.id,
        };
        let end = process::supervise(running, &mut self.capture, sink, &self.request).await;
        if let Some(mut sandbox) = self.sandbox.take() {
            let killed = sandbox.release().await;
            if killed > 0 {
                self.capture.note(&format!(
                    "killed {killed} process(es) of the project's user that outlived their execution \
                     (they had left its process group)"
                ));
            }
        }
        let end = end?;
        self.phases.mark("run");
        Ok(End::of(&end, self.request.limits.time))
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
        let store = self.paige.store.as_ref();
        match end {
            Ok(end) => {
                let outcome = self.outcome(end);
                let lines = self.capture.lines.take();
                let record = record::close(store, self.record, &lines, outcome).await?;
                self.phases.mark("finish");
                self.phases.report(record.id);
                Ok(record)
            }
            Err(e) => {
                // Best effort: the store may be what failed.
                let outcome = self.outcome(End::failed(format!("the execution could not be recorded: {e}")));
                let lines = self.capture.lines.take();
                let _ = record::close(store, self.record, &lines, outcome).await;
                Err(e)
            }
        }
    }

    fn outcome(&self, mut end: End) -> ExecutionOutcome {
        end.error = end.error.map(|e| self.capture.redact(&e));
        let output = Output {
            bytes: self.capture.written,
            truncated: self.capture.truncated,
        };
        end.outcome(now_millis(), millis(self.phases.elapsed()), output)
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

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
