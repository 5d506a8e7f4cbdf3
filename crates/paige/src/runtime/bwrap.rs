//! Every bot runs inside a bubblewrap (`bwrap`) sandbox: Linux namespaces
//! set up by the launcher Flatpak uses, not by paige itself.
//!
//! What a bot sees ([`Spec::args`] builds the `bwrap` command line):
//!
//! ```text
//! /usr /bin /lib* /sbin     the host's, read-only
//! /etc                      only what programs need: TLS roots, DNS, hosts,
//!                           the loader cache (files copied in, directories
//!                           bound); passwd, group and nsswitch.conf written
//!                           for the sandbox (its user, root, nobody)
//! /proc                     of its own PID namespace: its own processes only
//! /dev                      null, zero, random, urandom, tty, a private /dev/shm
//! /tmp                      a private tmpfs of limited size, also its HOME
//! /app                      the project's code tree, read-only (CODE_DIR)
//! <cwd of `paige run`>      read-only at its own path, paige's files inside masked
//! ```
//!
//! Nothing else of the host's file system: not paige's data dir (master
//! key, database, other projects' code), not other users' homes. The
//! namespaces: PID (the sandbox's first process is its init; when it dies,
//! the kernel kills everything left in the namespace, so no `setsid`, fork
//! chain or double-forked daemon outlives the execution), mount, IPC, UTS,
//! cgroup; and, when paige is not root, user. The network is the host's.
//!
//! Who the bot is: when paige is root, `bwrap` runs as root (so it can bind
//! any directory, `/root` included) and hands over to `paige-start`
//! (`src/bin/paige-start.rs`, found beside paige's binary: see
//! [`open_start`]), which switches to the project's own uid and gid, drops
//! the supplementary groups and every capability, then runs the bot.
//! `bwrap` runs it from a descriptor (`/proc/self/fd/N`), so no mount is
//! made for it and the sandbox does not see where it is. Without root,
//! `bwrap` runs as paige's user in a user namespace of its own.
//!
//! Start-up (`launch.rs`: `launch::spawn`, `Launch::start`): for an
//! execution, `bwrap` first reads its late arguments (`--args`: the
//! `--setenv` of the execution's id, known once its opening record is
//! committed, which happens meanwhile). It writes its sandbox's
//! host pid to an info pipe, then waits on a block pipe before it starts
//! the bot; meanwhile the runtime puts both processes into the execution's
//! cgroup and sets the rlimits, so the bot's first instruction already runs
//! under its limits. `paige serve` also prepares sandboxes ahead
//! (`sandbox_pool.rs`, [`Spec::awaits_command`]): the same layout with
//! `paige-start --stdin` in place of the bot, which waits for the bot's
//! command and environment on its stdin.
//!
//! Descriptors: the bot gets stdin, stdout and stderr only. Paige's own
//! descriptors are close-on-exec; the pipes and `/etc` files `bwrap`
//! reads are passed under a lock (no other sandbox starts meanwhile) and
//! closed by `bwrap` before the bot runs (`paige-start`'s own by itself);
//! descriptors inherited without close-on-exec by paige itself (from
//! whatever started it) are closed by a shell in front of the bot.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rustix::fs::{FileType, Mode, OFlags};

/// Where the project's code tree is, inside the sandbox.
pub const CODE_DIR: &str = "/app";
/// The bot's private, writable HOME and TMPDIR (a size-limited tmpfs).
pub const HOME_DIR: &str = "/tmp";
/// Where a warm bot's private socket directory is, inside the sandbox:
/// its `PORT` is a socket path in it (see `runtime::warm`).
pub const SOCKET_DIR: &str = "/run/paige";
/// The bot's user name (its `/etc/passwd` entry, `USER`, `LOGNAME`).
pub const USER_NAME: &str = "paige";

