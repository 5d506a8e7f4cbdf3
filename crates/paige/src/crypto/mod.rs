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

pub use crate::error::CryptoError;
