//! Sandboxes `paige serve` prepares before an execution asks for one.
//!
//! Why: `bwrap`'s own start (its namespaces, about twenty mounts, the
//! `/etc` copies) is most of a short execution's time: 5–7 ms of a
//! handed-off `paige run … -- /bin/true` on the 2-core machine. Once a
//! layout (project, user, code tree, working directory) is in use (two
//! executions within its idle time, [`IDLE_FOR`] unless the operator
//! sets another, or one that took a prepared sandbox),
//! each execution's start has the server prepare the next one's sandbox
//! in the background: that layout, its own cgroup and limits, and
//! `paige-start --stdin` waiting in it. The next execution with that
//! layout takes it, and only sends the bot's command and environment
//! (with the secrets, once its opening record is committed) on the
//! sandbox's stdin (see `paige-start`'s docs and [`command_message`]).
//!
//! What it costs: one idle `bwrap` and `paige-start` per layout in use,
//! at most [`MAX_PREPARED`] of them; the CPU is spent as before, only
//! earlier. A project run less often than its idle time never has
//! one prepared: no execution would take it. What it changes for a bot:
//! nothing but when its sandbox was made. Nothing secret is in a
//! prepared sandbox until an execution takes it; as root, `paige-start`
//! waits in it as root, not as the project's user, so the sweep of a
//! project's leftover processes never kills it. A prepared sandbox older
//! than the idle time is let go (its `/etc` copies are as old as it), and
//! so is one whose working directory is no longer the same directory
//! (replaced since: another inode), or whose project ran with another
//! layout. A layout's code tree stays leased while its sandbox waits.
//!
//! Only `paige serve` prepares (`http::serve` enables the pool, unless
//! `--prepared-idle-seconds 0` says not to): a one-shot `paige run` would
//! leave a sandbox to an exiting process.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};
use tokio::task::JoinHandle;
use zeroize::Zeroizing;

use super::bwrap::{Cwd, Spec};
use super::code_cache::CodeTree;
use super::env::ChildEnv;
use super::jail::{self, Ending, Jailed};
use super::limits::{Backend, ResourceLimits};

/// How long a prepared sandbox waits for an execution, by default.
pub const IDLE_FOR: Duration = Duration::from_secs(30);

/// How long a prepared sandbox waits for an execution: also the window
/// in which two executions make a layout one in use. Zero prepares none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreparedIdle(pub Duration);

impl Default for PreparedIdle {
    fn default() -> Self {
        Self(IDLE_FOR)
    }
}

/// The most sandboxes waiting at once, over all layouts (the oldest goes).
pub const MAX_PREPARED: usize = 8;

/// The prepared sandboxes of this server, one per layout at most.
#[derive(Debug, Default)]
pub struct SandboxPool {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Set by [`SandboxPool::enable`]; `None`: none are prepared.
    idle: Option<Duration>,
    next_id: u64,
    waiting: Vec<Waiting>,
    /// The layouts started without a prepared sandbox within the idle
    /// time, and when (at most [`MAX_REMEMBERED`]).
    seen: Vec<(LayoutKey, Instant)>,
}

/// The most layouts [`State::seen`] remembers.
const MAX_REMEMBERED: usize = 256;

/// A sandbox being prepared, or prepared.
#[derive(Debug)]
struct Waiting {
    id: u64,
    layout: LayoutKey,
    since: Instant,
    ready: JoinHandle<io::Result<Prepared>>,
}

/// What makes two executions' sandboxes the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct LayoutKey {
    project_id: i64,
    user: Option<(u32, u32)>,
    code: Option<PathBuf>,
    cwd: WorkDir,
}

/// Where the bot starts, as a [`LayoutKey`] compares it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum WorkDir {
    Code,
    Home,
    /// A host directory: its path, and which directory it was (a bind
    /// holds the directory, not the path).
    Host {
        path: PathBuf,
        dev: u64,
        ino: u64,
    },
}

