//! Where the product keeps its state.

use std::fmt;
use std::path::PathBuf;

use crate::crypto::keys::ensure_private_dir;
use crate::error::Result;
use crate::runtime::limits::ResourceLimits;
use crate::runtime::sandbox::BotUsers;
use crate::store::postgres::redact_url;
use crate::store::sqlite::DB_FILE;

/// The default data dir, relative to the working directory.
pub const DEFAULT_DATA_DIR: &str = "./paige-data";
/// The master key's file name inside the data dir.
pub const MASTER_KEY_FILE: &str = "master.key";

#[derive(Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    /// Overrides `<data dir>/master.key`.
    pub master_key_file: Option<PathBuf>,
    /// A PostgreSQL URL: the store is then that database, and the data dir
    /// holds only the master key (and this node's copy of the bot code).
    pub database_url: Option<String>,
    /// Which Unix user bots run as, and whether in the sandbox (see
    /// `runtime::sandbox`).
    pub bot_users: BotUsers,
    /// Each execution's process, memory, CPU time and tmpfs limits (see
    /// `runtime::limits`).
    pub resource_limits: ResourceLimits,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The database URL may carry a password.
        f.debug_struct("Config")
            .field("data_dir", &self.data_dir)
            .field("master_key_file", &self.master_key_file)
            .field("database_url", &self.database_url.as_deref().map(redact_url))
            .field("bot_users", &self.bot_users)
            .field("resource_limits", &self.resource_limits)
            .finish()
    }
}

impl Config {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            master_key_file: None,
            database_url: None,
            bot_users: BotUsers::default(),
            resource_limits: ResourceLimits::default(),
        }
    }

    pub fn master_key_path(&self) -> PathBuf {
        self.master_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join(MASTER_KEY_FILE))
    }

    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join(DB_FILE)
    }

    /// Creates the data dir (mode 0700) if it does not exist.
    pub fn prepare(&self) -> Result<()> {
        ensure_private_dir(&self.data_dir)
    }
}
