//! Where the product keeps its state, and which Unix user bots run as.
//!
//! Plain configuration at the bottom of the crate: it imports nothing from
//! it. What acts on the configuration lives with what it concerns: opening
//! the store and creating the data dir in `app`, what bots actually run as
//! in `runtime::sandbox`.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;

/// The default data dir, relative to the working directory.
pub const DEFAULT_DATA_DIR: &str = "./paige-data";
/// The master key's file name inside the data dir.
pub const MASTER_KEY_FILE: &str = "master.key";
/// The default base: project N's bots run as uid and gid `200000 + N`.
pub const DEFAULT_UID_BASE: u32 = 200_000;

#[derive(Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    /// Overrides `<data dir>/master.key`.
    pub master_key_file: Option<PathBuf>,
    /// A PostgreSQL URL: the store is then that database, and the data dir
    /// holds only the master key (and this node's copy of the bot code).
    pub database_url: Option<String>,
    /// Which Unix user bots run as, and whether in the sandbox (see
    /// `runtime::sandbox`).
    pub bot_users: BotUsers,
    /// Each execution's process, memory, CPU time and tmpfs limits (see
    /// `runtime::limits`).
    pub resource_limits: ResourceLimits,
    /// The warm bot processes of `http` projects (see `runtime::warm`).
    pub warm: WarmOptions,
    /// Versions kept per key, the current one included (`--secret-versions`).
    pub secret_versions: u32,
    /// How long executions and audit records are kept (see `retention`).
    pub retention: Retention,
    /// Which key provider wraps data keys, and how long unwrapped ones are
    /// kept in memory (see `crypto::provider`).
    pub kms: KmsConfig,
    /// The embedded store's read connections (see `store::sqlite`): a
    /// server's requests read side by side; a CLI command reads one thing
    /// after another, through the writer's connection (`SHARED_WITH_WRITER`).
    pub sqlite_readers: u32,
}

/// The default number of versions kept per key, the current one included.
pub const DEFAULT_SECRET_VERSIONS: u32 = 10;
/// The most versions a deployment may keep per key.
pub const MAX_SECRET_VERSIONS: u32 = 100;

/// How long records are kept before the sweep of `paige serve` purges
/// them, in days; 0 keeps them forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Executions and their logs, by start time.
    pub execution_days: u32,
    /// Audit records, by time.
    pub audit_days: u32,
}

pub const DEFAULT_EXECUTION_RETENTION_DAYS: u32 = 30;
pub const DEFAULT_AUDIT_RETENTION_DAYS: u32 = 365;

impl Default for Retention {
    fn default() -> Self {
        Self {
            execution_days: DEFAULT_EXECUTION_RETENTION_DAYS,
            audit_days: DEFAULT_AUDIT_RETENTION_DAYS,
        }
    }
}

/// The key provider that wraps new data keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KmsKind {
    /// The master key file in the data dir (`--master-key-file`).
    #[default]
    File,
    /// OpenBao/Vault Transit; no master key file is needed or created.
    Transit,
}

/// The key provider configuration.
#[derive(Debug, Clone)]
pub struct KmsConfig {
    pub kind: KmsKind,
    /// How to reach Transit: needed with `KmsKind::Transit`, and with the
    /// file provider to migrate from or to Transit.
    pub transit: Option<TransitSettings>,
    /// How long an unwrapped data key, and a redactor built from a
    /// project's values, stay in this node's memory; zero turns both
    /// caches off.
    pub cache_ttl: Duration,
}

/// The default `--kms-cache-ttl`.
pub const DEFAULT_KMS_CACHE_TTL: Duration = Duration::from_secs(300);
/// The default time one call to the key service may take.
pub const DEFAULT_KMS_TIMEOUT: Duration = Duration::from_secs(5);

impl Default for KmsConfig {
    fn default() -> Self {
        Self {
            kind: KmsKind::File,
            transit: None,
            cache_ttl: DEFAULT_KMS_CACHE_TTL,
        }
    }
}

/// How to reach a Transit key.
#[derive(Clone)]
pub struct TransitSettings {
    /// `http(s)://host:port`, without `/v1`.
    pub address: String,
    /// Where the Transit engine is mounted (`transit`).
    pub mount: String,
    pub key: String,
    pub token: SecretString,
    /// Where the token came from, if a file: re-read when Transit refuses
    /// the token, so a replaced token is taken up without a restart.
    pub token_file: Option<PathBuf>,
    /// The longest one call may take.
    pub timeout: Duration,
}

impl fmt::Debug for TransitSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransitSettings")
            .field("address", &self.address)
            .field("mount", &self.mount)
            .field("key", &self.key)
            .field("token", &"***")
            .field("token_file", &self.token_file)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Which Unix user bots run as, as configured. What they get in a given
