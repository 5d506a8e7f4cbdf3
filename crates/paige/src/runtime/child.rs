//! The bot's process as a value: what is started, where, as whom and with
//! which environment, before it becomes a [`tokio::process::Command`].
//!
//! This is the one place that decides how a child is started, so a
//! sandbox wraps it here: it turns one [`ChildSpec`] into another (say,
//! `bwrap … -- PROGRAM ARGS`) before [`ChildSpec::spawn`].

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;

use tokio::process::{Child, Command};

use super::env::ChildEnv;
use super::sandbox::BotIdentity;

/// Everything a child process is started with.
#[derive(Debug)]
pub(super) struct ChildSpec<'a> {
    /// Looked up in the platform `PATH` of [`ChildSpec::env`].
    pub program: OsString,
    pub args: Vec<OsString>,
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
        command
            .args(&self.args)
            .current_dir(&self.cwd)
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        self.env.apply(&mut command);
        command
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
