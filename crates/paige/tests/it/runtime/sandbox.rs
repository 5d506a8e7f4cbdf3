//! Every execution runs in a bubblewrap sandbox (issue 11): the bot sees
//! none of paige's files, no other process than its own, keeps nothing
//! running after its end, stays within its limits, gets only stdin,
//! stdout and stderr; and when paige is root, it runs as its project's own
//! user. Real Node.js bots, through the library (as `paige serve` runs
//! them), the HTTP API of a server, and the real binary (`paige run`).

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use paige::runtime::bwrap::{CODE_DIR, HOME_DIR};
use paige::runtime::limits::ResourceLimits;
use paige::runtime::{ExecutionRecord, ExecutionRequest, ExecutionStatus, Stream, Trigger};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{Rendezvous, all_gone, bot, escapes, host_processes_with, lines_of, log_text, run, stored, unique};
use crate::common::{Env, actor, contains, stderr, stdout};

fn as_root() -> bool {
    rustix::process::geteuid().is_root()
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

/// The uid and gid a project's bots run as here.
fn expected_ids(env: &Env, project_id: i64) -> (u64, u64) {
    if as_root() {
        let id = u64::from(env.bot_uid_base()) + u64::try_from(project_id).unwrap();
        (id, id)
    } else {
        (
            u64::from(rustix::process::getuid().as_raw()),
            u64::from(rustix::process::getgid().as_raw()),
        )
    }
}

#[tokio::test]
async fn a_bot_sees_none_of_paiges_files_and_runs_as_its_projects_user() {
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
        "read": [key, "../../../../master.key", db, wal, data.join("paige.db-shm"), "app.js", own],
        "list": [data, data.join("code"), ".", "/"],
        "write": ["$HOME/notes.txt", "$TMPDIR/scratch.txt", "app.js", "planted.js"],
        "remove": ["app.js", "../../current"],
        "secret": "OPENAI_API_KEY",
    });
    let record = run(&env, "alpha", entry_point(event)).await;
    let report = report(&env, "alpha", &record).await;

    // Its own user (root: base + project id, no supplementary groups).
    let (uid, gid) = expected_ids(&env, id);
    assert_eq!(report["uid"], uid, "{report}");
    assert_eq!(report["euid"], uid);
    assert_eq!(report["gid"], gid);
    if as_root() {
        assert_eq!(report["status_groups"], "", "{report}");
        assert_eq!(report["groups"], json!([uid]), "{report}");
    }
    assert_eq!(report["no_new_privs"], "1", "{report}");

    // paige's files are not in its view at all, by any path.
    for path in [
        key.display().to_string(),
        "../../../../master.key".to_owned(),
        db.display().to_string(),
        wal.display().to_string(),
        data.join("paige.db-shm").display().to_string(),
    ] {
        assert_eq!(report["read"][&path], "ENOENT", "{path}: {report}");
    }
    for path in [data.clone(), data.join("code")] {
        assert_eq!(report["list"][path.to_str().unwrap()], "ENOENT", "{report}");
    }
    // Its descriptors: stdin, stdout, stderr and Node's own, none of paige's.
    for fd in report["fds"].as_array().unwrap() {
        let target = fd.as_str().unwrap();
        assert!(
            !target.starts_with(data.to_str().unwrap()) && !target.contains("paige.db"),
            "inherited {target}: {report}"
        );
    }

    // Its own code: readable at the fixed path, not changeable; its home
    // and TMPDIR: writable.
    assert_eq!(report["cwd"], CODE_DIR);
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
    for (what, path) in [("write", "app.js"), ("write", "planted.js"), ("remove", "app.js")] {
        assert_eq!(report[what][path], "EROFS", "{what} {path}: {report}");
    }
    let current = report["remove"]["../../current"].as_str().unwrap();
    assert!(["ENOENT", "EROFS"].contains(&current), "{report}");
    assert_eq!(report["secret_sha256"], sha256_hex(b"sk-proj-sandbox-0123456789abcdef"));

    // The data dir stays paige's alone; the code, root's and group-readable.
    assert_eq!(mode_of(&data), 0o700);
    assert_eq!(mode_of(&key), 0o600);
    assert_eq!(mode_of(&db), 0o600);
    let project_dir = env.paige.code_dir(id);
    let tree = std::fs::canonicalize(project_dir.join("current")).unwrap();
    assert!(!tree.join("planted.js").exists());
    if as_root() {
        let app = std::fs::metadata(tree.join("app.js")).unwrap();
        assert_eq!((app.uid(), u64::from(app.gid()), app.mode() & 0o777), (0, gid, 0o640));
    }
}

