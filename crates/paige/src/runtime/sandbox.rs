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
//! fresh home ([`prepare`], before every spawn):
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
//! the same project is running ([`RunLock`]), every process of the
//! project's uid is killed. The same happens before an execution starts
//! when none is running, which clears what a crashed paige left behind.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt, chown};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::process::{Pid, PidfdFlags, Signal, pidfd_open, pidfd_send_signal};

// What is configured is plain configuration; what it means here is `Isolation::of`.
pub use crate::config::{BotUsers, DEFAULT_UID_BASE};
use crate::error::{Error, Result};

/// The lowest base accepted: the ids below belong to the system and to
/// its people.
pub const MIN_UID_BASE: u32 = 1_000;
/// The highest id a bot may get: `u32::MAX` is `(uid_t)-1`, "no change",
/// and values from 2^31 up are negative where ids are read as signed.
const MAX_BOT_ID: u64 = i32::MAX as u64;

/// What actually happens, given the configuration and who paige runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    PerProject {
        uid_base: u32,
    },
    /// Bots run as paige's own user: they can read what paige can read.
    SameAsPaige {
        reason: SharedReason,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SharedReason {
    /// Only root can start a process as another user.
    NotRoot,
    /// `--insecure-bots-as-paige-user`.
    OptedOut,
}

impl Isolation {
    /// The isolation bots get in this process with `users` configured.
    pub fn of(users: BotUsers) -> Self {
        match users {
            BotUsers::SameAsPaige => Self::SameAsPaige {
                reason: SharedReason::OptedOut,
            },
            BotUsers::PerProject { uid_base } if rustix::process::geteuid().is_root() => Self::PerProject { uid_base },
            BotUsers::PerProject { .. } => Self::SameAsPaige {
                reason: SharedReason::NotRoot,
            },
        }
    }

    /// One line for the operator: what bots run as, and what that means.
    pub fn describe(self) -> String {
        match self {
            Self::PerProject { uid_base } => format!(
                "bots run as their project's own user: uid and gid {uid_base} + project id \
                 (--bot-uid-base); they cannot read the master key, the database or another project's bots"
            ),
            Self::SameAsPaige { reason } => {
                let (why, fix) = match reason {
                    SharedReason::NotRoot => (
                        "paige is not running as root, so it cannot start them as another user",
                        "run paige as root so each project gets its own user",
                    ),
                    SharedReason::OptedOut => (
                        "--insecure-bots-as-paige-user is set",
                        "drop --insecure-bots-as-paige-user so each project gets its own user",
                    ),
                };
                format!(
                    "WARNING: bots run as paige's own user ({why}): any bot can read the master key and the \
                     database, and the secrets of another project's bot running at the same time. \
                     Run only bot code you trust, or {fix}"
                )
            }
        }
    }
}

/// The uid and gid one project's bots run as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BotIdentity {
    pub uid: u32,
    pub gid: u32,
}

impl BotIdentity {
    /// `uid_base + project_id`, refused if it is out of the usable range.
    pub fn for_project(uid_base: u32, project_id: i64) -> Result<Self> {
        let id = u64::try_from(project_id)
            .ok()
            .and_then(|p| u64::from(uid_base).checked_add(p))
            .filter(|&id| id <= MAX_BOT_ID && uid_base >= MIN_UID_BASE)
            .and_then(|id| u32::try_from(id).ok())
            .ok_or_else(|| {
                Error::Config(format!(
                    "project #{project_id} has no usable bot user with --bot-uid-base {uid_base}: \
                     the base must be at least {MIN_UID_BASE} and base + project id at most {MAX_BOT_ID}"
                ))
            })?;
        Ok(Self { uid: id, gid: id })
    }

    /// May this user search (pass through) a directory with this metadata?
    fn can_search(self, meta: &fs::Metadata) -> bool {
        let mode = meta.mode();
        if meta.uid() == self.uid {
            mode & 0o100 != 0
        } else if meta.gid() == self.gid {
            mode & 0o010 != 0
        } else {
            mode & 0o001 != 0
        }
    }
}

fn io_error(what: &str, path: &Path, e: &std::io::Error) -> Error {
    Error::Config(format!("{what} {}: {e}", path.display()))
}

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

