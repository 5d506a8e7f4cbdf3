//! The bot's process as a value: what is started, where, as whom and with
//! which environment, before it becomes a [`tokio::process::Command`].
//!
//! This is the one place that decides how a child is started: in the
//! bubblewrap sandbox ([`ChildSpec::spawn_confined`], `bwrap … -- PROGRAM
//! ARGS` under the execution's limits), or, when the operator opted out,
//! directly ([`ChildSpec::spawn`]).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use tokio::process::{Child, Command};

use super::bwrap::{Cwd, HOME_DIR, Spec};
use super::env::ChildEnv;
use super::jail::{self, Ending};
use super::launch::LateEnv;
use super::limits::{Backend, ResourceLimits};
use super::sandbox::BotIdentity;
use super::sandbox_pool::{self, Prepared};

/// Everything a child process is started with.
#[derive(Debug)]
pub(super) struct ChildSpec<'a> {
    /// Looked up in the platform `PATH` of [`ChildSpec::env`].
    pub program: OsString,
    pub args: Vec<OsString>,
    /// On the host; in the sandbox, the code tree's path stands for
    /// `/app`, and [`HOME_DIR`] for the bot's private home.
    pub cwd: PathBuf,
    /// Built from nothing: nothing of paige's own environment.
    pub env: ChildEnv<'a>,
    /// The user and group to switch to (supplementary groups are dropped);
    /// `None` runs as paige's own user.
    pub user: Option<BotIdentity>,
}