/// Host directories mirrored read-only (or as the same symlink).
const SYSTEM_DIRS: &[&str] = &["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];
/// Host files and directories of `/etc` a program may need, when present:
/// a regular file is copied into the sandbox's own `/etc` (see
/// [`open_etc_files`]), anything else bound.
const ETC_ENTRIES: &[&str] = &[
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/pki",
    "/etc/crypto-policies",
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/host.conf",
    "/etc/gai.conf",
    "/etc/services",
    "/etc/protocols",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/alternatives",
    "/etc/localtime",
    "/etc/mime.types",
];
/// Name service: only files (no host daemon is reachable), DNS for hosts.
pub(super) const NSSWITCH: &str = "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n";

/// Where the bot starts.
#[derive(Debug, Clone, Copy)]
pub enum Cwd<'a> {
    /// The code tree ([`CODE_DIR`]).
    Code,
    /// Its home ([`HOME_DIR`]).
    Home,
    /// A host directory, bound read-only at its own path (`paige run`'s).
    Host(&'a Path),
}

/// One sandboxed process.
#[derive(Debug, Clone)]
pub struct Spec<'a> {
    /// Looked up in the `PATH` of the environment given to [`spawn`].
    pub program: &'a OsStr,
    pub args: &'a [OsString],
    /// The host directory shown read-only at [`CODE_DIR`].
    pub code: Option<&'a Path>,
    pub cwd: Cwd<'a>,
    /// The uid and gid to switch to (paige must be root); `None` runs as
    /// paige's own user, in a user namespace.
    pub user: Option<(u32, u32)>,
    /// Host paths that must not be visible even inside a bound working
    /// directory (paige's data dir, its master key file).
    pub hidden: &'a [PathBuf],
    /// Size of the private `/tmp` (and of `/dev/shm`).
    pub tmpfs_bytes: u64,
    /// A host directory bound writable at [`SOCKET_DIR`]: a warm bot's
    /// private socket directory, reachable by no other sandbox.
    pub socket_dir: Option<&'a Path>,
    /// A sandbox prepared before its execution (`sandbox_pool.rs`): it
    /// runs `paige-start --stdin`, which waits for the bot's command and
    /// environment on its stdin; `program` and `args` are not used.
    pub awaits_command: bool,
}

/// What `find` finds, kept in `found` once it is found, and looked for
/// again until then: a binary installed after paige started is found at
/// the next sandbox's start, as `paige serve`'s warning ("no bot can run
/// until it is") promises, without a restart.
fn found_once(found: &'static OnceLock<PathBuf>, find: impl FnOnce() -> Option<PathBuf>) -> Option<&'static Path> {
    if let Some(path) = found.get() {
        return Some(path);
    }
    let path = find()?;
    Some(found.get_or_init(|| path))
}

/// The `bwrap` binary, found in the usual places (see [`found_once`]).
pub fn bwrap_path() -> io::Result<&'static Path> {
    static FOUND: OnceLock<PathBuf> = OnceLock::new();
    found_once(&FOUND, || {
        ["/usr/bin/bwrap", "/usr/local/bin/bwrap", "/bin/bwrap"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
    })
    .ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            "bubblewrap is not installed (no bwrap in /usr/bin): install it (`apt-get install bubblewrap`)",
        )
    })
}

/// The name of the user switch's binary (`src/bin/paige-start.rs`).
pub const START_NAME: &str = "paige-start";

/// Where `paige-start` is: beside the running binary (`target/release/`,
/// `/usr/local/bin/`…); for cargo's test programs, which run from
/// `target/<profile>/deps/`, one directory up, where cargo puts the
/// package's binaries (see [`found_once`]).
pub fn start_path() -> io::Result<&'static Path> {
    static FOUND: OnceLock<PathBuf> = OnceLock::new();
    found_once(&FOUND, || {
        let exe = std::env::current_exe().ok()?;
        let dir = exe.parent()?;
        let cargo_tests = dir.file_name().is_some_and(|name| name == "deps");
        [Some(dir), dir.parent().filter(|_| cargo_tests)]
            .into_iter()
            .flatten()
            .map(|d| d.join(START_NAME))
            .find(|p| p.is_file())
    })
    .ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "{START_NAME} is not beside paige's binary: build both (`cargo build --release` builds \
                     target/release/{START_NAME}, `cargo install` installs it)"
            ),
        )
    })
}

