//! The sandbox itself (`runtime::bwrap`, `runtime::limits`,
//! `runtime::jail`), driven directly: real `bwrap` running real `sh` and
//! `node`, under the limits this machine gives (cgroups as root here,
//! rlimits otherwise), checked from the host's side.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use paige::runtime::bwrap::{CODE_DIR, Cwd, Spec};
use paige::runtime::jail::{self, LateEnv};
use paige::runtime::limits::{Backend, LimitHit, ResourceLimits};

use super::{all_gone, escapes, host_processes_with, unique};

/// The user bots run as: a per-project uid when the tests are root.
fn user() -> Option<(u32, u32)> {
    rustix::process::geteuid().is_root().then(|| {
        let id = crate::common::bot_uid_base(Path::new("/jail-tests")) + 1;
        (id, id)
    })
}

fn as_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn configure(command: &mut tokio::process::Command) {
    command
        .env_clear()
        .env("PATH", paige::runtime::env::PATH)
        .env("HOME", "/tmp")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
}

struct Run {
    program: &'static str,
    args: Vec<OsString>,
    code: Option<PathBuf>,
    cwd: Option<PathBuf>,
    limits: ResourceLimits,
    backend: Backend,
}

impl Run {
    fn sh(script: &str) -> Self {
        Self {
            program: "/bin/sh",
            args: vec!["-c".into(), script.into()],
            code: None,
            cwd: None,
            limits: ResourceLimits::default(),
            backend: Backend::detect().clone(),
        }
    }

    fn node(script: &str) -> Self {
        Self {
            program: "node",
            ..Self::sh("")
        }
        .with_args(&["-e", script])
    }

    fn with_args(mut self, args: &[&str]) -> Self {
        self.args = args.iter().map(OsString::from).collect();
        self
    }

    async fn launch(&self) -> jail::Jailed {
        self.launch_with(None).await.unwrap()
    }

    /// With the late variables `late_env` finds while `bwrap` starts.
    async fn launch_with(&self, late_env: Option<LateEnv<'static>>) -> std::io::Result<jail::Jailed> {
        let spec = Spec {
            program: OsStr::new(self.program),
            args: &self.args,
            code: self.code.as_deref(),
            cwd: match &self.cwd {
                Some(dir) => Cwd::Host(dir),
                None if self.code.is_some() => Cwd::Code,
                None => Cwd::Home,
            },
            user: user(),
            hidden: &[],
            tmpfs_bytes: self.limits.tmpfs_bytes,
            socket_dir: None,
            awaits_command: false,
        };
        jail::launch(
            &spec,
            &self.backend,
            &format!("test-{}", unique()),
            self.limits,
            late_env,
            configure,
        )
        .await
    }

    async fn output(&self) -> (Output, Option<LimitHit>) {
        self.launch().await.output().await.unwrap()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Variables found while `bwrap` starts (an execution's id, from its
/// opening record) reach the bot; a start abandoned instead (the record
/// failed) runs nothing and leaves no `bwrap` behind.
#[tokio::test]
async fn late_variables_reach_the_bot_and_an_abandoned_start_runs_nothing() {
    let late: LateEnv<'static> = Box::pin(async {
        // As a record's round trips would: `bwrap` is started meanwhile.
        tokio::time::sleep(Duration::from_millis(50)).await;
        Some(vec![("PAIGE_EXECUTION_ID", "4242".to_owned())])
    });
    let jailed = Run::sh("echo id=$PAIGE_EXECUTION_ID")
        .launch_with(Some(late))
        .await
        .unwrap();
    let (out, _) = jailed.output().await.unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "id=4242\n");

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let connect =
        format!("const s = require('net').connect({port}, '127.0.0.1', () => s.end('ran', () => s.destroy()))");
    let abandoned: LateEnv<'static> = Box::pin(async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        None
    });
    let refused = Run::node(&connect).launch_with(Some(abandoned)).await;
    assert!(refused.is_err(), "an abandoned start is an error");
    std::thread::sleep(Duration::from_millis(1000));
    assert!(listener.accept().is_err(), "the bot ran");
    assert!(
        host_processes_with(&format!("connect({port},")).is_empty(),
        "a bwrap was left behind"
    );
}

