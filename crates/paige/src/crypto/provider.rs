//! The `KeyProvider`: whatever holds the key-encryption key and wraps and
//! unwraps project data keys with it. The local master key file is one;
//! OpenBao/Vault Transit is another. Adding AWS KMS or GCP KMS means one
//! more implementation of this trait and a `--kms` choice, nothing in the
//! store: a row records only which provider wrapped it (`key_provider`),
//! the provider's key id or version (`kek_id`) and the opaque blob.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use super::envelope::{unwrap_data_key, wrap_data_key};
use super::keys::{DataKey, FileKeyProvider, KeyId};
use crate::error::{Error, Result};

pub use crate::model::WrappedKey;

/// What `paige keys status` shows of a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderStatus {
    pub provider: &'static str,
    /// Where the key lives: a file path or a Transit URL and key name.
    pub location: String,
    /// The key id (or version) new data keys are wrapped with.
    pub current: String,
}

#[async_trait]
pub trait KeyProvider: Send + Sync + fmt::Debug {
    /// The name stored beside every data key this provider wraps.
    fn name(&self) -> &'static str;
    /// Wraps a data key, bound to its project.
    async fn wrap(&self, project_id: i64, dek: &DataKey) -> Result<WrappedKey>;
    /// Unwraps a data key wrapped by [`KeyProvider::wrap`] for the same project.
    async fn unwrap(&self, project_id: i64, wrapped: &WrappedKey) -> Result<DataKey>;
    /// Checks that the key is there and usable; says which key is current.
    async fn status(&self) -> Result<ProviderStatus>;
    /// Makes a new key version current, the old ones still able to unwrap.
    /// Providers that cannot do this (the local file) return `None`, and
    /// rotation takes their own path.
    async fn rotate(&self) -> Result<Option<String>> {
        Ok(None)
    }
    /// Re-wraps data keys under the current key version without exposing
    /// them here; one result per input, in order.
    async fn rewrap(&self, batch: &[(i64, WrappedKey)]) -> Result<Vec<Result<WrappedKey>>> {
        let mut out = Vec::with_capacity(batch.len());
        for (project_id, wrapped) in batch {
            let dek = self.unwrap(*project_id, wrapped).await?;
            out.push(self.wrap(*project_id, &dek).await);
        }
        Ok(out)
    }
    /// The local file provider, for the file rotation that swaps files.
    fn as_file(&self) -> Option<&FileKeyProvider> {
        None
    }
}

/// The provider name of the local master key file.
pub const FILE: &str = "file";

#[async_trait]
impl KeyProvider for FileKeyProvider {
    fn name(&self) -> &'static str {
        FILE
    }

    async fn wrap(&self, project_id: i64, dek: &DataKey) -> Result<WrappedKey> {
        let kek = self.current()?;
        Ok(WrappedKey {
            provider: FILE.to_owned(),
            key_id: kek.id().as_str().to_owned(),
            blob: wrap_data_key(&kek, project_id, dek),
        })
    }

    async fn unwrap(&self, project_id: i64, wrapped: &WrappedKey) -> Result<DataKey> {
        let kek = self.by_id(&KeyId::from(wrapped.key_id.clone()))?;
        unwrap_data_key(&kek, project_id, &wrapped.blob).map_err(|source| Error::DataKey {
            project: format!("#{project_id}"),
            source,
        })
    }

    async fn status(&self) -> Result<ProviderStatus> {
        Ok(ProviderStatus {
            provider: FILE,
            location: self.path().display().to_string(),
            current: self.current()?.id().as_str().to_owned(),
        })
    }

    fn as_file(&self) -> Option<&FileKeyProvider> {
        Some(self)
    }
}

/// Shared handle, as `Paige` holds them.
pub type Provider = Arc<dyn KeyProvider>;
