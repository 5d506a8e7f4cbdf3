//! Writing a stored tree to the disk: entry after entry as they stream
//! from the database, then all of it made durable.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use tokio::sync::mpsc;

use super::{STORED_PATHS, check_code_path, io_error, mkdir_private, stored_target, symlink_stays_inside, sync_dir};
use crate::error::{Error, Result};
use crate::model::code::{CodeEntry, CodeKind, CodeMeta};

fn malformed(path: &str, why: &str) -> Error {
    Error::corrupt(format!("the stored code entry {path:?} cannot be built: {why}"))
}

/// Writes one stored entry below `root`, never through a symlink or over
/// an existing entry; records the directories it creates in `dirs` and the
/// regular files it writes in `files` (made durable later, all at once).
fn write_entry(root: &Path, entry: &CodeEntry, dirs: &mut BTreeSet<PathBuf>, files: &mut Vec<PathBuf>) -> Result<()> {
    // The database is the source of truth, not a trusted path builder:
    // every path is checked again before it touches the disk.
    let rel = check_code_path(&entry.path, &STORED_PATHS).map_err(|e| malformed(&entry.path, &e.to_string()))?;
    let parts: Vec<_> = rel.components().collect();
    let Some((name, parents)) = parts.split_last() else {
        return Err(malformed(&entry.path, "it is empty"));
    };
    let mut dir = root.to_path_buf();
    for part in parents {
        dir.push(part);
        match dir.symlink_metadata() {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(malformed(
                    &entry.path,
                    "another entry is in the way of a directory on its path",
                ));
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                mkdir_private(&dir).map_err(|e| io_error("cannot create", &dir, &e))?;
                dirs.insert(dir.clone());
            }
            Err(e) => return Err(io_error("cannot read", &dir, &e)),
        }
    }
    let target = dir.join(name);
    match entry.kind {
        CodeKind::File => {
            fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&target)
                .and_then(|mut f| f.write_all(&entry.content))
                .map_err(|e| io_error("cannot write", &target, &e))?;
            files.push(target);
            Ok(())
        }
        CodeKind::Symlink => {
            let link = stored_target(&entry.content);
            if !symlink_stays_inside(&entry.path, link) {
                return Err(malformed(&entry.path, "it is a symlink that points outside the tree"));
            }
            symlink(link, &target).map_err(|e| io_error("cannot create", &target, &e))
        }
    }
}

/// Writes entries below `root` as they arrive, then makes every file and
/// directory durable; returns what was written, for the digest check.
/// The fsyncs wait for the end of the read, so the database transaction
/// that streams the entries is not held open by them.
pub(super) fn write_entries(root: &Path, mut entries: mpsc::Receiver<CodeEntry>) -> Result<Vec<CodeMeta>> {
    let mut written = Vec::new();
    let mut dirs = BTreeSet::new();
    let mut files = Vec::new();
    while let Some(entry) = entries.blocking_recv() {
        write_entry(root, &entry, &mut dirs, &mut files)?;
        written.push(entry.meta());
    }
    for file in &files {
        File::open(file)
            .and_then(|f| f.sync_all())
            .map_err(|e| io_error("cannot sync", file, &e))?;
    }
    for dir in &dirs {
        sync_dir(dir)?;
    }
    sync_dir(root)?;
    Ok(written)
}
