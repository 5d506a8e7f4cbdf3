//! This node's copy of a project's code: built from the database, run from
//! the local disk.
//!
//! Layout, per project (by id, which is never reused):
//!
//! ```text
//! <data dir>/code/<project id>/
//!   .lock                    flock: shared to pick the live tree, exclusive to build one
//!   current -> trees/r7-…    symlink to the live tree; replaced with one rename
//!   trees/r7-<digest>-<R>/   the tree of revision 7: app.js, ...
//!   trees/r6-<digest>-<R>/   an older tree, kept while an execution runs in it
//!   trees/.paige-staging-R/  a tree being built (removed if the build fails)
//! ```
//!
//! Before an execution, [`Paige::code_tree`] reads the project's revision
//! (one small row). If the live tree was built from it (its name carries
//! the revision and the start of the content's digest) it is used.
//! Otherwise, under the exclusive lock, the entries are read from the
//! database in one consistent read, streamed into a staging tree, checked
//! against the revision's digest, made durable (fsync) and swapped in with
//! one rename: concurrent executions on a node never see a half-built tree,
//! and build it once. The copy is never trusted over the database: any
//! other revision or digest is rebuilt, and deleting the whole
//! `<data dir>/code` directory only costs a rebuild.
//!
//! An execution holds a shared `flock` on its tree's directory (a lease)
//! while it runs. A build removes every other tree whose lease it can take
//! exclusively, so an old tree stays exactly as long as something runs in
//! it. The locks are `flock`s, so they hold across processes too (`paige
//! run` next to `paige serve` on one data dir).

mod write;

use std::fs::{self, File};
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, symlink};
use std::path::{Path, PathBuf};

use tokio::sync::mpsc;

use super::code::{
    CodeLimits, STORED_PATHS, TMP_PREFIX, check_code_path, collect_blocking, io_error, stored_target,
    symlink_stays_inside,
};
use crate::Paige;
use crate::error::{Error, Result};
use crate::model::code::{CodeRevision, CodeTotals};
use crate::model::{Actor, ProjectRecord};

/// A tree to run an execution in; it stays on disk while this value lives.
#[derive(Debug)]
pub(crate) struct CodeTree {
    pub(crate) path: PathBuf,
    /// A shared `flock` on the tree's directory.
    _lease: File,
}

impl CodeTree {
    /// Another lease on the same tree: a duplicate of the leased
    /// descriptor, so the one `flock` holds until both are dropped.
    pub(crate) fn share(&self) -> std::io::Result<Self> {
        Ok(Self {
            path: self.path.clone(),
            _lease: self._lease.try_clone()?,
        })
    }
}

fn random_name() -> String {
    format!("{:016x}", rand::random::<u64>())
}

fn mkdir_private(path: &Path) -> std::io::Result<()> {
    fs::DirBuilder::new().recursive(true).mode(0o700).create(path)
}

fn sync_dir(path: &Path) -> Result<()> {
    File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error("cannot sync", path, &e))
}

/// Runs file-system work (and lock waits) off the async threads.
async fn blocking<T, F>(work: F) -> Result<T>
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::internal(format!("a code task stopped: {e}")))?
}

/// The start of the name of every tree built for `revision`.
fn tree_prefix(revision: &CodeRevision) -> String {
    let digest = hex::encode(revision.digest.get(..8).unwrap_or(&revision.digest));
    format!("r{}-{digest}-", revision.revision)
}

#[derive(Debug, Clone, Copy)]
enum Mode {
    /// To pick the live tree and lease it.
    Shared,
    /// To build a tree, swap it in and remove unused ones.
    Exclusive,
}

/// Takes the project's code lock (creating its directories), waiting for it.
fn lock_project(project_dir: &Path, mode: Mode) -> Result<File> {
    mkdir_private(&project_dir.join("trees")).map_err(|e| io_error("cannot create", project_dir, &e))?;
    let path = project_dir.join(".lock");
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| io_error("cannot open", &path, &e))?;
    match mode {
        Mode::Shared => file.lock_shared(),
        Mode::Exclusive => file.lock(),
    }
    .map_err(|e| io_error("cannot lock", &path, &e))?;
    Ok(file)
}