impl ChildSpec<'_> {
    /// The command: its own process group (so one signal reaches all it
    /// starts), the three standard streams piped and nothing else, killed
    /// if its handle is dropped.
    fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        if let Some(user) = self.user {
            command.uid(user.uid).gid(user.gid);
        }
        command.args(&self.args).current_dir(&self.cwd);
        self.configure(&mut command, &self.cwd);
        command
    }

    /// What the bot's command and the sandbox's `bwrap` share: the process
    /// group, the standard streams, the environment. `workdir` is the
    /// working directory as the bot sees it.
    fn configure(&self, command: &mut Command, workdir: &Path) {
        sandbox_pool::streams(command);
        self.env.apply(command, workdir);
    }

    /// Why the bot's sandbox did not start, for the execution's log.
    fn cannot_start(&self, e: std::io::Error) -> String {
        format!("cannot start `{}` in its sandbox: {e}", self.program.to_string_lossy())
    }

    /// False if the program is found nowhere (its start would fail at once).
    pub(super) fn program_exists(&self) -> bool {
        missing_program(&self.program).is_none()
    }

    /// Where the bot starts, for a sandbox showing `code` at `/app`.
    pub(super) fn sandbox_cwd(&self, code: Option<&Path>) -> Cwd<'_> {
        if code == Some(self.cwd.as_path()) {
            Cwd::Code
        } else if self.cwd == Path::new(HOME_DIR) {
            Cwd::Home
        } else {
            Cwd::Host(&self.cwd)
        }
    }

    /// Starts the child in a bubblewrap sandbox under `confinement`: the
    /// returned child is `bwrap`, whose exit status is the bot's (a
    /// signal shows as 128 + its number); [`Ending::finish`] once it exited.
    /// The user switch happens inside (see `bwrap`). The error is a
    /// message for the execution's log.
    /// `late_env` is found while `bwrap` starts (see [`LateEnv`]); `None`
    /// from it is an error with no message of its own (the caller knows why).
    pub(super) async fn spawn_confined(
        &self,
        confinement: &Confinement<'_>,
        late_env: Option<LateEnv<'_>>,
    ) -> Result<(Child, Ending), String> {
        // The sandbox's /usr and /bin are the host's: a program missing
        // here is missing there, and says so before anything starts.
        if let Some(missing) = missing_program(&self.program) {
            return Err(missing);
        }
        let cwd = self.sandbox_cwd(confinement.code);
        let spec = Spec {
            program: &self.program,
            args: &self.args,
            code: confinement.code,
            cwd,
            user: self.user.map(|u| (u.uid, u.gid)),
            hidden: &confinement.hidden,
            tmpfs_bytes: confinement.limits.tmpfs_bytes,
            socket_dir: confinement.socket_dir,
            awaits_command: false,
        };
        let cannot_start = |e| self.cannot_start(e);
        // The PWD bwrap sets, and so the platform's.
        let workdir = spec.inner_cwd().map_err(cannot_start)?;
        let launched = jail::launch(
            &spec,
            Backend::detect(),
            &confinement.group_name,
            confinement.limits,
            late_env,
            |command| self.configure(command, &workdir),
        )
        .await;
        launched.map(jail::Jailed::into_parts).map_err(cannot_start)
    }

    /// Runs the bot in a sandbox prepared for this layout
    /// (`sandbox_pool.rs`), once `late_env` is found: as
    /// [`ChildSpec::spawn_confined`] would, without waiting for `bwrap`.
    pub(super) async fn spawn_prepared(
        &self,
        prepared: Prepared,
        late_env: Option<LateEnv<'_>>,
    ) -> Result<(Child, Ending), String> {
        let cannot_start = |e| self.cannot_start(e);
        let message = async {
            if let Some(missing) = missing_program(&self.program) {
                return Err(missing);
            }
            let late = match late_env {
                Some(future) => future.await.ok_or_else(String::new)?,
                None => Vec::new(),
            };
            let workdir = prepared.workdir();
            sandbox_pool::command_message(&self.program, &self.args, &self.env, workdir, &late).map_err(cannot_start)
        }
        .await;
        match message {
            Ok(message) => prepared.run(&message).await.map_err(cannot_start),
            Err(e) => {
                prepared.discard();
                Err(e)
            }
        }
    }

    /// Starts the child. The error is a message for the execution's log
    /// (not yet redacted: it names the program).
    pub(super) fn spawn(&self) -> Result<Child, String> {
        let mut command = self.command();
        let spawned = command.spawn();
        // The command holds copies of the secrets: gone right away.
        drop(command);
        spawned.map_err(|e| {
            let program = self.program.to_string_lossy();
            // EPERM and EINVAL are what setuid/setgid fail with: paige may
            // not switch users, or the id is not mapped in its user namespace.
            match self.user {
                Some(user) if matches!(e.raw_os_error(), Some(1 | 22)) => format!(
                    "cannot start `{program}` as uid {}: {e} (paige must be allowed to switch users, and the \
                     uid must exist in its user namespace: see --bot-uid-base)",
                    user.uid
                ),
                _ => format!("cannot start `{program}`: {e}"),
            }
        })
    }
}

/// The error for a program found nowhere: a bare name in no directory of
/// the platform `PATH`, or an absolute path that is not on the host (and
/// not in the sandbox's own code or home).
fn missing_program(program: &std::ffi::OsStr) -> Option<String> {
    let name = Path::new(program);
    let found = if name.is_absolute() {
        name.starts_with(super::bwrap::CODE_DIR) || name.starts_with(HOME_DIR) || name.exists()
    } else if name.components().count() == 1 {
        super::env::PATH
            .split(':')
            .any(|dir| Path::new(dir).join(name).is_file())
    } else {
        true
    };
    (!found).then(|| {
        // ENOENT, worded as a failed spawn would have it.
        format!(
            "cannot start `{}`: {}",
            program.to_string_lossy(),
            std::io::Error::from_raw_os_error(2)
        )
    })
}

/// Where a sandboxed child runs and under what.
#[derive(Debug)]
pub(super) struct Confinement<'a> {
    /// The code tree, shown read-only at `/app`.
    pub code: Option<&'a Path>,
    /// Host paths never shown, even inside a bound working directory.
    pub hidden: Vec<PathBuf>,
    pub limits: ResourceLimits,
    /// The execution's cgroup's name (unique).
    pub group_name: String,
    /// A warm bot's private socket directory (see `Spec::socket_dir`).
    pub socket_dir: Option<&'a Path>,
}
