//! `paige run` handed to the `paige serve` of its data dir (`cli/run_socket`):
//! the same output, exit code, masking and record as a run of its own;
//! stopped by Ctrl-C, by its client's death and by the server's shutdown;
//! not handed to a server that runs bots differently; and the socket
//! serves no other user.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use paige::model::Page;
use paige::runtime::{ExecutionRecord, ExecutionStatus};

use crate::common::{Env, ServeProcess, both_backends, cli_actor, contains, fixtures, stderr, stdout};

const TOKEN: &str = "tok-handoff-5b1f0c2e9d7a";
/// What `paige run` logs (`PAIGE_LOG=paige::cli::run=debug`) when the server took the run.
const HANDED: &str = "the local paige serve runs this execution";
const DEBUG: &[(&str, &str)] = &[("PAIGE_LOG", "paige::cli::run=debug")];

/// A server on `env`, once it has said it takes `paige run`.
fn serve(env: &Env, vars: &[(&str, &str)], banner: &str) -> ServeProcess {
    let server = env.serve("serve.log", vars);
    server.wait_for_stdout(banner);
    server
}

/// The project's executions, newest first.
async fn executions(env: &Env, slug: &str) -> Vec<ExecutionRecord> {
    let page = Page {
        before_id: None,
        limit: 50,
    };
    env.paige.list_executions(slug, page).await.unwrap()
}

