//! Bots run as their project's own Unix user: they cannot read paige's
//! files (master key, database), nor reach another project's bot or code,
//! and what leaves the process group is killed when the project's last
//! execution ends. Every test drives real Node.js bots through the
//! library (as `paige serve` does) or the real binary (`paige run`). They
//! need root, and skip with a note without it.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use paige::runtime::{ExecutionRecord, ExecutionRequest, ExecutionStatus, Stream, Trigger};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{bot, lines_of, log_text, process_gone, run, stored};
use crate::common::{Env, actor, stderr, stdout};

/// True when the tests can run: only root can start bots as other users.
fn as_root() -> bool {
    if rustix::process::geteuid().is_root() {
        return true;
    }
    eprintln!("skipped: bots run as per-project users only when paige is root, and these tests are not");
    false
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// A project whose code is the prober bot; returns its id.
async fn prober_project(env: &Env, slug: &str) -> i64 {
    env.project(slug).await;
    env.paige.push_code(slug, &bot("prober"), &actor()).await.unwrap();
    env.paige.project(slug).await.unwrap().id
}

fn entry_point(event: Value) -> ExecutionRequest {
    ExecutionRequest::entry_point(event, Trigger::Test, actor())
}

/// The prober's report: the one stdout line of a finished execution.
async fn report(env: &Env, slug: &str, record: &ExecutionRecord) -> Value {
    let execution = stored(env, slug, record.id).await;
    assert_eq!(record.status, ExecutionStatus::Succeeded, "{}", log_text(&execution));
    let out = lines_of(&execution, Stream::Stdout);
    assert_eq!(out.len(), 1, "{}", log_text(&execution));
    serde_json::from_str(out[0]).unwrap()
}

fn mode_of(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().mode() & 0o7777
}

/// Waits for a file the bot writes (its pid) and returns its contents.
async fn wait_for(path: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && !text.is_empty()
        {
            return text;
        }
        assert!(Instant::now() < deadline, "{} never appeared", path.display());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_bot_cannot_read_the_master_key_or_the_database_and_runs_as_its_projects_user() {
    if !as_root() {
        return;
    }
    let env = Env::sqlite().await;
    let id = prober_project(&env, "alpha").await;
    env.set("alpha", "OPENAI_API_KEY", "sk-proj-sandbox-0123456789abcdef")
        .await;
    let data = std::fs::canonicalize(env.data_dir()).unwrap();
    let key = data.join("master.key");
    let db = data.join("paige.db");
    let wal = data.join("paige.db-wal");
    assert!(
        key.exists() && db.exists() && wal.exists(),
        "the files to steal are there"
    );
    let own = "lib/own.txt";
    let own_bytes = std::fs::read(bot("prober").join(own)).unwrap();

    let event = json!({
        "read": [
            key, "../../../../master.key", db, wal, data.join("paige.db-shm"),
            "app.js", own,
        ],
        "list": [data, "../../../..", data.join("code"), "."],
        "write": ["$HOME/notes.txt", "$TMPDIR/scratch.txt", "app.js", "planted.js"],
        "remove": ["app.js", "../../current"],
        "secret": "OPENAI_API_KEY",
    });
    let record = run(&env, "alpha", entry_point(event)).await;
    let report = report(&env, "alpha", &record).await;

    // Its own user: uid and gid base + project id, no supplementary
    // groups, not root in any way.
    let expected = u64::from(env.bot_uid_base()) + u64::try_from(id).unwrap();
    assert_eq!(report["uid"], expected, "{report}");
    assert_eq!(report["euid"], expected);
    assert_eq!(report["gid"], expected);
    // The kernel's list of supplementary groups is empty (Node's
    // getgroups() adds the effective gid to what it shows).
    assert_eq!(report["status_groups"], "", "{report}");
    assert_eq!(report["groups"], json!([expected]), "{report}");

    // paige's files: refused, by absolute path and relative to its code.
    for path in [
        key.display().to_string(),
        "../../../../master.key".to_owned(),
        db.display().to_string(),
        wal.display().to_string(),
        data.join("paige.db-shm").display().to_string(),
    ] {
        assert_eq!(report["read"][&path], "EACCES", "{path}: {report}");
    }
    for path in [
        data.display().to_string(),
        "../../../..".to_owned(),
        data.join("code").display().to_string(),
    ] {
        assert_eq!(report["list"][&path], "EACCES", "{path}: {report}");
    }
    // No descriptor of paige's files was inherited either.
    for fd in report["fds"].as_array().unwrap() {
        let target = fd.as_str().unwrap();
        assert!(
            !target.starts_with(data.to_str().unwrap()),
            "inherited {target}: {report}"
        );
    }

    // Its own code: readable, not changeable; its home and TMPDIR: writable.
    assert_eq!(
        report["read"]["app.js"],
        format!(
            "ok:{}",
            sha256_hex(&std::fs::read(bot("prober").join("app.js")).unwrap())
        )
    );
    assert_eq!(report["read"][own], format!("ok:{}", sha256_hex(&own_bytes)));
    assert_eq!(report["list"]["."], "ok:2", "{report}");
    assert_eq!(report["write"]["$HOME/notes.txt"], "ok:written by the bot");
    assert_eq!(report["write"]["$TMPDIR/scratch.txt"], "ok:written by the bot");
    assert_eq!(report["write"]["app.js"], "EACCES", "{report}");
    assert_eq!(report["write"]["planted.js"], "EACCES", "{report}");
    assert_eq!(report["remove"]["app.js"], "EACCES", "{report}");
    assert_eq!(report["remove"]["../../current"], "EACCES", "{report}");
    // And it was given its secret.
    assert_eq!(report["secret_sha256"], sha256_hex(b"sk-proj-sandbox-0123456789abcdef"));

    // What the modes are afterwards (README, runtime/sandbox.rs).
    assert_eq!(mode_of(&data), 0o711);
    assert_eq!(mode_of(&key), 0o600);
    assert_eq!(mode_of(&db), 0o600);
    assert_eq!(mode_of(&wal), 0o600);
    assert_eq!(mode_of(&data.join("code")), 0o711);
    let project_dir = env.paige.code_dir(id);
    let meta = std::fs::metadata(&project_dir).unwrap();
    assert_eq!(
        (meta.uid(), u64::from(meta.gid()), meta.mode() & 0o7777),
        (0, expected, 0o750)
    );
    let tree = std::fs::canonicalize(project_dir.join("current")).unwrap();
    let app = std::fs::metadata(tree.join("app.js")).unwrap();
    assert_eq!(
        (app.uid(), u64::from(app.gid()), app.mode() & 0o777),
        (0, expected, 0o640)
    );
    assert_eq!(report["cwd"], tree.display().to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_cannot_read_another_running_projects_environment_or_code() {
    if !as_root() {
        return;
    }
    let env = Env::sqlite().await;
    let alpha = prober_project(&env, "alpha").await;
    let bravo = prober_project(&env, "bravo").await;
    let alpha_value = "alpha-only-value-5f0c1e9a27";
    let bravo_value = "bravo-only-value-83d6b2f41c";
    env.set("alpha", "SHARED_NAME", alpha_value).await;
    env.set("bravo", "SHARED_NAME", bravo_value).await;

    // Bravo's bot starts and waits, its secret in its environment.
    let ready = env.exchange_dir().join("bravo-ready");
    let go = env.exchange_dir().join("bravo-go");
    let paige = env.paige.clone();
    let hold = json!({"hold": {"ready": ready, "go": go}, "secret": "SHARED_NAME"});
    let bravo_run = tokio::spawn(async move { paige.execute("bravo", entry_point(hold), None).await.unwrap() });
    let bravo_pid: u32 = wait_for(&ready).await.trim().parse().unwrap();
    let bravo_tree = std::fs::canonicalize(env.paige.code_dir(bravo).join("current")).unwrap();
    // The test itself (root) can read it: the target is real.
    let environ = std::fs::read(format!("/proc/{bravo_pid}/environ")).unwrap();
    assert!(crate::common::contains(&environ, bravo_value.as_bytes()));

    let environ_path = format!("/proc/{bravo_pid}/environ");
    let mem_path = format!("/proc/{bravo_pid}/mem");
    let bravo_app = bravo_tree.join("app.js");
    let bravo_dir: PathBuf = env.paige.code_dir(bravo);
    let event = json!({
        "read": [environ_path, mem_path, bravo_app],
        "list": [bravo_dir, bravo_tree, format!("/proc/{bravo_pid}/fd")],
        "signal": [bravo_pid],
        "secret": "SHARED_NAME",
    });
    let alpha_record = run(&env, "alpha", entry_point(event)).await;
    let alpha_report = report(&env, "alpha", &alpha_record).await;
    std::fs::write(&go, "go").unwrap();
    let bravo_record = bravo_run.await.unwrap();
    let bravo_report = report(&env, "bravo", &bravo_record).await;

    assert_ne!(alpha_report["uid"], bravo_report["uid"]);
    assert_eq!(
        alpha_report["uid"],
        u64::from(env.bot_uid_base()) + u64::try_from(alpha).unwrap()
    );
    assert_eq!(alpha_report["read"][&environ_path], "EACCES", "{alpha_report}");
    assert_eq!(alpha_report["read"][&mem_path], "EACCES", "{alpha_report}");
    assert_eq!(
        alpha_report["read"][bravo_app.to_str().unwrap()],
        "EACCES",
        "{alpha_report}"
    );
    assert_eq!(
        alpha_report["list"][bravo_dir.to_str().unwrap()],
        "EACCES",
        "{alpha_report}"
    );
    assert_eq!(
        alpha_report["list"][bravo_tree.to_str().unwrap()],
        "EACCES",
        "{alpha_report}"
    );
    assert_eq!(
        alpha_report["list"][format!("/proc/{bravo_pid}/fd")],
        "EACCES",
        "{alpha_report}"
    );
    assert_eq!(alpha_report["signal"][bravo_pid.to_string()], "EPERM", "{alpha_report}");
    // Same name, each its own value; bravo's value is nowhere in alpha's log.
    assert_eq!(alpha_report["secret_sha256"], sha256_hex(alpha_value.as_bytes()));
    assert_eq!(bravo_report["secret_sha256"], sha256_hex(bravo_value.as_bytes()));
    let alpha_log = log_text(&stored(&env, "alpha", alpha_record.id).await);
    assert!(!alpha_log.contains(bravo_value), "{alpha_log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_leaves_the_process_group_is_killed_when_the_projects_last_execution_ends() {
    if !as_root() {
        return;
    }
    let env = Env::sqlite().await;
    prober_project(&env, "escape").await;

    // Alone: the escaped process is gone when the execution ends.
    let record = run(&env, "escape", entry_point(json!({"escape": true}))).await;
    let first = report(&env, "escape", &record).await;
    let pid = u32::try_from(first["escaped"].as_u64().unwrap()).unwrap();
    assert!(process_gone(pid, Duration::from_secs(5)), "process {pid} escaped");
    let log = log_text(&stored(&env, "escape", record.id).await);
    assert!(
        log.contains("system: killed 1 process(es) of the project's user"),
        "{log}"
    );

    // Beside another execution of the project: kept until that one ends
    // (it may be that one's own), then killed.
    let ready = env.exchange_dir().join("holder-ready");
    let go = env.exchange_dir().join("holder-go");
    let paige = env.paige.clone();
    let hold = json!({"hold": {"ready": ready, "go": go}});
    let holder = tokio::spawn(async move { paige.execute("escape", entry_point(hold), None).await.unwrap() });
    let holder_pid: u32 = wait_for(&ready).await.trim().parse().unwrap();
    let record = run(&env, "escape", entry_point(json!({"escape": true}))).await;
    let second = report(&env, "escape", &record).await;
    let pid = u32::try_from(second["escaped"].as_u64().unwrap()).unwrap();
    assert!(
        !process_gone(pid, Duration::from_millis(300)),
        "process {pid} was killed while another execution of its project ran"
    );
    assert!(
        !process_gone(holder_pid, Duration::from_millis(10)),
        "the holder was killed"
    );
    std::fs::write(&go, "go").unwrap();
    let holder = holder.await.unwrap();
    assert_eq!(holder.status, ExecutionStatus::Succeeded);
    assert!(process_gone(pid, Duration::from_secs(5)), "process {pid} escaped");
}

#[tokio::test]
async fn paige_run_starts_the_bot_as_its_projects_user_without_new_privileges() {
    if !as_root() {
        return;
    }
    let env = Env::sqlite().await;
    env.project("local").await;
    let id = env.paige.project("local").await.unwrap().id;
    let script = "const s = require('fs').readFileSync('/proc/self/status', 'utf8'); \
                  const f = (n) => s.split('\\n').find((l) => l.startsWith(n + ':')).split(/\\s+/).slice(1).join(' '); \
                  console.log(JSON.stringify({uid: f('Uid'), groups: f('Groups'), nnp: f('NoNewPrivs')}));";
    let out = env.cli(&["run", "local", "--", "node", "-e", script], b"");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    let uid = u64::from(env.bot_uid_base()) + u64::try_from(id).unwrap();
    // Real, effective, saved and file-system uid: all the bot's.
    assert_eq!(report["uid"], format!("{uid} {uid} {uid} {uid}"), "{report}");
    assert_eq!(report["groups"], "", "{report}");
    // Set by `paige` at start and inherited: no set-uid program makes it root again.
    assert_eq!(report["nnp"], "1", "{report}");

    // The operator's explicit opt-out: the bot runs as paige's user (root).
    let out = env.cli_with_env(
        &["run", "local", "--", "node", "-e", "console.log(process.getuid())"],
        b"",
        &[("PAIGE_INSECURE_BOTS_AS_PAIGE_USER", "true")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "0");
}

#[tokio::test]
async fn a_working_directory_the_bots_user_cannot_reach_is_a_clear_failure() {
    use std::os::unix::fs::PermissionsExt;
    if !as_root() {
        return;
    }
    let env = Env::sqlite().await;
    env.project("local").await;
    let private = env.dir.path().join("private");
    std::fs::create_dir(&private).unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
    let out = env
        .command(&["run", "local", "--", "node", "-e", "console.log('ran')"])
        .current_dir(&private)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("cannot reach {}", private.display())) && err.contains("mode 0700"),
        "{err}"
    );
    assert!(!stdout(&out).contains("ran"));
}

#[tokio::test]
async fn paige_serve_says_loudly_when_bots_run_as_its_own_user() {
    use std::io::{BufRead, BufReader};
    let env = Env::sqlite().await;
    for (opt_out, expected) in [
        (
            true,
            "WARNING: bots run as paige's own user (--insecure-bots-as-paige-user is set)",
        ),
        (
            false,
            if rustix::process::geteuid().is_root() {
                "Bots: bots run as their project's own user"
            } else {
                "WARNING: bots run as paige's own user (paige is not running as root"
            },
        ),
    ] {
        let mut command = env.command(&["serve", "--listen", "127.0.0.1:0"]);
        command
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        if opt_out {
            command.arg("--insecure-bots-as-paige-user");
        }
        let mut child = command.spawn().unwrap();
        let (stdout, stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        for stream in [Box::new(stdout) as Box<dyn std::io::Read + Send>, Box::new(stderr)] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        let mut seen = Vec::new();
        let found = loop {
            match rx.recv_timeout(Duration::from_secs(20)) {
                Ok(line) if line.contains(expected) => break true,
                Ok(line) => seen.push(line),
                Err(_) => break false,
            }
        };
        let _ = child.kill();
        let _ = child.wait();
        assert!(found, "no {expected:?} in:\n{}", seen.join("\n"));
    }
}

#[tokio::test]
async fn parents_that_paige_creates_for_its_data_dir_let_bots_pass() {
    let env = Env::builder().data_dir("srv/paige/data").sqlite().await;
    let (dir, data, paige) = (&env.dir, env.data_dir(), &env.paige);
    for parent in [dir.path().join("srv"), dir.path().join("srv/paige")] {
        assert_eq!(mode_of(&parent) & 0o001, 0o001, "{}", parent.display());
    }
    assert_eq!(mode_of(data), 0o700);
    if !as_root() {
        return;
    }
    paige.create_project("deep", None, &actor()).await.unwrap();
    paige.push_code("deep", &bot("hello"), &actor()).await.unwrap();
    let record = paige.execute("deep", entry_point(json!({})), None).await.unwrap();
    let execution = paige.execution("deep", record.id).await.unwrap();
    assert_eq!(record.status, ExecutionStatus::Succeeded, "{}", log_text(&execution));
    assert_eq!(lines_of(&execution, Stream::Stdout), ["hello from v1"]);
    assert_eq!(mode_of(data), 0o711);
}
