//! Test helpers: a fresh data dir (and, for the PostgreSQL variants, a
//! fresh database), the library opened on it, the real binary run against
//! it, and raw SQL access for checks and tampering on either backend.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

use paige::store::Actor;
use paige::{Config, Paige};
use secrecy::SecretString;
use sqlx::postgres::{PgConnection, PgRow};
use sqlx::sqlite::{SqliteConnectOptions, SqliteRow};
use sqlx::{Connection, PgPool, Postgres, Sqlite, SqlitePool};
use tempfile::TempDir;

pub struct Env {
    pub dir: TempDir,
    pub paige: Paige,
    /// The test's own PostgreSQL database, dropped with the `Env`.
    pg: Option<PgDatabase>,
}

impl Env {
    /// The embedded store in a temporary data dir.
    pub async fn new() -> Self {
        let dir = test_dir();
        let paige = Paige::open(&test_config(&dir)).await.unwrap();
        Self { dir, paige, pg: None }
    }

    /// The same as [`Env::new`]: SQLite.
    pub async fn sqlite() -> Self {
        Self::new().await
    }

    /// A fresh PostgreSQL database (`paige_t_…`) on the server named by
    /// `PAIGE_TEST_DATABASE_URL`, dropped when the `Env` is; the data dir
    /// holds only the master key (and the copy of any bot code run). `None`,
    /// with a note, without that variable.
    pub async fn postgres() -> Option<Self> {
        let Some(server) = std::env::var("PAIGE_TEST_DATABASE_URL").ok().filter(|v| !v.is_empty()) else {
            note_postgres_skipped();
            return None;
        };
        let pg = PgDatabase::create(&server).await;
        let dir = test_dir();
        let mut config = test_config(&dir);
        config.database_url = Some(pg.url.clone());
        let paige = Paige::open(&config).await.unwrap();
        Some(Self {
            dir,
            paige,
            pg: Some(pg),
        })
    }

    /// The configuration this environment was opened with, to open it again.
    pub fn config(&self) -> Config {
        let mut config = test_config(&self.dir);
        config.database_url = self.pg.as_ref().map(|pg| pg.url.clone());
        config
    }

    /// Raw SQL on either backend, for checks and tampering.
    pub async fn db(&self) -> Db {
        match &self.pg {
            Some(pg) => Db::Postgres(PgPool::connect(&pg.url).await.unwrap()),
            None => Db::Sqlite(self.raw().await),
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        data_dir(&self.dir)
    }

    /// The first id of this environment's bot users (see [`bot_uid_base`]).
    pub fn bot_uid_base(&self) -> u32 {
        bot_uid_base(&self.data_dir())
    }

    /// Creates a project with an owner (alice@example.com, made on first use).
    pub async fn project(&self, slug: &str) {
        if self.paige.user("alice@example.com").await.is_err() {
            self.paige
                .create_user("alice@example.com", &secret("a long password!"), &actor())
                .await
                .unwrap();
        }
        self.paige
            .create_project(slug, Some("alice@example.com"), &actor())
            .await
            .unwrap();
    }

    pub async fn set(&self, slug: &str, key: &str, value: &str) -> paige::secrets::SetOutcome {
        self.paige
            .set_secret(slug, key, &secret(value), &actor())
            .await
            .unwrap()
    }

    /// A second connection to the same database file, for raw SQL
    /// (SQLite only; [`Env::db`] serves both backends).
    pub async fn raw(&self) -> SqlitePool {
        assert!(self.pg.is_none(), "Env::raw is SQLite only; use Env::db");
        raw_pool(&self.data_dir().join("paige.db")).await
    }

    /// Everything this environment stores, for leak scans: every file of
    /// the data dir and, on PostgreSQL, a `pg_dump` of the database
    /// (named `pg_dump`).
    pub fn stored(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let mut stored = all_files(&self.data_dir());
        if let Some(pg) = &self.pg {
            let dump = Command::new("pg_dump")
                .arg(format!("--dbname={}", pg.url))
                .output()
                .expect("pg_dump runs");
            assert!(dump.status.success(), "{}", String::from_utf8_lossy(&dump.stderr));
            stored.push((PathBuf::from("pg_dump"), dump.stdout));
        }
        stored
    }

    /// Runs the real binary on this environment's data dir (and database).
    pub fn cli(&self, args: &[&str], stdin: &[u8]) -> Output {
        match &self.pg {
            Some(pg) => run_cli_with_env(&self.data_dir(), args, stdin, &[("PAIGE_DATABASE_URL", &pg.url)]),
            None => run_cli(&self.data_dir(), args, stdin),
        }
    }
}

/// Says once per test process, past the output capture, that the
/// PostgreSQL variants did not run.
fn note_postgres_skipped() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    eprintln!("skipped: the PostgreSQL variant (PAIGE_TEST_DATABASE_URL is not set)");
    ONCE.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "note: PostgreSQL test variants skipped; set PAIGE_TEST_DATABASE_URL=postgres://user@host:port/db to run them"
        );
    });
}

