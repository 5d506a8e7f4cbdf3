//! The test harness, one API: an [`Env`] (made by [`Env::sqlite`],
//! [`Env::postgres`] or [`Env::builder`]; both backends with
//! [`both_backends!`]) is a fresh data dir and store with the library
//! opened on them, the real binary run against them ([`Env::cli`],
//! [`Env::serve`]), and raw SQL on either backend for checks and tampering
//! ([`Env::db`]).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use paige::config::{BotUsers, KmsConfig, KmsKind};
use paige::model::Actor;
use paige::{Config, Paige};
use secrecy::SecretString;
use sqlx::postgres::{PgConnection, PgRow};
use sqlx::sqlite::{SqliteConnectOptions, SqliteRow};
use sqlx::{Connection, PgPool, Postgres, Sqlite, SqlitePool};
use tempfile::TempDir;

/// One test's deployment: a temporary dir (others may pass through it),
/// the data dir in it with its own range of bot users, the store (SQLite in
/// the data dir, or a PostgreSQL database), and the library opened on them.
/// Made by [`Env::sqlite`], [`Env::postgres`] or [`Env::builder`]; run a
/// test on both backends with [`both_backends!`].
pub struct Env {
    pub dir: TempDir,
    pub paige: Paige,
    data_dir: PathBuf,
    bot_uid_base: u32,
    /// The PostgreSQL database, when the store is one.
    database_url: Option<String>,
    /// The test's own database, dropped with the last `Env` on it.
    pg: Option<Arc<PgDatabase>>,
    /// The key provider (the master key file unless set).
    kms: KmsConfig,
}

/// How to make an [`Env`]: where its data dir lies, then which store.
#[derive(Debug)]
pub struct EnvBuilder {
    data_dir: PathBuf,
    kms: KmsConfig,
}

impl EnvBuilder {
    /// The data dir's path below the test's temporary dir (`data` unless
    /// set); parents that do not exist are left for `paige` to create.
    pub fn data_dir(mut self, relative: &str) -> Self {
        self.data_dir = PathBuf::from(relative);
        self
    }

    /// The key provider (`tests/it/kms` sets Transit); the CLI and
    /// `serve` of the environment get it as `PAIGE_KMS*` variables.
    pub fn kms(mut self, kms: KmsConfig) -> Self {
        self.kms = kms;
        self
    }

    /// The embedded store in the data dir.
    pub async fn sqlite(self) -> Env {
        self.open(None, None).await
    }

    /// A fresh database (`paige_t_…`) on the server named by
    /// `PAIGE_TEST_DATABASE_URL`, dropped with the last `Env` on it; the
    /// data dir holds only the master key (and the copy of any bot code
    /// run). `None`, with a note, without that variable.
    pub async fn postgres(self) -> Option<Env> {
        let pg = Arc::new(PgDatabase::fresh().await?);
        Some(self.open(Some(pg.url.clone()), Some(pg)).await)
    }

    /// The PostgreSQL database at `url`, which the test made and owns (on a
    /// server of its own).
    pub async fn database(self, url: &str) -> Env {
        self.open(Some(url.to_owned()), None).await
    }

    async fn open(self, database_url: Option<String>, pg: Option<Arc<PgDatabase>>) -> Env {
        let dir = test_dir();
        let data_dir = dir.path().join(self.data_dir);
        Env::open_in(dir, data_dir, database_url, pg, self.kms).await
    }
}

impl Env {
    pub fn builder() -> EnvBuilder {
        EnvBuilder {
            data_dir: PathBuf::from("data"),
            kms: KmsConfig::default(),
        }
    }

    /// The embedded store in a temporary data dir.
    pub async fn sqlite() -> Self {
        Self::builder().sqlite().await
    }

    /// A fresh PostgreSQL database; `None` without `PAIGE_TEST_DATABASE_URL`
    /// (see [`EnvBuilder::postgres`]).
    pub async fn postgres() -> Option<Self> {
        Self::builder().postgres().await
    }

    /// Another node of the same deployment, with the library opened on it.
    /// On PostgreSQL it has a data dir of its own, with the deployment's
    /// master key copied in, and its own bot users (the sweep for escaped
    /// processes kills by uid); on SQLite the store is the data dir, so it
    /// serves the same one.
    pub async fn another_node(&self) -> Env {
        let dir = test_dir();
        let data_dir = match &self.database_url {
            Some(_) => {
                use std::os::unix::fs::DirBuilderExt;
                let data_dir = dir.path().join("data");
                std::fs::DirBuilder::new().mode(0o700).create(&data_dir).unwrap();
                // With a key service there is no file to copy.
                if self.kms.kind == KmsKind::File {
                    std::fs::copy(self.data_dir.join("master.key"), data_dir.join("master.key")).unwrap();
                }
                data_dir
            }
            None => self.data_dir.clone(),
        };
        Env::open_in(
            dir,
            data_dir,
            self.database_url.clone(),
            self.pg.clone(),
            self.kms.clone(),
        )
        .await
    }