/// The newest execution once it has ended (the server records the end
/// after its client may have gone), waiting for it to be recorded at all.
async fn ended(env: &Env, slug: &str) -> ExecutionRecord {
    let started = Instant::now();
    loop {
        let newest = executions(env, slug).await.into_iter().next();
        if let Some(newest) = &newest
            && newest.status != ExecutionStatus::Running
        {
            return newest.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the execution never ended: {newest:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

both_backends!(a_local_server_runs_paige_run_with_the_same_result);

async fn a_local_server_runs_paige_run_with_the_same_result(env: Env) {
    env.project("bot").await;
    env.set("bot", "API_TOKEN", TOKEN).await;
    // The value plain and in base64, the working directory, an exit code.
    let script = r#"echo "$API_TOKEN"; printf %s "$API_TOKEN" | base64 >&2; pwd; exit 3"#;
    let runs: [&[&str]; 3] = [
        &["run", "bot", "--", "sh", "-c", script],
        &["run", "nope", "--", "true"],
        &["run", "bot", "--timeout", "0.3", "--", "sleep", "5"],
    ];
    let alone: Vec<Output> = runs.iter().map(|args| env.cli_with_env(args, b"", DEBUG)).collect();
    let mut server = serve(&env, &[], "Runs: `paige run` on this data dir is handed to this server");
    let socket = env.data_dir().join("run.sock");
    assert!(socket.exists());
    let served: Vec<Output> = runs.iter().map(|args| env.cli_with_env(args, b"", DEBUG)).collect();

    for out in &alone {
        assert!(!stderr(out).contains(HANDED), "{}", stderr(out));
    }
    for out in &served {
        assert!(stderr(out).contains(HANDED), "{}", stderr(out));
    }
    let workdir = fixtures().canonicalize().unwrap();
    for out in [&alone[0], &served[0]] {
        assert_eq!(out.status.code(), Some(3), "{}", stderr(out));
        assert_eq!(stdout(out), format!("[REDACTED:API_TOKEN]\n{}\n", workdir.display()));
        assert!(stderr(out).contains("[REDACTED:API_TOKEN]"), "{}", stderr(out));
        assert!(
            stderr(out).contains("failed: the bot exited with code 3"),
            "{}",
            stderr(out)
        );
    }
    for out in [&alone[1], &served[1]] {
        assert_eq!(out.status.code(), Some(4), "{}", stderr(out));
        assert!(
            stderr(out).ends_with("error: project nope not found\n"),
            "{}",
            stderr(out)
        );
    }
    for out in [&alone[2], &served[2]] {
        assert_eq!(out.status.code(), Some(124), "{}", stderr(out));
        assert!(stderr(out).contains("timed_out"), "{}", stderr(out));
    }
    // Recorded alike: two of each, newest first.
    let records = executions(&env, "bot").await;
    assert_eq!(records.len(), 4);
    let (served_records, alone_records) = records.split_at(2);
    for (a, b) in alone_records.iter().zip(served_records) {
        for record in [a, b] {
            assert_eq!(record.trigger, "manual");
            assert_eq!(record.actor, cli_actor());
            assert_eq!(record.secret_names, ["API_TOKEN"]);
        }
        assert_eq!((a.status, a.exit_code, &a.command), (b.status, b.exit_code, &b.command));
    }
    assert_eq!(served_records[1].command, ["sh", "-c", script]);
    assert_eq!(served_records[1].exit_code, Some(3));
    assert_eq!(served_records[0].status, ExecutionStatus::TimedOut);

    // Stopped, the server takes its socket along, and runs are their own again.
    server.terminate();
    server.child.wait().unwrap();
    assert!(!socket.exists(), "the run socket outlived its server");
    let after = env.cli_with_env(runs[0], b"", DEBUG);
    assert_eq!(after.status.code(), Some(3));
    assert!(!stderr(&after).contains(HANDED));

    // Never the value: not in any output, nor in the server's log.
    let log = std::fs::read(&server.log).unwrap();
    for (what, bytes) in alone
        .iter()
        .chain(&served)
        .flat_map(|out| [("stdout", &out.stdout), ("stderr", &out.stderr)])
        .chain([("server log", &log)])
    {
        assert!(!contains(bytes, TOKEN.as_bytes()), "the value is in a {what}");
    }
}

/// What the server says to a client of `uid` (0: root) that sends a
/// request without a fingerprint: its bytes until it closes (a reset
/// counts as closing).
fn answer_as(socket: &Path, uid: u32) -> Vec<u8> {
    use std::io::{Read, Write};
    let socket = socket.to_owned();
    std::thread::spawn(move || {
        if uid != 0 {
            // This thread only: the raw system call, not glibc's
            // process-wide setuid. The thread ends with the test's client.
            let uid = rustix::process::Uid::from_raw(uid);
            rustix::thread::set_thread_res_uid(uid, uid, uid).unwrap();
        }
        let mut stream = std::os::unix::net::UnixStream::connect(&socket).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = stream.write_all(b"{\"slug\":\"bot\"}\n");
        let mut got = Vec::new();
        if let Err(e) = stream.read_to_end(&mut got) {
            assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}");
        }
        got
    })
    .join()
    .unwrap()
}

/// `paige run -- node -e <ticking script>` with its output piped, once
/// the bot has printed its first tick; and the script's marker.
fn ticking_run(env: &Env, slug: &str) -> (std::process::Child, String) {
    let marker = super::unique();
    let script = format!("/* {marker} */ console.log('tick'); setInterval(() => console.log('tick'), 50)");
    let mut child = env
        .command(&["run", slug, "--timeout", "60", "--", "node", "-e", &script])
        .envs(DEBUG.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    assert_eq!(first, "tick\n");
    assert!(
        !super::host_processes_with(&marker).is_empty(),
        "the bot is not running"
    );
    // Keep reading, so the bot never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    (child, marker)
}

fn stderr_of(child: &mut std::process::Child) -> String {
    let mut text = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut text).unwrap();
    text
}

#[tokio::test]
async fn a_handed_off_run_stops_on_ctrl_c_with_its_client_and_with_the_server() {
    let env = Env::sqlite().await;
    env.project("endless").await;
    let mut server = serve(&env, &[], "Runs: `paige run`");

    // Ctrl-C: SIGINT to `paige run`, which asks the server to stop.
    let (mut child, marker) = ticking_run(&env, "endless");
    let pid = rustix::process::Pid::from_raw(i32::try_from(child.id()).unwrap()).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(130));
    let err = stderr_of(&mut child);
    assert!(
        err.contains(HANDED) && err.contains("the execution was cancelled"),
        "{err}"
    );
    assert!(
        super::all_gone(&marker, Duration::from_secs(5)).is_empty(),
        "the bot survived Ctrl-C"
    );
    let record = ended(&env, "endless").await;
    assert_eq!(record.status, ExecutionStatus::Failed);
    assert!(record.error.unwrap().contains("cancelled"));

    // `kill -9` of `paige run`: its connection closes, and its bot goes with it.
    let (mut child, marker) = ticking_run(&env, "endless");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        super::all_gone(&marker, Duration::from_secs(5)).is_empty(),
        "the bot outlived its client"
    );
    let record = ended(&env, "endless").await;
    assert_eq!(record.status, ExecutionStatus::Failed);
    assert!(record.error.unwrap().contains("cancelled"));

    // The server's shutdown stops the runs it holds and records them.
    let (mut child, marker) = ticking_run(&env, "endless");
    server.terminate();
    let status = child.wait().unwrap();
    assert!(!status.success());
    let err = stderr_of(&mut child);
    assert!(err.contains("the execution was cancelled"), "{err}");
    assert!(
        super::all_gone(&marker, Duration::from_secs(5)).is_empty(),
        "the bot outlived the server"
    );
    let stopping = Instant::now();
    while server.still_running() {
        assert!(stopping.elapsed() < Duration::from_secs(10), "paige serve did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
    let record = ended(&env, "endless").await;
    assert_eq!(record.status, ExecutionStatus::Failed);
    assert!(!env.data_dir().join("run.sock").exists());
}

#[tokio::test]
async fn only_a_server_that_runs_bots_alike_and_only_for_its_own_user() {
    let env = Env::sqlite().await;
    env.project("bot").await;
    // Other limits than `paige run`'s own: it runs the execution itself.
    let server = serve(&env, &[("PAIGE_BOT_MEMORY_MIB", "300")], "Runs: `paige run`");
    let out = env.cli_with_env(&["run", "bot", "--", "true"], b"", DEBUG);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the local server declined the run"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains(HANDED));
    assert_eq!(executions(&env, "bot").await.len(), 1);

    // A client of another uid is cut off before it is answered, even with
    // the data dir and the socket opened to it; root is answered (here
    // with a decline: no fingerprint).
    use std::os::unix::fs::PermissionsExt;
    let socket = env.data_dir().join("run.sock");
    for dir in env
        .data_dir()
        .ancestors()
        .take_while(|dir| *dir != std::env::temp_dir())
    {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711)).unwrap();
    }
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    assert!(answer_as(&socket, 0).starts_with(b"\0"), "root got no decline");
    // Closed unread: an end (or a reset) with nothing said.
    assert_eq!(answer_as(&socket, 65534), b"", "another user was answered");
    let log = std::fs::read_to_string(&server.log).unwrap();
    assert!(log.contains("refused a client of another user"), "{log}");
    assert_eq!(executions(&env, "bot").await.len(), 1);
}

#[tokio::test]
async fn a_stopped_server_fails_the_run_after_ten_seconds_and_runs_nothing() {
    let env = Env::sqlite().await;
    env.project("bot").await;
    let server = serve(&env, &[], "Runs: `paige run`");
    let pid = rustix::process::Pid::from_raw(i32::try_from(server.child.id()).unwrap()).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::STOP).unwrap();
    let started = Instant::now();
    let out = env.cli(&["run", "bot", "--", "true"], b"");
    let waited = started.elapsed();
    rustix::process::kill_process(pid, rustix::process::Signal::CONT).unwrap();
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("did not answer `paige run` within 10 s"),
        "{}",
        stderr(&out)
    );
    assert!(
        waited >= Duration::from_secs(10) && waited < Duration::from_secs(20),
        "{waited:?}"
    );
    // Woken up, the server finds its client gone: no execution at all.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(executions(&env, "bot").await.is_empty());
    // And it serves the next run as before.
    let out = env.cli_with_env(&["run", "bot", "--", "true"], b"", DEBUG);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains(HANDED), "{}", stderr(&out));
}