/// The sandbox's `/etc`: the host's regular files there are copies (no
/// mount each), its directories bound, passwd, group and nsswitch.conf its
/// own; every one as the host has it, and none writable.
#[tokio::test]
async fn the_sandboxs_etc_shows_the_hosts_files_read_only_and_its_own_users() {
    let env = Env::sqlite().await;
    let id = prober_project(&env, "etc").await;
    let files: Vec<&str> = [
        "/etc/hosts",
        "/etc/services",
        "/etc/protocols",
        "/etc/ld.so.cache",
        "/etc/gai.conf",
        "/etc/mime.types",
        "/etc/localtime",
    ]
    .into_iter()
    .filter(|f| Path::new(f).is_file())
    .collect();
    assert!(files.len() >= 4, "a Debian host has these: {files:?}");
    let script = format!(
        "for f in {files}; do echo \"sum $f $(sha256sum < $f | cut -c1-64)\"; done; \
         for f in /etc/hosts /etc/passwd /etc/new-file /etc/ssl/new-file; do ( : >> $f ) 2>&1 | sed 's/^/write /'; done; \
         awk '$5 == \"/\" {{ print \"root\", $6 }} $5 ~ /^\\/etc\\// {{ print \"mount\", $5 }}' /proc/self/mountinfo; \
         echo \"certs $(ls -A /etc/ssl/certs | wc -l)\"; \
         echo \"user $(head -n 1 /etc/passwd)\"; \
         echo \"resolve $(getent hosts localhost | head -n 1)\"",
        files = files.join(" ")
    );
    let record = run(&env, "etc", shell(&script)).await;
    let execution = stored(&env, "etc", record.id).await;
    assert_eq!(record.status, ExecutionStatus::Succeeded, "{}", log_text(&execution));
    let out = lines_of(&execution, Stream::Stdout);

    for file in &files {
        let want = format!("sum {file} {}", sha256_hex(&std::fs::read(file).unwrap()));
        assert!(out.contains(&want.as_str()), "{file}: {}", log_text(&execution));
    }
    let writes: Vec<&&str> = out.iter().filter(|l| l.starts_with("write ")).collect();
    assert_eq!(writes.len(), 4, "{}", log_text(&execution));
    // Refused to the bot's user by the modes, and to anyone by the mount.
    for line in writes {
        assert!(
            line.contains("Permission denied") || line.contains("Read-only file system"),
            "{line}"
        );
    }
    // Files are copies, not mounts (each mount costs bwrap time); the
    // directories are bound.
    let mounts: Vec<&str> = out.iter().filter_map(|l| l.strip_prefix("mount ")).collect();
    assert!(mounts.contains(&"/etc/ssl"), "{mounts:?}");
    for file in files.iter().chain(&["/etc/passwd", "/etc/group", "/etc/nsswitch.conf"]) {
        assert!(!mounts.contains(file), "{file} is a mount: {mounts:?}");
    }
    let root = out.iter().find(|l| l.starts_with("root ")).unwrap();
    assert!(root.starts_with("root ro,") || *root == "root ro", "{root}");
    let certs = std::fs::read_dir("/etc/ssl/certs").unwrap().count();
    assert!(certs > 0);
    assert!(
        out.contains(&format!("certs {certs}").as_str()),
        "{}",
        log_text(&execution)
    );
    let (uid, gid) = expected_ids(&env, id);
    assert!(
        out.contains(&format!("user paige:x:{uid}:{gid}:Paige bot:{HOME_DIR}:/bin/sh").as_str()),
        "{}",
        log_text(&execution)
    );
    let resolved = out.iter().find(|l| l.starts_with("resolve ")).unwrap();
    assert!(resolved.ends_with("localhost"), "hosts and nsswitch.conf: {resolved}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_projects_bots_at_once_see_neither_each_other_nor_the_operators_processes() {
    let env = Env::sqlite().await;
    let server = crate::api::Server::start_on(env).await;
    let owner = server.user("owner@example.com").await;
    for slug in ["alpha", "bravo"] {
        server
            .env
            .paige
            .create_project(slug, Some("owner@example.com"), &actor())
            .await
            .unwrap();
        server
            .env
            .paige
            .push_code(slug, &bot("prober"), &actor())
            .await
            .unwrap();
    }
    let alpha_value = format!("alpha-only-value-{}", unique());
    let bravo_value = format!("bravo-only-value-{}", unique());
    assert_eq!(
        server
            .put_value(&owner, "alpha", "SHARED_NAME", &alpha_value)
            .await
            .status(),
        201
    );
    assert_eq!(
        server
            .put_value(&owner, "bravo", "SHARED_NAME", &bravo_value)
            .await
            .status(),
        201
    );
    // The operator's process, with an API token on its command line.
    let token = format!("operator-token-{}", unique());
    let mut operator = std::process::Command::new("/bin/sh")
        .args(["-c", &format!("sleep 60; : Authorization: Bearer {token}")])
        .spawn()
        .unwrap();

    // Bravo's bot starts (through the API) and waits, its secret in its
    // environment and a child with the secret on its command line.
    let mut rendezvous = Rendezvous::new().await;
    let hold = json!({"event": {"hold": {"port": rendezvous.port()}, "secret": "SHARED_NAME"}});
    let post = |slug: &str, body: Value| {
        server
            .request(
                reqwest::Method::POST,
                &format!("/api/v1/projects/{slug}/executions"),
                Some(&owner),
            )
            .json(&body)
            .send()
    };
    let bravo_run = tokio::spawn(post("bravo", hold));
    rendezvous.ready().await;
    // The targets are real: as seen from the host, both are there.
    let deadline = Instant::now() + Duration::from_secs(10);
    while host_processes_with(&token).is_empty() {
        assert!(Instant::now() < deadline, "the operator's process never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    if as_root() {
        let bravo_on_host = std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
            std::fs::read(e.path().join("environ"))
                .is_ok_and(|environ| crate::common::contains(&environ, bravo_value.as_bytes()))
        });
        assert!(bravo_on_host, "bravo's bot is not running");
    }

    let probe = json!({"event": {
        "find": [bravo_value, token, "bravo"],
        "list": ["/proc/1/root", "/root", "/work"],
        "secret": "SHARED_NAME",
    }});
    let (status, alpha) = crate::api::answer(post("alpha", probe).await.unwrap()).await;
    assert_eq!(status, 201, "{alpha}");
    rendezvous.go().await;
    let (status, bravo) = crate::api::answer(bravo_run.await.unwrap().unwrap()).await;
    assert_eq!(status, 201, "{bravo}");
    let _ = operator.kill();
    let _ = operator.wait();

    let env = &server.env;
    let alpha_record = env
        .paige
        .execution("alpha", alpha["id"].as_i64().unwrap())
        .await
        .unwrap()
        .record;
    let bravo_record = env
        .paige
        .execution("bravo", bravo["id"].as_i64().unwrap())
        .await
        .unwrap()
        .record;
    let alpha_report = report(env, "alpha", &alpha_record).await;
    let bravo_report = report(env, "bravo", &bravo_record).await;
    // Alpha sees its own processes only: no bravo, no operator, no secret.
    let pids = alpha_report["pids"].as_array().unwrap();
    assert!(pids.len() <= 4, "{alpha_report}");
    assert!(pids.iter().all(|p| p.as_u64().unwrap() < 10), "{alpha_report}");
    assert_eq!(alpha_report["found"], json!([0, 0, 0]), "{alpha_report}");
    // Each its own value under the same name; bravo's nowhere in alpha's log.
    assert_eq!(alpha_report["secret_sha256"], sha256_hex(alpha_value.as_bytes()));
    assert_eq!(bravo_report["secret_sha256"], sha256_hex(bravo_value.as_bytes()));
    let alpha_log = log_text(
        &server
            .env
            .paige
            .execution("alpha", alpha["id"].as_i64().unwrap())
            .await
            .unwrap(),
    );
    assert!(!alpha_log.contains(&bravo_value), "{alpha_log}");
    assert_ne!(alpha_report["uid"], Value::Null);
    if as_root() {
        assert_ne!(alpha_report["uid"], bravo_report["uid"]);
    }
}

