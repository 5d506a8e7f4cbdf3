//! `paige-start UID GID PROGRAM [ARG…]`: the last step of a bot's sandbox
//! start when paige runs as root. `bwrap` (as root, so that it can bind any
//! directory) runs it in place of the bot; it becomes the project's user
//! and runs the bot in its own process (an `exec`, no fork).
//!
//! What it leaves the bot: uid and gid (real, effective, saved) the
//! project's, no supplementary group, no capability in any set (bounding,
//! inheritable, ambient, permitted, effective), and no descriptor but 0, 1
//! and 2. `bwrap` has already set no_new_privs, so nothing the bot execs
//! gains a privilege back.
//!
//! Why not `setpriv` (util-linux), which did this before: this program is
//! quicker to start on the 2-core machine. Alone, less `/bin/true`: 0.7
//! ms, `setpriv` 1.3. Inside paige's sandbox, alternated with it: 0.93–1.10
//! ms against 1.12–1.34. It is deliberately small: std and rustix only,
//! not paige's library (whose binary takes as long as `setpriv` to start).
//!
//! The sandbox does not see the host's path to this file: paige passes it
//! open, and `bwrap` runs it as `/proc/self/fd/N` (see
//! `runtime/bwrap.rs`), so no mount is made for it. That descriptor, like
//! any other but 0–2, is close-on-exec here, before the bot runs.

use std::ffi::OsString;
use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode};

use rustix::process::{Gid, Uid};
use rustix::thread::{
    CapabilitySet, CapabilitySets, capabilities, clear_ambient_capability_set, remove_capability_from_bounding_set,
    set_capabilities, set_thread_groups, set_thread_res_gid, set_thread_res_uid,
};

/// Exit statuses as a shell's: the program could not be found, or found
/// and not run; and this program's own failure before the bot.
const NOT_FOUND: u8 = 127;
const NOT_RUN: u8 = 126;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(uid), Some(gid), Some(program)) = (args.next().and_then(id), args.next().and_then(id), args.next())
    else {
        eprintln!("paige-start: usage: paige-start UID GID PROGRAM [ARG…] (UID and GID neither 0 nor -1)");
        return ExitCode::from(NOT_RUN);
    };
    // Before anything else can open one: nothing of this process's but the
    // standard streams reaches the bot.
    close_fds::set_fds_cloexec(3, &[]);
    if let Err(e) = become_user(uid, gid) {
        eprintln!("paige-start: cannot switch to uid {uid} and gid {gid}: {e}");
        return ExitCode::from(NOT_RUN);
    }
    // Found in the PATH of the environment bwrap was given, as bwrap would.
    let error = Command::new(&program).args(args).exec();
    eprintln!("paige-start: cannot run {}: {error}", program.to_string_lossy());
    ExitCode::from(if error.kind() == io::ErrorKind::NotFound {
        NOT_FOUND
    } else {
        NOT_RUN
    })
}

/// A uid or gid from the command line: a number, neither root's nor -1
/// (which the set*id calls read as "unchanged").
fn id(arg: OsString) -> Option<u32> {
    arg.to_str()?.parse().ok().filter(|&id| id != 0 && id != u32::MAX)
}

/// Becomes `uid` and `gid` for good, with no capability left. The order
/// matters: the bounding set can only be emptied while CAP_SETPCAP is
/// still held, and groups and gid only changed before the uid is.
///
/// The set_thread_* calls change this thread only (raw system calls, not
/// glibc's all-thread ones): this process has no other thread, and the
/// program it then execs inherits this one's credentials.
fn become_user(uid: u32, gid: u32) -> io::Result<()> {
    empty_bounding_set()?;
    set_thread_groups(&[])?;
    let gid = Gid::from_raw(gid);
    set_thread_res_gid(gid, gid, gid)?;
    let uid = Uid::from_raw(uid);
    // From root to a uid that is not root's: the kernel clears the
    // permitted, effective and ambient sets; the inheritable one stays.
    set_thread_res_uid(uid, uid, uid)?;
    let none = CapabilitySets {
        effective: CapabilitySet::empty(),
        permitted: CapabilitySet::empty(),
        inheritable: CapabilitySet::empty(),
    };
    set_capabilities(None, none)?;
    clear_ambient_capability_set()?;
    // Checked, not assumed: the bot does not run otherwise.
    let left = capabilities(None)?;
    let ids = (rustix::process::getuid(), rustix::process::geteuid());
    if ids != (uid, uid) || left != none {
        return Err(io::Error::other("the switch did not take: the bot does not run"));
    }
    Ok(())
}

/// Drops every capability the kernel knows from the bounding set: bit by
/// bit until the kernel refuses a number (EINVAL: past its last one), so
/// capabilities newer than rustix's list go too. Dropping one not in the
/// set is no error; failing to drop one (EPERM) is.
fn empty_bounding_set() -> io::Result<()> {
    for bit in 0..64 {
        match remove_capability_from_bounding_set(CapabilitySet::from_bits_retain(1 << bit)) {
            Ok(()) => {}
            Err(rustix::io::Errno::INVAL) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