/// `paige-start`, opened for one sandbox's start (close-on-exec until
/// made inheritable for that `bwrap`): opened at each start, so a binary
/// replaced by an upgrade is the one that runs. It runs as root until it
/// switches, so, as sudo does for its files, it is refused unless it is a
/// regular file owned by root or by paige's own user and writable by no
/// one else (checked on the open file, not on the path).
pub fn open_start() -> io::Result<OwnedFd> {
    open_trusted(start_path()?)
}

/// [`open_start`] of `path`.
fn open_trusted(path: &Path) -> io::Result<OwnedFd> {
    let cannot = |e: rustix::io::Errno| {
        io::Error::new(
            io::Error::from(e).kind(),
            format!("cannot open {}: {e}", path.display()),
        )
    };
    let fd = rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).map_err(cannot)?;
    let stat = rustix::fs::fstat(&fd).map_err(cannot)?;
    let owner_ok = stat.st_uid == 0 || stat.st_uid == rustix::process::geteuid().as_raw();
    let regular = FileType::from_raw_mode(stat.st_mode) == FileType::RegularFile;
    if !regular || !owner_ok || stat.st_mode & 0o022 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} must be a file owned by root (or paige's user) that no one else can write: \
                 it runs as root in each sandbox until it switches users",
                path.display()
            ),
        ));
    }
    Ok(fd)
}

/// The largest file of [`ETC_ENTRIES`] copied rather than bound: on the
/// 2-core machine a bind cost `bwrap` about 0.15–0.25 ms, a copy of 64 KiB
/// about as much, of 256 KiB 0.45 ms and of 1 MiB 1.2 ms (a hosts file
/// that blocks ads can be megabytes).
pub const ETC_COPY_MAX_BYTES: u64 = 128 << 10;

/// The regular files among [`ETC_ENTRIES`] of at most
/// [`ETC_COPY_MAX_BYTES`], opened for `bwrap` to copy into the sandbox's
/// `/etc` (`--file`), which `--remount-ro /` then makes read-only with the
/// rest of its root. Why a copy: each bind costs `bwrap` a mount and a
/// read of the whole mount table, and a copy of a small file neither
/// (1.6 ms less for the 13 entries of a Debian host). Opened without
/// blocking, so a FIFO put there cannot hang a start; any other entry
/// (a directory, a larger file, one that cannot be opened) is bound, or
/// skipped when absent, as before.
pub fn open_etc_files() -> Vec<(&'static str, OwnedFd)> {
    open_copyable(ETC_ENTRIES)
}