/// A database of its own for one test, on the server of
/// `PAIGE_TEST_DATABASE_URL`; dropped (connections and all) on drop.
pub struct PgDatabase {
    server: String,
    name: String,
    pub url: String,
}

impl PgDatabase {
    /// An empty database, no schema yet; `None`, with a note, without
    /// `PAIGE_TEST_DATABASE_URL`.
    pub async fn fresh() -> Option<Self> {
        let Some(server) = std::env::var("PAIGE_TEST_DATABASE_URL").ok().filter(|v| !v.is_empty()) else {
            note_postgres_skipped();
            return None;
        };
        Some(Self::create(&server).await)
    }

    async fn create(server: &str) -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!(
            "paige_t_{}_{}_{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = PgConnection::connect(server)
            .await
            .unwrap_or_else(|e| panic!("PAIGE_TEST_DATABASE_URL: cannot connect: {e}"));
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut admin)
            .await
            .unwrap();
        let _ = admin.close().await;
        Self {
            server: server.to_owned(),
            url: with_database(server, &name),
            name,
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        // Drop runs inside the test's runtime: use a thread with its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let mut admin = PgConnection::connect(&server).await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .execute(&mut admin)
                    .await?;
                admin.close().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: test database {} was not dropped", self.name);
        }
    }
}

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a postgres:// URL");
    let (rest, query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, format!("?{query}")),
        None => (rest, String::new()),
    };
    let authority = rest.split_once('/').map_or(rest, |(authority, _)| authority);
    format!("{scheme}://{authority}/{name}{query}")
}

/// A value bound to a raw query.
pub enum Arg {
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}

impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Self::Text(v.to_owned())
    }
}

impl From<&[u8]> for Arg {
    fn from(v: &[u8]) -> Self {
        Self::Blob(v.to_owned())
    }
}

/// Raw SQL on either backend. Queries are written with `?` placeholders
/// (SQLite's); on PostgreSQL they become `$1`, `$2`, ….
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(c);
        }
    }
    out
}

macro_rules! bind_all {
    ($query:expr, $args:expr) => {{
        let mut query = $query;
        for arg in $args {
            query = match arg {
                Arg::Int(v) => query.bind(*v),
                Arg::Text(v) => query.bind(v.clone()),
                Arg::Blob(v) => query.bind(v.clone()),
            };
        }
        query
    }};
}

impl Db {
    /// The one value of a one-row, one-column query.
    pub async fn scalar<T>(&self, sql: &str, args: &[Arg]) -> T
    where
        T: for<'r> sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite>,
        T: for<'r> sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
        T: Send + Unpin,
    {
        let pg_sql = numbered(sql);
        match self {
            Db::Sqlite(pool) => bind_all!(sqlx::query_scalar::<Sqlite, T>(sql), args)
                .fetch_one(pool)
                .await
                .unwrap(),
            Db::Postgres(pool) => bind_all!(sqlx::query_scalar::<Postgres, T>(&pg_sql), args)
                .fetch_one(pool)
                .await
                .unwrap(),
        }
    }