/// process (root or not) is `runtime::sandbox::Isolation::of`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BotUsers {
    /// Each project's bots run in the sandbox as uid and gid `uid_base +
    /// project id`. Needs paige to be root; otherwise bots run in the
    /// sandbox as paige's uid.
    PerProject { uid_base: u32 },
    /// Bots run as paige's own user with no sandbox at all, even when
    /// paige is root: the operator's explicit choice
    /// (`--insecure-bots-as-paige-user`).
    SameAsPaige,
}

impl Default for BotUsers {
    fn default() -> Self {
        Self::PerProject {
            uid_base: DEFAULT_UID_BASE,
        }
    }
}

/// Default process (task) limit: Node alone runs about a dozen threads,
/// and each thread counts.
pub const DEFAULT_MAX_PROCESSES: u32 = 128;
/// Default memory limit.
pub const DEFAULT_MEMORY_BYTES: u64 = 256 * 1024 * 1024;
/// Default CPU time limit, per process.
pub const DEFAULT_CPU_TIME: Duration = Duration::from_secs(30);
/// Default size of the private `/tmp` (also the bot's `HOME`) and of `/dev/shm`, each.
pub const DEFAULT_TMPFS_BYTES: u64 = 64 * 1024 * 1024;

/// The limits of one execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceLimits {
    /// Processes and threads at once, the sandbox's own two included.
    pub max_processes: u32,
    pub memory_bytes: u64,
    /// CPU time of each process.
    pub cpu_time: Duration,
    pub tmpfs_bytes: u64,
}

impl Default for ResourceLimits {
    fn default() -> Self {
        Self {
            max_processes: DEFAULT_MAX_PROCESSES,
            memory_bytes: DEFAULT_MEMORY_BYTES,
            cpu_time: DEFAULT_CPU_TIME,
            tmpfs_bytes: DEFAULT_TMPFS_BYTES,
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The database URL may carry a password.
        f.debug_struct("Config")
            .field("data_dir", &self.data_dir)
            .field("master_key_file", &self.master_key_file)
            .field("database_url", &self.database_url.as_deref().map(redact_url))
            .field("bot_users", &self.bot_users)
            .field("resource_limits", &self.resource_limits)
            .field("warm", &self.warm)
            .field("secret_versions", &self.secret_versions)
            .field("retention", &self.retention)
            .field("kms", &self.kms)
            .field("sqlite_readers", &self.sqlite_readers)
            .finish()
    }
}

impl Config {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            master_key_file: None,
            database_url: None,
            bot_users: BotUsers::default(),
            resource_limits: ResourceLimits::default(),
            warm: WarmOptions::default(),
            secret_versions: DEFAULT_SECRET_VERSIONS,
            retention: Retention::default(),
            kms: KmsConfig::default(),
            sqlite_readers: crate::store::sqlite::SERVER_READERS,
        }
    }

    pub fn master_key_path(&self) -> PathBuf {
        self.master_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join(MASTER_KEY_FILE))
    }
}

/// A database URL fit for messages and logs: the password, if any, masked.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "<database url>".to_owned();
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            let masked = if userinfo.contains(':') { ":***" } else { "" };
            format!("{scheme}://{user}{masked}@{host}{tail}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_url_is_shown_without_its_password() {
        assert_eq!(
            redact_url("postgres://paige:hunter2@db.example:5432/paige?sslmode=require"),
            "postgres://paige:***@db.example:5432/paige?sslmode=require"
        );
        assert_eq!(redact_url("postgres://paige@db/paige"), "postgres://paige@db/paige");
        assert_eq!(redact_url("not a url"), "<database url>");
        let mut config = Config::new("/srv/paige");
        config.database_url = Some("postgres://paige:hunter2@db/paige".to_owned());
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2") && shown.contains("paige:***@db"), "{shown}");
    }
}

/// The warm bot processes of `http` projects (`runtime::warm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WarmOptions {
    /// Processes per project (`--bot-processes`); each serves one request
    /// at a time, so this is also the project's concurrency.
    pub processes: usize,
    /// Requests of one project that may wait for a process; more get 503.
    pub queue: usize,
    /// A process unused this long is stopped.
    pub idle: Duration,
    /// How long a new process may take to listen on its `PORT`.
    pub start_timeout: Duration,
    /// The time limit of one forwarded request (504 past it).
    pub request_timeout: Duration,
    /// The largest request body forwarded (413 above).
    pub body_limit: usize,
}

impl Default for WarmOptions {
    fn default() -> Self {
        Self {
            processes: 2,
            queue: 16,
            idle: Duration::from_secs(300),
            start_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            body_limit: 1024 * 1024,
        }
    }
}