/// [`open_etc_files`] of `paths`.
fn open_copyable(paths: &[&'static str]) -> Vec<(&'static str, OwnedFd)> {
    paths
        .iter()
        .filter_map(|&entry| {
            let fd = rustix::fs::open(
                entry,
                OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK,
                Mode::empty(),
            )
            .ok()?;
            let stat = rustix::fs::fstat(&fd).ok()?;
            let small = u64::try_from(stat.st_size).is_ok_and(|size| size <= ETC_COPY_MAX_BYTES);
            (FileType::from_raw_mode(stat.st_mode) == FileType::RegularFile && small).then_some((entry, fd))
        })
        .collect()
}

/// The sandbox's `/etc/passwd`: its user (home [`HOME_DIR`]), root and nobody.
pub fn passwd(uid: u32, gid: u32) -> String {
    let mut text = format!("{USER_NAME}:x:{uid}:{gid}:Paige bot:{HOME_DIR}:/bin/sh\n");
    if uid != 0 {
        text.push_str("root:x:0:0:root:/root:/usr/sbin/nologin\n");
    }
    if uid != 65_534 {
        text.push_str("nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
    }
    text
}

/// The sandbox's `/etc/group`.
pub fn group(gid: u32) -> String {
    let mut text = format!("{USER_NAME}:x:{gid}:\n");
    if gid != 0 {
        text.push_str("root:x:0:\n");
    }
    if gid != 65_534 {
        text.push_str("nogroup:x:65534:\n");
    }
    text
}

/// Descriptors (3 and up) that paige's process was started with and that
/// are not close-on-exec: everything paige opens itself is, so these are
/// the ones a child would inherit. Found once, at the first call: when
/// the first sandbox starts (under `launch`'s spawn lock, so no other
/// sandbox's descriptors are inheritable meanwhile), or, for a local
/// `paige run`, before it opens the store; not at every start of paige:
/// a `paige run` handed to `paige serve` never starts one, and reading
/// `/proc/self/fd` and each `fdinfo` was 7 % of its CPU time. `main` has
/// made every descriptor it was started with close-on-exec by then
/// (`hardening::close_inherited_on_exec`), so this finds one only where
/// that failed, or one opened since without close-on-exec: either way,
/// one no bot may get.
pub fn inherited_fds() -> &'static [i32] {
    static FOUND: OnceLock<Vec<i32>> = OnceLock::new();
    FOUND.get_or_init(|| {
        let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
            return Vec::new();
        };
        let mut fds: Vec<i32> = entries
            .flatten()
            .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
            .filter(|&fd| fd > 2 && is_inheritable(fd))
            .collect();
        fds.sort_unstable();
        fds
    })
}

/// True if descriptor `fd` of this process is open without close-on-exec.
pub(super) fn is_inheritable(fd: i32) -> bool {
    const O_CLOEXEC: u32 = 0o2_000_000;
    std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).is_ok_and(|info| {
        info.lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
            .is_some_and(|flags| flags & O_CLOEXEC == 0)
    })
}

/// The descriptors `bwrap` reads during set-up, by number (see [`Spec::args`]).
#[derive(Debug, Clone, Copy)]
pub struct SetupFds<'a> {
    pub info: i32,
    pub block: i32,
    /// More arguments, read (to its end) before any other is acted on:
    /// the environment variables known only once `bwrap` started (see
    /// `launch::LateEnv`).
    pub late_args: Option<i32>,
    pub passwd: i32,
    pub group: i32,
    pub nsswitch: i32,
    /// Entries of [`ETC_ENTRIES`] to copy, each from its open descriptor
    /// (see [`open_etc_files`]); the others are bound.
    pub etc_files: &'a [(&'static str, i32)],
    /// `paige-start`, open (see [`open_start`]): needed when the bot
    /// switches users ([`Spec::user`]) or [`Spec::awaits_command`].
    pub start: Option<i32>,
}

