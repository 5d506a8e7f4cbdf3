//! The providers this node has, and its cache of unwrapped data keys.
//!
//! The primary provider wraps new data keys. Others are there to unwrap
//! data keys a migration has not moved yet (and to be migrated to).

use std::fmt;
use std::sync::Arc;

use super::cache::DataKeyCache;
use super::keys::{DataKey, FileKeyProvider};
use super::provider::{Provider, WrappedKey};
use crate::error::{Error, Result};
use crate::model::ProjectRecord;

pub struct Keyring {
    primary: Provider,
    others: Vec<Provider>,
    cache: DataKeyCache,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("primary", &self.primary.name())
            .field("others", &self.others.iter().map(|p| p.name()).collect::<Vec<_>>())
            .field("cache", &self.cache)
            .finish()
    }
}

impl Keyring {
    pub fn new(primary: Provider, others: Vec<Provider>, cache: DataKeyCache) -> Self {
        Self { primary, others, cache }
    }

    /// The provider that wraps new data keys.
    pub fn primary(&self) -> &Provider {
        &self.primary
    }

    /// The provider of this name, if this node has it.
    pub fn provider(&self, name: &str) -> Option<&Provider> {
        std::iter::once(&self.primary)
            .chain(&self.others)
            .find(|p| p.name() == name)
    }

    pub fn require(&self, name: &str) -> Result<&Provider> {
        self.provider(name).ok_or_else(|| {
            Error::Config(format!(
                "data keys are wrapped by the {name} key provider, which this node is not configured \
                 with (see --kms and --master-key-file)"
            ))
        })
    }

    /// The local master key file, if this node has one.
    pub fn file(&self) -> Option<&FileKeyProvider> {
        std::iter::once(&self.primary)
            .chain(&self.others)
            .find_map(|p| p.as_file())
    }

    /// A project's data key: from the cache, else unwrapped by the
    /// provider that wrapped it (and cached).
    pub async fn data_key(&self, project_id: i64, wrapped: &WrappedKey) -> Result<Arc<DataKey>> {
        if let Some(key) = self.cache.get(project_id, &wrapped.blob) {
            return Ok(key);
        }
        let key = Arc::new(self.require(&wrapped.provider)?.unwrap(project_id, wrapped).await?);
        self.cache.insert(project_id, &wrapped.blob, Arc::clone(&key));
        Ok(key)
    }

    /// `project`'s data key, as [`Keyring::data_key`], with a failure to
    /// unwrap it naming the project.
    pub async fn project_key(&self, project: &ProjectRecord) -> Result<Arc<DataKey>> {
        self.data_key(project.id, &project.wrapped_key())
            .await
            .map_err(|e| match e {
                Error::DataKey { source, .. } => Error::DataKey {
                    project: project.slug.clone(),
                    source,
                },
                other => other,
            })
    }

    pub fn cache(&self) -> &DataKeyCache {
        &self.cache
    }
}
