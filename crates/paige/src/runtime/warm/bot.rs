//! One warm bot process: started in the project's bubblewrap sandbox
//! (the same `ChildSpec` as a one-shot execution, plus its private socket
//! directory and `PORT`), waited for until it listens, then reused for one
//! request at a time. It remembers what it was started with (its
//! [`Fingerprint`]): the pool never hands it a request of another code
//! revision or other secrets.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UnixStream;
use tokio::process::Child;
use tokio::time::Instant;

use super::environment::Environment;
use super::exchange::Connection;
use super::output::OutputRouter;
use super::socket::SocketDir;
use crate::Paige;
use crate::model::execution::{ExecutionRecord, ExecutionStatus, LogLine, Stream};
use crate::model::{Actor, Millis, ProjectRecord, now_millis};
use crate::runtime::bwrap::{HOME_DIR, SOCKET_DIR};
use crate::runtime::capture::Capture;
use crate::runtime::child::{ChildSpec, Confinement};
use crate::runtime::code_cache::CodeTree;
use crate::runtime::env::{ChildEnv, Platform};
use crate::runtime::jail::Ending;
use crate::runtime::limits::ResourceLimits;
use crate::runtime::process::ProcessGroup;
use crate::runtime::record::{self, End, Output};
use crate::runtime::sandbox::{BotIdentity, Isolation};
use crate::runtime::{DEFAULT_OUTPUT_LIMIT, ENTRY_POINT, Trigger};
use crate::secrets::Resolved;
use crate::store::executions::NewExecution;

/// The CPU time of a warm process over its whole life.
const WARM_CPU_TIME: Duration = Duration::from_secs(24 * 3600);

/// What a process was started with: its code tree and its secrets,
/// hashed. Equal fingerprints, same environment.
pub(super) type Fingerprint = [u8; 32];

/// The fingerprint of `code` and `secrets`.
pub(super) fn fingerprint(code: &Path, secrets: &Resolved) -> Fingerprint {
    use secrecy::ExposeSecret;
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    hash.update(code.as_os_str().as_encoded_bytes());
    for (key, value) in &secrets.secrets {
        hash.update([0]);
        hash.update(key.as_bytes());
        hash.update([0]);
        hash.update(value.expose_secret().as_bytes());
    }
    hash.finalize().into()
}

/// How long a start record's deadline reaches past its last renewal. The
/// idle sweep renews it (every few seconds, when half of it is gone); a
/// process serving a request is renewed once given back, well within it.
const START_LEASE: Duration = Duration::from_secs(10 * 60);

fn lease_end(from: Millis) -> Millis {
    from.saturating_add(Millis::try_from(START_LEASE.as_millis()).unwrap_or(Millis::MAX))
}

/// A running bot process.
#[derive(Debug)]
pub(super) struct BotProcess {
    pub fingerprint: Fingerprint,
    pub last_used: Instant,
    child: Child,
    group: ProcessGroup,
    ending: Option<Ending>,
    socket: SocketDir,
    output: Option<OutputRouter>,
    /// The connection its last request came on, kept alive for the next.
    connection: Option<Connection>,
    /// The start record: output outside any request, and how it ended.
    start_record: Option<ExecutionRecord>,
    /// The start record's deadline in the store.
    lease_until: Millis,
    /// The seq after the start record's lines written so far (its closing
    /// note must not reuse one).
    next_start_seq: i64,
    paige: Paige,
    _code: CodeTree,
}

/// Why a process could not serve: the message, and the output it left.
#[derive(Debug)]
pub(super) struct StartFailure {
    pub error: String,
}

