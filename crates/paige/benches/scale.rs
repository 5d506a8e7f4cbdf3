//! Scale benchmark (issue 18; not a timed test): prints figures.
//!
//! Fills a store with PROJECTS projects × SECRETS secrets (40-byte values,
//! sealed through the library's `import_secrets`, many projects at once as
//! in `backup.rs`) and EXECUTIONS finished executions per project (plain
//! rows, generated in SQL: a recursive CTE on SQLite, `generate_series` on
//! PostgreSQL, interleaved in time across projects as real traffic is).
//! Projects have one owner each, a user owning 100 projects.
//!
//! Then, on projects spread over the whole id range, in-process: opening
//! the store (`Paige::open`), one run of each sweep every node makes each
//! minute (abandoned executions, retention), warm `resolve`; and against
//! the real `paige` binary:
//! - `paige serve` start: until `/healthz` answers, several starts, and
//!   the first `PUT` after each start;
//! - sequential API latency (p50/p99/max): list a project's secrets, list
//!   its executions, list its audit, `PUT` one key (durable);
//! - the `resolve` phase and wall time of `paige run SLUG -- /bin/true`
//!   (a fresh process each time);
//! - a local CLI command (`paige secrets list SLUG --json`): wall time,
//!   which includes opening the store;
//! - the database's size.
//!
//! Run: `bench/scale.sh [PROJECTS] [EXECUTIONS]`; `PAIGE_DATABASE_URL`
//! names an empty PostgreSQL database to use instead of SQLite.
//! The store is kept in `PAIGE_SCALE_DIR` (default `target/tmp/scale-N`;
//! the script uses a temporary dir unless told): a later run with the same
//! sizes skips the fill and measures again (before/after a change, with
//! `PAIGE_SCALE_BIN` naming the other build). `PAIGE_SCALE_STAGE=fill`
//! stops after the fill.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use paige::model::Actor;
use paige::{Config, Paige};
use secrecy::SecretString;

/// Projects filled at once: enough to fill the group commit's batches.
const CONCURRENCY: usize = 32;
/// Projects owned by one user.
const PROJECTS_PER_OWNER: usize = 100;
/// Executions generated per SQL statement, per project.
const EXECUTIONS_PER_STATEMENT: i64 = 10;
/// The generated executions span this much time up to now (inside the
/// default 30-day retention, so the sweep has nothing to purge).
const SPAN_MS: i64 = 20 * 24 * 3_600_000;
/// What a generated execution records as its secrets' names: a short
/// stand-in (a real record names all the project's keys, about 1.4 KB for
/// 100), to keep 10 million rows within a few GB here.
const SECRET_NAMES: &str = r#"["SECRET_000","SECRET_001","SECRET_002"]"#;
const SERVE_STARTS: usize = 5;

struct Settings {
    projects: usize,
    secrets: usize,
    executions: i64,
    samples: usize,
    requests: usize,
    data: PathBuf,
    url: Option<String>,
}

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn slug(n: usize) -> String {
    format!("project-{n:05}")
}

fn owner(n: usize) -> String {
    format!("owner-{:03}@bench.test", n / PROJECTS_PER_OWNER)
}

fn actor() -> Actor {
    Actor {
        name: "bench".into(),
        user_id: None,
        request_id: None,
    }
}

impl Settings {
    fn config(&self) -> Config {
        let mut config = Config::new(&self.data);
        config.database_url.clone_from(&self.url);
        config
    }

    /// `samples` projects spread over the whole range (a stride prime to
    /// the project count), so no cache favours one corner of the store.
    fn sample(&self) -> Vec<usize> {
        (0..self.samples.min(self.projects))
            .map(|k| (k * 7_919 + 13) % self.projects)
            .collect()
    }

    fn marker(&self) -> PathBuf {
        self.data.join("scale-filled")
    }

    fn fingerprint(&self) -> String {
        format!("{} {} {}", self.projects, self.secrets, self.executions)
    }

