//! The bot runtime (SPEC §4): executions with injected secrets, a clean
//! environment, limits and masked logs, and the bot code they run. Every
//! test runs real Node.js processes against a real SQLite file.

mod code;
mod guard;
mod guard_fix;
mod handoff;
mod isolation;
mod jail;
mod leak;
mod limits;
mod masking;
mod record;
mod redactors;
mod sandbox;
mod slots;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use paige::runtime::{ExecutionRecord, ExecutionRequest, Limits, StoredExecution, Stream, Trigger};

use crate::common::{Env, actor};

/// A bot of `tests/fixtures/bots` (in a copy every bot user can read).
pub fn bot(name: &str) -> PathBuf {
    crate::common::fixtures().join("bots").join(name)
}

/// `node <bot>/app.js` for `event`, with the default limits, in the bot's
/// directory (so the sandbox shows it, read-only, as `paige run` would).
pub fn node_request(name: &str, event: serde_json::Value) -> ExecutionRequest {
    ExecutionRequest {
        command: Some(vec!["node".to_owned(), bot(name).join("app.js").display().to_string()]),
        workdir: Some(bot(name)),
        event,
        trigger: Trigger::Test,
        actor: actor(),
        limits: Limits::default(),
        cancel: None,
    }
}

/// Runs a request to its end without a live callback.
pub async fn run(env: &Env, slug: &str, request: ExecutionRequest) -> ExecutionRecord {
    env.paige.execute(slug, request, None).await.unwrap()
}

/// The stored execution and its whole log.
pub async fn stored(env: &Env, slug: &str, id: i64) -> StoredExecution {
    env.paige.execution(slug, id).await.unwrap()
}

/// The stored log as text: one `stream: line` per line.
pub fn log_text(execution: &StoredExecution) -> String {
    execution
        .log
        .iter()
        .map(|l| format!("{}: {}\n", l.stream, l.text))
        .collect()
}

/// Lines of one stream of the stored log.
pub fn lines_of(execution: &StoredExecution, stream: Stream) -> Vec<&str> {
    execution
        .log
        .iter()
        .filter(|l| l.stream == stream)
        .map(|l| l.text.as_str())
        .collect()
}

/// True once no live process has this pid (a zombie waiting for its
/// reaper counts as gone). Polls for up to `within`.
pub fn process_gone(pid: u32, within: Duration) -> bool {
    let deadline = std::time::Instant::now() + within;
    loop {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return true,
            Ok(stat) => {
                // The state follows the parenthesised command name.
                let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start().chars().next());
                if matches!(state, Some(Some('Z' | 'X'))) {
                    return true;
                }
            }
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A test and a bot waiting for each other over loopback (the sandbox
/// shows a bot no file the test could write): the bot connects to
/// [`Rendezvous::port`] and sends its pid (as it sees it) when ready, then
/// waits for [`Rendezvous::go`]. See `hold` in the fixture bots.
pub struct Rendezvous {
    listener: tokio::net::TcpListener,
    peer: Option<tokio::net::TcpStream>,
}

impl Rendezvous {
    pub async fn new() -> Self {
        Self {
            listener: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
            peer: None,
        }
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().unwrap().port()
    }

    /// Waits (20 s at most) for the bot; returns the pid it sent.
    pub async fn ready(&mut self) -> u32 {
        use tokio::io::AsyncReadExt;
        let wait = async {
            let (mut peer, _) = self.listener.accept().await.unwrap();
            let mut line = Vec::new();
            let mut byte = [0u8; 1];
            while peer.read(&mut byte).await.unwrap() == 1 && byte[0] != b'\n' {
                line.push(byte[0]);
            }
            (peer, String::from_utf8(line).unwrap())
        };
        let (peer, pid) = tokio::time::timeout(Duration::from_secs(20), wait)
            .await
            .expect("the bot never became ready");
        self.peer = Some(peer);
        pid.trim().parse().unwrap()
    }

    /// Lets the bot go on.
    pub async fn go(&mut self) {
        use tokio::io::AsyncWriteExt;
        let mut peer = self.peer.take().expect("go before ready");
        peer.write_all(b"go\n").await.unwrap();
        peer.flush().await.unwrap();
    }
}

/// A shell script that leaves behind a fork-and-exit chain (a new pid
/// every 50 ms), a `setsid` child and a double-forked daemon, all with
/// `marker` on their command lines, then runs `then`.
pub fn escapes(marker: &str, then: &str) -> String {
    format!(
        ": {marker}; \
         hop() {{ sleep 0.05; hop & }}; hop; \
         setsid /bin/sh -c ': {marker}; while :; do sleep 1; done' & \
         ( ( while :; do sleep 1; done ) & ) & \
         sleep 0.3; echo started; {then}"
    )
}

/// A marker no other test uses.
pub fn unique() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// Live host processes whose command line contains `marker`.
pub fn host_processes_with(marker: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline"))
            && crate::common::contains(&cmdline, marker.as_bytes())
            && !process_gone(pid, Duration::ZERO)
        {
            found.push(pid);
        }
    }
    found
}

/// Waits up to `within` for no live host process to carry `marker`.
pub fn all_gone(marker: &str, within: Duration) -> Vec<u32> {
    let deadline = Instant::now() + within;
    loop {
        let left = host_processes_with(marker);
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