impl BotProcess {
    /// Starts the bot of `project` (code `code`, secrets `secrets`) and
    /// waits until it listens on its socket, at most `timeout`.
    pub(super) async fn start(
        paige: &Paige,
        project: &ProjectRecord,
        env: &Environment,
        timeout: Duration,
    ) -> Result<Self, StartFailure> {
        let fail = |error: String| StartFailure { error };
        let code = env
            .code
            .share()
            .map_err(|e| fail(format!("cannot lease the bot's code: {e}")))?;
        let secrets = &env.secrets;
        let redactor = Arc::clone(&env.redactor);
        let secret_names = env.secret_names.clone();
        let argv = vec!["node".to_owned(), ENTRY_POINT.to_owned()];
        let started_at = now_millis();
        let new = NewExecution {
            project_id: project.id,
            trigger: Trigger::Start.as_str(),
            command: &argv,
            secret_names: &secret_names,
            started_at,
            // A warm process may live for days: its start record has a
            // lease, renewed while it lives (`renew_lease`), so the sweep
            // fails it only once the server that ran it is gone.
            deadline_at: lease_end(started_at),
            request: None,
        };
        let actor = Actor {
            name: "paige:bot-process".to_owned(),
            user_id: None,
            request_id: None,
        };
        let start_record = record::open(paige.store.as_ref(), new, &actor)
            .await
            .map_err(|e| fail(format!("the bot's start could not be recorded: {e}")))?;
        let isolation = Isolation::of(paige.config.bot_users);
        let user = match isolation {
            Isolation::PerProject { uid_base } => Some(
                crate::runtime::execution::project_user(uid_base, project.id, Some(code.path.clone()))
                    .await
                    .map_err(|e| fail(format!("cannot start the bot as its project's user: {e}")))?,
            ),
            Isolation::SameAsPaige { .. } => None,
        };
        let socket = SocketDir::create(&paige.config.data_dir, project.id, user.map(|u| (u.uid, u.gid)))
            .map_err(|e| fail(format!("cannot create the bot's socket directory: {e}")))?;
        let spawned = spawn(
            paige,
            project,
            &code,
            secrets,
            user,
            &socket,
            isolation.sandboxed(),
            start_record.id,
        )
        .await;
        let (mut child, ending) = match spawned {
            Ok(parts) => parts,
            Err(error) => {
                let error = String::from_utf8_lossy(&redactor.redact(error.as_bytes())).into_owned();
                let mut process_end = End::failed(error.clone());
                process_end.status = ExecutionStatus::Failed;
                let outcome = process_end.outcome(now_millis(), now_millis() - started_at, Output::default());
                let _ = record::close(paige.store.as_ref(), start_record, &[], outcome).await;
                return Err(fail(error));
            }
        };
        let group = ProcessGroup::new(child.id());
        let capture = Capture::new(redactor, None, DEFAULT_OUTPUT_LIMIT);
        let output = match (child.stdout.take(), child.stderr.take()) {
            (Some(out), Some(err)) => OutputRouter::start(out, err, capture).ok(),
            _ => None,
        };
        drop(child.stdin.take());
        let mut bot = Self {
            fingerprint: env.fingerprint,
            connection: None,
            last_used: Instant::now(),
            child,
            group,
            ending,
            socket,
            output,
            start_record: Some(start_record),
            lease_until: lease_end(started_at),
            next_start_seq: 0,
            paige: paige.clone(),
            _code: code,
        };
        match bot.wait_listening(timeout).await {
            Ok(()) => Ok(bot),
            Err(error) => {
                let error = bot.stop_with(Some(error)).await;
                Err(fail(error))
            }
        }
    }

    /// Polls the socket until the bot accepts a connection.
    async fn wait_listening(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let socket = self.socket.socket();
        loop {
            if UnixStream::connect(&socket).await.is_ok() {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "the bot exited before it listened on its PORT ({})",
                    describe_exit(status)
                ));
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "the bot did not listen on its PORT within {} s: it must call `listen(process.env.PORT)` \
                     (PORT is a Unix socket path)",
                    timeout.as_secs_f32()
                ));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// The socket to connect to for a request.
    pub(super) fn socket_path(&self) -> PathBuf {
        self.socket.socket()
    }

    /// The kept connection, if any, for the next request.
    pub(super) fn take_connection(&mut self) -> Option<Connection> {
        self.connection.take()
    }

    /// Keeps `connection` (its answer was read whole) for the next request.
    pub(super) fn keep_connection(&mut self, connection: Connection) {
        self.connection = Some(connection.idle());
    }

    /// The output router (a process always has one once started).
    pub(super) fn output(&self) -> Option<&OutputRouter> {
        self.output.as_ref()
    }

    /// Writes the start record's new lines.
    pub(super) async fn append_start_lines(&mut self, lines: &[LogLine]) {
        if let Some(last) = lines.last() {
            self.next_start_seq = last.seq + 1;
        }
        if let Some(record) = &self.start_record
            && !lines.is_empty()
        {
            let _ = self.paige.store.append_execution_log(record.id, lines).await;
        }
    }

    /// Waits for the process to exit; for `select!` while a request runs.
    pub(super) async fn exited(&mut self) -> std::process::ExitStatus {
        match self.child.wait().await {
            Ok(status) => status,
            Err(_) => std::future::pending().await,
        }
    }

    /// True if the process is still running.
    pub(super) fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Moves the start record's deadline on, once half of its lease is gone.
    pub(super) async fn renew_lease(&mut self) {
        let now = now_millis();
        let half = Millis::try_from(START_LEASE.as_millis() / 2).unwrap_or(Millis::MAX);
        let Some(record) = &self.start_record else {
            return;
        };
        if self.lease_until.saturating_sub(now) > half {
            return;
        }
        let until = lease_end(now);
        match self.paige.store.extend_execution_deadline(record.id, until).await {
            Ok(()) => self.lease_until = until,
            Err(e) => tracing::warn!(error = %e, execution = record.id, "a bot's start record could not be renewed"),
        }
    }

    /// Stops the process (it handles nothing now) and closes its start record.
    pub(super) async fn stop(self, reason: &str) {
        let _ = self.stop_with_note(reason).await;
    }

    async fn stop_with_note(self, reason: &str) -> String {
        self.stop_inner(None, Some(reason)).await
    }

    /// Stops the process; `error` is why it failed (None: paige stopped
    /// it). Returns the error with the process's last output quoted.
    pub(super) async fn stop_with(self, error: Option<String>) -> String {
        self.stop_inner(error, None).await
    }

    async fn stop_inner(mut self, error: Option<String>, note: Option<&str>) -> String {
        let exited_by_itself = self.child.try_wait().ok().flatten();
        self.group.kill_and_forget();
        let _ = self.child.start_kill();
        let status = self.child.wait().await.ok();
        if let Some(ending) = self.ending.take() {
            ending.finish().await;
        }
        let mut capture = match self.output.take() {
            Some(router) => router.finish().await,
            None => None,
        };
        let lines = capture.as_mut().map(|c| c.lines.take()).unwrap_or_default();
        let error = error.or_else(|| exited_by_itself.map(|s| format!("the bot exited ({})", describe_exit(s))));
        let full = match &error {
            Some(error) => with_output(error, &lines),
            None => String::new(),
        };
        if let Some(record) = self.start_record.take() {
            let mut lines = lines;
            if let Some(note) = note {
                lines.push(LogLine {
                    seq: lines.last().map_or(self.next_start_seq, |l| l.seq + 1),
                    stream: Stream::System,
                    at: now_millis(),
                    text: note.to_owned(),
                });
            }
            let end = match &error {
                Some(_) => End::failed(full.clone()),
                None => End {
                    status: ExecutionStatus::Succeeded,
                    exit_code: status.and_then(|s| s.code()),
                    signal: None,
                    error: None,
                },
            };
            let started_at = record.started_at;
            let output = capture.map(|c| Output {
                bytes: c.written,
                truncated: c.truncated,
            });
            let now = now_millis();
            let outcome = end.outcome(now, now - started_at, output.unwrap_or_default());
            let id = record.id;
            if let Err(e) = record::close(self.paige.store.as_ref(), record, &lines, outcome).await {
                tracing::warn!(error = %e, execution = id, "a bot's start record could not be finished");
            }
        }
        full
    }
}

