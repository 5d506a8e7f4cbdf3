//! Every bot runs inside a bubblewrap (`bwrap`) sandbox: Linux namespaces
//! set up by the launcher Flatpak uses, not by paige itself.
//!
//! What a bot sees ([`Spec::args`] builds the `bwrap` command line):
//!
//! ```text
//! /usr /bin /lib* /sbin     the host's, read-only
//! /etc                      only what programs need: TLS roots, DNS, hosts,
//!                           the loader cache; passwd, group and nsswitch.conf
//!                           written for the sandbox (its user, root, nobody)
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
//! any directory, `/root` included) and hands over to `setpriv`, which
//! switches to the project's own uid and gid, drops the supplementary
//! groups and every capability, then runs the bot. Without root, `bwrap`
//! runs as paige's user in a user namespace of its own.
//!
//! Start-up ([`spawn`], [`Launch::start`]): `bwrap` writes its sandbox's
//! host pid to an info pipe, then waits on a block pipe before it starts
//! the bot; meanwhile the runtime puts both processes into the execution's
//! cgroup and sets the rlimits, so the bot's first instruction already runs
//! under its limits.
//!
//! Descriptors: the bot gets stdin, stdout and stderr only. Paige's own
//! descriptors are close-on-exec; the pipes `bwrap` reads are passed under
//! a lock (no other sandbox starts meanwhile) and closed by `bwrap` before
//! the bot runs; descriptors inherited without close-on-exec by paige
//! itself (from whatever started it) are closed by a shell in front of
//! the bot.

use std::ffi::{OsStr, OsString};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use rustix::io::{FdFlags, fcntl_setfd};
use rustix::pipe::{PipeFlags, pipe_with};
use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};

/// Where the project's code tree is, inside the sandbox.
pub const CODE_DIR: &str = "/app";
/// The bot's private, writable HOME and TMPDIR (a size-limited tmpfs).
pub const HOME_DIR: &str = "/tmp";
/// The bot's user name (its `/etc/passwd` entry, `USER`, `LOGNAME`).
pub const USER_NAME: &str = "paige";

/// Host directories mirrored read-only (or as the same symlink).
const SYSTEM_DIRS: &[&str] = &["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];
/// Host files and directories of `/etc` a program may need, bound when present.
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
const NSSWITCH: &str = "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n";

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
}