impl LayoutKey {
    /// The key of a sandbox for `project_id` with this layout; `None` if
    /// the working directory cannot be read (the sandbox's own start says
    /// why).
    pub(super) fn new(project_id: i64, user: Option<(u32, u32)>, code: Option<&Path>, cwd: Cwd<'_>) -> Option<Self> {
        let cwd = match cwd {
            Cwd::Code => WorkDir::Code,
            Cwd::Home => WorkDir::Home,
            Cwd::Host(dir) => {
                let path = std::fs::canonicalize(dir).ok()?;
                let meta = std::fs::metadata(&path).ok()?;
                WorkDir::Host {
                    path,
                    dev: meta.dev(),
                    ino: meta.ino(),
                }
            }
        };
        Some(Self {
            project_id,
            user,
            code: code.map(Path::to_path_buf),
            cwd,
        })
    }
}

/// A sandbox ready for an execution: `paige-start` waits on its stdin.
#[derive(Debug)]
pub(super) struct Prepared {
    jailed: Jailed,
    /// The lease on the code tree it shows, held while it waits.
    _code: Option<CodeTree>,
    /// Its working directory as the bot sees it (`bwrap`'s `--chdir`).
    workdir: PathBuf,
}

impl Prepared {
    /// Its working directory as the bot sees it.
    pub(super) fn workdir(&self) -> &Path {
        &self.workdir
    }

    /// Still waiting (not killed meanwhile).
    fn is_alive(&mut self) -> bool {
        matches!(self.jailed.child.try_wait(), Ok(None))
    }

    /// Hands the bot's command (see [`command_message`]) to the sandbox:
    /// from then on it is the execution's, as a sandbox `jail::launch`
    /// started would be (the execution holds its own code lease). If the
    /// sandbox cannot take it, it is let go.
    pub(super) async fn run(self, message: &[u8]) -> io::Result<(Child, Ending)> {
        use tokio::io::AsyncWriteExt;
        let Self { mut jailed, .. } = self;
        let written = match jailed.child.stdin.as_mut() {
            Some(stdin) => stdin.write_all(message).await,
            None => Err(io::Error::other("the prepared sandbox has no stdin")),
        };
        match written {
            Ok(()) => Ok(jailed.into_parts()),
            Err(e) => {
                tokio::spawn(jailed.discard());
                Err(e)
            }
        }
    }

    /// Kills it and removes its cgroup, in the background.
    pub(super) fn discard(self) {
        tokio::spawn(self.jailed.discard());
    }
}

/// What a sandbox is prepared from: owned, since it is made on a task of
/// its own.
#[derive(Debug)]
pub(super) struct Layout {
    pub key: LayoutKey,
    /// The lease on the code tree shown at `/app`.
    pub code: Option<CodeTree>,
    /// Host paths the sandbox must not show (see [`Spec::hidden`]).
    pub hidden: Vec<PathBuf>,
    pub limits: ResourceLimits,
}

impl SandboxPool {
    /// From now on, executions leave a sandbox prepared for the next,
    /// which waits `idle` for it (none if `idle` is zero).
    pub fn enable(&self, idle: PreparedIdle) {
        self.lock().idle = Some(idle.0).filter(|idle| !idle.is_zero());
    }

    pub(super) fn is_enabled(&self) -> bool {
        self.lock().idle.is_some()
    }

    /// Prepares no more, and lets every prepared sandbox go: killed, its
    /// cgroup removed, before this returns.
    pub async fn clear(&self) {
        let waiting = {
            let mut state = self.lock();
            state.idle = None;
            std::mem::take(&mut state.waiting)
        };
        for waiting in waiting {
            if let Ok(Ok(prepared)) = waiting.ready.await {
                prepared.jailed.discard().await;
            }
        }
    }