#[tokio::test]
async fn a_client_that_stops_reading_does_not_keep_the_server_up() {
    let env = Env::sqlite().await;
    env.project("loud").await;
    let mut server = serve(&env, &[], "Runs: `paige run`");
    // Its stdout never read: once the pipe and the socket are full, the
    // client stops reading what the server sends.
    let mut client = env
        .command(&[
            "run",
            "loud",
            "--max-output",
            "4000000",
            "--",
            "head",
            "-c",
            "3000000",
            "/dev/zero",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let record = ended(&env, "loud").await;
    assert_eq!(record.status, ExecutionStatus::Succeeded);
    assert_eq!(record.output_bytes, 3_000_000);
    server.terminate();
    let stopping = Instant::now();
    while server.still_running() {
        assert!(
            stopping.elapsed() < Duration::from_secs(15),
            "paige serve waits for a client that does not read"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    client.kill().unwrap();
    client.wait().unwrap();
}

/// The parent of process `pid`, if it lives.
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the parenthesised command name: state, then ppid.
    stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()
}

/// `pid` and every live process below it.
fn with_descendants(pid: u32) -> Vec<u32> {
    let all: Vec<u32> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
        .collect();
    let mut found = vec![pid];
    let mut at = 0;
    while at < found.len() {
        let parent = found[at];
        found.extend(all.iter().filter(|&&p| parent_of(p) == Some(parent)));
        at += 1;
    }
    found
}

/// The prepared sandboxes of the server `server`: its `bwrap` children
/// that wait to run `paige-start --stdin`, with their command lines.
fn prepared_of(server: u32) -> Vec<(u32, String)> {
    with_descendants(server)
        .into_iter()
        .filter(|&pid| parent_of(pid) == Some(server) && !super::process_gone(pid, Duration::ZERO))
        .filter_map(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            (cmdline.contains("/usr/bin/bwrap") && cmdline.contains(" --stdin")).then_some((pid, cmdline))
        })
        .collect()
}

/// Waits up to 10 s for `server`'s prepared sandboxes to be the ones
/// `expected` accepts.
fn prepared_when(server: u32, expected: impl Fn(&[(u32, String)]) -> bool) -> Vec<(u32, String)> {
    let started = Instant::now();
    loop {
        let prepared = prepared_of(server);
        if expected(&prepared) {
            return prepared;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the prepared sandboxes are not as expected: {prepared:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test]
async fn a_served_run_takes_the_sandbox_its_previous_run_prepared_with_nothing_secret_in_it() {
    const ROTATED: &str = "tok-handoff-rotated-77c1d93e";
    let env = Env::sqlite().await;
    env.project("bot").await;
    env.set("bot", "API_TOKEN", TOKEN).await;
    let event = env.dir.path().join("event.json");
    std::fs::write(&event, r#"{"hello": "world"}"#).unwrap();
    let event = event.to_str().unwrap().to_owned();
    // The value by its hash (which the redactor does not mask), the
    // execution's id, the user, the working directory, the event on stdin.
    let script =
        r#"printf %s "$API_TOKEN" | sha256sum | cut -c1-64; echo "execution $PAIGE_EXECUTION_ID"; id -u; pwd; cat"#;
    let args = ["run", "bot", "--event", &event, "--", "sh", "-c", script];
    let mut server = serve(&env, &[], "Runs: `paige run`");
    let server_pid = server.child.id();
    let hash = |value: &str| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(value.as_bytes()));
    let lines = |out: &Output| -> Vec<String> { stdout(out).lines().map(str::to_owned).collect() };

    // The first run starts its sandbox, and leaves none prepared: a
    // project run once may not run again soon.
    let first = env.cli_with_env(&args, b"", DEBUG);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert!(stderr(&first).contains(HANDED), "{}", stderr(&first));
    assert!(prepared_of(server_pid).is_empty(), "{:?}", prepared_of(server_pid));
    // The second within 30 s also starts its own, and leaves one for the next.
    let second = env.cli_with_env(&args, b"", DEBUG);
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    let waiting = prepared_when(server_pid, |p| p.len() == 1);
    let (waiting_pid, cmdline) = &waiting[0];
    let workdir = fixtures().canonicalize().unwrap();
    assert!(cmdline.contains(&format!("--chdir {}", workdir.display())), "{cmdline}");
    // Nothing of the project's secrets in it while it waits: not in the
    // environment of bwrap, its sandbox's init or paige-start, once
    // paige-start waits.
    let started = Instant::now();
    let in_sandbox = loop {
        let in_sandbox = with_descendants(*waiting_pid);
        let waits = in_sandbox.iter().any(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            cmdline.starts_with(b"/proc/self/fd/") && contains(&cmdline, b"--stdin")
        });
        if waits {
            break in_sandbox;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "paige-start never waited");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(in_sandbox.len() >= 3, "bwrap, its init, paige-start: {in_sandbox:?}");
    for pid in &in_sandbox {
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        assert!(!contains(&environ, b"API_TOKEN"), "a waiting process holds the secret");
    }

    // The value changes: the next run, in the prepared sandbox, has the new one.
    env.set("bot", "API_TOKEN", ROTATED).await;
    let third = env.cli_with_env(&args, b"", DEBUG);
    assert_eq!(third.status.code(), Some(0), "{}", stderr(&third));
    assert!(
        super::process_gone(*waiting_pid, Duration::from_secs(5)),
        "the prepared sandbox was not the one used"
    );
    let records = executions(&env, "bot").await;
    let project_id = env.paige.project("bot").await.unwrap().id;
    let uid = if rustix::process::geteuid().is_root() {
        u64::from(env.bot_uid_base()) + u64::try_from(project_id).unwrap()
    } else {
        u64::from(rustix::process::getuid().as_raw())
    };
    for (out, value, record) in [
        (&first, TOKEN, &records[2]),
        (&second, TOKEN, &records[1]),
        (&third, ROTATED, &records[0]),
    ] {
        assert_eq!(
            lines(out),
            [
                hash(value),
                format!("execution {}", record.id),
                uid.to_string(),
                workdir.display().to_string(),
                // The event, exactly: nothing of the command before it.
                r#"{"hello":"world"}"#.to_owned(),
            ],
            "{}",
            stderr(out)
        );
        assert_eq!(record.status, ExecutionStatus::Succeeded);
        assert_eq!(record.secret_names, ["API_TOKEN"]);
    }
    let next = prepared_when(server_pid, |p| p.len() == 1 && p[0].0 != *waiting_pid);

    // From another directory: another layout, started as before, and
    // the one prepared for the old layout is let go.
    let elsewhere = tempfile::tempdir().unwrap();
    let elsewhere_path = elsewhere.path().canonicalize().unwrap();
    let fourth = env.command(&args).current_dir(&elsewhere_path).output().unwrap();
    assert_eq!(fourth.status.code(), Some(0), "{}", stderr(&fourth));
    assert_eq!(lines(&fourth)[3], elsewhere_path.display().to_string());
    assert!(
        super::process_gone(next[0].0, Duration::from_secs(5)),
        "the old layout's sandbox stayed"
    );
    // Run again there: now that layout is in use, and has one prepared.
    let fifth = env.command(&args).current_dir(&elsewhere_path).output().unwrap();
    assert_eq!(fifth.status.code(), Some(0), "{}", stderr(&fifth));
    let chdir = format!("--chdir {}", elsewhere_path.display());
    let last = prepared_when(server_pid, |p| p.len() == 1 && p[0].1.contains(&chdir));

    // The server's end takes the prepared sandbox with it.
    let in_sandbox = with_descendants(last[0].0);
    server.terminate();
    server.child.wait().unwrap();
    for pid in in_sandbox {
        assert!(
            super::process_gone(pid, Duration::from_secs(5)),
            "{pid} outlived the server"
        );
    }
    let log = std::fs::read(&server.log).unwrap();
    for (what, bytes) in [&first, &second, &third, &fourth, &fifth]
        .into_iter()
        .flat_map(|out| [("stdout", &out.stdout), ("stderr", &out.stderr)])
        .chain([("server log", &log)])
    {
        for value in [TOKEN, ROTATED] {
            assert!(!contains(bytes, value.as_bytes()), "a value is in a {what}");
        }
    }
}

/// The cgroup (its name) that process `pid` runs in: an execution's
/// `exec-…` group.
fn exec_group_of(pid: u32) -> String {
    let groups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    groups
        .lines()
        .filter_map(|line| line.rsplit('/').next())
        .find(|name| name.starts_with("exec-"))
        .unwrap_or_else(|| panic!("{pid} is in no execution's group: {groups}"))
        .to_owned()
}

/// `--prepared-idle-seconds` (here by its variable): a prepared sandbox
/// that no execution takes within that time is let go, its processes and
/// its group; a layout last run longer ago than that gets none prepared;
/// and 0 prepares none at all.
#[tokio::test]
async fn a_prepared_sandbox_waits_its_idle_time_then_goes_and_zero_prepares_none() {
    let env = Env::sqlite().await;
    env.project("bot").await;
    env.set("bot", "API_TOKEN", TOKEN).await;
    let args = ["run", "bot", "--", "true"];
    let run = || {
        let out = env.cli_with_env(&args, b"", DEBUG);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(stderr(&out).contains(HANDED), "{}", stderr(&out));
    };

    let mut server = serve(&env, &[("PAIGE_PREPARED_IDLE_SECONDS", "3")], "Runs: `paige run`");
    let server_pid = server.child.id();
    run();
    run();
    let waiting = prepared_when(server_pid, |p| p.len() == 1);
    let seen = Instant::now();
    let in_sandbox = with_descendants(waiting[0].0);
    let group = exec_group_of(waiting[0].0);
    for pid in &in_sandbox {
        assert!(
            super::process_gone(*pid, Duration::from_secs(15)),
            "{pid} of the prepared sandbox outlived its idle time"
        );
    }
    let waited = seen.elapsed();
    assert!(
        waited >= Duration::from_secs(1),
        "let go after {waited:?}, before its idle time of 3 s"
    );
    let started = Instant::now();
    while !super::record::groups_named(Path::new("/sys/fs/cgroup"), &group, 6).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the let-go sandbox's group {group} stayed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The layout's last run is older than the idle time: the next run
    // starts its own sandbox and leaves none behind.
    run();
    std::thread::sleep(Duration::from_millis(500));
    assert!(prepared_of(server_pid).is_empty(), "{:?}", prepared_of(server_pid));
    server.terminate();
    server.child.wait().unwrap();

    let mut zero = env.serve("serve-zero.log", &[("PAIGE_PREPARED_IDLE_SECONDS", "0")]);
    zero.wait_for_stdout("Runs: `paige run`");
    let zero_pid = zero.child.id();
    for _ in 0..3 {
        run();
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(prepared_of(zero_pid).is_empty(), "{:?}", prepared_of(zero_pid));
    zero.terminate();
    zero.child.wait().unwrap();
}
