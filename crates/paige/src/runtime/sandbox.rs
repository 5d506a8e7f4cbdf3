//! Bots run as their own Unix user: one uid and gid per project.
//!
//! A bot is untrusted code. Run as paige's own user it could open every
//! file paige can (`master.key`, `paige.db`) and read the environment of
//! another project's bot running at the same time (`/proc/<pid>/environ`
//! is readable by the same uid). So when paige is root, each project's bots
//! run as uid and gid `base + project id` (no `/etc/passwd` entry needed),
//! with no supplementary groups: the standard library's
//! `CommandExt::uid`/`gid` do the switch, and drop the groups, in the child
//! before `exec`. A different uid per project also means another project's
//! bot cannot signal, trace or read the `/proc` files of this one.
//!
//! Files are arranged so that the bot reaches exactly its code and its
//! fresh home ([`Sandbox::enter`], before every spawn):
//!
//! ```text
//! <data dir>/                 root 0711   others may pass through, not list
//!   master.key, paige.db*     root 0600
//!   sandbox/                  root 0700   the run locks below
//!   code/                     root 0711
//!     <project id>/           root:<gid> 0750   only this project's bots enter
//!       trees/<tree>/...      root:<gid> dirs 0750, files 0640 (0750 if executable)
//! $TMPDIR/paige-exec-…/       <uid>:<gid> 0700  HOME and TMPDIR
//! ```
//!
//! The code stays owned by root, so a bot can read its code but not change
//! it, nor swap the `current` link for the next execution, nor plant a
//! symlink that paige (root) would follow when it next writes code.
//!
//! Escapes from the process group (`setsid`, Node's `detached: true`) are
//! caught by uid: at the end of an execution, when no other execution of
//! the same project is running (a run lock), every process of the
//! project's uid is killed. The same happens before an execution starts
//! when none is running, which clears what a crashed paige left behind.
//!
//! The parts: [`identity`] (who a bot runs as), [`files`] (the modes
//! above) and [`reaper`] (the run locks and the sweep by uid). [`Sandbox`]
//! is one execution's share of them.

mod files;
mod identity;
mod reaper;

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use reaper::RunLock;

pub use files::unreachable_for_bots;
pub use identity::{
    BotIdentity, BotUsers, DEFAULT_UID_BASE, Isolation, MIN_UID_BASE, SharedReason, overlapping_accounts,
};

fn io_error(what: &str, path: &Path, e: &std::io::Error) -> Error {
    Error::Config(format!("{what} {}: {e}", path.display()))
}

/// One execution's sandbox: a fresh private home (HOME and TMPDIR, removed
/// with this value) and, when bots run as their project's user, that
/// user, with its files laid out and its run lock held.
#[derive(Debug)]
pub(super) struct Sandbox {
    home: TempHome,
    user: Option<(BotIdentity, RunLock)>,
}

/// Where a project's bot user needs to reach, for [`Sandbox::enter`].
#[derive(Debug)]
pub(super) struct Reach {
    pub data_dir: PathBuf,
    /// `<data dir>/code/<project id>`.
    pub project_code_dir: PathBuf,
    /// The bot's working directory: a code tree, the caller's directory
    /// (`paige run -- CMD`) or the home.
    pub workdir: PathBuf,
}

impl Sandbox {
    /// A sandbox with a fresh home for execution `execution_id`, as paige's
    /// own user until [`Sandbox::enter`].
    pub(super) fn new(execution_id: i64) -> Result<Self> {
        Ok(Self {
            home: TempHome::create(execution_id)?,
            user: None,
        })
    }

    pub(super) fn home(&self) -> &Path {
        &self.home.path
    }

    /// The user the bot runs as, if not paige's own.
    pub(super) fn user(&self) -> Option<BotIdentity> {
        self.user.as_ref().map(|(bot, _)| *bot)
    }

    /// Readies `bot` for this execution (off the async threads: it walks
    /// the code tree and may kill left-over processes): the files it
    /// needs, then the run lock. Returns how many left-over processes of
    /// the user were killed.
    pub(super) async fn enter(&mut self, bot: BotIdentity, reach: Reach) -> Result<usize> {
        let home = self.home.path.clone();
        let (lock, killed) = tokio::task::spawn_blocking(move || {
            let layout = files::Layout {
                data_dir: &reach.data_dir,
                project_code_dir: &reach.project_code_dir,
                workdir: &reach.workdir,
                home: &home,
            };
            files::prepare(&layout, bot)?;
            RunLock::acquire(&reaper::lock_dir(&reach.data_dir), bot.uid)
        })
        .await
        .map_err(|e| Error::Config(format!("the bot's preparation stopped: {e}")))??;
        self.user = Some((bot, lock));
        Ok(killed)
    }

    /// Once the bot's process group is gone: lets go of the run lock, which
    /// kills what the user left running outside the group unless another
    /// execution of the project still runs. Returns how many were killed.
    pub(super) async fn release(&mut self) -> usize {
        match self.user.take() {
            Some((_, lock)) => tokio::task::spawn_blocking(move || lock.release()).await.unwrap_or(0),
            None => 0,
        }
    }
}

/// A fresh private directory for HOME and TMPDIR, removed afterwards.
#[derive(Debug)]
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
