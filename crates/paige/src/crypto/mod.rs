//! Envelope encryption: a master key (KEK) wraps one data key (DEK) per
//! project, and each data key seals that project's values.
//!
//! `keys` holds the key types and the local master key file; `envelope`
//! holds the AEAD operations and the associated data that binds every
//! ciphertext to its place; `provider` is the interface every holder of a
//! master key implements (the file, `transit`); `keyring` picks the
//! provider of each data key and caches unwrapped keys (`cache`).

pub mod cache;
pub mod envelope;
pub mod keyring;
pub mod keys;
pub mod provider;
pub mod transit;

pub use envelope::{open_value, seal_value, unwrap_data_key, wrap_data_key};
pub use keyring::Keyring;
pub use keys::{DataKey, FileKeyProvider, KeyId, MasterKey};
pub use provider::{KeyProvider, ProviderStatus, WrappedKey};
pub use transit::{TransitProvider, TransitSettings};

pub use crate::error::CryptoError;
