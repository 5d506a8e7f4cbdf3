//! The rules of SPEC §2 for secret keys and values, in one place.
//!
//! Every refusal is its own [`RuleError`] variant with a stable code and a
//! message that names the rule. No message ever contains a value: the
//! variants that concern values carry lengths and positions only.

use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

// The limits and the error type are the model's (the store checks the
// project totals); they keep their names here.
pub use crate::model::rules::{
    KEY_MAX_LEN, PROJECT_MAX_SECRETS, PROJECT_MAX_VALUE_BYTES, RuleError, VALUE_MAX_BYTES, VALUE_MIN_BYTES,
    VALUE_WARN_CHARS, check_project_totals,
};

/// The platform's own variables live under this prefix.
pub const RESERVED_PREFIX: &str = "PAIGE_";

/// Prefixes of loader variables that would let a value hijack the process.
const RESERVED_PREFIXES_LOADER: &[&str] = &["LD_", "DYLD_"];

/// Exact names the runtime sets itself or that change how a process starts.
const RESERVED_NAMES: &[(&str, &str)] = &[
    ("PATH", "the runtime sets the executable search path"),
    ("HOME", "the runtime sets the home directory"),
    ("PORT", "the runtime assigns the port"),
    ("TZ", "the runtime sets the time zone"),
    ("SHELL", "the runtime sets the shell"),
    ("USER", "the runtime sets the user name"),
    ("LOGNAME", "the runtime sets the user name"),
    ("TMPDIR", "the runtime sets the temporary directory"),
    ("PWD", "the runtime sets the working directory"),
    ("OLDPWD", "shells set the previous working directory"),
    ("SHLVL", "shells set their nesting level"),
    ("_", "shells set it to the last argument of a command"),
    ("IFS", "it changes how shells split words"),
    ("ENV", "shells run the file it names at start-up"),
    ("BASH_ENV", "bash runs the file it names at start-up"),
    ("NODE_ENV", "the runtime sets the Node.js environment"),
    ("NODE_OPTIONS", "Node.js reads start-up flags from it"),
    ("NODE_PATH", "it changes where Node.js loads modules from"),
    (
        "NODE_EXTRA_CA_CERTS",
        "it changes which TLS certificates Node.js trusts",
    ),
    (
        "NODE_TLS_REJECT_UNAUTHORIZED",
        "it can switch off TLS verification in Node.js",
    ),
    ("NODE_REDIRECT_WARNINGS", "it makes Node.js write to a file it names"),
    ("NODE_V8_COVERAGE", "it makes Node.js write to a directory it names"),
    ("NODE_DEBUG", "it changes Node.js's own logging"),
    ("NODE_ICU_DATA", "it changes where Node.js loads data from"),
    ("NODE_PRESERVE_SYMLINKS", "it changes how Node.js resolves modules"),
    ("NODE_COMPILE_CACHE", "it makes Node.js write to a directory it names"),
    ("UV_THREADPOOL_SIZE", "it changes the Node.js runtime's thread pool"),
    ("OPENSSL_CONF", "it makes OpenSSL load a configuration file"),
    ("SSL_CERT_FILE", "it changes which TLS certificates are trusted"),
    ("SSL_CERT_DIR", "it changes which TLS certificates are trusted"),
    ("PYTHONSTARTUP", "Python runs the file it names at start-up"),
    ("PYTHONPATH", "it changes where Python loads modules from"),
    ("PYTHONHOME", "it changes where Python loads its library from"),
    ("PYTHONINSPECT", "it changes how Python starts"),
    ("PERL5OPT", "Perl reads start-up flags from it"),
    ("PERL5LIB", "it changes where Perl loads modules from"),
    ("RUBYOPT", "Ruby reads start-up flags from it"),
    ("RUBYLIB", "it changes where Ruby loads libraries from"),
    ("JAVA_TOOL_OPTIONS", "the JVM reads start-up flags from it"),
    ("_JAVA_OPTIONS", "the JVM reads start-up flags from it"),
    ("JDK_JAVA_OPTIONS", "the JVM reads start-up flags from it"),
    ("GCONV_PATH", "it makes the C library load code from a path it names"),
    ("MALLOC_CHECK_", "it changes the C library's allocator"),
];