    fn backend(&self) -> &'static str {
        if self.url.is_some() { "postgres" } else { "sqlite" }
    }

    /// The real binary with this store selected.
    fn paige(&self) -> Command {
        // PAIGE_SCALE_BIN: another build, to compare on the same store.
        let binary = std::env::var_os("PAIGE_SCALE_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_paige").into());
        let mut command = Command::new(binary);
        command
            .env("PAIGE_DATA_DIR", &self.data)
            .env_remove("PAIGE_DATABASE_URL");
        if let Some(url) = &self.url {
            command.env("PAIGE_DATABASE_URL", url);
        }
        command
    }
}

async fn fill(s: &Settings) {
    let started = Instant::now();
    let paige = Arc::new(Paige::open(&s.config()).await.expect("open"));
    let actor = actor();
    for u in 0..s.projects.div_ceil(PROJECTS_PER_OWNER) {
        let email = owner(u * PROJECTS_PER_OWNER);
        let password = SecretString::from(format!("bench password {u}"));
        paige.create_user(&email, &password, &actor).await.expect("user");
    }
    let entries: Arc<Vec<(String, SecretString)>> = Arc::new(
        (0..s.secrets)
            .map(|i| {
                (
                    format!("SECRET_{i:03}"),
                    SecretString::from(format!("{i:03}-{}", "v".repeat(36))),
                )
            })
            .collect(),
    );
    let next = Arc::new(AtomicUsize::new(0));
    let mut fillers = tokio::task::JoinSet::new();
    let projects = s.projects;
    for _ in 0..CONCURRENCY {
        let (paige, actor, entries, next) = (paige.clone(), actor.clone(), entries.clone(), next.clone());
        fillers.spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= projects {
                    return;
                }
                paige
                    .create_project(&slug(n), Some(&owner(n)), &actor)
                    .await
                    .expect("project");
                paige.import_secrets(&slug(n), &entries, &actor).await.expect("import");
                if n % 1_000 == 999 {
                    eprintln!("  {} projects filled", n + 1);
                }
            }
        });
    }
    fillers.join_all().await;
    paige.close().await;
    drop(paige);
    let secrets_done = started.elapsed();
    println!(
        "  filled {} projects x {} secrets in {:.1} s",
        s.projects,
        s.secrets,
        secrets_done.as_secs_f64()
    );
    fill_executions(s).await;
    println!(
        "  {} executions generated in {:.1} s",
        s.projects as i64 * s.executions,
        (started.elapsed() - secrets_done).as_secs_f64()
    );
    std::fs::write(s.marker(), s.fingerprint()).expect("marker");
}

/// Generates the executions in SQL, time-major (each statement adds
/// EXECUTIONS_PER_STATEMENT to every project), so ids interleave across
/// projects as real traffic would.
async fn fill_executions(s: &Settings) {
    let first_start = paige::model::now_millis() - SPAN_MS;
    let step = SPAN_MS / s.executions.max(1);
    let columns = "project_id, status, trigger_kind, actor, command, secret_names, started_at, finished_at, \
                   duration_ms, exit_code, output_bytes, truncated, deadline_at";
    let values = "p.id, 'succeeded', 'webhook', 'bench', '[\"node\",\"app.js\"]', $3, \
                  $4 + n.i * $5 + p.id % 1000, $4 + n.i * $5 + p.id % 1000 + 12, 12, 0, 120, FALSE, \
                  $4 + n.i * $5 + p.id % 1000 + 90000";
    // The same batches on either database: executions `from..=to` of
    // every project per statement.
    macro_rules! fill {
        ($pool:expr, $statement:expr) => {
            let mut from = 0;
            while from < s.executions {
                let to = (from + EXECUTIONS_PER_STATEMENT).min(s.executions) - 1;
                sqlx::query(&$statement)
                    .bind(from)
                    .bind(to)
                    .bind(SECRET_NAMES)
                    .bind(first_start)
                    .bind(step)
                    .execute(&$pool)
                    .await
                    .expect("executions");
                from = to + 1;
                progress(from, s.executions);
            }
        };
    }
    match &s.url {
        None => {
            let options = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(s.data.join("paige.db"))
                .pragma("cache_size", "-1000000");
            let pool = sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(options)
                .await
                .expect("sqlite");
            let statement = format!(
                "WITH RECURSIVE n(i) AS (SELECT $1 UNION ALL SELECT i + 1 FROM n WHERE i < $2)
                 INSERT INTO executions ({columns}) SELECT {values} FROM n, projects p ORDER BY n.i, p.id"
            );
            fill!(pool, statement);
            pool.close().await;
        }
        Some(url) => {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .connect(url)
                .await
                .expect("postgres");
            let statement = format!(
                "INSERT INTO executions ({columns}) SELECT {values}
                 FROM generate_series($1::BIGINT, $2::BIGINT) AS n(i) CROSS JOIN projects p ORDER BY n.i, p.id"
            );
            fill!(pool, statement);
            sqlx::query("VACUUM ANALYZE").execute(&pool).await.expect("vacuum");
            pool.close().await;
        }
    }
}