    /// The first column of every row.
    pub async fn column<T>(&self, sql: &str, args: &[Arg]) -> Vec<T>
    where
        T: for<'r> sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite>,
        T: for<'r> sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
        T: Send + Unpin,
    {
        let pg_sql = numbered(sql);
        match self {
            Db::Sqlite(pool) => bind_all!(sqlx::query_scalar::<Sqlite, T>(sql), args)
                .fetch_all(pool)
                .await
                .unwrap(),
            Db::Postgres(pool) => bind_all!(sqlx::query_scalar::<Postgres, T>(&pg_sql), args)
                .fetch_all(pool)
                .await
                .unwrap(),
        }
    }

    /// Every row, as tuples.
    pub async fn rows<T>(&self, sql: &str, args: &[Arg]) -> Vec<T>
    where
        T: for<'r> sqlx::FromRow<'r, SqliteRow> + for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin,
    {
        let pg_sql = numbered(sql);
        match self {
            Db::Sqlite(pool) => bind_all!(sqlx::query_as::<Sqlite, T>(sql), args)
                .fetch_all(pool)
                .await
                .unwrap(),
            Db::Postgres(pool) => bind_all!(sqlx::query_as::<Postgres, T>(&pg_sql), args)
                .fetch_all(pool)
                .await
                .unwrap(),
        }
    }

    /// Runs a statement; returns the rows it changed.
    pub async fn execute(&self, sql: &str, args: &[Arg]) -> u64 {
        let pg_sql = numbered(sql);
        match self {
            Db::Sqlite(pool) => bind_all!(sqlx::query::<Sqlite>(sql), args)
                .execute(pool)
                .await
                .unwrap()
                .rows_affected(),
            Db::Postgres(pool) => bind_all!(sqlx::query::<Postgres>(&pg_sql), args)
                .execute(pool)
                .await
                .unwrap()
                .rows_affected(),
        }
    }
}

/// Runs `async fn $name(env: Env)` as two tests, `$name::sqlite` and
/// `$name::postgres`; the second passes with a note when no PostgreSQL
/// server is configured. `multi_thread` runs them on two worker threads.
macro_rules! both_backends {
    ($name:ident) => {
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name($crate::common::Env::sqlite().await).await;
            }

            #[tokio::test]
            async fn postgres() {
                if let Some(env) = $crate::common::Env::postgres().await {
                    super::$name(env).await;
                }
            }
        }
    };
    ($name:ident, multi_thread) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::common::Env::sqlite().await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(env) = $crate::common::Env::postgres().await {
                    super::$name(env).await;
                }
            }
        }
    };
}
pub(crate) use both_backends;

pub fn data_dir(dir: &TempDir) -> PathBuf {
    dir.path().join("data")
}

