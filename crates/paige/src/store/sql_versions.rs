//! The [`VersionStore`] of the SQL store.

use async_trait::async_trait;

use super::backend::{SqlStore, on};
use super::versions::VersionStore;
use crate::error::Result;
use crate::model::{SealedSecret, SecretMeta};

#[async_trait]
impl VersionStore for SqlStore {
    async fn secret_versions(&self, project_id: i64, key: &str) -> Result<Vec<SecretMeta>> {
        let rows: Vec<(i64, i64, String)> = on!(self.reader(), |pool| sqlx::query_as(
            "SELECT version, updated_at, updated_by FROM secrets
             WHERE project_id = $1 AND key = $2 AND ciphertext IS NOT NULL
             UNION ALL
             SELECT version, created_at, created_by FROM secret_versions WHERE project_id = $1 AND key = $2
             ORDER BY version DESC"
        )
        .bind(project_id)
        .bind(key)
        .fetch_all(pool)
        .await)?;
        Ok(rows
            .into_iter()
            .map(|(version, updated_at, updated_by)| SecretMeta {
                key: key.to_owned(),
                version,
                updated_at,
                updated_by,
            })
            .collect())
    }

    async fn sealed_version(&self, project_id: i64, key: &str, version: i64) -> Result<Option<Vec<u8>>> {
        Ok(on!(self.reader(), |pool| sqlx::query_scalar(
            "SELECT ciphertext FROM secrets
             WHERE project_id = $1 AND key = $2 AND version = $3 AND ciphertext IS NOT NULL
             UNION ALL
             SELECT ciphertext FROM secret_versions WHERE project_id = $1 AND key = $2 AND version = $3"
        )
        .bind(project_id)
        .bind(key)
        .bind(version)
        .fetch_optional(pool)
        .await)?)
    }

    async fn kept_versions(&self, project_id: i64) -> Result<Vec<SealedSecret>> {
        let rows: Vec<(String, i64, Vec<u8>)> = on!(self.reader(), |pool| sqlx::query_as(
            "SELECT key, version, ciphertext FROM secret_versions WHERE project_id = $1 ORDER BY key, version"
        )
        .bind(project_id)
        .fetch_all(pool)
        .await)?;
        Ok(rows
            .into_iter()
            .map(|(key, version, ciphertext)| SealedSecret {
                key,
                version,
                ciphertext,
            })
            .collect())
    }
}