fn progress(done: i64, all: i64) {
    if done % 100 == 0 || done == all {
        eprintln!("  executions: {done} of {all} per project");
    }
}

/// p50, p99 and max of `times`, in milliseconds.
fn summary(name: &str, mut times: Vec<Duration>) -> String {
    times.sort();
    let at = |p: f64| times[((times.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3;
    let line = format!(
        "{name}_p50_ms={:.2} {name}_p99_ms={:.2} {name}_max_ms={:.2}",
        at(0.5),
        at(0.99),
        at(1.0)
    );
    println!(
        "  {name}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (n={})",
        at(0.5),
        at(0.99),
        at(1.0),
        times.len()
    );
    line
}

/// A free port on the loopback interface.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

struct Server {
    child: std::process::Child,
    base: String,
}

impl Server {
    /// Starts `paige serve` and returns it with the time until `/healthz`
    /// answered 200.
    async fn start(s: &Settings, client: &reqwest::Client) -> (Self, Duration) {
        let port = free_port();
        let started = Instant::now();
        let child = s
            .paige()
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("paige serve");
        let base = format!("http://127.0.0.1:{port}");
        let mut server = Self { child, base };
        loop {
            if let Ok(response) = client.get(format!("{}/healthz", server.base)).send().await
                && response.status().is_success()
            {
                return (server, started.elapsed());
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("paige serve exited: {status}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(300),
                "paige serve never answered"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    fn stop(mut self) {
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("SIGTERM");
        self.child.wait().expect("paige serve ends");
    }
}

/// Times `count` requests made one after another by `request(k)`, each
/// expected to succeed.
async fn timed_requests<F>(count: usize, mut request: F) -> Vec<Duration>
where
    F: FnMut(usize) -> reqwest::RequestBuilder,
{
    let mut times = Vec::with_capacity(count);
    for k in 0..count {
        let started = Instant::now();
        let response = request(k).send().await.expect("request");
        let status = response.status();
        let body = response.bytes().await.expect("body");
        times.push(started.elapsed());
        assert!(status.is_success(), "{status}: {}", String::from_utf8_lossy(&body));
    }
    times
}

/// The in-process figures (opening the store, the sweep every node runs
/// each minute, warm `resolve`), and tokens for the owners of the sampled
/// projects, made through the library.
async fn in_process(s: &Settings, sample: &[usize]) -> (Vec<(String, String)>, Vec<String>) {
    let mut results = Vec::new();
    let mut opens = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let paige = Paige::open(&s.config()).await.expect("open");
        opens.push(started.elapsed());
        paige.close().await;
    }
    results.push(summary("open", opens));
    let paige = Paige::open(&s.config()).await.expect("open");
    let (mut abandoned, mut purge) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let started = Instant::now();
        paige.fail_abandoned_executions().await.expect("sweep");
        abandoned.push(started.elapsed());
        let started = Instant::now();
        paige.purge_expired(paige::model::now_millis()).await.expect("purge");
        purge.push(started.elapsed());
    }
    results.push(summary("sweep_abandoned", abandoned));
    results.push(summary("sweep_retention", purge));

    let mut tokens = std::collections::HashMap::new();
    let mut out = Vec::new();
    for &n in sample {
        let email = owner(n);
        if !tokens.contains_key(&email) {
            let (_, token) = paige.create_token(&email, &actor()).await.expect("token");
            tokens.insert(email.clone(), token.expose().to_owned());
        }
        out.push((slug(n), tokens[&email].clone()));
    }
    // The warm path of a server: data keys cached after the first call.
    for (slug, _) in &out {
        paige.resolve(slug).await.expect("resolve");
    }
    let mut times = Vec::new();
    for k in 0..s.requests {
        let slug = &out[k % out.len()].0;
        let started = Instant::now();
        let resolved = paige.resolve(slug).await.expect("resolve");
        times.push(started.elapsed());
        assert_eq!(resolved.secrets.len(), s.secrets);
    }
    results.push(summary("resolve_inprocess", times));
    paige.close().await;
    (out, results)
}

/// `paige run SLUG -- /bin/true`: the `resolve` phase it logs, and its
/// wall time; then a local `paige secrets list SLUG --json`.
fn cli_figures(s: &Settings, sample: &[(String, String)]) -> Vec<String> {
    let runs = 30.min(sample.len().max(1) * 3);
    let (mut resolve, mut wall, mut list) = (Vec::new(), Vec::new(), Vec::new());
    for k in 0..runs {
        let slug = &sample[k % sample.len()].0;
        let started = Instant::now();
        let out = s
            .paige()
            .args(["run", slug, "--", "/bin/true"])
            .env("PAIGE_LOG", "paige::runtime::timing=debug")
            .output()
            .expect("paige run");
        wall.push(started.elapsed());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "paige run: {stderr}");
        let us = stderr
            .split_whitespace()
            .find_map(|w| w.strip_prefix("resolve=")?.trim_end_matches("us").parse::<u64>().ok());
        if let Some(us) = us {
            resolve.push(Duration::from_micros(us));
        }
        let started = Instant::now();
        let out = s
            .paige()
            .args(["secrets", "list", slug, "--json"])
            .output()
            .expect("list");
        list.push(started.elapsed());
        assert!(
            out.status.success(),
            "paige secrets list: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut lines = vec![summary("run_wall", wall), summary("cli_list_wall", list)];
    if !resolve.is_empty() {
        lines.push(summary("run_resolve_phase", resolve));
    }
    lines
}

async fn database_size(s: &Settings) -> u64 {
    match &s.url {
        None => ["paige.db", "paige.db-wal"]
            .iter()
            .map(|f| std::fs::metadata(s.data.join(f)).map(|m| m.len()).unwrap_or(0))
            .sum(),
        Some(url) => {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .connect(url)
                .await
                .expect("postgres");
            let size: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
                .fetch_one(&pool)
                .await
                .expect("size");
            pool.close().await;
            u64::try_from(size).unwrap_or(0)
        }
    }
}

async fn measure(s: &Settings) -> Vec<String> {
    let (sample, mut results) = in_process(s, &s.sample()).await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .expect("client");

    // Each start, then at once one PUT: it waits for whatever the server
    // does on the writer first (the sweep runs as it starts).
    let (mut starts, mut first_puts) = (Vec::new(), Vec::new());
    let mut server = None;
    for k in 0..SERVE_STARTS {
        let (started, took) = Server::start(s, &client).await;
        starts.push(took);
        let (slug, token) = &sample[k % sample.len()];
        let put = timed_requests(1, |_| {
            client
                .put(format!("{}/api/v1/projects/{slug}/secrets/SECRET_051", started.base))
                .bearer_auth(token)
                .json(&serde_json::json!({ "value": format!("first-put-{k}-{}", "w".repeat(24)) }))
        })
        .await;
        first_puts.extend(put);
        if k + 1 < SERVE_STARTS {
            started.stop();
        } else {
            server = Some(started);
        }
    }
    let server = server.expect("a server");
    println!(
        "  serve start until /healthz: {}",
        starts
            .iter()
            .map(|d| format!("{:.0} ms", d.as_secs_f64() * 1e3))
            .collect::<Vec<_>>()
            .join(", ")
    );
    results.push(summary("serve_start", starts));
    results.push(summary("first_put", first_puts));

    let api = |k: usize, tail: &str| {
        let (slug, token) = &sample[k % sample.len()];
        (format!("{}/api/v1/projects/{slug}{tail}", server.base), token.clone())
    };
    // Warm-up: connections, statement caches, data keys.
    timed_requests(sample.len(), |k| {
        let (url, token) = api(k, "/secrets");
        client.get(url).bearer_auth(token)
    })
    .await;
    let n = s.requests;
    let list = timed_requests(n, |k| {
        let (url, token) = api(k, "/secrets");
        client.get(url).bearer_auth(token)
    })
    .await;
    results.push(summary("list", list));
    let executions = timed_requests(n / 2, |k| {
        let (url, token) = api(k, "/executions");
        client.get(url).bearer_auth(token)
    })
    .await;
    results.push(summary("executions_list", executions));
    let audit = timed_requests(n / 2, |k| {
        let (url, token) = api(k, "/audit");
        client.get(url).bearer_auth(token)
    })
    .await;
    results.push(summary("audit_list", audit));
    let put = timed_requests(n / 2, |k| {
        let (url, token) = api(k, "/secrets/SECRET_050");
        client
            .put(url)
            .bearer_auth(token)
            .json(&serde_json::json!({ "value": format!("rotated-{k:06}-{}", "w".repeat(24)) }))
    })
    .await;
    results.push(summary("put", put));
    results.extend(cli_figures(s, &sample));
    server.stop();
    results
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let projects = setting("PAIGE_SCALE_PROJECTS", 10_000);
    let executions = setting("PAIGE_SCALE_EXECUTIONS", 1_000);
    let data = match std::env::var_os("PAIGE_SCALE_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("scale-{projects}")),
    };
    let s = Settings {
        projects,
        secrets: setting("PAIGE_SCALE_SECRETS", 100),
        executions: i64::try_from(executions).expect("executions"),
        samples: setting("PAIGE_SCALE_SAMPLES", 100),
        requests: setting("PAIGE_SCALE_REQUESTS", 1_000),
        data,
        url: std::env::var("PAIGE_DATABASE_URL").ok().filter(|u| !u.is_empty()),
    };
    println!(
        "scale benchmark ({}): {} projects x {} secrets, {} executions each, in {}",
        s.backend(),
        s.projects,
        s.secrets,
        s.executions,
        s.data.display()
    );
    let filled = std::fs::read_to_string(s.marker()).ok();
    if filled.as_deref() == Some(s.fingerprint().as_str()) {
        println!("  reusing the store filled earlier");
    } else {
        assert!(filled.is_none(), "{} holds a store of other sizes", s.data.display());
        fill(&s).await;
    }
    // `bench/scale.sh` fills at a lower priority, then measures apart.
    if std::env::var("PAIGE_SCALE_STAGE").as_deref() == Ok("fill") {
        return;
    }
    let results = measure(&s).await;
    let size = database_size(&s).await;
    println!("  database: {:.1} MiB", size as f64 / (1024.0 * 1024.0));
    println!(
        "RESULT backend={} projects={} secrets={} executions={} database_mib={:.1} {}",
        s.backend(),
        s.projects,
        s.projects * s.secrets,
        s.projects as i64 * s.executions,
        size as f64 / (1024.0 * 1024.0),
        results.join(" ")
    );
}