#[tokio::test]
async fn a_sandboxed_process_sees_its_own_processes_and_files_only() {
    let suffix = unique();
    let token = format!("planted-operator-token-{suffix}");
    // The operator's process, with a token on its command line.
    let mut host = std::process::Command::new("/bin/sh")
        .args(["-c", &format!("sleep 30; : {token}")])
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while host_processes_with(&token).is_empty() {
        assert!(Instant::now() < deadline, "the target never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    let code = tempfile::tempdir().unwrap();
    std::fs::write(code.path().join("app.js"), "// code\n").unwrap();
    let secret_dir = tempfile::tempdir().unwrap();
    std::fs::write(secret_dir.path().join("private.txt"), "host file").unwrap();
    let mut run = Run::sh(&format!(
        "echo pids $(ls /proc | grep -c '^[0-9]'); \
         echo token $(cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' ' | grep -c 'planted-operator-[t]oken-{suffix}'); \
         echo uid $(id -u) $(id -un) groups $(id -G); \
         echo cwd $(pwd); \
         echo root $(ls / | tr '\\n' ' '); \
         echo etc $(ls /etc | tr '\\n' ' '); \
         test -e {secret} && echo host-visible || echo host-hidden; \
         echo x > {CODE_DIR}/planted 2>/dev/null && echo code-writable || echo code-read-only; \
         echo x > /tmp/mine && echo tmp-writable; \
         echo x > /dev/shm/mine && echo shm-writable; \
         echo x > /etc/mine 2>/dev/null && echo root-writable || echo root-read-only",
        secret = secret_dir.path().join("private.txt").display()
    ));
    run.code = Some(code.path().to_path_buf());
    let (out, hit) = run.output().await;
    let _ = host.kill();
    let _ = host.wait();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert_eq!(hit, None);
    let line = |key: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key} ")))
            .unwrap_or_else(|| panic!("no {key} in {stdout}"))
            .to_owned()
    };
    // Its own processes: the sandbox's init, the shell, and what it runs now.
    let pids: u32 = line("pids").parse().unwrap();
    assert!((2..=6).contains(&pids), "{stdout}");
    assert_eq!(line("token"), "0", "the host's command lines are visible: {stdout}");
    let (uid, gid) = user().unwrap_or_else(|| (rustix::process::getuid().as_raw(), rustix::process::getgid().as_raw()));
    assert_eq!(line("uid"), format!("{uid} paige groups {gid}"), "{stdout}");
    assert_eq!(line("cwd"), CODE_DIR);
    let root: Vec<&str> = stdout
        .lines()
        .find_map(|l| l.strip_prefix("root "))
        .unwrap()
        .split_whitespace()
        .collect();
    for absent in ["root", "home", "work", "var", "srv", "opt", "run"] {
        assert!(!root.contains(&absent), "/{absent} is visible: {root:?}");
    }
    for present in ["app", "usr", "etc", "tmp", "proc", "dev"] {
        assert!(root.contains(&present), "/{present} is missing: {root:?}");
    }
    let etc = line("etc");
    assert!(
        !etc.contains("shadow") && etc.contains("passwd") && etc.contains("ssl"),
        "{etc}"
    );
    for expected in [
        "host-hidden",
        "code-read-only",
        "tmp-writable",
        "shm-writable",
        "root-read-only",
    ] {
        assert!(stdout.lines().any(|l| l == expected), "no {expected} in {stdout}");
    }
    assert!(!code.path().join("planted").exists());
}

#[tokio::test]
async fn node_runs_with_a_user_name_a_home_and_tls_roots() {
    let run = Run::node(
        "const os = require('os'); const tls = require('tls'); \
         console.log(JSON.stringify({user: os.userInfo(), home: os.homedir(), tmp: os.tmpdir(), \
         roots: tls.rootCertificates.length, cwd: process.cwd()}))",
    );
    let (out, hit) = run.output().await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(hit, None);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let (uid, _) = user().unwrap_or_else(|| (rustix::process::getuid().as_raw(), 0));
    assert_eq!(report["user"]["username"], "paige", "{report}");
    assert_eq!(report["user"]["uid"], uid);
    assert_eq!(report["user"]["homedir"], "/tmp");
    assert_eq!(report["home"], "/tmp");
    assert_eq!(report["cwd"], "/tmp");
    assert!(report["roots"].as_u64().unwrap() > 10, "{report}");
}

