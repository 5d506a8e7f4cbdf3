//! Password rules and Argon2id hashing.

use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use secrecy::{ExposeSecret, SecretString};

use crate::error::{Error, Result};

pub const PASSWORD_MIN_CHARS: usize = 12;
pub const PASSWORD_MAX_BYTES: usize = 1024;

pub fn check_password(password: &SecretString) -> Result<()> {
    let text = password.expose_secret();
    let chars = text.chars().count();
    if chars < PASSWORD_MIN_CHARS {
        return Err(Error::invalid(
            "weak_password",
            format!(
                "password too short: a password needs at least {PASSWORD_MIN_CHARS} characters; this one has {chars}"
            ),
        ));
    }
    if text.len() > PASSWORD_MAX_BYTES {
        return Err(Error::invalid(
            "password_too_long",
            format!("password too long: a password has at most {PASSWORD_MAX_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// A real Argon2id hash, with the same parameters as users' hashes, of a
/// random password nobody knows. Sign-in verifies against it when an email
/// is unknown, so that it takes as long either way.
pub static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let mut random = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut random);
    let unknowable = SecretString::from(hex::encode(random));
    hash_password(&unknowable).unwrap_or_default()
});

/// An Argon2id hash in PHC string format, with a random salt.
pub fn hash_password(password: &SecretString) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| Error::internal(format!("password hashing failed: {e}")))
}

/// Checks a password against a stored hash; a malformed hash never verifies.
pub fn verify_password(password: &SecretString, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|hash| {
            Argon2::default()
                .verify_password(password.expose_secret().as_bytes(), &hash)
                .is_ok()
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_salted_and_verify() {
        let password = SecretString::from("correct horse battery");
        let first = hash_password(&password).unwrap();
        let second = hash_password(&password).unwrap();
        assert!(first.starts_with("$argon2id$"));
        assert_ne!(first, second, "each hash has its own salt");
        assert!(!first.contains("correct horse"));
        assert!(verify_password(&password, &first));
        assert!(!verify_password(&SecretString::from("wrong horse battery"), &first));
        assert!(!verify_password(&password, "not a hash"));
        assert!(DUMMY_HASH.starts_with("$argon2id$"));
    }

    #[test]
    fn password_rules() {
        assert_eq!(
            check_password(&SecretString::from("elevenchars")).unwrap_err().code(),
            "weak_password"
        );
        assert!(check_password(&SecretString::from("twelve chars")).is_ok());
        let long = "x".repeat(PASSWORD_MAX_BYTES + 1);
        assert_eq!(
            check_password(&SecretString::from(long)).unwrap_err().code(),
            "password_too_long"
        );
    }
}
