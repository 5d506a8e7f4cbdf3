//! `paige logs --follow` shows a real bot's lines while it still prints,
//! and ends when it ends; `paige run --remote` exits with the bot's status.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::Stdio;
use std::time::Duration;

use super::{Remote, ok};
use crate::common::{fixtures, stderr};
use paige::model::{ExecutionStatus, Page};

#[tokio::test]
async fn logs_follow_shows_lines_while_the_bot_prints_and_ends_with_it() {
    let remote = Remote::start().await;
    remote.login();
    let code = fixtures().join("bots/talker");
    ok(&remote.cli(&["code", "push", "bot", code.to_str().unwrap()], b""));
    // The bot prints a line, then waits for our go on this port.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let event = remote.env.dir.path().join("event.json");
    std::fs::write(&event, format!("{{\"port\": {port}}}")).unwrap();
    let mut run = remote
        .env
        .command(&["run", "bot", "--remote", "--event", event.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (mut held, _) = listener.accept().unwrap();

    let mut logs = remote
        .env
        .command(&["logs", "bot", "--follow"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(logs.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert_eq!(first, "first line, before waiting");
    // Shown while the bot is still running (it waits for us).
    let page = Page {
        before_id: None,
        limit: 1,
    };
    let record = remote.env.paige.list_executions("bot", page).await.unwrap().remove(0);
    assert_eq!(record.status, ExecutionStatus::Running);
    assert!(logs.try_wait().unwrap().is_none(), "logs --follow ended early");

    held.write_all(b"go\n").unwrap();
    // Closed, so the bot's socket ends and the bot with it.
    drop(held);
    let second = lines.next().unwrap().unwrap();
    assert_eq!(second, "second line, after waiting");
    assert!(lines.next().is_none(), "nothing after the bot's lines");
    let status = wait(&mut logs);
    assert!(status.success(), "logs ended with the bot");
    let status = wait(&mut run);
    let mut out = String::new();
    std::io::Read::read_to_string(&mut run.stdout.take().unwrap(), &mut out).unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut run.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(0), "run --remote: {err}{out}");
    assert_eq!(out, "first line, before waiting\nsecond line, after waiting\n");
}

#[tokio::test]
async fn run_remote_exits_with_the_execution_status() {
    let remote = Remote::start().await;
    remote.login();
    let dir = remote.env.dir.path().join("failing");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("app.js"), "console.log('about to fail'); process.exit(7);\n").unwrap();
    ok(&remote.cli(&["code", "push", "bot", dir.to_str().unwrap()], b""));
    let out = remote.cli(&["run", "bot", "--remote"], b"");
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "about to fail\n");
    assert!(stderr(&out).contains("failed"), "{}", stderr(&out));
    // A command after -- runs only locally.
    let out = remote.cli(&["run", "bot", "--remote", "--", "/bin/true"], b"");
    assert_eq!(out.status.code(), Some(2));
}

/// Waits for a child, at most 60 s.
fn wait(child: &mut std::process::Child) -> std::process::ExitStatus {
    for _ in 0..600 {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    panic!("the command did not end");
}
