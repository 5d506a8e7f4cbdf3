//! Backups of the embedded store: create one while the server runs,
//! verify one (with or without the master key), restore one into an empty
//! data dir. The file format is in `format.rs`; the check with the key, which
//! also serves a live store (a PostgreSQL database restored by
//! `pg_restore`), in `check.rs`.
//!
//! A backup holds what the database holds: ciphertext and wrapped data
//! keys. The master key is never in it; the key file is kept apart, and a
//! backup is only as useful as the key (id in its header) kept with it.

mod check;
pub mod format;

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::RngCore;

pub use check::{KeyCheck, check_with_key};
pub use format::Header;

use crate::Paige;
use crate::config::Config;
use crate::crypto::cache::DataKeyCache;
use crate::crypto::keys::ensure_private_dir;
use crate::crypto::{FileKeyProvider, Keyring};
use crate::error::{Error, Result};
use crate::model::{format_utc, now_millis};
use crate::store::sqlite::DB_FILE;
use crate::store::{SqliteStore, Store};

/// A backup just written.
#[derive(Debug, Clone)]
pub struct Created {
    pub header: Header,
    /// The whole file, header included.
    pub file_bytes: u64,
    pub took: Duration,
}

/// What verifying found: the header (digest checked), the database's own
/// integrity check, and with the key, what opened.
#[derive(Debug, Clone)]
pub struct Verified {
    pub header: Option<Header>,
    pub integrity_problems: Vec<String>,
    pub key_check: Option<KeyCheck>,
}

impl Verified {
    pub fn passed(&self) -> bool {
        self.integrity_problems.is_empty() && self.key_check.as_ref().is_none_or(KeyCheck::passed)
    }
}

/// A path beside `near` that nothing else uses, for a temporary file.
fn scratch_path(near: &Path, what: &str) -> PathBuf {
    let mut tag = [0u8; 6];
    rand::rngs::OsRng.fill_bytes(&mut tag);
    let mut name = near.as_os_str().to_owned();
    name.push(format!(".{what}-{}", hex::encode(tag)));
    PathBuf::from(name)
}

/// Removes a temporary database and the files SQLite keeps beside it.
fn remove_database(path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(name));
    }
}

impl Paige {
    /// Writes a backup of the embedded store to `file` (which must not
    /// exist) while the store keeps serving: a consistent snapshot, then
    /// the header and the snapshot into `file`.
    pub async fn create_backup(&self, file: &Path) -> Result<Created> {
        let started = Instant::now();
        if file.exists() {
            return Err(Error::invalid(
                "backup_exists",
                format!("{} exists; a backup never overwrites a file", file.display()),
            ));
        }
        let snapshot = scratch_path(file, "snapshot");
        // An empty file of mode 0600 first: SQLite fills it, keeping the mode.
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&snapshot)
            .map_err(|e| Error::io("cannot create", &snapshot, e))?;
        let result = self.snapshot_and_write(file, &snapshot).await;
        remove_database(&snapshot);
        let header = result?;
        let file_bytes = std::fs::metadata(file)
            .map_err(|e| Error::io("cannot read", file, e))?
            .len();
        Ok(Created {
            header,
            file_bytes,
            took: started.elapsed(),
        })
    }

    async fn snapshot_and_write(&self, file: &Path, snapshot: &Path) -> Result<Header> {
        let created_at = format_utc(now_millis());
        // The key id read before and after the snapshot: a rotation commits
        // in one transaction, so if both agree the snapshot has that key.
        let before = self.wrapping_key_id().await?;
        self.store.snapshot_into(snapshot).await?;
        let after = self.wrapping_key_id().await?;
        if before != after {
            return Err(Error::Conflict(
                "the master key was rotated while the backup ran; run it again".to_owned(),
            ));
        }
        // Written whole under another name first, then linked into place
        // (which, unlike a rename, never replaces a file that appeared
        // meanwhile): an interrupted backup leaves no half file under FILE.
        let partial = scratch_path(file, "partial");
        let written = format::write(&partial, snapshot, &after, &created_at).and_then(|header| {
            std::fs::hard_link(&partial, file).map_err(|e| Error::io("cannot create", file, e))?;
            Ok(header)
        });
        let _ = std::fs::remove_file(&partial);
        written
    }

    /// The master key id that wraps the store's data keys (the current
    /// key's if there are none yet).
    async fn wrapping_key_id(&self) -> Result<String> {
        let in_use = self.store.kek_ids_in_use().await?;
        Ok(if in_use.is_empty() {
            match self.keys.file() {
                Some(file) => file.current()?.id().as_str().to_owned(),
                // A key service: the backup names it, it holds no key file id.
                None => self.keys.primary().name().to_owned(),
            }
        } else {
            in_use.join(",")
        })
    }

    /// Verifies the store this `Paige` serves (the embedded one or a
    /// PostgreSQL database, e.g. one `pg_restore` filled): the database's
    /// integrity, and with the master key every data key and value.
    pub async fn verify_store(&self) -> Result<Verified> {
        Ok(Verified {
            header: None,
            integrity_problems: self.store.integrity_problems().await?,
            key_check: Some(check_with_key(self.store.as_ref(), self.keys.as_ref()).await?),
        })
    }
}

/// The master key of `config`, which must already exist: verify and
/// restore never make a new key (it could not open anything).
fn existing_key(config: &Config) -> Result<FileKeyProvider> {
    let path = config.master_key_path();
    if !path.exists() {
        return Err(Error::Config(format!(
            "no master key at {}: a backup never holds the key; copy the deployment's master key file there \
             (or name it with --master-key-file)",
            path.display()
        )));
    }
    FileKeyProvider::open_or_create(&path)
}

