//! File modes of the project's code: group-readable by the project's bot
//! user, nobody else (the table in the parent module's docs). The data
//! dir itself stays paige's alone (0700): the sandbox shows bots only
//! their code tree, never the directories above it.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, chown};
use std::path::Path;

use super::identity::BotIdentity;

use crate::error::{Error, Result};

/// Sets `path`'s owner, group and permission bits, touching it only when
/// they differ (most executions find everything in place).
fn set_owner_and_mode(path: &Path, meta: &fs::Metadata, uid: u32, gid: u32, mode: u32) -> Result<()> {
    if meta.uid() != uid || meta.gid() != gid {
        chown(path, Some(uid), Some(gid)).map_err(|e| Error::io("cannot hand over", path, e))?;
    }
    if meta.mode() & 0o7777 != mode {
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
            .map_err(|e| Error::io("cannot set the permissions of", path, e))?;
    }
    Ok(())
}

/// Readies a code tree for the project's user (when paige is root): the
/// sandbox shows the tree read-only at its fixed path, and the bot's uid
/// still needs file permissions to read it. Idempotent, and cheap when
/// done: one `lstat`.
pub(in crate::runtime) fn share_code(tree: &Path, bot: BotIdentity) -> Result<()> {
    share_tree(tree, rustix::process::geteuid().as_raw(), bot.gid)
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
    let top = fs::symlink_metadata(tree).map_err(|e| Error::io("cannot read", tree, e))?;
    if top.uid() == owner && top.gid() == gid && top.mode() & 0o7777 == 0o750 {
        return Ok(());
    }
    let mut stack = vec![tree.to_path_buf()];
    while let Some(dir) = stack.pop() {
        if dir != tree {
            let meta = fs::symlink_metadata(&dir).map_err(|e| Error::io("cannot read", &dir, e))?;
            set_owner_and_mode(&dir, &meta, owner, gid, 0o750)?;
        }
        for entry in fs::read_dir(&dir).map_err(|e| Error::io("cannot read", &dir, e))? {
            let entry = entry.map_err(|e| Error::io("cannot read", &dir, e))?;
            let path = entry.path();
            let meta = fs::symlink_metadata(&path).map_err(|e| Error::io("cannot read", &path, e))?;
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