impl Spec<'_> {
    /// The uid and gid the bot will have, as its `/etc/passwd` shows them.
    pub fn bot_ids(&self) -> (u32, u32) {
        self.user
            .unwrap_or_else(|| (rustix::process::getuid().as_raw(), rustix::process::getgid().as_raw()))
    }

    /// The directory the bot starts in, inside the sandbox.
    pub fn inner_cwd(&self) -> io::Result<PathBuf> {
        Ok(match self.cwd {
            Cwd::Code if self.code.is_some() => PathBuf::from(CODE_DIR),
            Cwd::Code | Cwd::Home => PathBuf::from(HOME_DIR),
            Cwd::Host(dir) => canonical(dir)?,
        })
    }

    /// The whole `bwrap` command line (without the program itself).
    /// `close` are descriptors to close in front of the bot.
    pub fn args(&self, fds: SetupFds, close: &[i32]) -> io::Result<Vec<OsString>> {
        let mut a = Args::default();
        a.flags(&[
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--die-with-parent",
            "--new-session",
        ]);
        if self.user.is_none() {
            // Without root: a user namespace of its own, and no more of them.
            a.flags(&["--unshare-user", "--disable-userns"]);
        }
        for dir in SYSTEM_DIRS {
            let path = Path::new(dir);
            match std::fs::symlink_metadata(path) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    let target = std::fs::read_link(path)?;
                    a.op("--symlink", target.as_os_str(), path);
                }
                Ok(meta) if meta.is_dir() => a.op("--ro-bind", path, path),
                _ => {}
            }
        }
        // Directories bwrap creates get its umask (paige's, maybe 077):
        // `--dir` sets their mode.
        a.flags(&["--dir", "/etc"]);
        for entry in ETC_ENTRIES {
            match fds.etc_files.iter().find(|(path, _)| path == entry) {
                Some(&(_, fd)) => a.file(entry, fd),
                None => a.op("--ro-bind-try", entry, entry),
            }
        }
        a.flags(&["--proc", "/proc", "--dev", "/dev"]);
        let size = self.tmpfs_bytes.max(4096).to_string();
        for dir in [HOME_DIR, "/dev/shm"] {
            a.flags(&["--perms", "01777", "--size", &size, "--tmpfs", dir]);
        }
        a.file("/etc/passwd", fds.passwd);
        a.file("/etc/group", fds.group);
        a.file("/etc/nsswitch.conf", fds.nsswitch);
        if let Some(code) = self.code {
            a.op("--ro-bind", canonical(code)?.as_os_str(), CODE_DIR);
        }
        if let Some(dir) = self.socket_dir {
            // Its parent, passable by the bot's user (see `--dir` above).
            a.flags(&["--perms", "0755", "--dir", "/run"]);
            a.op("--bind", canonical(dir)?.as_os_str(), SOCKET_DIR);
        }
        let cwd = self.inner_cwd()?;
        if let Cwd::Host(_) = self.cwd
            && cwd != Path::new("/")
        {
            for hidden in self.hidden {
                let hidden = canonical(hidden).unwrap_or_else(|_| hidden.clone());
                if cwd.starts_with(&hidden) {
                    return Err(io::Error::new(
                        io::ErrorKind::PermissionDenied,
                        format!(
                            "the working directory {} is inside paige's own files ({}): bots may not see them; \
                             run from another directory",
                            cwd.display(),
                            hidden.display()
                        ),
                    ));
                }
            }
            // Its parents, as the bot's user may pass them.
            let parents: Vec<&Path> = cwd.ancestors().skip(1).collect();
            for parent in parents.into_iter().rev() {
                if is_set_up_already(parent) {
                    continue;
                }
                a.op1("--dir", parent);
            }
            a.op("--ro-bind", &cwd, &cwd);
            // Paige's files inside it: masked by an empty directory (or
            // file), once (not again inside a masked directory).
            let masked: Vec<PathBuf> = self.hidden.iter().filter_map(|h| canonical(h).ok()).collect();
            for hidden in &masked {
                let under_another = masked.iter().any(|m| m != hidden && hidden.starts_with(m));
                if hidden.starts_with(&cwd) && !under_another {
                    if hidden.is_dir() {
                        a.flags(&["--perms", "0000", "--size", "4096"]);
                        a.op1("--tmpfs", hidden);
                    } else {
                        a.op("--ro-bind", "/dev/null", hidden);
                    }
                }
            }
        }
        a.flags(&["--remount-ro", "/"]);
        a.op1("--chdir", &cwd);
        a.num("--info-fd", fds.info);
        a.num("--block-fd", fds.block);
        if let Some(fd) = fds.late_args {
            a.num("--args", fd);
        }
        a.flags(&["--cap-drop", "ALL"]);
        if self.user.is_some() {
            // For paige-start only: it drops them all when it switches users.
            a.flags(&[
                "--cap-add",
                "CAP_SETUID",
                "--cap-add",
                "CAP_SETGID",
                "--cap-add",
                "CAP_SETPCAP",
            ]);
        }
        a.flags(&["--"]);
        if self.awaits_command {
            // paige-start makes every descriptor but 0-2 close-on-exec
            // itself before it runs the bot: no shell to close them.
            a.flags(&[&start_program(fds)?, "--stdin"]);
            if let Some((uid, gid)) = self.user {
                a.flags(&[&uid.to_string(), &gid.to_string()]);
            }
            return Ok(a.0);
        }
        if !close.is_empty() {
            // dash takes single-digit descriptors only.
            let shell = if close.iter().all(|&fd| fd <= 9) {
                "/bin/sh"
            } else {
                "/bin/bash"
            };
            let closes: Vec<String> = close.iter().map(|fd| format!("exec {fd}<&-")).collect();
            // The shell's own variables must not reach the bot either (bash
            // sets SHLVL again when it execs: env takes it out). Its PWD is
            // the working directory, as bwrap's and the platform's are.
            let script = format!(
                "{}; exec /usr/bin/env -u OLDPWD -u SHLVL -u _ \"$@\"",
                closes.join("; ")
            );
            a.flags(&[shell, "-c", &script, "sh"]);
        }
        // Otherwise bwrap execs the bot (or paige-start) itself: the PWD
        // it sets is the platform's (see `env::WORKDIR_VAR`), so no `env`
        // in between (an exec, about 1 ms on the 2-core machine).
        if let Some((uid, gid)) = self.user {
            a.flags(&[&start_program(fds)?, &uid.to_string(), &gid.to_string()]);
        }
        a.0.push(self.program.to_owned());
        a.0.extend(self.args.iter().cloned());
        Ok(a.0)
    }
}