/// The `bwrap` binary, found once in the usual places.
pub fn bwrap_path() -> io::Result<&'static Path> {
    static FOUND: OnceLock<Option<PathBuf>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            ["/usr/bin/bwrap", "/usr/local/bin/bwrap", "/bin/bwrap"]
                .iter()
                .map(PathBuf::from)
                .find(|p| p.is_file())
        })
        .as_deref()
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "bubblewrap is not installed (no bwrap in /usr/bin): install it (`apt-get install bubblewrap`)",
            )
        })
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
/// the ones a child would inherit. Found once, at the first call: call it
/// early (`main` does) so nothing of paige's own is open yet.
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
fn is_inheritable(fd: i32) -> bool {
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
pub struct SetupFds {
    pub info: i32,
    pub block: i32,
    pub passwd: i32,
    pub group: i32,
    pub nsswitch: i32,
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
            a.op("--ro-bind-try", entry, entry);
        }
        a.flags(&["--proc", "/proc", "--dev", "/dev"]);
        let size = self.tmpfs_bytes.max(4096).to_string();
        for dir in [HOME_DIR, "/dev/shm"] {
            a.flags(&["--perms", "01777", "--size", &size, "--tmpfs", dir]);
        }
        // Data files are 0600 unless told: readable by all, like the host's.
        a.data("/etc/passwd", fds.passwd);
        a.data("/etc/group", fds.group);
        a.data("/etc/nsswitch.conf", fds.nsswitch);
        if let Some(code) = self.code {
            a.op("--ro-bind", canonical(code)?.as_os_str(), CODE_DIR);
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
        a.flags(&["--cap-drop", "ALL"]);
        if self.user.is_some() {
            // For setpriv only: it drops them all when it switches users.
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
        if !close.is_empty() {
            // dash takes single-digit descriptors only.
            let shell = if close.iter().all(|&fd| fd <= 9) {
                "/bin/sh"
            } else {
                "/bin/bash"
            };
            let closes: Vec<String> = close.iter().map(|fd| format!("exec {fd}<&-")).collect();
            // The shell's own variables must not reach the bot either (bash
            // sets SHLVL again when it execs: env takes it out).
            let script = format!(
                "{}; exec /usr/bin/env -u PWD -u OLDPWD -u SHLVL -u _ \"$@\"",
                closes.join("; ")
            );
            a.flags(&[shell, "-c", &script, "sh"]);
        }
        if let Some((uid, gid)) = self.user {
            a.flags(&[
                "/usr/bin/setpriv",
                &format!("--reuid={uid}"),
                &format!("--regid={gid}"),
                "--clear-groups",
                "--inh-caps=-all",
                "--bounding-set=-all",
                "--",
            ]);
        }
        a.0.push(self.program.to_owned());
        a.0.extend(self.args.iter().cloned());
        Ok(a.0)
    }
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
    fn data(&mut self, dest: &str, fd: i32) {
        self.0.extend([
            "--perms".into(),
            "0444".into(),
            "--ro-bind-data".into(),
            fd.to_string().into(),
            dest.into(),
        ]);
    }
}

/// Held while descriptors meant for one `bwrap` are inheritable: no other
/// sandbox of this process starts meanwhile, so none gets another's.
static SPAWN_LOCK: Mutex<()> = Mutex::new(());

/// A descriptor for the child only: not close-on-exec.
fn for_child(fd: &OwnedFd) -> io::Result<()> {
    fcntl_setfd(fd, FdFlags::empty())?;
    Ok(())
}

/// A pipe whose read end holds `data` (small: within the pipe's buffer).
fn data_pipe(data: &str) -> io::Result<OwnedFd> {
    let (read, write) = pipe_with(PipeFlags::CLOEXEC)?;
    std::fs::File::from(write).write_all(data.as_bytes())?;
    for_child(&read)?;
    Ok(read)
}

/// A started `bwrap`, waiting to run the bot until [`Launch::start`].
#[derive(Debug)]
pub struct Launch {
    pub child: Child,
    info: Option<OwnedFd>,
    block: Option<OwnedFd>,
}

/// How long `bwrap` may take to report its sandbox.
const INFO_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts `bwrap` for `spec`. `configure` sets the rest (environment,
/// standard streams, process group) on the command; it must not add
/// descriptors. Call it on a thread that outlives the execution: `bwrap`
/// dies with the thread that started it (`--die-with-parent`), which is
/// what kills the sandbox if paige dies.
pub fn spawn(spec: &Spec<'_>, configure: impl FnOnce(&mut Command)) -> io::Result<Launch> {
    let bwrap = bwrap_path()?;
    let (bot_uid, bot_gid) = spec.bot_ids();
    let _guard = SPAWN_LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let inherited = inherited_fds();
    let (info_read, info_write) = pipe_with(PipeFlags::CLOEXEC)?;
    for_child(&info_write)?;
    let (block_read, block_write) = pipe_with(PipeFlags::CLOEXEC)?;
    for_child(&block_read)?;
    let passwd = data_pipe(&passwd(bot_uid, bot_gid))?;
    let group = data_pipe(&group(bot_gid))?;
    let nsswitch = data_pipe(NSSWITCH)?;
    let fds = SetupFds {
        info: info_write.as_raw_fd(),
        block: block_read.as_raw_fd(),
        passwd: passwd.as_raw_fd(),
        group: group.as_raw_fd(),
        nsswitch: nsswitch.as_raw_fd(),
    };
    // Still open and inheritable (a number may have been reused since).
    let close: Vec<i32> = inherited.iter().copied().filter(|&fd| is_inheritable(fd)).collect();
    let args = spec.args(fds, &close)?;
    let mut command = Command::new(bwrap);
    command.args(&args);
    configure(&mut command);
    let child = command.spawn();
    drop(command);
    // The child has its copies; these must reach no other child.
    drop((info_write, block_read, passwd, group, nsswitch));
    Ok(Launch {
        child: child?,
        info: Some(info_read),
        block: Some(block_write),
    })
}

impl Launch {
    /// The host pid of `bwrap` itself.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Waits for the sandbox to be set up, lets `attach` place `bwrap`
    /// and the sandbox's first process (host pids) under the execution's
    /// limits, then lets the bot run. If `bwrap` fails before (a mount it
    /// cannot make), `attach` is not called: the child exits with the
    /// reason on its stderr. If `attach` fails, the bot never runs.
    pub async fn start(&mut self, attach: impl FnOnce(u32, u32) -> io::Result<()>) -> io::Result<()> {
        let Some(info) = self.info.take() else {
            return Ok(());
        };
        let mut reader = tokio::net::unix::pipe::Receiver::from_owned_fd(info)?;
        let mut text = Vec::with_capacity(256);
        let read = tokio::time::timeout(INFO_TIMEOUT, async {
            let mut buf = [0u8; 256];
            loop {
                let n = reader.read(&mut buf).await?;
                if n == 0 {
                    return Ok::<_, io::Error>(());
                }
                text.extend_from_slice(&buf[..n]);
                if text.ends_with(b"}\n") {
                    return Ok(());
                }
            }
        })
        .await;
        match read {
            Ok(result) => result?,
            Err(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "bwrap did not set up the sandbox in time",
                ));
            }
        }
        let Some(sandbox_pid) = child_pid(&text) else {
            // bwrap gave up before the sandbox existed: its stderr says why.
            return Ok(());
        };
        if let Some(bwrap_pid) = self.pid() {
            attach(bwrap_pid, sandbox_pid)?;
        }
        if let Some(block) = self.block.take() {
            // A sandbox that died meanwhile closed its end: nothing to release.
            let _ = std::fs::File::from(block).write_all(b"1");
        }
        Ok(())
    }
}

