//! The one error type of the library.
//!
//! Each variant has a stable code. Messages name rules, keys, slugs and
//! emails, never a secret value, token or password: the types that carry
//! those never reach an error constructor.

use std::path::PathBuf;

pub use crate::model::rules::RuleError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A key, value or project limit of SPEC §2.
    #[error(transparent)]
    Rule(#[from] RuleError),
    /// Any other input that breaks a documented rule (slug, email, role,
    /// password, .env syntax, ...). `code` is stable; `message` names the rule.
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// The request clashes with the current state (e.g. removing the last owner).
    #[error("{0}")]
    Conflict(String),
    #[error("too many attempts; try again in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("authentication required")]
    Unauthenticated,
    #[error("your role does not allow this")]
    Forbidden,
    /// A stored ciphertext did not verify. Names where, never what.
    #[error("secret {key} of project {project} failed its integrity check: {source}")]
    Integrity {
        project: String,
        key: String,
        source: CryptoError,
    },
    /// A project's data key did not unwrap under the master key.
    #[error("the data key of project {project} could not be unwrapped: {source}")]
    DataKey { project: String, source: CryptoError },
    /// Misconfiguration that stops the program: key file, data dir.
    #[error("{0}")]
    Config(String),
    /// A stored row or file that cannot be decoded: the data is damaged.
    /// Names what and where, never the bytes.
    #[error("corrupt data: {0}")]
    Corrupt(String),
    /// A file operation failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done: `cannot read`, `cannot create`, ...
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// A failure of paige itself, not of its input or its data: a task that
    /// panicked or was cancelled, an answer that never came.
    #[error("internal error: {0}")]
    Internal(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The database could not be reached for a write that was handed to the
    /// group commit (the original error stays in the server log).
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// The key service (OpenBao/Vault Transit) could not be reached, or
    /// refused the token: no data key could be unwrapped. Worth a retry.
    #[error("the key service is unavailable: {0}")]
    KeyService(String),
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
}

impl Error {
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            code,
            message: message.into(),
        }
    }

    pub fn corrupt(message: impl Into<String>) -> Self {
        Self::Corrupt(message.into())
    }

    pub fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            what,
            path: path.into(),
            source,
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::Internal(message.into())
    }

    /// Stable machine-readable code, shared by the CLI and the API.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Rule(rule) => rule.code(),
            Self::Invalid { code, .. } => code,
            Self::NotFound(_) => "not_found",
            Self::AlreadyExists(_) => "already_exists",
            Self::Conflict(_) => "conflict",
            Self::RateLimited { .. } => "rate_limited",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::Integrity { .. } | Self::DataKey { .. } => "integrity",
            Self::Config(_) => "config",
            Self::Unavailable(_) | Self::KeyService(_) => "unavailable",
            Self::Corrupt(_) | Self::Io { .. } | Self::Internal(_) | Self::Database(_) | Self::Migration(_) => {
                "internal"
            }
        }
    }

    /// The database is away, not the request at fault: no connection could
    /// be had, the socket failed, or the server is shutting down or
    /// restarting (PostgreSQL SQLSTATE classes 57P "operator intervention"
    /// and 08 "connection exception"). Worth a retry.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Unavailable(_) | Self::KeyService(_) => true,
            Self::Database(e) => database_unavailable(e),
            _ => false,
        }
    }

    /// The error each caller of a failed group-commit batch gets: one
    /// `sqlx::Error` cannot be cloned, so its message is, keeping whether
    /// the database was unavailable.
    pub(crate) fn batch_failed(e: &sqlx::Error) -> Self {
        let message = format!("write not committed: {e}");
        if database_unavailable(e) {
            Self::Unavailable(message)
        } else {
            Self::Database(sqlx::Error::Protocol(message))
        }
    }

    /// A copy of a [`Error::batch_failed`] error, for another caller.
    pub(crate) fn batch_failed_again(&self) -> Self {
        match self {
            Self::Unavailable(message) => Self::Unavailable(message.clone()),
            Self::Database(sqlx::Error::Protocol(message)) => Self::Database(sqlx::Error::Protocol(message.clone())),
            other => Self::Database(sqlx::Error::Protocol(other.to_string())),
        }
    }
}

fn database_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| code.starts_with("57P") || code.starts_with("08")),
        _ => false,
    }
}

/// An `io::Error` that says the same as `e`, for an error built from a
/// borrowed one (`io::Error` is not `Clone`).
pub(crate) fn copy_io_error(e: &std::io::Error) -> std::io::Error {
    match e.raw_os_error() {
        Some(code) => std::io::Error::from_raw_os_error(code),
        None => std::io::Error::new(e.kind(), e.to_string()),
    }
}

/// Why a decryption failed. Deliberately carries no bytes of the input.
/// (Here, not in `crypto`, so the error type depends on nothing above it.)
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    /// The authentication tag did not verify: the ciphertext was altered,
    /// moved to another row, or sealed under another key.
    #[error("integrity check failed: the ciphertext does not belong here or was altered")]
    Integrity,
    /// The blob is not in a format this build knows.
    #[error("unknown ciphertext format version {0}")]
    UnknownFormat(u8),
    /// The blob is too short to hold a nonce and a tag.
    #[error("ciphertext is truncated")]
    Truncated,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn damaged_data_files_and_failed_tasks_are_internal_errors_that_name_where() {
        let io = Error::io("cannot read", "/data/code/7", std::io::Error::from_raw_os_error(13));
        assert_eq!(io.code(), "internal");
        let shown = io.to_string();
        assert!(shown.starts_with("cannot read /data/code/7: "), "{shown}");
        // A copy of a borrowed io::Error says the same.
        let original = std::io::Error::from_raw_os_error(2);
        assert_eq!(copy_io_error(&original).to_string(), original.to_string());
        assert_eq!(copy_io_error(&original).kind(), std::io::ErrorKind::NotFound);
        let corrupt = Error::corrupt("a stored log line has an unknown stream \"x\"");
        assert_eq!(corrupt.code(), "internal");
        assert!(corrupt.to_string().starts_with("corrupt data: "));
        assert_eq!(Error::internal("a task stopped").code(), "internal");
        assert!(!Error::internal("a task stopped").is_unavailable());
    }
}