/// `paige-start` as `bwrap` runs it: from its open descriptor.
fn start_program(fds: SetupFds<'_>) -> io::Result<String> {
    let start = fds
        .start
        .ok_or_else(|| io::Error::other("paige-start is not open for this sandbox"))?;
    Ok(format!("/proc/self/fd/{start}"))
}

/// A directory the sandbox has already (a mount, or below a read-only
/// system directory): no `--dir` for it.
fn is_set_up_already(dir: &Path) -> bool {
    dir == Path::new("/")
        || [HOME_DIR, "/dev/shm", "/proc", "/dev", CODE_DIR]
            .iter()
            .any(|d| dir == Path::new(d))
        || ["/proc", "/dev", "/sys"].iter().any(|d| dir.starts_with(d))
        || SYSTEM_DIRS.iter().any(|d| dir.starts_with(d))
}

fn canonical(path: &Path) -> io::Result<PathBuf> {
    std::fs::canonicalize(path).map_err(|e| io::Error::new(e.kind(), format!("cannot read {}: {e}", path.display())))
}

#[derive(Default)]
struct Args(Vec<OsString>);

impl Args {
    fn flags(&mut self, flags: &[&str]) {
        self.0.extend(flags.iter().map(OsString::from));
    }
    fn op(&mut self, op: &str, source: impl AsRef<OsStr>, dest: impl AsRef<OsStr>) {
        self.0
            .extend([op.into(), source.as_ref().to_owned(), dest.as_ref().to_owned()]);
    }
    fn op1(&mut self, op: &str, path: impl AsRef<OsStr>) {
        self.0.extend([op.into(), path.as_ref().to_owned()]);
    }
    fn num(&mut self, op: &str, fd: i32) {
        self.0.extend([op.into(), fd.to_string().into()]);
    }
    /// A file of the sandbox's root, with what `fd` holds: read-only once
    /// `--remount-ro /` is done (before the bot runs), and readable by all
    /// (bwrap makes files 0600 unless told), like the host's.
    fn file(&mut self, dest: &str, fd: i32) {
        self.0.extend([
            "--perms".into(),
            "0444".into(),
            "--file".into(),
            fd.to_string().into(),
            dest.into(),
        ]);
    }
}

#[cfg(test)]
mod tests;
