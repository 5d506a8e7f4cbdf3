//! The kept versions of a key (the store's part of versions and rollback).
//!
//! A key's current value is its row in `secrets`; the versions before it,
//! as many as the deployment keeps, are rows of `secret_versions`, written
//! by the group commit (`group_commit.rs`) in the transaction of the write
//! that replaced them. Every version is the ciphertext sealed for its own
//! version number; nothing here ever holds a plaintext.

use async_trait::async_trait;

use crate::error::Result;
use crate::model::{SealedSecret, SecretMeta};

#[async_trait]
pub trait VersionStore: Send + Sync {
    /// A key's kept versions, newest (the current one, if the key has a
    /// value) first: version, time and author, never a value.
    async fn secret_versions(&self, project_id: i64, key: &str) -> Result<Vec<SecretMeta>>;

    /// The ciphertext of one kept version of a key; `None` if it is not kept.
    async fn sealed_version(&self, project_id: i64, key: &str, version: i64) -> Result<Option<Vec<u8>>>;

    /// Every kept previous version of a project (not the current values),
    /// by key and version: what `backup verify --with-key` opens.
    async fn kept_versions(&self, project_id: i64) -> Result<Vec<SealedSecret>>;
}