/// Advice about an accepted value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueWarning {
    /// Under [`VALUE_WARN_CHARS`] characters: masking it may also hide
    /// ordinary text in logs.
    Short,
}

impl std::fmt::Display for ValueWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Short => write!(
                f,
                "the value is shorter than {VALUE_WARN_CHARS} characters; masking it in logs may also hide ordinary text"
            ),
        }
    }
}

/// Checks a key name against the syntax and the reserved names.
pub fn check_key(key: &str) -> Result<(), RuleError> {
    if key.is_empty() {
        return Err(RuleError::KeyEmpty);
    }
    let chars = key.chars().count();
    if chars > KEY_MAX_LEN {
        return Err(RuleError::KeyTooLong(chars));
    }
    let allowed = |c: char| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_';
    if let Some((position, found)) = key.chars().enumerate().find(|&(_, c)| !allowed(c)) {
        let upper = key.to_ascii_uppercase();
        if found.is_ascii_lowercase() && upper.chars().all(allowed) && !upper.starts_with(|c: char| c.is_ascii_digit())
        {
            // Never suggest a reserved name (`path` is not "did you mean
            // PATH?"): say why its upper-case form is refused instead.
            return Err(match check_key(&upper) {
                Err(reserved @ RuleError::KeyReserved { .. }) => reserved,
                _ => RuleError::KeyLowercase { suggestion: upper },
            });
        }
        return Err(RuleError::KeyInvalidCharacter { found, position });
    }
    if key.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(RuleError::KeyStartsWithDigit);
    }
    if key.starts_with(RESERVED_PREFIX) {
        return Err(RuleError::KeyReserved {
            key: key.to_owned(),
            why: format!("the prefix {RESERVED_PREFIX} belongs to the platform's own variables"),
        });
    }
    if let Some(prefix) = RESERVED_PREFIXES_LOADER.iter().find(|p| key.starts_with(**p)) {
        return Err(RuleError::KeyReserved {
            key: key.to_owned(),
            why: format!("{prefix}* variables make the dynamic loader run other code"),
        });
    }
    if let Some((_, why)) = RESERVED_NAMES.iter().find(|(name, _)| *name == key) {
        return Err(RuleError::KeyReserved {
            key: key.to_owned(),
            why: (*why).to_owned(),
        });
    }
    Ok(())
}

/// Checks a value's length and content.
pub fn check_value(value: &SecretString) -> Result<Option<ValueWarning>, RuleError> {
    let text = value.expose_secret();
    if let Some(at) = text.bytes().position(|b| b == 0) {
        return Err(RuleError::ValueContainsNul(at));
    }
    let len = text.len();
    if len < VALUE_MIN_BYTES {
        return Err(RuleError::ValueTooShort(len));
    }
    if len > VALUE_MAX_BYTES {
        return Err(RuleError::ValueTooLarge(len));
    }
    Ok((text.chars().count() < VALUE_WARN_CHARS).then_some(ValueWarning::Short))
}

/// Turns bytes read from standard input into a value: one trailing `\n`
/// or `\r\n` is dropped (as `echo` adds one), nothing else is trimmed, and
/// the bytes must be UTF-8. The input buffer is zeroized by the caller.
pub fn value_from_input(bytes: &[u8]) -> Result<SecretString, RuleError> {
    let trimmed = bytes
        .strip_suffix(b"\r\n")
        .or_else(|| bytes.strip_suffix(b"\n"))
        .unwrap_or(bytes);
    let text = std::str::from_utf8(trimmed).map_err(|e| RuleError::ValueNotUtf8(e.valid_up_to()))?;
    let owned = Zeroizing::new(text.to_owned());
    Ok(SecretString::from(owned.as_str()))
}