/// Held from before a bot starts until its processes are gone: a shared
/// `flock` on `<data dir>/sandbox/uid-<uid>.lock`, so that one execution
/// can tell whether another of the same user is running, in this process
/// or in another paige on the same data dir (`paige run` beside
/// `paige serve`). Whoever gets the lock exclusively may kill every
/// process of the user: none of them belongs to a running execution.
#[derive(Debug)]
pub(super) struct RunLock {
    file: File,
    uid: u32,
}

/// The directory of the run locks.
pub(super) fn lock_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("sandbox")
}

impl RunLock {
    /// Takes the lock (blocking only while another execution sweeps). If no
    /// other execution of the user runs, first kills what is left of
    /// earlier ones. Returns the lock and how many processes were killed.
    pub(super) fn acquire(dir: &Path, uid: u32) -> Result<(Self, usize)> {
        match fs::DirBuilder::new().mode(0o700).create(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_error("cannot create", dir, &e)),
        }
        let path = dir.join(format!("uid-{uid}.lock"));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| io_error("cannot open", &path, &e))?;
        let killed = match file.try_lock() {
            Ok(()) => kill_all_of(uid),
            Err(fs::TryLockError::WouldBlock) => 0,
            Err(fs::TryLockError::Error(e)) => return Err(io_error("cannot lock", &path, &e)),
        };
        // From exclusive (or none) to shared: another sweeper may slip in
        // between, which is harmless, as this bot has not started yet.
        file.lock_shared().map_err(|e| io_error("cannot lock", &path, &e))?;
        Ok((Self { file, uid }, killed))
    }

    /// Lets go of the lock; if no other execution of the user holds it,
    /// kills every process of the user. Returns how many were killed.
    ///
    /// Two executions ending together cannot both miss the sweep: each
    /// unlocks before it tries for the exclusive lock, so the later try
    /// finds both unlocked (or a newer execution holding it, which will
    /// sweep when it ends).
    pub(super) fn release(self) -> usize {
        let _ = self.file.unlock();
        match self.file.try_lock() {
            Ok(()) => kill_all_of(self.uid),
            Err(_) => 0,
        }
    }
}

/// At most this many rounds of killing: a process may fork while it is
/// being killed, and its children are found in the next round.
const KILL_ROUNDS: usize = 200;

