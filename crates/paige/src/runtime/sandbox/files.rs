//! File modes: the data dir, the project's code and the execution's home,
//! laid out so that a bot's user reaches exactly what it needs (the table
//! in the parent module's docs).

use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt, chown};
use std::path::Path;

use super::identity::BotIdentity;
use super::io_error;
use crate::error::{Error, Result};

/// Sets `path`'s owner, group and permission bits, touching it only when
/// they differ (most executions find everything in place).
fn set_owner_and_mode(path: &Path, meta: &fs::Metadata, uid: u32, gid: u32, mode: u32) -> Result<()> {
    if meta.uid() != uid || meta.gid() != gid {
        chown(path, Some(uid), Some(gid)).map_err(|e| io_error("cannot hand over", path, &e))?;
    }
    if meta.mode() & 0o7777 != mode {
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
            .map_err(|e| io_error("cannot set the permissions of", path, &e))?;
    }
    Ok(())
}

/// A directory paige owns with exactly `mode`, created if missing.
fn ensure_dir(path: &Path, gid: u32, mode: u32) -> Result<()> {
    match fs::DirBuilder::new().mode(0o700).create(path) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io_error("cannot create", path, &e)),
    }
    let meta = fs::symlink_metadata(path).map_err(|e| io_error("cannot read", path, &e))?;
    if !meta.is_dir() {
        return Err(Error::Config(format!("{} is not a directory", path.display())));
    }
    set_owner_and_mode(path, &meta, rustix::process::geteuid().as_raw(), gid, mode)
}

/// The paths one execution uses.
#[derive(Debug)]
pub(super) struct Layout<'a> {
    pub data_dir: &'a Path,
    /// `<data dir>/code/<project id>`.
    pub project_code_dir: &'a Path,
    /// The bot's working directory: a code tree, the caller's directory
    /// (`paige run -- CMD`) or the home.
    pub workdir: &'a Path,
    pub home: &'a Path,
}

/// Makes what the bot needs reachable by its user, and nothing more (see
/// the module docs for the result). Idempotent, and cheap when nothing is
/// out of place: one `lstat` per entry of the code tree it runs in.
pub(super) fn prepare(layout: &Layout<'_>, bot: BotIdentity) -> Result<()> {
    let paige_uid = rustix::process::geteuid().as_raw();
    let paige_gid = rustix::process::getegid().as_raw();
    let data_meta = fs::metadata(layout.data_dir).map_err(|e| io_error("cannot read", layout.data_dir, &e))?;
    set_owner_and_mode(layout.data_dir, &data_meta, data_meta.uid(), data_meta.gid(), 0o711)?;
    let code_root = layout.data_dir.join("code");
    ensure_dir(&code_root, paige_gid, 0o711)?;
    ensure_dir(layout.project_code_dir, bot.gid, 0o750)?;
    // A code tree (wherever below the project's directory it lives): the
    // directories down to it, then all of it.
    if let Ok(below) = layout.workdir.strip_prefix(layout.project_code_dir) {
        let mut dir = layout.project_code_dir.to_path_buf();
        let steps: Vec<_> = below.components().collect();
        for step in steps.iter().take(steps.len().saturating_sub(1)) {
            dir.push(step);
            ensure_dir(&dir, bot.gid, 0o750)?;
        }
        if !below.as_os_str().is_empty() {
            share_tree(layout.workdir, paige_uid, bot.gid)?;
        }
    }
    let home_meta = fs::metadata(layout.home).map_err(|e| io_error("cannot read", layout.home, &e))?;
    set_owner_and_mode(layout.home, &home_meta, bot.uid, bot.gid, 0o700)?;
    for dir in [layout.workdir, layout.home] {
        check_reachable(dir, bot)?;
    }
    Ok(())
}

/// Gives the project's group read access (and search, and execute where
/// the owner has it) to every directory and file of a code tree, and
/// nobody else anything: `root:<gid>`, directories 0750, files 0640 or 0750.
/// Symlinks are left alone (their own modes mean nothing; what they point
/// to inside the tree is covered).
///
/// A tree is never changed once built (a code change builds a new one, see
/// `code_cache`), and its top directory is handed over last: a top already
/// handed over means the whole tree is, so later executions skip the walk.
fn share_tree(tree: &Path, owner: u32, gid: u32) -> Result<()> {
    let top = fs::symlink_metadata(tree).map_err(|e| io_error("cannot read", tree, &e))?;
    if top.uid() == owner && top.gid() == gid && top.mode() & 0o7777 == 0o750 {
        return Ok(());
    }
    let mut stack = vec![tree.to_path_buf()];
    while let Some(dir) = stack.pop() {
        if dir != tree {
            let meta = fs::symlink_metadata(&dir).map_err(|e| io_error("cannot read", &dir, &e))?;
            set_owner_and_mode(&dir, &meta, owner, gid, 0o750)?;
        }
        for entry in fs::read_dir(&dir).map_err(|e| io_error("cannot read", &dir, &e))? {
            let entry = entry.map_err(|e| io_error("cannot read", &dir, &e))?;
            let path = entry.path();
            let meta = fs::symlink_metadata(&path).map_err(|e| io_error("cannot read", &path, &e))?;
            if meta.is_dir() {
                stack.push(path);
            } else if meta.is_file() {
                let owner_bits = meta.mode() & 0o700;
                let group_bits = (owner_bits & 0o500) >> 3;
                set_owner_and_mode(&path, &meta, owner, gid, owner_bits | group_bits)?;
            }
        }
    }
    set_owner_and_mode(tree, &top, owner, gid, 0o750)
}

/// For the operator at start: why no bot will run, if the directories
/// above the data dir or TMPDIR keep every bot user out (say, a data dir
/// under `/root`, mode 0700). Each bot's own checks repeat this.
pub fn unreachable_for_bots(data_dir: &Path, uid_base: u32) -> Vec<String> {
    // The base itself is no project's id: it stands for any bot user.
    let anyone = BotIdentity {
        uid: uid_base,
        gid: uid_base,
    };
    let mut problems = Vec::new();
    for dir in [data_dir.parent().unwrap_or(data_dir), &std::env::temp_dir()] {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Err(e) = check_reachable(dir, anyone) {
            problems.push(e.to_string());
        }
    }
    problems
}

/// Fails, naming the directory in the way, when the bot's user cannot
/// reach `dir` (every directory on the way must let it pass).
fn check_reachable(dir: &Path, bot: BotIdentity) -> Result<()> {
    let real = fs::canonicalize(dir).map_err(|e| io_error("cannot read", dir, &e))?;
    let mut on_the_way: Vec<&Path> = real.ancestors().collect();
    on_the_way.reverse();
    for step in on_the_way {
        let meta = fs::metadata(step).map_err(|e| io_error("cannot read", step, &e))?;
        if !bot.can_search(&meta) {
            return Err(Error::Config(format!(
                "the bot's user (uid {}) cannot reach {}: {} (mode {:04o}, owner {}:{}) does not let it pass; \
                 keep the data dir, the working directory and TMPDIR under directories others may search \
                 (mode o+x)",
                bot.uid,
                dir.display(),
                step.display(),
                meta.mode() & 0o7777,
                meta.uid(),
                meta.gid()
            )));
        }
    }
    Ok(())
}
