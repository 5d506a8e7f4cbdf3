//! The limits of SPEC §2 and the error that names a broken rule.
//!
//! The checks that need a key or a value live in `secrets::rules`; the
//! project totals are checked here, because the store checks them inside
//! the write's transaction. Every refusal is its own [`RuleError`] variant
//! with a stable code and a message that names the rule. No message ever
//! contains a value: the variants that concern values carry lengths and
//! positions only.

pub const KEY_MAX_LEN: usize = 128;
pub const VALUE_MIN_BYTES: usize = 4;
pub const VALUE_MAX_BYTES: usize = 64 * 1024;
/// Values shorter than this (in characters) are accepted with a warning.
pub const VALUE_WARN_CHARS: usize = 8;
pub const PROJECT_MAX_SECRETS: usize = 1_000;
pub const PROJECT_MAX_VALUE_BYTES: usize = 512 * 1024;

/// A refused key or value, or a project over its limits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("invalid key: a key must be 1 to {KEY_MAX_LEN} characters; this one is empty")]
    KeyEmpty,
    #[error("invalid key: a key must be 1 to {KEY_MAX_LEN} characters; this one has {0}")]
    KeyTooLong(usize),
    #[error("invalid key: a key must not start with a digit")]
    KeyStartsWithDigit,
    #[error("invalid key: keys use only A-Z, 0-9 and _ and are never re-cased; did you mean {suggestion}?")]
    KeyLowercase { suggestion: String },
    #[error("invalid key: keys use only A-Z, 0-9 and _; found {found:?} at position {position}")]
    KeyInvalidCharacter { found: char, position: usize },
    #[error("reserved key: {key} is reserved because {why}")]
    KeyReserved { key: String, why: String },
    #[error("invalid value: a value must be UTF-8 text; byte {0} is not")]
    ValueNotUtf8(usize),
    #[error("invalid value: a value must not contain a NUL byte (found one at byte {0})")]
    ValueContainsNul(usize),
    #[error("value too short: a value must be at least {VALUE_MIN_BYTES} bytes; this one has {0}")]
    ValueTooShort(usize),
    #[error("value too large: a value must be at most {VALUE_MAX_BYTES} bytes (64 KiB); this one has {0}")]
    ValueTooLarge(usize),
    #[error("too many secrets: a project holds at most {PROJECT_MAX_SECRETS} secrets; this write would make {0}")]
    TooManySecrets(usize),
    #[error(
        "project too large: a project holds at most {PROJECT_MAX_VALUE_BYTES} bytes (512 KiB) of values in all; this write would make {0}"
    )]
    ProjectTooLarge(usize),
}

impl RuleError {
    /// Stable machine-readable code, shared by the CLI and the API.
    pub fn code(&self) -> &'static str {
        match self {
            Self::KeyEmpty | Self::KeyTooLong(_) | Self::KeyStartsWithDigit | Self::KeyInvalidCharacter { .. } => {
                "invalid_key"
            }
            Self::KeyLowercase { .. } => "lowercase_key",
            Self::KeyReserved { .. } => "reserved_key",
            Self::ValueNotUtf8(_) => "value_not_utf8",
            Self::ValueContainsNul(_) => "value_contains_nul",
            Self::ValueTooShort(_) => "value_too_short",
            Self::ValueTooLarge(_) => "value_too_large",
            Self::TooManySecrets(_) => "too_many_secrets",
            Self::ProjectTooLarge(_) => "project_too_large",
        }
    }
}

/// Checks a project's totals as they would be after a write.
pub fn check_project_totals(count: usize, total_value_bytes: usize) -> Result<(), RuleError> {
    if count > PROJECT_MAX_SECRETS {
        return Err(RuleError::TooManySecrets(count));
    }
    if total_value_bytes > PROJECT_MAX_VALUE_BYTES {
        return Err(RuleError::ProjectTooLarge(total_value_bytes));
    }
    Ok(())
}
