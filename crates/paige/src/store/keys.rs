//! The [`KeyStore`]: the data keys as rows, for rotations and migrations
//! that move them one row at a time.
//!
//! Each row says which provider and key wrapped it, so a run killed
//! halfway leaves every row usable and is resumed by running it again.

use async_trait::async_trait;

use crate::error::Result;
use crate::model::WrappedKey;

/// Which data keys a batch asks for.
#[derive(Debug, Clone, Copy)]
pub enum NotWrappedBy<'a> {
    /// Keys of another provider (a migration to this one).
    Provider(&'a str),
    /// Keys of this provider on another of its keys (a rotation).
    Key { provider: &'a str, key_id: &'a str },
}

#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Up to `limit` data keys of projects with id above `after_id` that
    /// `target` does not describe, by id.
    async fn data_keys_batch(
        &self,
        after_id: i64,
        target: NotWrappedBy<'_>,
        limit: i64,
    ) -> Result<Vec<(i64, WrappedKey)>>;
    /// Replaces one data key if it is still `old`; false if another process
    /// changed it meanwhile (nothing is written then).
    async fn replace_data_key(&self, project_id: i64, old: &WrappedKey, new: &WrappedKey) -> Result<bool>;
    /// The providers that wrap data keys, without reading every project
    /// (every start of paige asks).
    async fn key_providers_in_use(&self) -> Result<Vec<String>>;
    /// How many data keys each (provider, key id) wraps: reads every project.
    async fn data_key_counts(&self) -> Result<Vec<(String, String, i64)>>;
}
