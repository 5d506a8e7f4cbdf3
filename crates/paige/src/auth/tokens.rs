//! API tokens: 256 random bits, shown once, stored as a SHA-256 hash.
//!
//! A token is long and random, so a fast hash is enough (no password
//! stretching needed), and looking it up by hash reveals nothing useful
//! through timing. The final comparison is constant-time all the same.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Every token starts with this, so scanners can recognise a leaked one.
pub const TOKEN_PREFIX: &str = "paige_";

/// A freshly created token. Printable only through `expose`.
pub struct ApiToken(SecretString);

impl ApiToken {
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(bytes.as_mut());
        let encoded = Zeroizing::new(URL_SAFE_NO_PAD.encode(bytes.as_ref()));
        Self(SecretString::from(format!("{TOKEN_PREFIX}{}", encoded.as_str())))
    }

    /// The token text, for showing it to its owner once.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    pub fn hash(&self) -> [u8; 32] {
        hash_token(self.expose())
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiToken(..)")
    }
}

pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Constant-time comparison of two token hashes.
pub fn hashes_match(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_prefixed_and_never_printed() {
        let a = ApiToken::generate();
        let b = ApiToken::generate();
        assert_ne!(a.expose(), b.expose());
        assert!(a.expose().starts_with(TOKEN_PREFIX));
        // 32 bytes in unpadded base64 are 43 characters.
        assert_eq!(a.expose().len(), TOKEN_PREFIX.len() + 43);
        assert!(!format!("{a:?}").contains(a.expose()));
        assert!(hashes_match(&a.hash(), &hash_token(a.expose())));
        assert!(!hashes_match(&a.hash(), &b.hash()));
    }
}