/// Refuses a key that is not the one the backup's data keys are wrapped by.
fn check_key_matches(header: &Header, keys: &FileKeyProvider, config: &Config) -> Result<()> {
    let current = keys.current()?;
    if header.key_id.split(',').any(|id| id == current.id().as_str()) {
        return Ok(());
    }
    Err(Error::Config(format!(
        "the backup's data keys are wrapped by master key {}, but {} holds key {}: use the key file kept with \
         the backup",
        header.key_id,
        config.master_key_path().display(),
        current.id()
    )))
}

/// Verifies a backup file: its header and digest, then SQLite's integrity
/// check of the snapshot, and with the key (`config`'s master key file)
/// that every data key unwraps and every value opens. The snapshot is
/// checked in a private temporary copy; the file itself is not changed.
pub async fn verify_file(file: &Path, with_key: Option<&Config>) -> Result<Verified> {
    let keys = with_key.map(existing_key).transpose()?;
    let dir = scratch_path(&std::env::temp_dir().join("paige-verify"), "dir");
    // A new directory of our own (fails if the name exists), mode 0700.
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(|e| Error::io("cannot create", &dir, e))?;
    let copy = dir.join(DB_FILE);
    let result = verify_copy(file, &copy, keys.zip(with_key)).await;
    remove_database(&copy);
    let _ = std::fs::remove_dir(&dir);
    result
}

async fn verify_copy(file: &Path, copy: &Path, with_key: Option<(FileKeyProvider, &Config)>) -> Result<Verified> {
    let header = format::verify(file, Some(copy))?;
    if let Some((keys, config)) = &with_key {
        check_key_matches(&header, keys, config)?;
    }
    let store = SqliteStore::open(copy).await?;
    let result = check_snapshot(&store, with_key.map(|(keys, _)| keys)).await;
    store.close().await;
    let (integrity_problems, key_check) = result?;
    Ok(Verified {
        header: Some(header),
        integrity_problems,
        key_check,
    })
}

async fn check_snapshot(store: &dyn Store, keys: Option<FileKeyProvider>) -> Result<(Vec<String>, Option<KeyCheck>)> {
    let problems = store.integrity_problems().await?;
    let key_check = match keys {
        Some(keys) if problems.is_empty() => {
            // Nothing cached: every data key is unwrapped from the file.
            let keys = Keyring::new(Arc::new(keys), Vec::new(), DataKeyCache::new(Duration::ZERO));
            Some(check_with_key(store, &keys).await?)
        }
        _ => None,
    };
    Ok((problems, key_check))
}

/// Restores a backup into the embedded store of `config`'s data dir, which
/// must have no database yet, with the master key file already in place.
/// The snapshot is verified in full (digest, integrity, every data key and
/// value with that key) before it becomes the database; on any failure
/// nothing is left behind.
pub async fn restore(file: &Path, config: &Config) -> Result<Verified> {
    if config.database_url.is_some() {
        return Err(Error::invalid(
            "restore_postgres",
            "the store is PostgreSQL: restore it with pg_restore, then run `paige backup verify` (see README, Backups)",
        ));
    }
    ensure_private_dir(&config.data_dir)?;
    let target = config.data_dir.join(DB_FILE);
    refuse_non_empty(&target)?;
    let keys = existing_key(config)?;
    let staged = scratch_path(&target, "restoring");
    let result = stage(file, &staged, keys, config).await;
    let verified = match result {
        Ok(verified) if verified.passed() => verified,
        Ok(verified) => {
            remove_database(&staged);
            let mut problems = verified.integrity_problems.clone();
            problems.extend(verified.key_check.map(|c| c.failures).unwrap_or_default());
            return Err(Error::corrupt(format!(
                "the backup does not check out; nothing was restored: {}",
                problems.join("; ")
            )));
        }
        Err(e) => {
            remove_database(&staged);
            return Err(e);
        }
    };
    // Checked again just before the rename: nothing may have appeared meanwhile.
    if let Err(e) = refuse_non_empty(&target) {
        remove_database(&staged);
        return Err(e);
    }
    std::fs::rename(&staged, &target).map_err(|e| Error::io("cannot move into place", &target, e))?;
    remove_database(&staged);
    Ok(verified)
}

async fn stage(file: &Path, staged: &Path, keys: FileKeyProvider, config: &Config) -> Result<Verified> {
    let header = format::verify(file, Some(staged))?;
    check_key_matches(&header, &keys, config)?;
    let store = SqliteStore::open(staged).await?;
    let result = check_snapshot(&store, Some(keys)).await;
    // Closing the last connection checkpoints the WAL into the file, so
    // the file alone is the whole database when it is renamed.
    store.close().await;
    let (integrity_problems, key_check) = result?;
    Ok(Verified {
        header: Some(header),
        integrity_problems,
        key_check,
    })
}

/// A restore goes only where there is no database: no file, or an empty one.
fn refuse_non_empty(target: &Path) -> Result<()> {
    let mut wal = target.as_os_str().to_owned();
    wal.push("-wal");
    let used = |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.len() > 0);
    if used(target) || used(Path::new(&wal)) {
        return Err(Error::Conflict(format!(
            "{} already holds a database: restore only into an empty data dir (move the old database away first)",
            target.display()
        )));
    }
    Ok(())
}
