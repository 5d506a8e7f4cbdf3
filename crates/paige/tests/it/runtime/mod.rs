//! The bot runtime (SPEC §4): executions with injected secrets, a clean
//! environment, limits and masked logs, and the bot code they run. Every
//! test runs real Node.js processes against a real SQLite file.

mod code;
mod isolation;
mod jail;
mod leak;
mod limits;
mod sandbox;
mod slots;

use std::path::PathBuf;
use std::time::Duration;

use paige::runtime::{ExecutionRecord, ExecutionRequest, Limits, StoredExecution, Stream, Trigger};

use crate::common::{Env, actor};

/// A bot of `tests/fixtures/bots` (in a copy every bot user can read).
pub fn bot(name: &str) -> PathBuf {
    crate::common::fixtures().join("bots").join(name)
}

/// `node <bot>/app.js` for `event`, with the default limits.
pub fn node_request(name: &str, event: serde_json::Value) -> ExecutionRequest {
    ExecutionRequest {
        command: Some(vec!["node".to_owned(), bot(name).join("app.js").display().to_string()]),
        workdir: None,
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