/// The directory name of the live tree, or `None` if there is none.
fn live_name(project_dir: &Path) -> Result<Option<String>> {
    let current = project_dir.join("current");
    match fs::read_link(&current) {
        Ok(target) => Ok(target.file_name().and_then(|n| n.to_str()).map(str::to_owned)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error("cannot read", &current, &e)),
    }
}

/// A lease on `tree`; `None` if it does not exist.
fn lease(tree: &Path) -> Result<Option<CodeTree>> {
    let file = match File::open(tree) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error("cannot open", tree, &e)),
    };
    file.lock_shared().map_err(|e| io_error("cannot lock", tree, &e))?;
    Ok(Some(CodeTree {
        path: tree.to_path_buf(),
        _lease: file,
    }))
}

/// Under the project lock: a lease on the live tree if it was built for
/// the revision of `prefix`.
fn lease_live(project_dir: &Path, prefix: &str) -> Result<Option<CodeTree>> {
    match live_name(project_dir)? {
        Some(name) if name.starts_with(prefix) => lease(&project_dir.join("trees").join(name)),
        _ => Ok(None),
    }
}

/// A fresh staging directory. Under the exclusive lock no other build
/// runs, so any staging directory found is a dead build's and goes.
fn start_staging(project_dir: &Path) -> Result<PathBuf> {
    let trees = project_dir.join("trees");
    if let Ok(entries) = fs::read_dir(&trees) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }
    let staging = trees.join(format!("{TMP_PREFIX}staging-{}", random_name()));
    mkdir_private(&staging).map_err(|e| io_error("cannot create", &staging, &e))?;
    Ok(staging)
}

/// Best effort: removes every tree but `live` that no execution leases.
fn remove_unused_trees(trees: &Path, live: &str) {
    let Ok(entries) = fs::read_dir(trees) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name() == live {
            continue;
        }
        let path = entry.path();
        let Ok(handle) = File::open(&path) else {
            continue;
        };
        // Fails while an execution holds its shared lease.
        if handle.try_lock().is_ok() {
            let _ = fs::remove_dir_all(&path);
        }
    }
}

/// Moves a complete staging tree into place as `trees/<name>`, makes it the
/// live tree with one rename, leases it and removes unused trees. The
/// caller holds the exclusive lock.
fn install(project_dir: &Path, staging: &Path, name: &str) -> Result<CodeTree> {
    let trees = project_dir.join("trees");
    let tree = trees.join(name);
    fs::rename(staging, &tree).map_err(|e| io_error("cannot install", staging, &e))?;
    sync_dir(&trees)?;
    let link_tmp = project_dir.join(format!("{TMP_PREFIX}current-{}", random_name()));
    symlink(Path::new("trees").join(name), &link_tmp).map_err(|e| io_error("cannot create", &link_tmp, &e))?;
    let current = project_dir.join("current");
    if let Err(e) = fs::rename(&link_tmp, &current) {
        let _ = fs::remove_file(&link_tmp);
        return Err(io_error("cannot install", &current, &e));
    }
    sync_dir(project_dir)?;
    let leased = lease(&tree)?.ok_or_else(|| Error::internal(format!("{} vanished", tree.display())))?;
    remove_unused_trees(&trees, name);
    Ok(leased)
}

/// The live tree of an earlier version of paige, which kept code only on
/// disk (`current -> trees/<millis>-<random>`, never starting with `r`).
fn legacy_tree(project_dir: &Path) -> Result<Option<PathBuf>> {
    match live_name(project_dir)? {
        Some(name) if !name.starts_with('r') => {
            let tree = project_dir.join("trees").join(name);
            Ok(tree.is_dir().then_some(tree))
        }
        _ => Ok(None),
    }
}

impl Paige {
    /// This node's copy of the project's current code, leased to the
    /// caller for as long as it keeps the value; `None` if the project has
    /// no code. Built (or rebuilt) from the database when the live copy is
    /// not of the current revision.
    pub(crate) async fn code_tree(&self, project: &ProjectRecord) -> Result<Option<CodeTree>> {
        let revision = match self.store.code_revision(project.id).await? {
            Some(revision) => revision,
            None => match self.import_local_code(project).await? {
                Some(revision) => revision,
                None => return Ok(None),
            },
        };
        let dir = self.code_dir(project.id);
        let prefix = tree_prefix(&revision);
        let project_dir = dir.clone();
        let found = blocking(move || {
            let _lock = lock_project(&project_dir, Mode::Shared)?;
            lease_live(&project_dir, &prefix)
        })
        .await?;
        match found {
            Some(tree) => Ok(Some(tree)),
            None => self.build_tree(project.id, dir).await,
        }
    }

