//! The execution's opening and closing records, written without waiting
//! for the disk (`store::relaxed`): a `kill -9` of `paige run` right after
//! the bot started leaves the record and its audit record, which the sweep
//! of abandoned executions then fails; a `kill -9` of `paige serve` right
//! after it answered a handed-off run leaves the run's end recorded; and a
//! secret written after it is durable as ever (the writer connection is
//! back to a full sync: see the unit tests of `store::relaxed`).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use paige::model::Page;
use paige::runtime::ExecutionStatus;

use crate::common::{Env, both_backends, stderr, stdout};

both_backends!(a_killed_paige_run_leaves_its_record_for_the_sweep);

async fn a_killed_paige_run_leaves_its_record_for_the_sweep(env: Env) {
    env.project("bot").await;
    env.set("bot", "API_TOKEN", "tok-0123456789abcdef").await;
    let mut run = env
        .command(&["run", "bot", "--timeout", "60", "--", "sleep", "30"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The bot starts once its record is there (bwrap waits for it, and
    // `sleep` runs for 30 s).
    let started = Instant::now();
    let record = loop {
        if let Some(record) = latest(&env).await.into_iter().next() {
            break record;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "no execution was recorded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // Killed with no chance to write anything more: the record is what the
    // relaxed commit left in the WAL (or the server's) before the spawn.
    let killed_pid = run.id();
    run.kill().unwrap();
    let exit = run.wait().unwrap();
    assert!(!exit.success(), "paige run must have been killed");

    let stored = env.paige.execution_record("bot", record.id).await.unwrap();
    assert_eq!(stored.status, ExecutionStatus::Running);
    assert_eq!(stored.command, ["sleep", "30"]);
    assert_eq!(stored.secret_names, ["API_TOKEN"]);
    let db = env.db().await;
    let audits: i64 = db
        .scalar(
            "SELECT COUNT(*) FROM audit_events WHERE action = 'execution.start' AND detail LIKE ?",
            &[format!("execution #{} %", record.id).as_str().into()],
        )
        .await;
    assert_eq!(audits, 1, "the audit record commits with the execution's");

    // The sweep fails it once its deadline has passed (60 s + the margin).
    let past_deadline = stored.started_at + 10 * 60 * 1_000;
    assert_eq!(
        env.paige
            .store()
            .fail_abandoned_executions(past_deadline)
            .await
            .unwrap(),
        1
    );
    let swept = env.paige.execution_record("bot", record.id).await.unwrap();
    assert_eq!(swept.status, ExecutionStatus::Failed);
    assert!(swept.error.unwrap().starts_with("interrupted:"));

    // A secret write afterwards is acknowledged as usual.
    env.set("bot", "AFTER", "value-after-the-kill").await;
    let resolved = env.paige.resolve("bot").await.unwrap();
    assert_eq!(resolved.names(), ["AFTER", "API_TOKEN"]);

    // The next paige that runs a bot leaves nothing of the killed one's
    // sandbox: no process in its execution groups, no group (bwrap, killed
    // with it while it started, can otherwise wait for ever).
    let next = env.cli(&["run", "bot", "--", "true"], b"");
    assert!(next.status.success(), "{}", crate::common::stderr(&next));
    let left = groups_named(Path::new("/sys/fs/cgroup"), &format!("paige-{killed_pid}"), 6);
    assert!(left.is_empty(), "the killed paige's groups are still there: {left:?}");
}

both_backends!(a_server_killed_right_after_its_answer_keeps_the_end_it_answered);

/// The closing record is committed before the handed-off run's answer
/// leaves the server, so a `kill -9` of the server the moment its client
/// has the answer loses nothing of it: not the status, the exit code, nor
/// the last log line.
async fn a_server_killed_right_after_its_answer_keeps_the_end_it_answered(env: Env) {
    env.project("bot").await;
    env.set("bot", "API_TOKEN", "tok-closing-0123456789").await;
    let mut server = env.serve("serve.log", &[]);
    server.wait_for_stdout("Runs: `paige run` on this data dir is handed to this server");
    let run = env.cli_with_env(
        &["run", "bot", "--", "sh", "-c", "echo last words; exit 7"],
        b"",
        &[("PAIGE_LOG", "paige::cli::run=debug")],
    );
    // At once: nothing more of the server's runs after the answer.
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    assert!(
        stderr(&run).contains("the local paige serve runs this execution"),
        "the run was not handed off: {}",
        stderr(&run)
    );
    assert_eq!(run.status.code(), Some(7), "{}", stderr(&run));
    assert!(stdout(&run).contains("last words"));

    let newest = latest(&env).await.into_iter().next().expect("the run is recorded");
    assert_eq!(newest.status, ExecutionStatus::Failed, "a non-zero exit: {newest:?}");
    assert_eq!(newest.exit_code, Some(7));
    assert!(newest.finished_at.is_some(), "{newest:?}");
    let log = env.paige.execution_log("bot", newest.id, None, 100).await.unwrap();
    assert!(
        log.iter().any(|line| line.text == "last words"),
        "the last log line is lost: {log:?}"
    );
}

/// The directories called `name` below `dir`, at most `depth` levels down.
pub(super) fn groups_named(dir: &Path, name: &str, depth: usize) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        if entry.file_name() == name {
            found.push(path);
        } else if depth > 0 {
            found.extend(groups_named(&path, name, depth - 1));
        }
    }
    found
}

both_backends!(a_failed_opening_record_runs_no_bot);

/// The opening record is written while the sandbox starts: `bwrap` waits
/// for the record's id before it acts on anything (`launch::LateEnv`).
/// When the record cannot be written, the bot never runs, nothing is
/// recorded, no `bwrap` is left waiting, and the store's error is the
/// answer. Once the store takes records again, the next execution runs.
async fn a_failed_opening_record_runs_no_bot(env: Env) {
    env.project("bot").await;
    env.set("bot", "API_KEY", "opening-value-0001").await;
    env.break_audit("execution.start").await;
    // A bot that runs says so on a TCP port of the host's (the sandbox
    // shares its network).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let request = || paige::runtime::ExecutionRequest {
        command: Some(vec![
            "node".into(),
            "-e".into(),
            format!("const s = require('net').connect({port}, '127.0.0.1', () => s.end('ran', () => s.destroy()))"),
        ]),
        ..super::node_request("env", serde_json::json!({}))
    };
    let error = env.paige.execute("bot", request(), None).await.unwrap_err();
    assert!(error.to_string().contains("injected failure"), "{error}");
    assert!(!error.to_string().contains("opening-value-0001"));
    // Time enough for a bot that was let go to connect.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(listener.accept().is_err(), "the bot ran");
    let recorded = latest(&env).await;
    assert!(recorded.is_empty(), "{recorded:?}");
    let marker = format!("connect({port},");
    assert_eq!(
        super::host_processes_with(&marker),
        Vec::<u32>::new(),
        "a bwrap was left waiting"
    );

    env.mend_audit("execution.start").await;
    let record = env.paige.execute("bot", request(), None).await.unwrap();
    assert_eq!(record.status, ExecutionStatus::Succeeded, "{record:?}");
    listener.set_nonblocking(false).unwrap();
    let (mut stream, _) = listener.accept().unwrap();
    let mut said = String::new();
    std::io::Read::read_to_string(&mut stream, &mut said).unwrap();
    assert_eq!(said, "ran");
}

/// The project `bot`'s last executions, newest first.
async fn latest(env: &Env) -> Vec<paige::runtime::ExecutionRecord> {
    let page = Page {
        before_id: None,
        limit: 10,
    };
    env.paige.list_executions("bot", page).await.unwrap()
}
