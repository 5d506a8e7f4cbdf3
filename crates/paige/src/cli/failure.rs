//! How the CLI fails: one line on stderr and one exit status per class of
//! error, the same for local and remote commands.

use std::fmt;
use std::process::ExitCode;

use crate::error::Error;
use crate::secrets::RuleError;

/// A class of failure, each with its own exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Anything else: a server error, a damaged file.
    Failure,
    /// Bad input or a command that cannot run here (clap's own status).
    Usage,
    /// No valid token: log in again.
    Auth,
    /// No such project, key or execution, or not allowed to see it.
    NotFound,
    /// The request clashes with the current state (exists, last owner, limits).
    Conflict,
    /// The server or its database cannot be reached, or asks to wait.
    Unavailable,
}

impl Class {
    pub const ALL: [Self; 6] = [
        Self::Failure,
        Self::Usage,
        Self::Auth,
        Self::NotFound,
        Self::Conflict,
        Self::Unavailable,
    ];

    /// The class whose exit status this is (another process's, such as
    /// the local server's that ran `paige run`); `Failure` if none.
    pub fn of_exit_status(status: u8) -> Self {
        Self::ALL
            .into_iter()
            .find(|class| class.exit_status() == status)
            .unwrap_or(Self::Failure)
    }

    pub fn exit_status(self) -> u8 {
        match self {
            Self::Failure => 1,
            Self::Usage => 2,
            Self::Auth => 3,
            Self::NotFound => 4,
            Self::Conflict => 5,
            Self::Unavailable => 6,
        }
    }

    /// The class of an API answer's status.
    pub fn of_status(status: u16) -> Self {
        match status {
            401 => Self::Auth,
            403 | 404 => Self::NotFound,
            409 => Self::Conflict,
            429 | 502..=504 => Self::Unavailable,
            400..=499 => Self::Usage,
            _ => Self::Failure,
        }
    }
}

/// A failed command: its class and the one line that explains it (never
/// a value: library errors carry none, and API messages neither).
#[derive(Debug)]
pub struct CliError {
    pub class: Class,
    pub message: String,
}

pub type CliResult<T> = std::result::Result<T, CliError>;

impl CliError {
    pub fn new(class: Class, message: impl Into<String>) -> Self {
        Self {
            class,
            message: message.into(),
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Class::Usage, message)
    }

    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.class.exit_status())
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One line, whatever the message held.
        f.write_str(&self.message.replace(['\n', '\r'], " "))
    }
}

impl From<Error> for CliError {
    fn from(error: Error) -> Self {
        let class = match &error {
            Error::Rule(RuleError::TooManySecrets(_) | RuleError::ProjectTooLarge(_)) => Class::Conflict,
            Error::Rule(_) | Error::Invalid { .. } => Class::Usage,
            Error::NotFound(_) | Error::Forbidden => Class::NotFound,
            Error::AlreadyExists(_) | Error::Conflict(_) => Class::Conflict,
            Error::Unauthenticated => Class::Auth,
            Error::RateLimited { .. } => Class::Unavailable,
            e if e.is_unavailable() => Class::Unavailable,
            _ => Class::Failure,
        };
        Self::new(class, error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_class_has_its_own_status_and_api_statuses_map_to_them() {
        let all = Class::ALL;
        for class in all {
            assert_eq!(Class::of_exit_status(class.exit_status()), class);
        }
        let mut statuses: Vec<u8> = all.iter().map(|c| c.exit_status()).collect();
        statuses.dedup();
        assert_eq!(statuses.len(), all.len());
        assert_eq!(Class::of_status(401), Class::Auth);
        assert_eq!(Class::of_status(403), Class::NotFound);
        assert_eq!(Class::of_status(404), Class::NotFound);
        assert_eq!(Class::of_status(409), Class::Conflict);
        assert_eq!(Class::of_status(400), Class::Usage);
        assert_eq!(Class::of_status(413), Class::Usage);
        assert_eq!(Class::of_status(503), Class::Unavailable);
        assert_eq!(Class::of_status(500), Class::Failure);
        assert_eq!(CliError::from(Error::Forbidden).class, Class::NotFound);
        assert_eq!(CliError::usage("a\nb").to_string(), "a b");
    }
}