    /// Builds a tree of the current revision from the database and makes
    /// it live (or leases the live one, if another execution built it
    /// while this one waited for the lock).
    async fn build_tree(&self, project_id: i64, dir: PathBuf) -> Result<Option<CodeTree>> {
        let project_dir = dir.clone();
        let lock = blocking(move || lock_project(&project_dir, Mode::Exclusive)).await?;
        if let Some(revision) = self.store.code_revision(project_id).await? {
            let (project_dir, prefix) = (dir.clone(), tree_prefix(&revision));
            if let Some(tree) = blocking(move || lease_live(&project_dir, &prefix)).await? {
                return Ok(Some(tree));
            }
        }
        let project_dir = dir.clone();
        let staging = blocking(move || start_staging(&project_dir)).await?;
        // Entries stream from the database to a writer thread; a few in
        // flight at most, so memory stays bounded by the largest files.
        let (sink, entries) = mpsc::channel(2);
        let root = staging.clone();
        let writer = tokio::task::spawn_blocking(move || write::write_entries(&root, entries));
        let read = self.store.read_code(project_id, sink).await;
        let written = writer
            .await
            .map_err(|e| Error::internal(format!("the code build stopped: {e}")))
            .and_then(|r| r);
        let built = match (read, written) {
            (Ok(Some(revision)), Ok(written)) if CodeTotals::of(&written).digest == revision.digest => {
                Ok(Some(revision))
            }
            (Ok(Some(revision)), Ok(_)) => Err(Error::corrupt(format!(
                "the code read for revision {} does not match its digest; it was not run",
                revision.revision
            ))),
            (Ok(None), Ok(_)) => Ok(None),
            // The writer's error says why it stopped reading, so it comes first.
            (_, Err(e)) | (Err(e), Ok(_)) => Err(e),
        };
        let revision = match built {
            Ok(Some(revision)) => revision,
            other => {
                let _ = blocking(move || {
                    let _ = fs::remove_dir_all(&staging);
                    drop(lock);
                    Ok(())
                })
                .await;
                return other.map(|_| None);
            }
        };
        let name = format!("{}{}", tree_prefix(&revision), random_name());
        blocking(move || {
            let installed = install(&dir, &staging, &name);
            if installed.is_err() {
                let _ = fs::remove_dir_all(&staging);
            }
            drop(lock);
            installed.map(Some)
        })
        .await
    }

    /// Stores the code an earlier version of paige kept only in this
    /// node's data dir, when the database has none for the project, so an
    /// upgrade keeps the code that ran. Returns the revision the database
    /// has afterwards (`None`: no code at all).
    pub(crate) async fn import_local_code(&self, project: &ProjectRecord) -> Result<Option<CodeRevision>> {
        let dir = self.code_dir(project.id);
        let probe = dir.clone();
        if blocking(move || legacy_tree(&probe)).await?.is_none() {
            return Ok(None);
        }
        let project_dir = dir.clone();
        let lock = blocking(move || lock_project(&project_dir, Mode::Exclusive)).await?;
        if let Some(revision) = self.store.code_revision(project.id).await? {
            return Ok(Some(revision));
        }
        let collected = blocking(move || {
            legacy_tree(&dir)?
                .map(|tree| collect_blocking(&tree, &CodeLimits::default()))
                .transpose()
        })
        .await?;
        let Some((entries, _)) = collected else {
            return Ok(None);
        };
        let actor = Actor {
            name: "paige (code kept on disk by an earlier version)".to_owned(),
            user_id: None,
            request_id: None,
        };
        let revision = self
            .store
            .replace_code(
                project.id,
                crate::store::CodeChange {
                    entries,
                    findings: Vec::new(),
                },
                "code.import",
                &actor,
            )
            .await?
            .revision;
        drop(lock);
        Ok(Some(revision))
    }
}