/// Sends SIGKILL to every live process whose real or effective uid is
/// `uid`, round after round until none is found, and returns how many
/// distinct processes were signalled.
pub(super) fn kill_all_of(uid: u32) -> usize {
    let mut killed = HashSet::new();
    for _ in 0..KILL_ROUNDS {
        let found = processes_of(uid);
        if found.is_empty() {
            break;
        }
        for pid in found {
            if kill_if_still_of(pid, uid) {
                killed.insert(pid);
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    killed.len()
}

/// Signals `pid` through a pidfd, after checking again that it is (still)
/// a process of `uid`: the pidfd pins the process, so a pid reused since
/// the scan is never signalled by mistake.
fn kill_if_still_of(pid: i32, uid: u32) -> bool {
    let Some(target) = Pid::from_raw(pid) else {
        return false;
    };
    match pidfd_open(target, PidfdFlags::empty()) {
        Ok(fd) => process_uid_matches(pid, uid) && pidfd_send_signal(&fd, Signal::KILL).is_ok(),
        // A kernel before 5.3: without pidfds, a check just before the kill.
        Err(rustix::io::Errno::NOSYS) => {
            process_uid_matches(pid, uid) && rustix::process::kill_process(target, Signal::KILL).is_ok()
        }
        Err(_) => false,
    }
}

/// The live processes of `uid`, from `/proc`: not zombies, and not already
/// on their way out with a SIGKILL pending (the process group's kill).
fn processes_of(uid: u32) -> Vec<i32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
        .filter(|&pid| process_uid_matches(pid, uid))
        .collect()
}

/// SIGKILL's bit in the pending-signal masks of `/proc/<pid>/status`.
const SIGKILL_BIT: u64 = 1 << (9 - 1);

/// True if `/proc/<pid>/status` shows a live process whose real or
/// effective uid is `uid` and that has no SIGKILL pending.
fn process_uid_matches(pid: i32, uid: u32) -> bool {
    let Ok(status) = fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    let mut live = false;
    let mut matches = false;
    for line in status.lines() {
        if let Some(state) = line.strip_prefix("State:") {
            live = !matches!(state.trim_start().chars().next(), Some('Z' | 'X'));
        } else if let Some(mask) = line.strip_prefix("ShdPnd:").or_else(|| line.strip_prefix("SigPnd:")) {
            if u64::from_str_radix(mask.trim(), 16).is_ok_and(|m| m & SIGKILL_BIT != 0) {
                return false;
            }
        } else if let Some(uids) = line.strip_prefix("Uid:") {
            let mut ids = uids.split_whitespace().filter_map(|u| u.parse::<u32>().ok());
            let (real, effective) = (ids.next(), ids.next());
            matches = real == Some(uid) || effective == Some(uid);
        }
    }
    live && matches
}

/// Warnings about ids of the bots' range that the system already uses:
/// a bot given such an id could open that user's or group's files.
/// Checks the first `span` ids of the range against `/etc/passwd` and
/// `/etc/group`.
pub fn overlapping_accounts(uid_base: u32, span: u32) -> Vec<String> {
    let range = u64::from(uid_base)..u64::from(uid_base) + u64::from(span);
    let mut found = Vec::new();
    for (file, what) in [("/etc/passwd", "user"), ("/etc/group", "group")] {
        let Ok(text) = fs::read_to_string(file) else {
            continue;
        };
        for line in text.lines() {
            let mut fields = line.split(':');
            let (Some(name), Some(id)) = (fields.next(), fields.nth(1)) else {
                continue;
            };
            if let Ok(id) = id.parse::<u64>()
                && range.contains(&id)
            {
                found.push(format!(
                    "{what} {name} ({file}) has id {id}, inside the bots' range from {uid_base}: \
                     the bot of project #{} would run as it; choose another --bot-uid-base",
                    id - u64::from(uid_base)
                ));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_are_base_plus_project_and_refused_out_of_range() {
        assert_eq!(
            BotIdentity::for_project(200_000, 7).unwrap(),
            BotIdentity {
                uid: 200_007,
                gid: 200_007
            }
        );
        for (base, project) in [(999, 1), (200_000, -1), (u32::MAX, 1), (i32::MAX as u32, 1)] {
            let err = BotIdentity::for_project(base, project).unwrap_err();
            assert!(err.to_string().contains("no usable bot user"), "{err}");
        }
        assert_eq!(BotIdentity::for_project(1_000, 0).unwrap().uid, 1_000);
    }

    #[test]
    fn search_permission_follows_owner_then_group_then_others() {
        let dir = tempfile::tempdir().unwrap();
        let meta = |mode: u32| {
            fs::set_permissions(dir.path(), fs::Permissions::from_mode(mode)).unwrap();
            fs::metadata(dir.path()).unwrap()
        };
        let me = rustix::process::geteuid().as_raw();
        let my_group = rustix::process::getegid().as_raw();
        let owner = BotIdentity {
            uid: me,
            gid: u32::MAX - 5,
        };
        let group = BotIdentity {
            uid: u32::MAX - 5,
            gid: my_group,
        };
        let other = BotIdentity {
            uid: u32::MAX - 5,
            gid: u32::MAX - 5,
        };
        assert!(owner.can_search(&meta(0o700)) && !owner.can_search(&meta(0o077)));
        assert!(group.can_search(&meta(0o710)) && !group.can_search(&meta(0o701)));
        assert!(other.can_search(&meta(0o711)) && !other.can_search(&meta(0o770)));
    }

    #[test]
    fn the_operator_is_told_what_bots_run_as() {
        let per_project = Isolation::PerProject { uid_base: 300_000 }.describe();
        assert!(per_project.contains("300000 + project id"), "{per_project}");
        let shared = Isolation::SameAsPaige {
            reason: SharedReason::NotRoot,
        }
        .describe();
        assert!(shared.starts_with("WARNING") && shared.contains("can read the master key"));
    }
}
