//! The one error type of the library.
//!
//! Each variant has a stable code. Messages name rules, keys, slugs and
//! emails, never a secret value, token or password: the types that carry
//! those never reach an error constructor.

use crate::crypto::CryptoError;
use crate::secrets::rules::RuleError;

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
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
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
            Self::Database(_) | Self::Migration(_) => "internal",
        }
    }
}
