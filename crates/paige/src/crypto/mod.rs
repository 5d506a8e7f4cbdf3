//! Envelope encryption: a master key (KEK) wraps one data key (DEK) per
//! project, and each data key seals that project's values.
//!
//! `keys` holds the key types and where the master key lives; `envelope`
//! holds the AEAD operations and the associated data that binds every
//! ciphertext to its place.

pub mod envelope;
pub mod keys;

pub use envelope::{open_value, seal_value, unwrap_data_key, wrap_data_key};
pub use keys::{DataKey, FileKeyProvider, KeyId, KeyProvider, MasterKey};

/// Why a decryption failed. Deliberately carries no bytes of the input.
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
