//! A warm process's private socket directory. The bot's `PORT` is a Unix
//! socket path in it (Express's `app.listen(process.env.PORT)` takes one):
//! the directory is paige's data dir's (never in any sandbox's view), is
//! bound into this one process's sandbox alone (at `bwrap::SOCKET_DIR`),
//! and is mode 0700, owned by the project's uid. No other project's bot
//! can reach the socket: it is in no other mount namespace, and its
//! directory's permissions refuse every other uid but root (paige).

use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// The socket's file name in its directory.
pub(super) const SOCKET_NAME: &str = "bot.sock";

/// The directory, removed with this value.
#[derive(Debug)]
pub(super) struct SocketDir {
    pub host: PathBuf,
}

impl SocketDir {
    /// A fresh directory below `<data dir>/run/`, owned by `owner`
    /// (uid, gid) when given.
    pub(super) fn create(data_dir: &Path, project_id: i64, owner: Option<(u32, u32)>) -> io::Result<Self> {
        let run = data_dir.join("run");
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&run)?;
        let host = run.join(format!("p{project_id}-{:016x}", rand::random::<u64>()));
        std::fs::DirBuilder::new().mode(0o700).create(&host)?;
        let dir = Self { host };
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&dir.host, Some(uid), Some(gid))?;
        }
        Ok(dir)
    }

    /// The socket's path on the host: where paige connects.
    pub(super) fn socket(&self) -> PathBuf {
        self.host.join(SOCKET_NAME)
    }
}

impl Drop for SocketDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.host);
    }
}
