//! `paige-start UID GID PROGRAM [ARG…]`: the last step of a bot's sandbox
//! start when paige runs as root. `bwrap` (as root, so that it can bind any
//! directory) runs it in place of the bot; it becomes the project's user
//! and runs the bot in its own process (an `exec`, no fork).
//!
//! `paige-start --stdin [UID GID]`: the same for a sandbox `paige serve`
//! prepares before an execution asks for it (`runtime/sandbox_pool.rs`).
//! It waits for the bot's command and whole environment on its stdin,
//! reads exactly that (unbuffered: what follows on stdin is the bot's),
//! then switches (when given ids) and runs the bot with that environment
//! and nothing of its own. The command, as `sandbox_pool::command_message`
//! writes it: a 4-byte little-endian length, then that many bytes of
//! NUL-terminated fields: the number of arguments, the program and its
//! arguments, then `NAME=VALUE` entries to the end. Stdin closed before
//! a command came (a prepared sandbox paige let go of): it exits, 126,
//! having run nothing.
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

use std::ffi::{OsStr, OsString};
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

/// The largest command read from stdin (arguments and environment).
const MAX_COMMAND_BYTES: u32 = 64 << 20;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1).peekable();
    if args.next_if(|arg| arg == "--stdin").is_some() {
        return from_stdin(args);
    }
    let (Some(uid), Some(gid), Some(program)) = (args.next().and_then(id), args.next().and_then(id), args.next())
    else {
        eprintln!("paige-start: usage: paige-start UID GID PROGRAM [ARG…] (UID and GID neither 0 nor -1)");
        return ExitCode::from(NOT_RUN);
    };
    // Before anything else can open one: nothing of this process's but the
    // standard streams reaches the bot.
    close_fds::set_fds_cloexec(3, &[]);
    if let Err(status) = switch_to(uid, gid) {
        return status;
    }
    // Found in the PATH of the environment bwrap was given, as bwrap would.
    let mut command = Command::new(&program);
    command.args(args);
    run(command, &program)
}

/// `paige-start --stdin [UID GID]` (see the module docs).
fn from_stdin(args: impl Iterator<Item = OsString>) -> ExitCode {
    let Some(ids) = optional_ids(args) else {
        eprintln!("paige-start: usage: paige-start --stdin [UID GID] (UID and GID neither 0 nor -1)");
        return ExitCode::from(NOT_RUN);
    };
    close_fds::set_fds_cloexec(3, &[]);
    let (argv, env) = match read_command() {
        Ok(Some(command)) => command,
        // Let go of before it was used: nothing to run, nothing to say.
        Ok(None) => return ExitCode::from(NOT_RUN),
        Err(e) => {
            eprintln!("paige-start: cannot read the bot's command: {e}");
            return ExitCode::from(NOT_RUN);
        }
    };
    if let Some((uid, gid)) = ids
        && let Err(status) = switch_to(uid, gid)
    {
        return status;
    }
    let mut argv = argv.into_iter();
    let Some(program) = argv.next() else {
        eprintln!("paige-start: the bot's command is empty");
        return ExitCode::from(NOT_RUN);
    };
    let mut command = Command::new(&program);
    command.args(argv).env_clear();
    for entry in env {
        let (name, value) = entry.split_once('=').unwrap_or((&entry, ""));
        command.env(name, value);
    }
    // Found in the PATH of the environment just set.
    run(command, OsStr::new(&program))
}

/// `[UID GID]`: none, or both valid (see [`id`]); `None` if neither.
fn optional_ids(mut args: impl Iterator<Item = OsString>) -> Option<Option<(u32, u32)>> {
    match (args.next(), args.next(), args.next()) {
        (None, None, None) => Some(None),
        (Some(uid), Some(gid), None) => Some(Some((id(uid)?, id(gid)?))),
        _ => None,
    }
}

/// Execs `command`; if that fails, says why and returns the shell's status.
fn run(mut command: Command, program: &OsStr) -> ExitCode {
    let error = command.exec();
    eprintln!("paige-start: cannot run {}: {error}", program.to_string_lossy());
    ExitCode::from(if error.kind() == io::ErrorKind::NotFound {
        NOT_FOUND
    } else {
        NOT_RUN
    })
}

/// The bot's arguments (its program first) and environment entries, read
/// from stdin (see the module docs); `None` if stdin ended before any.
fn read_command() -> io::Result<Option<(Vec<String>, Vec<String>)>> {
    let mut length = [0u8; 4];
    if !read_exact(&mut length)? {
        return Ok(None);
    }
    let length = u32::from_le_bytes(length);
    if length > MAX_COMMAND_BYTES {
        return Err(io::Error::other(format!("it is over {MAX_COMMAND_BYTES} bytes")));
    }
    let mut body = vec![0u8; length as usize];
    if !read_exact(&mut body)? {
        return Err(io::Error::other("stdin ended inside it"));
    }
    let text = String::from_utf8(body).map_err(|_| io::Error::other("it is not UTF-8"))?;
    let mut fields = text.strip_suffix('\0').unwrap_or(&text).split('\0').map(str::to_owned);
    let count: usize = fields
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| io::Error::other("it does not start with its number of arguments"))?;
    let argv: Vec<String> = fields.by_ref().take(count).collect();
    if argv.len() != count {
        return Err(io::Error::other("it has fewer arguments than it says"));
    }
    Ok(Some((argv, fields.filter(|entry| !entry.is_empty()).collect())))
}

/// Fills `buf` from stdin, one `read` at a time (nothing past it is
/// taken: it is the bot's). False if stdin ended before anything was
/// read; an error if it ended part way.
fn read_exact(buf: &mut [u8]) -> io::Result<bool> {
    let mut filled = 0;
    while filled < buf.len() {
        match rustix::io::read(rustix::stdio::stdin(), &mut buf[filled..]) {
            Ok(0) if filled == 0 => return Ok(false),
            Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
            Ok(n) => filled += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(true)
}

/// A uid or gid from the command line: a number, neither root's nor -1
/// (which the set*id calls read as "unchanged").
fn id(arg: OsString) -> Option<u32> {
    arg.to_str()?.parse().ok().filter(|&id| id != 0 && id != u32::MAX)
}

/// [`become_user`], or says why not and gives the status to exit with.
fn switch_to(uid: u32, gid: u32) -> Result<(), ExitCode> {
    become_user(uid, gid).map_err(|e| {
        eprintln!("paige-start: cannot switch to uid {uid} and gid {gid}: {e}");
        ExitCode::from(NOT_RUN)
    })
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
