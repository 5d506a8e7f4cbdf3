//! Test helpers: a fresh data dir, the library opened on it, the real
//! binary run against it, and raw SQL access for tampering.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use paige::store::Actor;
use paige::{Config, Paige};
use secrecy::SecretString;
use sqlx::SqlitePool;
use sqlx::sqlite::SqliteConnectOptions;
use tempfile::TempDir;

pub struct Env {
    pub dir: TempDir,
    pub paige: Paige,
}

impl Env {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let paige = Paige::open(&Config::new(data_dir(&dir))).await.unwrap();
        Self { dir, paige }
    }

    pub fn data_dir(&self) -> PathBuf {
        data_dir(&self.dir)
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

    /// A second connection to the same database file, for raw SQL.
    pub async fn raw(&self) -> SqlitePool {
        raw_pool(&self.data_dir().join("paige.db")).await
    }

    pub fn cli(&self, args: &[&str], stdin: &[u8]) -> Output {
        run_cli(&self.data_dir(), args, stdin)
    }
}

pub fn data_dir(dir: &TempDir) -> PathBuf {
    dir.path().join("data")
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
        .env("PAIGE_DATA_DIR", data_dir)
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
        .env("PAIGE_DATA_DIR", data_dir)
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
