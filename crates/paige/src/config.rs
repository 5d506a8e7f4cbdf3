//! Where the product keeps its state.

use std::path::PathBuf;

use crate::crypto::keys::ensure_private_dir;
use crate::error::Result;
use crate::store::sqlite::DB_FILE;

/// The default data dir, relative to the working directory.
pub const DEFAULT_DATA_DIR: &str = "./paige-data";
/// The master key's file name inside the data dir.
pub const MASTER_KEY_FILE: &str = "master.key";

#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    /// Overrides `<data dir>/master.key`.
    pub master_key_file: Option<PathBuf>,
}

impl Config {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            master_key_file: None,
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