    /// Opens the library on `data_dir` (in `dir`) and the store named.
    async fn open_in(
        dir: TempDir,
        data_dir: PathBuf,
        database_url: Option<String>,
        pg: Option<Arc<PgDatabase>>,
        kms: KmsConfig,
    ) -> Env {
        let bot_uid_base = bot_uid_base(&data_dir);
        let mut config = configuration(&data_dir, bot_uid_base, database_url.as_deref());
        config.kms = kms.clone();
        let paige = Paige::open(&config).await.unwrap();
        Env {
            dir,
            paige,
            data_dir,
            bot_uid_base,
            database_url,
            pg,
            kms,
        }
    }

    /// The configuration this environment was opened with, to open it again.
    pub fn config(&self) -> Config {
        let mut config = configuration(&self.data_dir, self.bot_uid_base, self.database_url.as_deref());
        config.kms = self.kms.clone();
        config
    }

    pub fn is_postgres(&self) -> bool {
        self.database_url.is_some()
    }

    /// Makes every write of an `action` audit record fail ("injected
    /// failure"), with a trigger in the real database, until
    /// [`Env::mend_audit`]: the transaction it is part of fails whole.
    pub async fn break_audit(&self, action: &str) {
        let db = self.db().await;
        let name = trigger_name(action);
        if self.is_postgres() {
            db.execute(
                &format!(
                    "CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ \
                     BEGIN RAISE EXCEPTION 'injected failure'; END $$"
                ),
                &[],
            )
            .await;
            db.execute(
                &format!(
                    "CREATE TRIGGER {name} BEFORE INSERT ON audit_events FOR EACH ROW \
                     WHEN (NEW.action = '{action}') EXECUTE FUNCTION {name}()"
                ),
                &[],
            )
            .await;
        } else {
            db.execute(
                &format!(
                    "CREATE TRIGGER {name} BEFORE INSERT ON audit_events WHEN NEW.action = '{action}' \
                     BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
                ),
                &[],
            )
            .await;
        }
    }

