//! Time and output limits, exit codes, signals, and bots that cannot start.

use std::time::{Duration, Instant};

use paige::runtime::{ExecutionRequest, ExecutionStatus, Stream};

use super::{lines_of, log_text, node_request, run, stored};
use crate::common::{Env, actor, stderr, stdout};

fn grandchild_pid(lines: &[&str]) -> u32 {
    lines
        .iter()
        .find_map(|l| l.strip_prefix("grandchild "))
        .unwrap_or_else(|| panic!("no grandchild pid in {lines:?}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn past_the_time_limit_the_whole_process_group_is_killed() {
    let env = Env::sqlite().await;
    env.project("slow").await;
    let marker = super::unique();
    let mut request = node_request("grandchild", serde_json::json!({"hang": true, "marker": marker}));
    request.limits.time = Duration::from_millis(1500);
    let started = Instant::now();
    let record = run(&env, "slow", request).await;
    let took = started.elapsed();
    assert_eq!(record.status, ExecutionStatus::TimedOut, "{record:?}");
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_secs(10),
        "{took:?}"
    );
    assert_eq!(record.signal, Some(9));
    assert!(
        record.error.as_deref().unwrap().contains("time limit of 1500 ms"),
        "{record:?}"
    );
    let execution = stored(&env, "slow", record.id).await;
    let out = lines_of(&execution, Stream::Stdout);
    assert!(out.contains(&"still here"), "{out:?}");
    let system = lines_of(&execution, Stream::System);
    assert!(system.iter().any(|l| l.contains("time limit")), "{system:?}");
    // The grandchild shared the bot's sandbox and its pipes: it is gone.
    grandchild_pid(&out);
    let left = super::all_gone(&marker, Duration::from_secs(5));
    assert!(left.is_empty(), "the grandchild survived: {left:?}");
}

#[tokio::test]
async fn what_a_bot_leaves_running_is_killed_when_it_exits() {
    let env = Env::sqlite().await;
    env.project("leaver").await;
    let started = Instant::now();
    let marker = super::unique();
    let record = run(
        &env,
        "leaver",
        node_request("grandchild", serde_json::json!({"marker": marker})),
    )
    .await;
    assert_eq!(record.status, ExecutionStatus::Succeeded, "{record:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    let execution = stored(&env, "leaver", record.id).await;
    grandchild_pid(&lines_of(&execution, Stream::Stdout));
    let left = super::all_gone(&marker, Duration::from_secs(5));
    assert!(left.is_empty(), "the grandchild survived: {left:?}");
}

#[tokio::test]
async fn output_past_the_limit_is_discarded_with_a_note() {
    let env = Env::sqlite().await;
    env.project("chatty").await;
    let mut request = node_request("chatty", serde_json::json!({"bytes": 3 * 1024 * 1024}));
    request.limits.output_bytes = 64 * 1024;
    let record = run(&env, "chatty", request).await;
    assert_eq!(record.status, ExecutionStatus::Succeeded, "{record:?}");
    assert!(record.truncated);
    assert_eq!(record.output_bytes, 64 * 1024);
    let execution = stored(&env, "chatty", record.id).await;
    assert_eq!(execution.record, record);
    let out = lines_of(&execution, Stream::Stdout);
    let stored_bytes: usize = out.iter().map(|l| l.len() + 1).sum();
    assert!(stored_bytes <= 64 * 1024 + 1, "{stored_bytes}");
    assert!(out.len() >= 655, "{}", out.len());
    let last = execution.log.last().unwrap();
    assert_eq!(last.stream, Stream::System);
    assert!(last.text.contains("output limit of 65536 bytes"), "{}", last.text);

    // The default limit is 1 MiB.
    let record = run(
        &env,
        "chatty",
        node_request("chatty", serde_json::json!({"bytes": 1_100_000})),
    )
    .await;
    assert!(record.truncated);
    assert_eq!(record.output_bytes, 1024 * 1024);
    // And output under it is kept whole.
    let record = run(
        &env,
        "chatty",
        node_request("chatty", serde_json::json!({"bytes": 500_000})),
    )
    .await;
    assert!(!record.truncated);
    assert_eq!(record.output_bytes, 500_000);
    assert_eq!(stored(&env, "chatty", record.id).await.log.len(), 5000);
}

#[tokio::test]
async fn a_non_zero_exit_is_a_failed_execution_and_paige_run_exits_with_it() {
    let env = Env::sqlite().await;
    env.project("sad").await;
    let out = env.cli(
        &[
            "run",
            "sad",
            "--",
            "node",
            "-e",
            "console.log('bye'); console.error('oops'); process.exit(3)",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(stdout(&out), "bye\n");
    assert!(stderr(&out).contains("oops\n"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("failed: the bot exited with code 3"),
        "{}",
        stderr(&out)
    );
    let page = paige::model::Page {
        before_id: None,
        limit: 1,
    };
    let record = env.paige.list_executions("sad", page).await.unwrap().remove(0);
    assert_eq!(record.status, ExecutionStatus::Failed);
    assert_eq!(record.exit_code, Some(3));
    assert_eq!(record.signal, None);
    assert_eq!(record.error.as_deref(), Some("the bot exited with code 3"));
    let execution = stored(&env, "sad", record.id).await;
    assert_eq!(log_text(&execution), "stdout: bye\nstderr: oops\n");

    // And a zero exit is a success, with exit code 0.
    let out = env.cli(&["run", "sad", "--", "/bin/true"], b"");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
}

#[tokio::test]
async fn a_bot_killed_by_a_signal_is_failed_with_the_signal() {
    let env = Env::sqlite().await;
    env.project("killed").await;
    let out = env.cli(
        &[
            "run",
            "killed",
            "--",
            "node",
            "-e",
            "console.log('going'); process.kill(process.pid, 'SIGKILL')",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(128 + 9), "{}", stderr(&out));
    assert_eq!(stdout(&out), "going\n");
    let page = paige::model::Page {
        before_id: None,
        limit: 1,
    };
    let record = env.paige.list_executions("killed", page).await.unwrap().remove(0);
    assert_eq!(record.status, ExecutionStatus::Failed);
    assert_eq!((record.exit_code, record.signal), (None, Some(9)));
    assert!(
        record.error.as_deref().unwrap().contains("signal 9 (SIGKILL)"),
        "{record:?}"
    );
    // What it printed before it died is kept.
    let execution = stored(&env, "killed", record.id).await;
    assert_eq!(lines_of(&execution, Stream::Stdout), vec!["going"]);

    let request = ExecutionRequest {
        command: Some(vec!["sh".into(), "-c".into(), "kill -s TERM $$".into()]),
        ..node_request("env", serde_json::json!({}))
    };
    let record = run(&env, "killed", request).await;
    assert_eq!((record.status, record.signal), (ExecutionStatus::Failed, Some(15)));
}

#[tokio::test]
async fn a_missing_entry_point_is_a_clear_error_not_a_panic() {
    let env = Env::sqlite().await;
    env.project("empty").await;
    env.set("empty", "SOME_KEY", "some-value-1234").await;
    let request = ExecutionRequest::entry_point(serde_json::json!({}), paige::runtime::Trigger::Api, actor());
    let record = run(&env, "empty", request).await;
    assert_eq!(record.status, ExecutionStatus::Failed);
    let error = record.error.clone().unwrap();
    assert!(error.contains("no entry point: app.js is missing"), "{error}");
    assert!(error.contains("paige code push empty"), "{error}");
    // No process ran, so no secret was handed out.
    assert!(record.secret_names.is_empty());
    let execution = stored(&env, "empty", record.id).await;
    assert_eq!(execution.record, record);
    assert_eq!(lines_of(&execution, Stream::System), vec![error.as_str()]);

    // Code without app.js is no better.
    let dir = env.dir.path().join("no-entry");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("index.js"), "console.log('wrong name')").unwrap();
    env.paige.push_code("empty", &dir, &actor()).await.unwrap();
    let out = env.cli(&["run", "empty"], b"");
    assert_eq!(out.status.code(), Some(127));
    assert!(stderr(&out).contains("app.js is missing"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));

    // A command that does not exist.
    let out = env.cli(&["run", "empty", "--", "no-such-program-anywhere"], b"");
    assert_eq!(out.status.code(), Some(127));
    assert!(
        stderr(&out).contains("cannot start `no-such-program-anywhere`: No such file or directory"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("panicked"));

    // An unknown project is an error, not an execution.
    let out = env.cli(&["run", "nope", "--", "/bin/true"], b"");
    assert_eq!(out.status.code(), Some(4), "the not-found class");
    assert!(stderr(&out).contains("project nope not found"), "{}", stderr(&out));
    // A bad event file is refused before anything runs.
    let event = env.dir.path().join("bad.json");
    std::fs::write(&event, "{not json").unwrap();
    let out = env.cli(
        &["run", "empty", "--event", event.to_str().unwrap(), "--", "/bin/true"],
        b"",
    );
    assert_eq!(out.status.code(), Some(2), "the usage class");
    assert!(stderr(&out).contains("is not valid JSON"), "{}", stderr(&out));
}

#[tokio::test]
async fn the_log_is_stored_while_the_bot_runs() {
    let env = Env::sqlite().await;
    env.project("talker").await;
    let mut rendezvous = super::Rendezvous::new().await;
    let paige = env.paige.clone();
    let event = serde_json::json!({"port": rendezvous.port()});
    let running = tokio::spawn(async move { paige.execute("talker", node_request("talker", event), None).await });
    let deadline = Instant::now() + Duration::from_secs(20);
    rendezvous.ready().await;
    // While it waits, its record is `running` and its first line is stored.
    let page = paige::model::Page {
        before_id: None,
        limit: 1,
    };
    let record = env.paige.list_executions("talker", page).await.unwrap().remove(0);
    assert_eq!(record.status, ExecutionStatus::Running);
    assert_eq!(record.finished_at, None);
    let mut stored_lines = Vec::new();
    while stored_lines.is_empty() {
        assert!(
            Instant::now() < deadline,
            "the first line was not stored while the bot ran"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        stored_lines = env.paige.execution_log("talker", record.id, None, 10).await.unwrap();
    }
    assert_eq!(stored_lines[0].text, "first line, before waiting");
    assert_eq!(stored_lines[0].stream, Stream::Stdout);
    rendezvous.go().await;
    let done = running.await.unwrap().unwrap();
    assert_eq!(done.id, record.id);
    assert_eq!(done.status, ExecutionStatus::Succeeded);
    let rest = env.paige.execution_log("talker", record.id, Some(0), 10).await.unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!((rest[0].seq, rest[0].text.as_str()), (1, "second line, after waiting"));
    assert!(rest[0].at >= stored_lines[0].at);
}

#[tokio::test]
async fn extreme_limits_are_handled() {
    let env = Env::sqlite().await;
    env.project("edge").await;
    let mut request = ExecutionRequest {
        command: Some(vec!["sh".into(), "-c".into(), "echo hello".into()]),
        ..node_request("env", serde_json::json!({}))
    };
    request.limits.time = Duration::MAX;
    let record = run(&env, "edge", request.clone()).await;
    assert_eq!(record.status, ExecutionStatus::Succeeded, "{record:?}");
    assert_eq!(record.output_bytes, 6);

    request.limits.output_bytes = 0;
    let record = run(&env, "edge", request).await;
    assert_eq!(record.status, ExecutionStatus::Succeeded, "{record:?}");
    assert!(record.truncated);
    let execution = stored(&env, "edge", record.id).await;
    assert!(lines_of(&execution, Stream::Stdout).is_empty());
    assert!(lines_of(&execution, Stream::System)[0].contains("output limit of 0 bytes"));
}

#[tokio::test]
async fn ctrl_c_on_paige_run_stops_the_bot_and_records_it() {
    use std::io::{BufRead, BufReader};
    let env = Env::sqlite().await;
    env.project("endless").await;
    let marker = super::unique();
    let script =
        format!("/* {marker} */ console.log(`pid ${{process.pid}}`); setInterval(() => console.log('tick'), 50)");
    let mut child = env
        .command(&["run", "endless", "--", "node", "-e", &script])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let _bot_pid: u32 = first.trim().strip_prefix("pid ").unwrap().parse().unwrap();
    assert!(
        !super::host_processes_with(&marker).is_empty(),
        "the bot is not running"
    );
    let mut tick = String::new();
    out.read_line(&mut tick).unwrap();
    assert_eq!(tick, "tick\n");
    // What a terminal's Ctrl-C does: SIGINT to paige (the bot is in its own group).
    let paige_pid = rustix::process::Pid::from_raw(i32::try_from(child.id()).unwrap()).unwrap();
    rustix::process::kill_process(paige_pid, rustix::process::Signal::INT).unwrap();
    let started = Instant::now();
    let status = child.wait().unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(status.code(), Some(130));
    let left = super::all_gone(&marker, Duration::from_secs(5));
    assert!(left.is_empty(), "the bot survived: {left:?}");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains("the execution was cancelled"), "{err}");
    let page = paige::model::Page {
        before_id: None,
        limit: 1,
    };
    let record = env.paige.list_executions("endless", page).await.unwrap().remove(0);
    assert_eq!(record.status, ExecutionStatus::Failed);
    assert!(record.error.unwrap().contains("cancelled"));
}

#[tokio::test]
async fn paige_run_also_kills_what_left_the_process_group() {
    let env = Env::sqlite().await;
    env.project("escape").await;
    // `detached: true` puts the grandchild in a new session and group; the
    // sandbox's PID namespace takes it along all the same.
    let marker = super::unique();
    let script = format!(
        "const c = require('child_process').spawn(process.execPath, ['-e', 'setTimeout(() => {{}}, 300000)', '{marker}'], \
         {{detached: true, stdio: 'ignore'}}); console.log(`escaped ${{c.pid}}`); c.unref();"
    );
    let out = env.cli(&["run", "escape", "--", "node", "-e", &script], b"");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let _pid: u32 = stdout(&out).trim().strip_prefix("escaped ").unwrap().parse().unwrap();
    let left = super::all_gone(&marker, Duration::from_secs(5));
    assert!(left.is_empty(), "the detached grandchild escaped: {left:?}");
}