/// A copy of `tests/fixtures`, readable by every bot user, made once per
/// test process in the temporary directory (copies left by processes
/// that are gone are removed). Bots run as their project's own user, and
/// the checkout may lie where others cannot go (a clone under `/root`).
/// `paige` runs from here too, as a local run uses the caller's directory.
pub fn fixtures() -> &'static Path {
    static FIXTURES: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    FIXTURES.get_or_init(|| {
        let temp = std::env::temp_dir();
        for entry in std::fs::read_dir(&temp).unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix("paige-it-fixtures-")
                && !Path::new("/proc").join(pid).exists()
            {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        let copy = temp.join(format!("paige-it-fixtures-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&copy);
        copy_readable(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"), &copy);
        copy
    })
}

/// Copies a directory tree: directories 0755, files 0644.
fn copy_readable(from: &Path, to: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir(to).unwrap();
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o755)).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_readable(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
}

/// A temporary directory that others may pass through (not list), as the
/// directories above a deployment's data dir must be: bots run as their
/// project's own user and have to reach their code below it.
pub fn test_dir() -> TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    dir
}

fn test_config(dir: &TempDir) -> Config {
    let mut config = Config::new(data_dir(dir));
    config.bot_users = paige::runtime::sandbox::BotUsers::PerProject {
        uid_base: bot_uid_base(&config.data_dir),
    };
    config
}

/// The first id of the bot users of one data dir, the same for the
/// library and the binary run on it. Tests run side by side, each with its
/// own data dir whose first project is #1; with one shared range their
/// bots would share a uid, and the end of one execution would kill the
/// processes of another test's. So every data dir gets a range of 1,000
/// ids of its own, distinct across concurrent test processes too.
pub fn bot_uid_base(data_dir: &Path) -> u32 {
    use std::collections::HashMap;
    use std::sync::Mutex;
    static BASES: Mutex<Option<HashMap<PathBuf, u32>>> = Mutex::new(None);
    let mut bases = BASES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let bases = bases.get_or_insert_with(HashMap::new);
    let next = u32::try_from(bases.len()).unwrap();
    *bases.entry(data_dir.to_path_buf()).or_insert_with(|| {
        assert!(next < 1_000, "more than 1,000 data dirs in one test process");
        100_000_000 + (std::process::id() % 2_000) * 1_000_000 + next * 1_000
    })
}

pub fn secret(value: &str) -> SecretString {
    SecretString::from(value)
}

pub fn actor() -> Actor {
    Actor {
        name: "tester".to_owned(),
        user_id: None,
        request_id: None,
    }
}

pub async fn raw_pool(db: &Path) -> SqlitePool {
    let options = SqliteConnectOptions::new().filename(db).create_if_missing(false);
    SqlitePool::connect_with(options).await.unwrap()
}

/// Runs the real `paige` binary on a data dir, feeding `stdin`.
pub fn run_cli(data_dir: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_paige"))
        .args(args)
        .current_dir(fixtures())
        .env("PAIGE_DATA_DIR", data_dir)
        .env("PAIGE_BOT_UID_BASE", bot_uid_base(data_dir).to_string())
        .env("USER", "tester")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A command that fails before reading its input closes the pipe early.
    if let Err(e) = child.stdin.take().unwrap().write_all(stdin) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "writing stdin: {e}");
    }
    child.wait_with_output().unwrap()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// True when `needle` occurs anywhere in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every file below `dir`, with its bytes.
pub fn all_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(all_files(&path));
        } else {
            let bytes = std::fs::read(&path).unwrap();
            files.push((path, bytes));
        }
    }
    files
}

/// Like [`run_cli`], with extra variables in the `paige` process's environment.
pub fn run_cli_with_env(data_dir: &Path, args: &[&str], stdin: &[u8], vars: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_paige"));
    command
        .args(args)
        .current_dir(fixtures())
        .env("PAIGE_DATA_DIR", data_dir)
        .env("PAIGE_BOT_UID_BASE", bot_uid_base(data_dir).to_string())
        .env("USER", "tester")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in vars {
        command.env(name, value);
    }
    let mut child = command.spawn().unwrap();
    if let Err(e) = child.stdin.take().unwrap().write_all(stdin) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "writing stdin: {e}");
    }
    child.wait_with_output().unwrap()
}

/// A real `paige serve` process on a loopback port, its log (stderr) in a
/// file; killed when dropped, so a failed test leaves nothing running.
pub struct ServeProcess {
    pub child: std::process::Child,
    /// `http://127.0.0.1:<port>`, as the server printed it.
    pub base: String,
    pub log: PathBuf,
}

impl ServeProcess {
    /// Starts `paige serve` on `data` (and the PostgreSQL database at
    /// `database_url`, if given), with `env` set too, and waits until it
    /// says where it serves.
    pub fn start(data: &Path, database_url: Option<&str>, log: PathBuf, env: &[(&str, &str)]) -> Self {
        use std::io::{BufRead, BufReader, Read};
        let mut command = Command::new(env!("CARGO_BIN_EXE_paige"));
        if let Some(url) = database_url {
            command.env("PAIGE_DATABASE_URL", url);
        }
        let mut child = command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("PAIGE_DATA_DIR", data)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        let Some(base) = first.trim().strip_prefix("Paige Secrets is serving ") else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "paige serve did not start: {first:?}\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        };
        let base = base.to_owned();
        // Keep draining stdout so the server never blocks on it.
        std::thread::spawn(move || {
            let mut rest = String::new();
            let _ = stdout.read_to_string(&mut rest);
        });
        Self { child, base, log }
    }

    /// Sends SIGTERM (a graceful shutdown) without waiting.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-s", "TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    pub fn still_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
