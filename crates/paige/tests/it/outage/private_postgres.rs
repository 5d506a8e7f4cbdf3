//! A PostgreSQL server of the test's own, which the test may stop and
//! start: `initdb` into a temporary directory, `pg_ctl` to run it.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use tempfile::TempDir;

/// A PostgreSQL server of its own in a temporary directory, on a free
/// loopback port, with its socket in that directory; it can be stopped and
/// started again on the same port. Dropping it stops it and removes it.
pub struct PrivatePostgres {
    bin: PathBuf,
    dir: TempDir,
    port: u16,
    /// PostgreSQL refuses to run as root: then `initdb` and `pg_ctl` run as
    /// this OS user (`postgres`), which owns the directory.
    run_as: Option<&'static str>,
}

impl PrivatePostgres {
    /// `initdb` and start a server. `Err` says why it cannot be done here
    /// (no server binaries, or root without a `postgres` user), for a skip.
    pub fn start() -> Result<Self, String> {
        let bin = server_bindir()?;
        let dir = tempfile::tempdir().unwrap();
        let run_as = if rustix::process::geteuid().is_root() {
            let (uid, gid) = os_user_ids("postgres").ok_or(
                "running as root, and there is no `postgres` OS user to run the server as (initdb refuses root)",
            )?;
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
            Some("postgres")
        } else {
            None
        };
        let mut pg = Self {
            bin,
            dir,
            port: 0,
            run_as,
        };
        let data = pg.data_dir();
        pg.run(
            pg.command("initdb").arg("-D").arg(&data).args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ]),
            "initdb",
        );
        // Settings go in the config file, so a restart keeps them. Durability
        // is not under test here: no fsync, small shared memory.
        let mut conf = OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .unwrap();
        writeln!(
            conf,
            "\n# paige outage test\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
             fsync = off\nfull_page_writes = off\nsynchronous_commit = off\nshared_buffers = 32MB\n\
             max_connections = 60",
            pg.dir.path().display()
        )
        .unwrap();
        // A free port, found by binding it; it could be taken before the
        // server binds it, so try a few.
        for attempt in 1..=3 {
            pg.port = free_port();
            writeln!(conf, "port = {}", pg.port).unwrap();
            conf.flush().unwrap();
            let out = pg.pg_ctl_start();
            if out.status.success() {
                return Ok(pg);
            }
            assert!(attempt < 3, "pg_ctl start failed three times: {}", pg.failure(&out));
        }
        unreachable!()
    }

    /// `postgres://postgres@127.0.0.1:<port>/<database>`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Stops the server ("fast": open sessions are ended, as on a restart),
    /// waiting until it is gone.
    pub fn stop(&self) {
        let mut command = self.command("pg_ctl");
        command.args(["stop", "-w", "-m", "fast", "-D"]).arg(self.data_dir());
        self.run(&mut command, "pg_ctl stop");
    }

    /// Starts the server again, on the same port, waiting until it accepts
    /// connections.
    pub fn restart(&self) {
        let out = self.pg_ctl_start();
        assert!(out.status.success(), "pg_ctl start failed: {}", self.failure(&out));
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log_file(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    fn pg_ctl_start(&self) -> Output {
        let mut command = self.command("pg_ctl");
        command
            .args(["start", "-w", "-t", "60", "-D"])
            .arg(self.data_dir())
            .arg("-l")
            .arg(self.log_file());
        command.output().unwrap()
    }

    /// A server program, as the user that owns the server.
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        let mut command = match self.run_as {
            Some(user) => {
                let mut command = Command::new("runuser");
                command.args(["-u", user, "--"]).arg(path);
                command
            }
            None => Command::new(path),
        };
        // A working directory the server's user may enter.
        command.current_dir(self.dir.path()).stdin(Stdio::null());
        command
    }

    fn run(&self, command: &mut Command, what: &str) {
        let out = command.output().unwrap();
        assert!(out.status.success(), "{what} failed: {}", self.failure(&out));
    }

    /// A failed command's output and the end of the server's log.
    fn failure(&self, out: &Output) -> String {
        let log = std::fs::read_to_string(self.log_file()).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(20).collect();
        format!(
            "{}\nstdout: {}\nstderr: {}\nserver log (last lines, newest first):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            tail.join("\n")
        )
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        // Immediate: the data is thrown away with the directory anyway.
        let mut command = self.command("pg_ctl");
        command
            .args(["stop", "-w", "-m", "immediate", "-D"])
            .arg(self.data_dir())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let _ = command.status();
    }
}

/// The directory holding `initdb` and `pg_ctl`: `PAIGE_TEST_PG_BINDIR`
/// (then it must have them), `pg_config --bindir`, the newest
/// `/usr/lib/postgresql/<major>/bin` (Debian, Ubuntu), or `PATH`.
fn server_bindir() -> Result<PathBuf, String> {
    let has_tools = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(dir) = std::env::var_os("PAIGE_TEST_PG_BINDIR").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        assert!(
            has_tools(&dir),
            "PAIGE_TEST_PG_BINDIR={} has no initdb and pg_ctl",
            dir.display()
        );
        return Ok(dir);
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if has_tools(&dir) {
            return Ok(dir);
        }
    }
    let mut debian: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let major = entry.file_name().to_str()?.parse().ok()?;
            Some((major, entry.path().join("bin")))
        })
        .filter(|(_, dir)| has_tools(dir))
        .collect();
    debian.sort();
    if let Some((_, dir)) = debian.pop() {
        return Ok(dir);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).find(|dir| has_tools(dir)).ok_or_else(|| {
        "no PostgreSQL server binaries (initdb, pg_ctl) found; install the server package or set \
             PAIGE_TEST_PG_BINDIR"
            .to_owned()
    })
}

/// The uid and gid of an OS user, if it exists.
fn os_user_ids(user: &str) -> Option<(u32, u32)> {
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id").args([flag, user]).output().ok()?;
        if !out.status.success() {
            return None;
        }
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    Some((id("-u")?, id("-g")?))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
