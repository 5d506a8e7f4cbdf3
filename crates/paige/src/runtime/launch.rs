//! Starting a `bwrap` sandbox ([`spawn`]) and letting its bot run once
//! the runtime has placed it under its limits ([`Launch::start`]): `bwrap`
//! writes its sandbox's host pid to an info pipe, then waits on a block
//! pipe before it starts the bot, so the bot's first instruction already
//! runs under its limits. Before all that, when asked ([`LateEnv`]), it
//! reads variables known only once it started, so finding them overlaps
//! its `exec`. What the sandbox holds is `bwrap.rs`'s.

use std::future::Future;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

use rustix::io::{FdFlags, fcntl_setfd};
use rustix::pipe::{PipeFlags, pipe_with};
use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};

use super::bwrap::{
    NSSWITCH, SetupFds, Spec, bwrap_path, group, inherited_fds, is_inheritable, open_etc_files, open_start, passwd,
};

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

/// Environment variables of the bot known only once its `bwrap` started:
/// `bwrap` reads them (as `--setenv` arguments, from a pipe) before it
/// acts on any argument, so its `exec` and start overlap with finding
/// them (an execution's id, from its opening record). `None` abandons the
/// start.
pub type LateEnv<'a> = Pin<Box<dyn Future<Output = Option<Vec<(&'static str, String)>>> + Send + 'a>>;

/// A started `bwrap`, waiting to run the bot until [`Launch::start`].
#[derive(Debug)]
pub struct Launch {
    pub child: Child,
    info: Option<OwnedFd>,
    block: Option<OwnedFd>,
    /// Where [`Launch::send_late_env`] writes, until it does.
    late_args: Option<OwnedFd>,
}

/// How long `bwrap` may take to report its sandbox.
const INFO_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts `bwrap` for `spec`. `configure` sets the rest (environment,
/// standard streams, process group) on the command; it must not add
/// descriptors. Call it on a thread that outlives the execution: `bwrap`
/// dies with the thread that started it (`--die-with-parent`), which is
/// what kills the sandbox if paige dies.
/// With `late_env`, `bwrap` waits for [`Launch::send_late_env`] first.
pub fn spawn(spec: &Spec<'_>, late_env: bool, configure: impl FnOnce(&mut Command)) -> io::Result<Launch> {
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
    let etc_files = open_etc_files();
    for (_, fd) in &etc_files {
        for_child(fd)?;
    }
    let etc_fds: Vec<(&'static str, i32)> = etc_files.iter().map(|(path, fd)| (*path, fd.as_raw_fd())).collect();
    let start = (spec.user.is_some() || spec.awaits_command)
        .then(open_start)
        .transpose()?;
    if let Some(fd) = &start {
        for_child(fd)?;
    }
    let late_args = if late_env {
        let (read, write) = pipe_with(PipeFlags::CLOEXEC)?;
        for_child(&read)?;
        Some((read, write))
    } else {
        None
    };
    let fds = SetupFds {
        info: info_write.as_raw_fd(),
        block: block_read.as_raw_fd(),
        late_args: late_args.as_ref().map(|(read, _)| read.as_raw_fd()),
        passwd: passwd.as_raw_fd(),
        group: group.as_raw_fd(),
        nsswitch: nsswitch.as_raw_fd(),
        etc_files: &etc_fds,
        start: start.as_ref().map(AsRawFd::as_raw_fd),
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
    let late_args = late_args.map(|(read, write)| {
        drop(read);
        write
    });
    drop((info_write, block_read, passwd, group, nsswitch, etc_files, start));
    Ok(Launch {
        child: child?,
        info: Some(info_read),
        block: Some(block_write),
        late_args,
    })
}

impl Launch {
    /// Hands `bwrap` the bot's late environment variables (see
    /// [`LateEnv`]) and lets it go on. Small: within the pipe's buffer.
    pub fn send_late_env(&mut self, vars: &[(&str, String)]) -> io::Result<()> {
        let Some(pipe) = self.late_args.take() else {
            return Ok(());
        };
        if vars
            .iter()
            .any(|(name, value)| name.contains('\0') || value.contains('\0'))
        {
            // It would end the argument early: what follows would be read
            // as another option of bwrap's.
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a late variable holds a NUL byte",
            ));
        }
        let mut args = Vec::new();
        for (name, value) in vars {
            for arg in ["--setenv", name, value] {
                args.extend_from_slice(arg.as_bytes());
                args.push(0);
            }
        }
        // A sandbox that died meanwhile closed its end: its stderr says why.
        let _ = std::fs::File::from(pipe).write_all(&args);
        Ok(())
    }

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
}
