//! Who bots run as, and the files they may read: one uid and gid per
//! project when paige is root.
//!
//! Every execution runs in a bubblewrap sandbox (see `bwrap`): its own PID,
//! mount, IPC and UTS namespaces, where the bot sees the system read-only,
//! its code tree read-only at `/app`, a private size-limited `/tmp` as its
//! home, and nothing of paige's data dir. When paige is root, each
//! project's bots also run as uid and gid `base + project id` (no account
//! needed, no supplementary groups, no capabilities): defence in depth, so
//! that even a bot that got out of its mount view could not read paige's
//! files (root's, 0600) or another project's code, nor signal or trace
//! another project's bot.
//!
//! ```text
//! <data dir>/                 root 0700   never in a bot's view
//!   master.key, paige.db*     root 0600
//!   code/<project id>/
//!     trees/<tree>/...        root:<gid> dirs 0750, files 0640 (0750 if executable)
//!                             shown read-only at /app to that project's bots
//! ```
//!
//! The code stays owned by root, so a bot could not change it even where it
//! is writable in the sandbox (it is not).
//!
//! Nothing needs sweeping after an execution: when the sandbox's first
//! process dies, the kernel kills every process left in its PID namespace,
//! `setsid` children and double-forked daemons included.
//!
//! The parts: [`identity`] (who a bot runs as) and [`files`] (the code's
//! modes). [`Sandbox`] is what an execution without the sandbox
//! (`--insecure-bots-as-paige-user`) still needs: a fresh home on the host.

mod files;
mod identity;

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
pub(super) use files::share_code;
pub use identity::{
    BotIdentity, BotUsers, DEFAULT_UID_BASE, Isolation, MIN_UID_BASE, SharedReason, overlapping_accounts,
};

/// The host side of an execution without the sandbox: a fresh private
/// home (HOME and TMPDIR), removed with this value.
#[derive(Debug)]
pub(super) struct Sandbox {
    home: TempHome,
}

impl Sandbox {
    /// A fresh home for execution `execution_id`.
    pub(super) fn new(execution_id: i64) -> Result<Self> {
        Ok(Self {
            home: TempHome::create(execution_id)?,
        })
    }

    pub(super) fn home(&self) -> &Path {
        &self.home.path
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
            .map_err(|e| Error::io("cannot create", &path, e))?;
        Ok(Self { path })
    }
}

impl Drop for TempHome {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
