//! The reaper: per-user run locks, and killing what a bot's user left
//! running once none of its executions is.
//!
//! Escapes from the process group (`setsid`, Node's `detached: true`) are
//! caught by uid. A bubblewrap sandbox with its own PID namespace (issue
//! 11) replaces this whole module.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::process::{Pid, PidfdFlags, Signal, pidfd_open, pidfd_send_signal};

use super::io_error;
use crate::error::Result;

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