    /// Undoes [`Env::break_audit`].
    pub async fn mend_audit(&self, action: &str) {
        let name = trigger_name(action);
        let drop = if self.is_postgres() {
            format!("DROP TRIGGER {name} ON audit_events")
        } else {
            format!("DROP TRIGGER {name}")
        };
        self.db().await.execute(&drop, &[]).await;
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The test's temporary directory (the data dir is in it), for files
    /// of the test's own.
    pub fn scratch(&self) -> &Path {
        self.dir.path()
    }

    /// The first id of this environment's bot users. Tests run side by
    /// side, each with its own data dir whose first project is #1; with one
    /// shared range their bots would share a uid, and the end of one
    /// execution would kill the processes of another test's.
    pub fn bot_uid_base(&self) -> u32 {
        self.bot_uid_base
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

    /// Raw SQL on either backend, for checks and tampering.
    pub async fn db(&self) -> Db {
        match &self.database_url {
            Some(url) => Db::Postgres(PgPool::connect(url).await.unwrap()),
            None => Db::Sqlite(self.raw().await),
        }
    }

    /// A second connection to the same database file, for raw SQL
    /// (SQLite only; [`Env::db`] serves both backends).
    pub async fn raw(&self) -> SqlitePool {
        assert!(!self.is_postgres(), "Env::raw is SQLite only; use Env::db");
        let options = SqliteConnectOptions::new()
            .filename(self.data_dir.join("paige.db"))
            .create_if_missing(false);
        SqlitePool::connect_with(options).await.unwrap()
    }

    /// Everything this environment stores, for leak scans: every file of
    /// the data dir and, on PostgreSQL, a `pg_dump` of the database
    /// (named `pg_dump`).
    pub fn stored(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let mut stored = all_files(&self.data_dir);
        if let Some(url) = &self.database_url {
            let dump = Command::new("pg_dump")
                .arg(format!("--dbname={url}"))
                .output()
                .expect("pg_dump runs");
            assert!(dump.status.success(), "{}", String::from_utf8_lossy(&dump.stderr));
            stored.push((PathBuf::from("pg_dump"), dump.stdout));
        }
        stored
    }

    /// The real `paige` binary with `args`, set up for this environment:
    /// its data dir, database and bot users, `USER=tester`, and the
    /// fixtures as working directory (a local run uses the caller's).
    pub fn command(&self, args: &[&str]) -> Command {
        self.command_of(Path::new(env!("CARGO_BIN_EXE_paige")), args)
    }

    /// [`Env::command`] with another copy of the `paige` binary.
    pub fn command_of(&self, paige: &Path, args: &[&str]) -> Command {
        let mut command = Command::new(paige);
        command
            .args(args)
            .current_dir(fixtures())
            .env("PAIGE_DATA_DIR", &self.data_dir)
            .env("PAIGE_BOT_UID_BASE", self.bot_uid_base.to_string())
            .env("USER", "tester")
            // No login of the machine's user applies: remote tests log in
            // into the test's own config dir.
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"))
            .env_remove("PAIGE_SERVER")
            .env_remove("PAIGE_TOKEN");
        if let Some(url) = &self.database_url {
            command.env("PAIGE_DATABASE_URL", url);
        }
        if let Some(transit) = &self.kms.transit {
            use secrecy::ExposeSecret;
            if self.kms.kind == KmsKind::Transit {
                command.env("PAIGE_KMS", "transit");
            }
            command
                .env("PAIGE_KMS_ADDRESS", &transit.address)
                .env("PAIGE_KMS_KEY", &transit.key)
                .env("PAIGE_KMS_MOUNT", &transit.mount)
                .env("PAIGE_KMS_TOKEN", transit.token.expose_secret());
        }
        command
    }

    /// Runs the real binary on this environment, feeding `stdin`.
    pub fn cli(&self, args: &[&str], stdin: &[u8]) -> Output {
        self.cli_with_env(args, stdin, &[])
    }

    /// Like [`Env::cli`], with extra variables in the `paige` process's
    /// environment (they win over the environment's own).
    pub fn cli_with_env(&self, args: &[&str], stdin: &[u8], vars: &[(&str, &str)]) -> Output {
        let mut child = self
            .command(args)
            .envs(vars.iter().copied())
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

    /// A real `paige serve` process on this environment, on a loopback
    /// port, with `vars` set too; its log (stderr) goes to `log` in the
    /// temporary dir.
    pub fn serve(&self, log: &str, vars: &[(&str, &str)]) -> ServeProcess {
        let mut command = self.command(&["serve", "--listen", "127.0.0.1:0"]);
        command.envs(vars.iter().copied());
        ServeProcess::start(command, self.dir.path().join(log))
    }
}

fn configuration(data_dir: &Path, bot_uid_base: u32, database_url: Option<&str>) -> Config {
    let mut config = Config::new(data_dir);
    config.database_url = database_url.map(str::to_owned);
    config.bot_users = BotUsers::PerProject { uid_base: bot_uid_base };
    config
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

/// The trigger [`Env::break_audit`] makes for `action`.
fn trigger_name(action: &str) -> String {
    format!("fail_{}", action.replace('.', "_"))
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
fn test_dir() -> TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    dir
}

/// The first id of the bot users of one data dir (see
/// [`Env::bot_uid_base`]): a range of 1,000 ids of its own, distinct across
/// concurrent test processes too. Public for the tests that start bwrap
/// themselves, with no `Env` (`runtime/jail.rs`).
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

/// The actor a local command records: `cli:<OS user>@<host>`, the user
/// by uid (not `$USER`, which the harness sets).
pub fn cli_actor() -> String {
    let run = |program: &str, arg: &str| {
        let out = Command::new(program).arg(arg).output().unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    format!("cli:{}@{}", run("id", "-un"), run("uname", "-n"))
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

/// Every file below `dir`, with its bytes (a socket, such as a running
/// server's `run.sock`, has none and is left out).
pub fn all_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(all_files(&path));
        } else if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            files.push((path, bytes));
        }
    }
    files
}

/// A real `paige serve` process on a loopback port, its log (stderr) in a
/// file; killed when dropped, so a failed test leaves nothing running.
pub struct ServeProcess {
    pub child: std::process::Child,
    /// `http://127.0.0.1:<port>`, as the server printed it.
    pub base: String,
    pub log: PathBuf,
    /// Everything the server printed on stdout so far (its banner).
    pub stdout: std::sync::Arc<std::sync::Mutex<String>>,
}

impl ServeProcess {
    /// Starts `command` (a `paige serve` of [`Env::serve`]), its stderr in
    /// `log`, and waits until it says where it serves.
    fn start(mut command: Command, log: PathBuf) -> Self {
        use std::io::{BufRead, BufReader};
        let mut child = command
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
        // Keep draining stdout so the server never blocks on it, keeping
        // what it says for tests that read its banner.
        let said = std::sync::Arc::new(std::sync::Mutex::new(first));
        let kept = std::sync::Arc::clone(&said);
        std::thread::spawn(move || {
            let mut line = String::new();
            while stdout.read_line(&mut line).is_ok_and(|n| n > 0) {
                kept.lock().unwrap().push_str(&line);
                line.clear();
            }
        });
        Self {
            child,
            base,
            log,
            stdout: said,
        }
    }

    /// Sends SIGTERM (a graceful shutdown) without waiting.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-s", "TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits (up to 20 s) until stdout has a line containing `needle`, and
    /// returns all of stdout so far.
    pub fn wait_for_stdout(&self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let said = self.stdout.lock().unwrap().clone();
            if said.contains(needle) {
                return said;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "paige serve never said {needle:?}:\n{said}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
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