#[tokio::test]
async fn fork_chains_setsid_children_and_daemons_die_with_the_sandbox() {
    // A normal end: the bot exits, leaving them behind.
    let marker = format!("escape-{}", unique());
    let jailed = Run::sh(&escapes(&marker, "exit 0")).launch().await;
    let (out, hit) = jailed.output().await.unwrap();
    assert_eq!(text(&out.stdout), "started\n", "{}", text(&out.stderr));
    assert!(out.status.success());
    assert_eq!(hit, None);
    let left = all_gone(&marker, Duration::from_secs(2));
    assert!(left.is_empty(), "survived the end: {left:?}");

    // Killed while running (a time limit): one kill of bwrap takes all.
    let marker = format!("escape-{}", unique());
    let jailed = Run::sh(&escapes(&marker, "sleep 300")).launch().await;
    let (mut child, ending) = jailed.into_parts();
    let deadline = Instant::now() + Duration::from_secs(10);
    while host_processes_with(&marker).len() < 3 {
        assert!(Instant::now() < deadline, "the escapes never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.start_kill().unwrap();
    let status = child.wait().await.unwrap();
    assert!(!status.success());
    assert_eq!(ending.finish().await, None);
    let left = all_gone(&marker, Duration::from_secs(2));
    assert!(left.is_empty(), "survived the kill: {left:?}");
}

#[tokio::test]
async fn a_fork_bomb_is_capped_by_the_process_limit() {
    let marker = format!("bomb-{}", unique());
    // Bounded: 200 forks at most, each child living 5 s.
    let mut run = Run::sh(&format!(
        ": {marker}; i=0; while [ $i -lt 200 ]; do ( sleep 5 ) & i=$((i+1)); done; wait"
    ));
    run.limits.max_processes = 24;
    let started = Instant::now();
    let jailed = run.launch().await;
    let (child, ending) = jailed.into_parts();
    let mut peak = 0;
    let wait = tokio::spawn(async move { child.wait_with_output().await.unwrap() });
    while !wait.is_finished() {
        peak = peak.max(host_processes_with(&marker).len());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let out = wait.await.unwrap();
    let hit = ending.finish().await;
    assert!(peak <= 24, "{peak} processes at once");
    match Backend::detect() {
        Backend::Rlimits { .. } => {
            // No counter to read: the forks fail, the shell says so.
            assert!(text(&out.stderr).contains("fork"), "{}", text(&out.stderr));
        }
        _ => {
            assert_eq!(hit, Some(LimitHit::Processes(24)), "{}", text(&out.stderr));
            assert_eq!(hit.unwrap().to_string(), "process limit (24) reached");
            // Ended at once, not after the children's 5 s.
            assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
        }
    }
    assert!(all_gone(&marker, Duration::from_secs(2)).is_empty());
}

#[tokio::test]
async fn a_fork_bomb_is_capped_by_rlimits_where_there_are_no_cgroups() {
    let marker = format!("bomb-{}", unique());
    let mut run = Run::sh(&format!(
        ": {marker}; i=0; while [ $i -lt 100 ]; do ( sleep 1 ) & i=$((i+1)); done; wait"
    ));
    run.backend = Backend::Rlimits {
        why: "forced by the test".into(),
    };
    run.limits.max_processes = 24;
    let jailed = run.launch().await;
    let (child, ending) = jailed.into_parts();
    let wait = tokio::spawn(async move { child.wait_with_output().await.unwrap() });
    let mut peak = 0;
    while !wait.is_finished() {
        peak = peak.max(host_processes_with(&marker).len());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let out = wait.await.unwrap();
    assert_eq!(ending.finish().await, None);
    assert!(peak <= 24, "{peak} processes at once");
    assert!(text(&out.stderr).contains("fork"), "{}", text(&out.stderr));
    assert!(all_gone(&marker, Duration::from_secs(2)).is_empty());
}

#[tokio::test]
async fn memory_past_the_limit_ends_the_sandbox_with_the_memory_error() {
    if matches!(Backend::detect(), Backend::Rlimits { .. }) {
        eprintln!("skipped: no cgroup memory controller here (rlimits only)");
        return;
    }
    let mut run = Run::node(
        "const keep = []; console.log('allocating'); \
         for (;;) { keep.push(Buffer.alloc(1 << 20, 1)); }",
    );
    run.limits.memory_bytes = 96 * 1024 * 1024;
    let started = Instant::now();
    let jailed = run.launch().await;
    let dirs = jailed_dirs(&jailed);
    let (out, hit) = jailed.output().await.unwrap();
    assert_eq!(text(&out.stdout), "allocating\n");
    assert!(!out.status.success());
    assert_eq!(hit, Some(LimitHit::Memory(96 * 1024 * 1024)), "{}", text(&out.stderr));
    assert_eq!(hit.unwrap().to_string(), "memory limit (96 MiB) reached");
    assert!(started.elapsed() < Duration::from_secs(20));
    // The execution's cgroups are gone.
    for dir in dirs {
        assert!(!dir.exists(), "{} is left", dir.display());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_runs_in_its_group_and_no_thread_of_paige_stays_there() {
    if matches!(Backend::detect(), Backend::Rlimits { .. }) {
        eprintln!("skipped: no cgroups here (rlimits only)");
        return;
    }
    let marker = format!("grouped-{}", unique());
    let jailed = Run::sh(&format!(": {marker}; sleep 30")).launch().await;
    let dirs = jailed_dirs(&jailed);
    assert!(!dirs.is_empty());
    let bwrap_pid = jailed.child.id().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    // The shell itself (bwrap's own command lines hold the marker too).
    let is_shell =
        |pid: &u32| std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|line| line.starts_with(b"/bin/sh\0"));
    let bot = loop {
        if let Some(pid) = host_processes_with(&marker).into_iter().find(is_shell) {
            break pid;
        }
        assert!(Instant::now() < deadline, "the bot never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    // The bot, and on v1 the outer bwrap too (born there), in every group.
    for dir in &dirs {
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap();
        let listed: Vec<u32> = procs.lines().map(|l| l.parse().unwrap()).collect();
        assert!(
            listed.contains(&bot),
            "{} lacks the bot {bot}: {listed:?}",
            dir.display()
        );
        if matches!(Backend::detect(), Backend::CgroupV1 { .. }) {
            assert!(listed.contains(&bwrap_pid), "{} lacks bwrap: {listed:?}", dir.display());
        }
        // Not one thread of this (paige's) process stayed behind.
        let tasks = std::fs::read_to_string(dir.join("tasks")).unwrap_or_default();
        for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
            let tid = task.file_name().to_string_lossy().into_owned();
            assert!(
                !tasks.lines().any(|t| t == tid),
                "thread {tid} of paige is in {}",
                dir.display()
            );
        }
    }
    let (mut child, ending) = jailed.into_parts();
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    assert_eq!(ending.finish_and_remove().await, None);
    for dir in dirs {
        assert!(!dir.exists(), "{} is left", dir.display());
    }
    assert!(all_gone(&marker, Duration::from_secs(2)).is_empty());
}

fn jailed_dirs(jailed: &jail::Jailed) -> Vec<PathBuf> {
    jailed.group_dirs()
}

#[tokio::test]
async fn tmp_is_size_limited_and_nothing_written_there_is_left() {
    let name = format!("fill-{}", unique());
    let mut run = Run::sh(&format!(
        "dd if=/dev/zero of=/tmp/{name} bs=1M count=8 2>&1 | grep -o 'No space left on device'; \
         echo size $(wc -c < /tmp/{name}); \
         dd if=/dev/zero of=/dev/shm/{name} bs=1M count=8 2>/dev/null; echo shm $(wc -c < /dev/shm/{name})"
    ));
    run.limits.tmpfs_bytes = 2 * 1024 * 1024;
    let (out, _) = run.output().await;
    let stdout = text(&out.stdout);
    assert!(stdout.contains("No space left on device"), "{stdout}");
    assert!(stdout.contains("size 2097152\n"), "{stdout}");
    assert!(stdout.contains("shm 2097152\n"), "{stdout}");
    // Not on the host, and not in the next sandbox.
    assert!(!Path::new("/tmp").join(&name).exists());
    assert!(!Path::new("/dev/shm").join(&name).exists());
    let (out, _) = Run::sh("ls -A /tmp /dev/shm").output().await;
    assert!(!text(&out.stdout).contains(&name), "{}", text(&out.stdout));
}

#[tokio::test]
async fn a_working_directory_the_bot_could_not_reach_is_shown_read_only() {
    // As root, a directory under a 0700 one (like /root): the bot's uid
    // could not pass, bwrap (root) binds it anyway.
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let private = dir.path().join("private");
    let work = private.join("work");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(work.join("hello.txt"), "hello from the host\n").unwrap();
    let mut run = Run::sh("pwd; cat hello.txt; echo x > new.txt 2>/dev/null || echo read-only");
    run.cwd = Some(work.clone());
    let (out, _) = run.output().await;
    let work = std::fs::canonicalize(&work).unwrap();
    assert_eq!(
        text(&out.stdout),
        format!("{}\nhello from the host\nread-only\n", work.display()),
        "{}",
        text(&out.stderr)
    );
    assert!(!work.join("new.txt").exists());
    if !as_root() {
        eprintln!("note: not root, the 0700 case was the test's own directory");
    }
}