    /// The sandbox prepared for `key`, once ready, if one was; `None`
    /// means starting one as usual. Sandboxes of the same project with
    /// another layout are let go, as are those waiting too long.
    pub(super) async fn take(&self, key: &LayoutKey) -> Option<Prepared> {
        let ready = {
            let mut state = self.lock();
            if let Some(idle) = state.idle {
                expire(&mut state.waiting, Instant::now(), idle);
            }
            let mut taken = None;
            for waiting in std::mem::take(&mut state.waiting) {
                if waiting.layout == *key && taken.is_none() {
                    taken = Some(waiting.ready);
                } else if waiting.layout.project_id == key.project_id {
                    let_go(waiting);
                } else {
                    state.waiting.push(waiting);
                }
            }
            taken?
        };
        // Should this execution be dropped while it waits, the sandbox is
        // let go (killed, its cgroup removed), not left to its task.
        let mut taking = Taking(Some(ready));
        let ready = taking.0.as_mut()?.await;
        taking.0 = None;
        match ready {
            Ok(Ok(mut prepared)) => {
                if prepared.is_alive() {
                    return Some(prepared);
                }
                prepared.discard();
                None
            }
            // Its start failed (a working directory since removed…): the
            // execution's own start says why.
            Ok(Err(_)) | Err(_) => None,
        }
    }