#[tokio::test]
async fn escapes_are_gone_when_paige_run_ends_normally_or_on_its_time_limit() {
    let env = Env::sqlite().await;
    let out = env.cli(&["projects", "create", "escape"], b"");
    assert!(out.status.success(), "{}", stderr(&out));

    let marker = format!("escape-{}", unique());
    let started = Instant::now();
    let out = env.cli(
        &["run", "escape", "--", "/bin/sh", "-c", &escapes(&marker, "exit 0")],
        b"",
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "started\n");
    let left = all_gone(&marker, Duration::from_secs(2));
    assert!(left.is_empty(), "survived the end: {left:?}");
    assert!(started.elapsed() < Duration::from_secs(10));

    let marker = format!("escape-{}", unique());
    let out = env.cli(
        &[
            "run",
            "escape",
            "--timeout",
            "1.5",
            "--",
            "/bin/sh",
            "-c",
            &escapes(&marker, "sleep 300"),
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(124), "{}", stderr(&out));
    assert!(stderr(&out).contains("time limit"), "{}", stderr(&out));
    let left = all_gone(&marker, Duration::from_secs(2));
    assert!(left.is_empty(), "survived the time limit: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escapes_are_gone_when_a_served_execution_ends_normally_or_on_its_time_limit() {
    let env = Env::sqlite().await;
    let server = crate::api::Server::start_on(env).await;
    let owner = server.user("owner@example.com").await;
    server
        .env
        .paige
        .create_project("served", Some("owner@example.com"), &actor())
        .await
        .unwrap();
    let marker = format!("escape-{}", unique());
    let app = format!(
        "require('child_process').execFileSync('/bin/sh', ['-c', {script}], {{stdio: 'inherit'}});",
        script = serde_json::to_string(&escapes(&marker, "exit 0")).unwrap()
    );
    let code = tempfile::tempdir().unwrap();
    std::fs::write(code.path().join("app.js"), app).unwrap();
    server
        .env
        .paige
        .push_code("served", code.path(), &actor())
        .await
        .unwrap();
    let (status, summary) = crate::api::answer(
        server
            .request(
                reqwest::Method::POST,
                "/api/v1/projects/served/executions",
                Some(&owner),
            )
            .json(&json!({"event": {}}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, summary["status"].as_str()),
        (201, Some("succeeded")),
        "{summary}"
    );
    let left = all_gone(&marker, Duration::from_secs(2));
    assert!(left.is_empty(), "survived the end: {left:?}");

    // The time limit, on the path the server takes (a queued execution).
    let marker = format!("escape-{}", unique());
    let mut request = ExecutionRequest {
        command: Some(vec!["/bin/sh".into(), "-c".into(), escapes(&marker, "sleep 300")]),
        workdir: None,
        ..entry_point(json!({}))
    };
    request.limits.time = Duration::from_millis(1500);
    let slots = paige::runtime::ExecutionSlots::new(4, 2);
    let record = server
        .env
        .paige
        .execute_queued(&slots, "served", request, None)
        .await
        .unwrap();
    assert_eq!(record.status, ExecutionStatus::TimedOut, "{record:?}");
    let left = all_gone(&marker, Duration::from_secs(2));
    assert!(left.is_empty(), "survived the time limit: {left:?}");
}

/// A paige on `env`'s data dir with these resource limits.
async fn paige_with(env: &Env, limits: ResourceLimits) -> paige::Paige {
    let mut config = env.config();
    config.resource_limits = limits;
    paige::Paige::open(&config).await.unwrap()
}

fn shell(script: &str) -> ExecutionRequest {
    ExecutionRequest {
        command: Some(vec!["/bin/sh".into(), "-c".into(), script.into()]),
        workdir: None,
        ..entry_point(json!({}))
    }
}

#[tokio::test]
async fn a_fork_bomb_a_memory_hog_and_a_tmp_filler_end_at_their_limits() {
    let env = Env::sqlite().await;
    env.project("greedy").await;
    let limits = ResourceLimits {
        max_processes: 32,
        memory_bytes: 128 << 20,
        tmpfs_bytes: 2 << 20,
        ..ResourceLimits::default()
    };
    let paige = paige_with(&env, limits).await;
    let cgroups = !matches!(
        paige::runtime::limits::Backend::detect(),
        paige::runtime::limits::Backend::Rlimits { .. }
    );

    // A bounded fork bomb: 300 forks, each child living 5 s.
    let marker = format!("bomb-{}", unique());
    let started = Instant::now();
    let record = paige
        .execute(
            "greedy",
            shell(&format!(
                ": {marker}; i=0; while [ $i -lt 300 ]; do ( sleep 5 ) & i=$((i+1)); done; wait"
            )),
            None,
        )
        .await
        .unwrap();
    let log = log_text(&paige.execution("greedy", record.id).await.unwrap());
    assert_eq!(record.status, ExecutionStatus::Failed, "{log}");
    if cgroups {
        assert!(
            record.error.as_deref().unwrap().contains("process limit (32) reached"),
            "{record:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    }
    assert!(all_gone(&marker, Duration::from_secs(2)).is_empty());

    // Memory past the limit: the memory error, not a hang.
    if cgroups {
        let record = paige
            .execute(
                "greedy",
                ExecutionRequest {
                    command: Some(vec![
                        "node".into(),
                        "-e".into(),
                        "const keep = []; for (;;) keep.push(Buffer.alloc(1 << 20, 1));".into(),
                    ]),
                    workdir: None,
                    ..entry_point(json!({}))
                },
                None,
            )
            .await
            .unwrap();
        assert_eq!(record.status, ExecutionStatus::Failed, "{record:?}");
        assert_eq!(
            record.error.as_deref(),
            Some("memory limit (128 MiB) reached: the sandbox was killed"),
            "{record:?}"
        );
    }

    // /tmp (the home) fills up at its size; nothing written stays.
    let name = format!("fill-{}", unique());
    let record = paige
        .execute(
            "greedy",
            shell(&format!(
                "dd if=/dev/zero of=$HOME/{name} bs=1M count=8 2>&1 | grep -o 'No space left on device'; \
                 wc -c < $HOME/{name}"
            )),
            None,
        )
        .await
        .unwrap();
    let execution = paige.execution("greedy", record.id).await.unwrap();
    assert_eq!(
        lines_of(&execution, Stream::Stdout),
        ["No space left on device", "2097152"],
        "{}",
        log_text(&execution)
    );
    assert!(!Path::new(HOME_DIR).join(&name).exists());
    let record = paige.execute("greedy", shell("ls -A $HOME"), None).await.unwrap();
    let execution = paige.execution("greedy", record.id).await.unwrap();
    assert!(
        lines_of(&execution, Stream::Stdout).is_empty(),
        "{}",
        log_text(&execution)
    );
}

#[tokio::test]
async fn an_inherited_descriptor_does_not_reach_the_bot() {
    let env = Env::sqlite().await;
    let out = env.cli(&["projects", "create", "alpha"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let private = env.scratch().join("root-only.txt");
    std::fs::write(&private, "the operator's private file\n").unwrap();
    std::fs::set_permissions(&private, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    // As the issue's `paige run alpha -- sh -c 'cat <&7' 7<root-only-file`,
    // and a two-digit descriptor too.
    let out = std::process::Command::new("/bin/bash")
        .args([
            "-c",
            "exec \"$0\" run alpha -- /bin/sh -c 'cat <&7; ls /proc/self/fd | tr \"\\n\" \" \"; tr \"\\0\" \" \" </proc/1/cmdline >&2' 7<\"$1\" 12<\"$1\"",
            env!("CARGO_BIN_EXE_paige"),
            private.to_str().unwrap(),
        ])
        .env("PAIGE_DATA_DIR", env.data_dir())
        .env("PAIGE_BOT_UID_BASE", env.bot_uid_base().to_string())
        .output()
        .unwrap();
    let (out_text, err_text) = (stdout(&out), stderr(&out));
    assert!(
        !out_text.contains("private file") && !err_text.contains("private file"),
        "{out_text}{err_text}"
    );
    // stdin, stdout, stderr, and the directory ls reads.
    assert_eq!(out_text, "0 1 2 3 ", "{err_text}");
    // Made close-on-exec when paige started: bwrap (the sandbox's pid 1,
    // whose command line the bot sees) runs no shell to close them.
    assert!(err_text.contains("/usr/bin/bwrap "), "{err_text}");
    assert!(!err_text.contains("<&-"), "descriptors closed in a shell: {err_text}");
}

#[tokio::test]
async fn paige_run_works_from_a_directory_only_paige_can_enter() {
    use std::os::unix::fs::PermissionsExt;
    // A second deployment whose data dir is inside the working directory
    // (the README's `./paige-data`), itself inside a 0700 directory.
    let inner = Env::builder().data_dir("private/my-bot/paige-data").sqlite().await;
    let out = inner.cli(&["projects", "create", "here"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    // Like /root: 0700; and like /root/my-bot, a directory in it.
    let private = inner.scratch().join("private");
    let work = private.join("my-bot");
    std::fs::write(work.join("hello.js"), "console.log('ran in', process.cwd());\n").unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();

    let env = Env::sqlite().await;
    let out = env.cli(&["projects", "create", "local"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let out = env
        .command(&["run", "local", "--", "node", "-e", "console.log('ran')"])
        .current_dir(&private)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "ran\n");
    // With the data dir inside the working directory: the bot runs, and
    // sees the data dir empty.
    let out = inner
        .command(&[
            "run",
            "here",
            "--",
            "/bin/sh",
            "-c",
            "ls -A paige-data 2>/dev/null | wc -l; node hello.js",
        ])
        .current_dir(&work)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let work = std::fs::canonicalize(&work).unwrap();
    assert_eq!(stdout(&out), format!("0\nran in {}\n", work.display()));
}

#[tokio::test]
async fn paige_run_starts_the_bot_as_its_projects_user_without_new_privileges() {
    if !as_root() {
        eprintln!("skipped: bots run as per-project users only when paige is root");
        return;
    }
    let env = Env::sqlite().await;
    env.project("local").await;
    let id = env.paige.project("local").await.unwrap().id;
    let script = "const s = require('fs').readFileSync('/proc/self/status', 'utf8'); \
                  const f = (n) => s.split('\\n').find((l) => l.startsWith(n + ':')).split(/\\s+/).slice(1).join(' '); \
                  console.log(JSON.stringify({uid: f('Uid'), groups: f('Groups'), nnp: f('NoNewPrivs'), \
                  caps: ['CapEff', 'CapPrm', 'CapBnd', 'CapAmb', 'CapInh'].map(f).join(' '), \
                  fds: require('fs').readdirSync('/proc/self/fd').map((n) => { \
                    try { return require('fs').readlinkSync('/proc/self/fd/' + n); } catch { return n; } }).join(' ')}));";
    let out = env.cli(&["run", "local", "--", "node", "-e", script], b"");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    let uid = u64::from(env.bot_uid_base()) + u64::try_from(id).unwrap();
    // Real, effective, saved and file-system uid: all the bot's.
    assert_eq!(report["uid"], format!("{uid} {uid} {uid} {uid}"), "{report}");
    assert_eq!(report["groups"], "", "{report}");
    // Set by `paige` at start and inherited: no set-uid program makes it root again.
    assert_eq!(report["nnp"], "1", "{report}");
    // No capability of any kind (paige-start empties every set).
    assert_eq!(
        report["caps"],
        "0000000000000000 0000000000000000 0000000000000000 0000000000000000 0000000000000000"
    );
    // What node opened itself (its event loop's, readdir's own), nothing
    // of the start's: paige-start's binary was open until it ran the bot.
    let fds = report["fds"].as_str().unwrap();
    assert!(fds.contains("anon_inode:[eventpoll]"), "{report}");
    assert!(!fds.contains("paige-start") && !fds.contains("/etc/"), "{report}");

    // The operator's explicit opt-out: no sandbox, as paige's user (root).
    let out = env.cli_with_env(
        &["run", "local", "--", "node", "-e", "console.log(process.getuid())"],
        b"",
        &[("PAIGE_INSECURE_BOTS_AS_PAIGE_USER", "true")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "0");
}

#[tokio::test]
async fn paige_starts_own_error_is_masked_like_the_bots_output() {
    if !as_root() {
        eprintln!("skipped: paige-start runs only when paige is root");
        return;
    }
    let env = Env::sqlite().await;
    env.project("local").await;
    let value = "plantedStartValue9f3e1c77";
    env.set("local", "API_KEY", value).await;
    // On the host (so paige's own check finds it), not in the sandbox: the
    // bot's exec fails in paige-start, whose message names the program.
    let program = env.scratch().join(value);
    std::fs::write(&program, "#!/bin/sh\n").unwrap();
    let out = env.cli(&["run", "local", "--", program.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("paige-start: cannot run")
            && stderr(&out).contains("/[REDACTED:API_KEY]: No such file or directory"),
        "{}",
        stderr(&out)
    );
    for (what, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        assert!(
            !contains(bytes, value.as_bytes()),
            "{what}: {}",
            String::from_utf8_lossy(bytes)
        );
    }
    for (path, bytes) in env.stored() {
        assert!(
            !contains(&bytes, value.as_bytes()),
            "{} holds the value",
            path.display()
        );
    }
}

#[tokio::test]
async fn without_paige_start_beside_paige_no_bot_runs_and_serve_says_why() {
    use std::io::{BufRead, BufReader};
    if !as_root() {
        eprintln!("skipped: paige-start switches users only when paige is root");
        return;
    }
    let env = Env::sqlite().await;
    env.project("local").await;
    // paige's binary alone in a directory (a link: the same file).
    let alone_dir = env.dir.path().join("alone");
    std::fs::create_dir(&alone_dir).unwrap();
    let alone = alone_dir.join("paige");
    if std::fs::hard_link(env!("CARGO_BIN_EXE_paige"), &alone).is_err() {
        std::fs::copy(env!("CARGO_BIN_EXE_paige"), &alone).unwrap();
    }
    let from = |args: &[&str]| env.command_of(&alone, args);

    // The bot never runs: not as root, not at all.
    let out = from(&["run", "local", "--", "/bin/sh", "-c", "echo ran as $(id -u)"])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stdout(&out).contains("ran"), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("paige-start is not beside paige's binary"),
        "{}",
        stderr(&out)
    );

    // And `paige serve` says so when it starts.
    let mut child = from(&["serve", "--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok);
    let banner: Vec<String> = lines.take_while(|l| !l.contains("Limits per execution")).collect();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        banner
            .iter()
            .any(|l| l.contains("WARNING: paige-start is not beside paige's binary")
                && l.contains("no bot can run until it is")),
        "{banner:?}"
    );
}

#[tokio::test]
async fn paige_serve_says_how_bots_run_and_which_limits_apply() {
    use std::io::{BufRead, BufReader};
    let env = Env::sqlite().await;
    for (args, expected) in [
        (
            &["--insecure-bots-as-paige-user"][..],
            vec!["WARNING: bots run as paige's own user (--insecure-bots-as-paige-user is set), with no sandbox"],
        ),
        (
            &["--bot-memory-mib", "300", "--bot-max-processes", "50"][..],
            vec![
                "Bots: bots run in a bubblewrap sandbox",
                "Limits per execution: 50 processes, 300 MiB memory, 30 s CPU time per process, 64 MiB /tmp; \
                 enforced by",
            ],
        ),
    ] {
        let mut command = env.command(&["serve", "--listen", "127.0.0.1:0"]);
        command
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = command.spawn().unwrap();
        let (out, err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        for stream in [Box::new(out) as Box<dyn std::io::Read + Send>, Box::new(err)] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        let mut seen = Vec::new();
        let mut missing = expected.clone();
        while !missing.is_empty() {
            match rx.recv_timeout(Duration::from_secs(20)) {
                Ok(line) => {
                    missing.retain(|e| !line.contains(e));
                    seen.push(line);
                }
                Err(_) => break,
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        assert!(missing.is_empty(), "no {missing:?} in:\n{}", seen.join("\n"));
        if args.is_empty() || args[0] != "--insecure-bots-as-paige-user" {
            let limits = seen.iter().find(|l| l.contains("enforced by")).unwrap();
            let expected = if as_root() { "cgroup" } else { "rlimits" };
            assert!(limits.contains(expected) || limits.contains("rlimits"), "{limits}");
        }
    }
}