/// `"child-pid": N` from `bwrap --info-fd`.
fn child_pid(info: &[u8]) -> Option<u32> {
    let text = std::str::from_utf8(info).ok()?;
    let rest = &text[text.find("\"child-pid\"")? + "\"child-pid\"".len()..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_info_of_bwrap_gives_the_sandbox_pid() {
        assert_eq!(
            child_pid(b"{\n    \"child-pid\": 4242,\n    \"cgroup-namespace\": 4026532\n}\n"),
            Some(4242)
        );
        assert_eq!(child_pid(b"{\n    \"child-pid\": 17\n}\n"), Some(17));
        assert_eq!(child_pid(b""), None);
    }

    #[test]
    fn passwd_and_group_name_the_bot_and_no_one_twice() {
        let text = passwd(200_007, 200_007);
        assert!(
            text.starts_with("paige:x:200007:200007:Paige bot:/tmp:/bin/sh\n"),
            "{text}"
        );
        assert!(text.contains("\nroot:x:0:0:"));
        assert_eq!(passwd(0, 0).matches(":x:0:").count(), 1);
        assert!(group(200_007).starts_with("paige:x:200007:\n"));
        assert_eq!(group(65_534).matches(":x:65534:").count(), 1);
    }

    fn fds() -> SetupFds {
        SetupFds {
            info: 11,
            block: 12,
            passwd: 13,
            group: 14,
            nsswitch: 15,
        }
    }

    fn position(args: &[OsString], seq: &[&str]) -> Option<usize> {
        args.windows(seq.len())
            .position(|w| w.iter().zip(seq).all(|(a, b)| a == OsStr::new(b)))
    }

    #[test]
    fn the_command_line_shows_the_code_read_only_and_hides_paiges_files() {
        let dir = tempfile::tempdir().unwrap();
        let cwd = std::fs::canonicalize(dir.path()).unwrap();
        let data = cwd.join("paige-data");
        std::fs::create_dir(&data).unwrap();
        let code = cwd.join("tree");
        std::fs::create_dir(&code).unwrap();
        let hidden = vec![data.clone()];
        let args = [OsString::from("app.js")];
        let spec = Spec {
            program: OsStr::new("node"),
            args: &args,
            code: Some(&code),
            cwd: Cwd::Host(&cwd),
            user: Some((200_001, 200_001)),
            hidden: &hidden,
            tmpfs_bytes: 1 << 20,
        };
        let argv = spec.args(fds(), &[7]).unwrap();
        let s = |p: &Path| p.to_str().unwrap().to_owned();
        assert!(
            position(&argv, &["--ro-bind", &s(&code), CODE_DIR]).is_some(),
            "{argv:?}"
        );
        let bind = position(&argv, &["--ro-bind", &s(&cwd), &s(&cwd)]).unwrap();
        let mask = position(&argv, &["--tmpfs", &s(&data)]).unwrap();
        assert!(mask > bind, "the mask goes over the bind: {argv:?}");
        assert!(position(&argv, &["--size", "1048576", "--tmpfs", "/tmp"]).is_some());
        assert!(position(&argv, &["--ro-bind-data", "13", "/etc/passwd"]).is_some());
        assert!(position(&argv, &["--info-fd", "11", "--block-fd", "12"]).is_some());
        assert!(position(&argv, &["--chdir", &s(&cwd)]).is_some());
        // Root: no user namespace; setpriv switches users in front of the bot,
        // after the shell that closes the inherited descriptor 7.
        assert!(position(&argv, &["--unshare-user"]).is_none());
        let shell = position(
            &argv,
            &[
                "/bin/sh",
                "-c",
                "exec 7<&-; exec /usr/bin/env -u PWD -u OLDPWD -u SHLVL -u _ \"$@\"",
                "sh",
            ],
        )
        .unwrap();
        let setpriv = position(&argv, &["/usr/bin/setpriv", "--reuid=200001", "--regid=200001"]).unwrap();
        assert!(shell < setpriv);
        assert_eq!(&argv[argv.len() - 3..], ["--", "node", "app.js"]);

        // Started inside paige's files: refused.
        let inside = Spec {
            cwd: Cwd::Host(&data),
            ..spec.clone()
        };
        let err = inside.args(fds(), &[]).unwrap_err();
        assert!(err.to_string().contains("inside paige's own files"), "{err}");

        // Without root: a user namespace, no setpriv, a two-digit descriptor
        // closed by bash.
        let own = Spec {
            user: None,
            cwd: Cwd::Code,
            ..spec
        };
        let argv = own.args(fds(), &[12]).unwrap();
        assert!(position(&argv, &["--unshare-user", "--disable-userns"]).is_some());
        assert!(position(&argv, &["/usr/bin/setpriv"]).is_none());
        assert!(
            position(
                &argv,
                &[
                    "/bin/bash",
                    "-c",
                    "exec 12<&-; exec /usr/bin/env -u PWD -u OLDPWD -u SHLVL -u _ \"$@\"",
                    "sh"
                ]
            )
            .is_some()
        );
        assert!(position(&argv, &["--chdir", CODE_DIR]).is_some());
        assert!(position(&argv, &["--ro-bind", &s(&cwd), &s(&cwd)]).is_none());
    }
}
