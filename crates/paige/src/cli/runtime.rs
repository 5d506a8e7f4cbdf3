//! `paige code` and `paige run`: the runtime's commands.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use clap::{Args, Subcommand};

use crate::Paige;
use crate::error::{Error, Result};
use crate::model::Actor;
use crate::runtime::sandbox::Isolation;
use crate::runtime::{
    DEFAULT_OUTPUT_LIMIT, ExecutionRecord, ExecutionRequest, ExecutionStatus, Limits, Stream, Trigger,
};
use crate::secrets::guard::{message, to_json};

#[derive(Debug, Subcommand)]
pub enum CodeCommand {
    /// Replace the project's whole bot code tree with the contents of DIR.
    /// Hard-coded project values and credentials are warned about on
    /// stderr (file:line, never the value); the push is done all the same.
    Push {
        slug: String,
        dir: PathBuf,
        /// Print the result, warnings included, as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// List what the code guard found in the project's current code.
    Findings {
        slug: String,
        /// Print the findings as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Move a hard-coded value into Secrets: store it as a secret (unless it
    /// already is one) and make the code read process.env.KEY, in one
    /// step. Without --finding, the project's only finding.
    Fix {
        slug: String,
        /// The finding's id (see `paige code findings`).
        #[arg(long, value_name = "ID")]
        finding: Option<i64>,
        /// The secret's key; the finding's suggested key if left out.
        #[arg(long, value_name = "NAME")]
        key: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct RunArgs {
    pub slug: String,
    /// Run the project's bot on the server (its entry point, its limits)
    /// and follow its output; the exit status is the execution's.
    #[arg(long)]
    pub remote: bool,
    /// A JSON file whose contents are the event handed to the command on stdin.
    #[arg(long)]
    pub event: Option<PathBuf>,
    /// Time limit in seconds; past it the whole process group is killed.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    pub timeout: f64,
    /// Output limit in bytes (stdout and stderr together); the rest is discarded.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_OUTPUT_LIMIT)]
    pub max_output: usize,
    /// The command to run, after `--`; without one, the project's entry
    /// point (`node app.js` in its code).
    #[arg(last = true)]
    pub command: Vec<String>,
}

/// `code findings` and `code fix`, on this machine's store (`code push`
/// goes through the back end: `commands::push`).
pub async fn code(paige: &Paige, command: CodeCommand, actor: &Actor) -> super::failure::CliResult<()> {
    match command {
        CodeCommand::Push { .. } => {
            return Err(Error::internal("code push is run through the back end").into());
        }
        CodeCommand::Findings { slug, json } => {
            let findings = paige.code_findings(&slug).await?;
            if json {
                let list: Vec<_> = findings.iter().map(|f| to_json(f, &slug)).collect();
                super::print_json(&serde_json::json!({ "findings": list }))?;
            } else {
                for f in &findings {
                    println!("{:>6}  {}", f.id, message(&f.finding, &slug, f.id));
                }
                eprintln!("{} hard-coded credential(s) in the code of {slug}", findings.len());
            }
        }
        CodeCommand::Fix { slug, finding, key } => {
            let id = match finding {
                Some(id) => id,
                None => only_finding(paige, &slug).await?,
            };
            let fixed = paige.fix_code_finding(&slug, id, key.as_deref(), actor).await?;
            match &fixed.secret {
                Some(secret) => println!(
                    "stored {} (version {}) and rewrote {}:{} to read process.env.{}",
                    fixed.key, secret.version, fixed.file, fixed.line, fixed.key
                ),
                None => println!(
                    "rewrote {}:{} to read process.env.{} (already a secret of {slug})",
                    fixed.file, fixed.line, fixed.key
                ),
            }
            for left in &fixed.remaining {
                eprintln!("warning: {}", message(&left.finding, &slug, left.id));
            }
        }
    }
    Ok(())
}

/// The id of the project's one finding, for `paige code fix` without
/// `--finding`; several are listed and refused.
async fn only_finding(paige: &Paige, slug: &str) -> Result<i64> {
    let findings = paige.code_findings(slug).await?;
    match findings.as_slice() {
        [only] => Ok(only.id),
        [] => Err(Error::NotFound(format!(
            "a finding in the code of {slug} (it has none)"
        ))),
        many => {
            for f in many {
                eprintln!("{:>6}  {}", f.id, message(&f.finding, slug, f.id));
            }
            Err(Error::invalid(
                "finding_required",
                format!(
                    "the code of {slug} has {} findings; choose one with --finding ID",
                    many.len()
                ),
            ))
        }
    }
}

/// What `paige run` was asked for, checked the same way wherever it runs:
/// the command and its working directory, the event (from `--event`) and
/// the limits.
#[derive(Debug)]
pub struct RunInputs {
    /// `None`: the project's entry point, in its code tree.
    pub command: Option<Vec<String>>,
    pub workdir: Option<std::path::PathBuf>,
    pub event: serde_json::Value,
    pub limits: Limits,
}

impl RunArgs {
    /// The command, event and limits, or the rule they break.
    pub fn inputs(&self) -> Result<RunInputs> {
        let event = match &self.event {
            Some(path) => {
                let text = std::fs::read(path)
                    .map_err(|e| Error::invalid("unreadable_file", format!("{}: {e}", path.display())))?;
                serde_json::from_slice(&text).map_err(|e| {
                    Error::invalid("invalid_event", format!("{} is not valid JSON: {e}", path.display()))
                })?
            }
            None => serde_json::json!({}),
        };
        if !(self.timeout.is_finite() && self.timeout > 0.0 && self.timeout <= 86_400.0) {
            return Err(Error::invalid(
                "invalid_timeout",
                "--timeout is a number of seconds above 0 and at most 86400",
            ));
        }
        let (command, workdir) = if self.command.is_empty() {
            (None, None)
        } else {
            // A local run works where it is started.
            (Some(self.command.clone()), std::env::current_dir().ok())
        };
        Ok(RunInputs {
            command,
            workdir,
            event,
            limits: Limits {
                time: Duration::from_secs_f64(self.timeout),
                output_bytes: self.max_output,
            },
        })
    }
}

/// How an execution ended, as much as `paige run` reports of it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RunEnd {
    pub id: i64,
    pub status: String,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    /// Redacted, as recorded.
    pub error: Option<String>,
}

impl From<&ExecutionRecord> for RunEnd {
    fn from(record: &ExecutionRecord) -> Self {
        Self {
            id: record.id,
            status: record.status.as_str().to_owned(),
            exit_code: record.exit_code,
            signal: record.signal,
            error: record.error.clone(),
        }
    }
}

impl RunEnd {
    /// Says on stderr how an unsuccessful execution ended, and returns the
    /// exit code a shell expects: 0 on success; 128 + N when this process
    /// got signal N (and stopped the execution); 124 when the time limit
    /// killed it (as `timeout(1)`); the child's own; 128 + N for signal N;
    /// 127 when it did not start.
    pub fn report(&self, interrupted: i32) -> ExitCode {
        let status = ExecutionStatus::parse(&self.status);
        if status != Some(ExecutionStatus::Succeeded) {
            eprintln!(
                "paige: execution {} {}: {}",
                self.id,
                self.status,
                self.error.as_deref().unwrap_or("")
            );
        }
        let code = match (status, self.exit_code, self.signal) {
            (Some(ExecutionStatus::Succeeded), _, _) => 0,
            _ if interrupted != 0 => 128 + interrupted,
            (Some(ExecutionStatus::TimedOut), _, _) => 124,
            (_, Some(code), _) => code,
            (_, None, Some(signal)) => 128 + signal,
            _ => 127,
        };
        ExitCode::from(u8::try_from(code & 0xff).unwrap_or(1))
    }
}

/// Writes a piece of the bot's redacted output where `paige run` shows it:
/// stdout to stdout, stderr and the runtime's notes (`paige: `…) to stderr.
/// A closed terminal must not stop the execution: errors are ignored.
pub fn print_live(stream: Stream, bytes: &[u8]) {
    match stream {
        Stream::Stdout => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(bytes).and_then(|()| out.flush());
        }
        Stream::Stderr => {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(bytes).and_then(|()| err.flush());
        }
        Stream::System => {
            let mut err = std::io::stderr().lock();
            let _ = err
                .write_all(b"paige: ")
                .and_then(|()| err.write_all(bytes))
                .and_then(|()| err.flush());
        }
    }
}

/// Stops the execution on a terminal's Ctrl-C, SIGTERM or SIGHUP: the bot
/// has its own process group, so the signal reaches only us, and we must
/// not die and leave it running. `cancel` is notified; `received` holds
/// the signal's number (0 until then).
pub struct Interrupts {
    pub cancel: Arc<tokio::sync::Notify>,
    pub received: Arc<AtomicI32>,
    task: tokio::task::JoinHandle<()>,
}

impl Interrupts {
    pub fn listen() -> Self {
        let cancel = Arc::new(tokio::sync::Notify::new());
        let received = Arc::new(AtomicI32::new(0));
        let task = tokio::spawn(forward_signals(Arc::clone(&cancel), Arc::clone(&received)));
        Self { cancel, received, task }
    }

    /// The signal that stopped the execution, if one did; stops listening.
    pub fn finish(self) -> i32 {
        self.task.abort();
        self.received.load(Ordering::SeqCst)
    }
}

/// Runs one execution on this machine's store with live, redacted output,
/// and returns the exit code a shell expects ([`RunEnd::report`]).
pub async fn run(paige: &Paige, args: RunArgs, actor: &Actor) -> Result<ExitCode> {
    // Diagnostics on stderr only when asked for, as `paige serve` does.
    super::log_format::init(None)?;
    let RunInputs {
        command,
        workdir,
        event,
        limits,
    } = args.inputs()?;
    let interrupts = Interrupts::listen();
    // Without the sandbox (whose PID namespace takes every process of the
    // bot with it), a process that leaves the bot's group (setsid, Node's
    // `detached: true`) escapes the group kill; as the subreaper, paige
    // inherits it when its parent dies and kills it after the execution.
    // Best effort: without it only the escape hatch stays open.
    let subreaper = !Isolation::of(paige.config().bot_users).sandboxed()
        && rustix::process::set_child_subreaper(Some(rustix::process::getpid())).is_ok();
    let request = ExecutionRequest {
        command,
        workdir,
        event,
        trigger: Trigger::Manual,
        actor: actor.clone(),
        limits,
        cancel: Some(Arc::clone(&interrupts.cancel)),
    };
    let mut live = print_live;
    let record = paige.execute(&args.slug, request, Some(&mut live)).await;
    let interrupted = interrupts.finish();
    if subreaper {
        let killed = kill_adopted_orphans();
        if killed > 0 {
            eprintln!("paige: killed {killed} process(es) the bot left running outside its process group");
        }
    }
    Ok(RunEnd::from(&record?).report(interrupted))
}

/// Waits for SIGINT, SIGTERM or SIGHUP; records which and cancels.
async fn forward_signals(cancel: Arc<tokio::sync::Notify>, received: Arc<AtomicI32>) {
    use tokio::signal::unix::{Signal, SignalKind, signal};
    async fn next(stream: &mut Option<Signal>) {
        match stream {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending().await,
        }
    }
    let mut int = signal(SignalKind::interrupt()).ok();
    let mut term = signal(SignalKind::terminate()).ok();
    let mut hup = signal(SignalKind::hangup()).ok();
    let number = tokio::select! {
        () = next(&mut int) => 2,
        () = next(&mut term) => 15,
        () = next(&mut hup) => 1,
    };
    received.store(number, Ordering::SeqCst);
    cancel.notify_one();
}

/// This process's children, from `/proc/self/task/*/children`.
fn children() -> Vec<rustix::process::Pid> {
    let mut pids = Vec::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return pids;
    };
    for task in tasks.flatten() {
        if let Ok(text) = std::fs::read_to_string(task.path().join("children")) {
            pids.extend(
                text.split_whitespace()
                    .filter_map(|p| p.parse::<i32>().ok())
                    .filter_map(rustix::process::Pid::from_raw),
            );
        }
    }
    pids
}

/// Kills and reaps every child this process has adopted as subreaper (the
/// bot itself was reaped already), until none is left; returns how many
/// (each counted once, though one not yet reaped is signalled again).
fn kill_adopted_orphans() -> usize {
    use rustix::process::{Signal, WaitOptions, kill_process, waitpid};
    let mut killed = std::collections::HashSet::new();
    for _ in 0..100 {
        let orphans = children();
        if orphans.is_empty() {
            break;
        }
        for pid in orphans {
            if kill_process(pid, Signal::KILL).is_ok() {
                killed.insert(pid);
            }
            // Reaped now if it is gone; otherwise on a later round.
            let _ = waitpid(Some(pid), WaitOptions::NOHANG);
        }
        std::thread::sleep(Duration::from_millis(5));
        for pid in children() {
            let _ = waitpid(Some(pid), WaitOptions::NOHANG);
        }
    }
    killed.len()
}