impl Drop for BotProcess {
    fn drop(&mut self) {
        // Dropped without `stop` (a cancelled request): nothing outlives it.
        self.group.kill();
    }
}

/// An exit status in words.
pub(super) fn describe_exit(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code @ 129..=192), _) => {
            format!(
                "killed by signal {} ({})",
                code - 128,
                crate::runtime::signal_name(code - 128)
            )
        }
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("killed by signal {signal} ({})", crate::runtime::signal_name(signal)),
        _ => "unknown status".to_owned(),
    }
}

/// `error`, with the last lines the bot printed (already redacted).
pub(super) fn with_output(error: &str, lines: &[LogLine]) -> String {
    let last: Vec<&str> = lines
        .iter()
        .filter(|l| l.stream != Stream::System)
        .rev()
        .take(10)
        .map(|l| l.text.as_str())
        .collect();
    if last.is_empty() {
        return error.to_owned();
    }
    let quoted: Vec<&str> = last.into_iter().rev().collect();
    format!("{error}; its last output:\n{}", quoted.join("\n"))
}

/// Starts the process: in the sandbox (its socket directory bound at
/// `SOCKET_DIR`), or, opted out, directly with a host socket path.
#[allow(clippy::too_many_arguments)]
async fn spawn(
    paige: &Paige,
    project: &ProjectRecord,
    code: &CodeTree,
    secrets: &Resolved,
    user: Option<BotIdentity>,
    socket: &SocketDir,
    sandboxed: bool,
    start_id: i64,
) -> Result<(Child, Option<Ending>), String> {
    let config = &paige.config;
    let inner_socket = PathBuf::from(SOCKET_DIR).join(super::socket::SOCKET_NAME);
    let host_home = std::env::temp_dir();
    let (home, port) = if sandboxed {
        (Path::new(HOME_DIR), inner_socket.as_path())
    } else {
        (host_home.as_path(), socket.host.as_path())
    };
    let host_socket = socket.socket();
    let port = if sandboxed { port } else { host_socket.as_path() };
    let platform = Platform {
        slug: &project.slug,
        execution_id: Some(start_id),
        trigger: Trigger::Webhook.as_str(),
        home,
        port: Some(port),
    };
    let child = ChildSpec {
        program: "node".into(),
        args: vec![ENTRY_POINT.into()],
        cwd: code.path.clone(),
        env: ChildEnv { platform, secrets },
        user,
    };
    if !sandboxed {
        return child.spawn().map(|c| (c, None));
    }
    let confinement = Confinement {
        code: Some(code.path.as_path()),
        hidden: vec![config.data_dir.clone(), config.master_key_path()],
        // CPU time is counted over a process's life (RLIMIT_CPU): a warm
        // process lives for many requests, each bounded by its time limit
        // instead. Memory, processes and tmpfs are limited as for any run.
        limits: ResourceLimits {
            cpu_time: WARM_CPU_TIME,
            ..config.resource_limits
        },
        group_name: format!("warm-{start_id}-{:08x}", rand::random::<u32>()),
        socket_dir: Some(socket.host.as_path()),
    };
    child
        .spawn_confined(&confinement, None)
        .await
        .map(|(c, ending)| (c, Some(ending)))
}