    /// After an execution started in `layout`: starts preparing a sandbox
    /// for the next one, unless one is waiting for it already, or the
    /// pool is not enabled. Only for a layout in use: one whose execution
    /// `took` a prepared sandbox, or whose previous one started within
    /// the idle time; a project run less often would only pay for
    /// sandboxes no execution takes.
    pub(super) fn prepare(self: &Arc<Self>, layout: Layout, took: bool) {
        let mut state = self.lock();
        let Some(idle) = state.idle else {
            return;
        };
        if state.waiting.iter().any(|w| w.layout == layout.key) {
            return;
        }
        let now = Instant::now();
        state.seen.retain(|(_, at)| now.duration_since(*at) < idle);
        let seen_before = state.seen.iter().any(|(key, _)| *key == layout.key);
        if !took && !seen_before {
            if state.seen.len() >= MAX_REMEMBERED {
                state.seen.remove(0);
            }
            state.seen.push((layout.key, now));
            return;
        }
        state.seen.retain(|(key, _)| *key != layout.key);
        expire(&mut state.waiting, now, idle);
        while state.waiting.len() >= MAX_PREPARED {
            let oldest = state.waiting.remove(0);
            let_go(oldest);
        }
        let id = state.next_id;
        state.next_id += 1;
        let key = layout.key.clone();
        let ready = tokio::spawn(make(layout));
        state.waiting.push(Waiting {
            id,
            layout: key,
            since: Instant::now(),
            ready,
        });
        // Let go once it has waited too long, even if no execution comes.
        let pool = Arc::downgrade(self);
        tokio::spawn(async move {
            tokio::time::sleep(idle).await;
            if let Some(pool) = pool.upgrade() {
                let mut state = pool.lock();
                if let Some(at) = state.waiting.iter().position(|w| w.id == id) {
                    let_go(state.waiting.remove(at));
                }
            }
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Lets go of the sandboxes that waited `idle` or more.
fn expire(waiting: &mut Vec<Waiting>, now: Instant, idle: Duration) {
    let (old, young): (Vec<Waiting>, Vec<Waiting>) = std::mem::take(waiting)
        .into_iter()
        .partition(|w| now.duration_since(w.since) >= idle);
    *waiting = young;
    old.into_iter().for_each(let_go);
}

/// Kills a sandbox, prepared or still being prepared, in the background.
fn let_go(waiting: Waiting) {
    discard_when_ready(waiting.ready);
}

/// Once `ready` is, kills its sandbox and removes its cgroup, in the
/// background (if a runtime is still there to do it; otherwise its
/// handle's drop kills it).
fn discard_when_ready(ready: JoinHandle<io::Result<Prepared>>) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async move {
            if let Ok(Ok(prepared)) = ready.await {
                prepared.jailed.discard().await;
            }
        });
    }
}

/// A prepared sandbox an execution waits for (see [`SandboxPool::take`]).
struct Taking(Option<JoinHandle<io::Result<Prepared>>>);

impl Drop for Taking {
    fn drop(&mut self) {
        if let Some(ready) = self.0.take() {
            discard_when_ready(ready);
        }
    }
}

/// Starts a sandbox for `layout` with `paige-start --stdin` waiting in it.
async fn make(layout: Layout) -> io::Result<Prepared> {
    let cwd = match &layout.key.cwd {
        WorkDir::Code => Cwd::Code,
        WorkDir::Home => Cwd::Home,
        WorkDir::Host { path, .. } => Cwd::Host(path),
    };
    let spec = Spec {
        program: "".as_ref(),
        args: &[],
        code: layout.code.as_ref().map(|tree| tree.path.as_path()),
        cwd,
        user: layout.key.user,
        hidden: &layout.hidden,
        tmpfs_bytes: layout.limits.tmpfs_bytes,
        socket_dir: None,
        awaits_command: true,
    };
    let workdir = spec.inner_cwd()?;
    let name = format!("exec-{:016x}", rand::random::<u64>());
    let jailed = jail::launch(&spec, Backend::detect(), &name, layout.limits, None, |command| {
        // Nothing in its environment: the bot's comes on its stdin.
        streams(command);
        command.env_clear();
    })
    .await?;
    Ok(Prepared {
        jailed,
        _code: layout.code,
        workdir,
    })
}

/// What every sandbox's `bwrap` is started with: its own process group
/// (so one signal reaches all it starts), the three standard streams
/// piped and nothing else, killed if its handle is dropped.
pub(super) fn streams(command: &mut Command) {
    command
        .process_group(0)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
}

/// The bot's command as `paige-start --stdin` reads it: a 4-byte
/// little-endian length, then NUL-terminated fields: the number of
/// arguments, the program and its arguments, then `NAME=VALUE` for each
/// variable of `env` (`workdir` as the bot sees it) and of `late`, in the
/// order they are set (a later one wins). It holds the secrets: zeroed
/// when dropped, and written into one buffer sized beforehand, since a
/// buffer that grows leaves its old copy behind unzeroed. An error if a
/// field holds a NUL byte or is not UTF-8 (neither could reach the bot's
/// `exec`).
pub(super) fn command_message(
    program: &OsString,
    args: &[OsString],
    env: &ChildEnv<'_>,
    workdir: &Path,
    late: &[(&str, String)],
) -> io::Result<Zeroizing<Vec<u8>>> {
    let count = (1 + args.len()).to_string();
    // Each field, as its parts, in order: run once to size the message
    // and check it, once to write it.
    let each_field = |emit: &mut dyn FnMut(&[&OsStr])| {
        emit(&[count.as_ref()]);
        emit(&[program]);
        for arg in args {
            emit(&[arg]);
        }
        env.each(workdir, |name, value| emit(&[name, "=".as_ref(), value]));
        for (name, value) in late {
            emit(&[name.as_ref(), "=".as_ref(), value.as_ref()]);
        }
    };
    let (mut length, mut bad) = (0usize, false);
    each_field(&mut |parts| {
        for part in parts {
            match part.to_str() {
                Some(text) if !text.contains('\0') => length += text.len(),
                _ => bad = true,
            }
        }
        length += 1;
    });
    if bad {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "an argument or variable holds a NUL byte or is not UTF-8",
        ));
    }
    let prefix = u32::try_from(length).map_err(|_| io::Error::other("the bot's command is too large"))?;
    let mut message = Zeroizing::new(Vec::with_capacity(4 + length));
    message.extend_from_slice(&prefix.to_le_bytes());
    each_field(&mut |parts| {
        for part in parts {
            message.extend_from_slice(part.as_encoded_bytes());
        }
        message.push(0);
    });
    Ok(message)
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;
    use crate::runtime::env::Platform;
    use crate::secrets::Resolved;

    #[test]
    fn a_pool_prepares_only_once_enabled_with_an_idle_time_above_zero() {
        let pool = SandboxPool::default();
        assert!(!pool.is_enabled(), "a pool prepares nothing until a server enables it");
        pool.enable(PreparedIdle(Duration::ZERO));
        assert!(!pool.is_enabled(), "an idle time of 0 prepares none");
        pool.enable(PreparedIdle::default());
        assert!(pool.is_enabled());
        assert_eq!(pool.lock().idle, Some(IDLE_FOR));
    }

    /// The message as `paige-start --stdin` reads it: the arguments, then
    /// the environment entries.
    fn parse(message: &[u8]) -> (Vec<String>, Vec<String>) {
        let length = u32::from_le_bytes(message[..4].try_into().unwrap()) as usize;
        assert_eq!(length, message.len() - 4, "the length is the body's");
        let body = std::str::from_utf8(&message[4..]).unwrap();
        let fields: Vec<&str> = body.strip_suffix('\0').unwrap().split('\0').collect();
        let count: usize = fields[0].parse().unwrap();
        let argv = fields[1..=count].iter().map(|f| (*f).to_owned()).collect();
        let env = fields[count + 1..].iter().map(|f| (*f).to_owned()).collect();
        (argv, env)
    }

    fn resolved(pairs: &[(&str, &str)]) -> Resolved {
        Resolved {
            project_id: 7,
            generation: 1,
            secrets: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), SecretString::from((*v).to_owned())))
                .collect(),
        }
    }

    fn platform() -> Platform<'static> {
        Platform {
            slug: "shop",
            execution_id: None,
            trigger: "manual",
            home: Path::new("/tmp"),
            port: None,
        }
    }

    #[test]
    fn the_command_message_holds_the_arguments_then_the_environment_in_setting_order() {
        let secrets = resolved(&[
            ("API_KEY", "k=v with spaces"),
            ("PAIGE_PROJECT", "not-this"),
            ("EMPTY", ""),
        ]);
        let env = ChildEnv {
            platform: platform(),
            secrets: &secrets,
        };
        let args = [OsString::from("-e"), OsString::from(""), OsString::from("x y")];
        let late = [("PAIGE_EXECUTION_ID", "42".to_owned())];
        let message = command_message(&"node".into(), &args, &env, Path::new("/app"), &late).unwrap();
        let (argv, vars) = parse(&message);
        assert_eq!(argv, ["node", "-e", "", "x y"]);
        assert_eq!(vars[0], "API_KEY=k=v with spaces");
        assert_eq!(vars[1], "EMPTY=");
        // A secret may not take a platform name: not sent at all.
        assert!(!vars.iter().any(|v| v.contains("not-this")), "{vars:?}");
        assert!(vars.contains(&"PAIGE_PROJECT=shop".to_owned()));
        assert!(vars.contains(&"PATH=/usr/local/bin:/usr/bin:/bin".to_owned()));
        // The working directory, then the late variables, last.
        assert_eq!(&vars[vars.len() - 2..], ["PWD=/app", "PAIGE_EXECUTION_ID=42"]);
    }

    #[test]
    fn a_nul_byte_in_an_argument_or_a_value_is_refused() {
        let secrets = resolved(&[("TOKEN", "a\0b")]);
        let env = ChildEnv {
            platform: platform(),
            secrets: &secrets,
        };
        let err = command_message(&"node".into(), &[], &env, Path::new("/app"), &[]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        // The error names the rule, never the value.
        assert_eq!(
            err.to_string(),
            "an argument or variable holds a NUL byte or is not UTF-8"
        );
        let clean = resolved(&[]);
        let env = ChildEnv {
            platform: platform(),
            secrets: &clean,
        };
        let args = [OsString::from("x\0y")];
        assert!(command_message(&"node".into(), &args, &env, Path::new("/app"), &[]).is_err());
    }
}
