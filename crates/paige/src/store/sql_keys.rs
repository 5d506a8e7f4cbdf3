//! The [`KeyStore`] of the SQL store: one statement per call, each row
//! updated on its own with a compare-and-set on its old wrapped key.

use async_trait::async_trait;

use super::backend::{SqlStore, on};
use super::keys::{KeyStore, NotWrappedBy};
use crate::error::Result;
use crate::model::WrappedKey;

/// The distinct providers, each found by one jump in the `projects_by_key`
/// index (a loose index scan, written as a recursive query since neither
/// database does it by itself): a few index probes, whatever the number of
/// projects.
pub(super) const KEY_PROVIDERS_IN_USE: &str = "WITH RECURSIVE found(v) AS (
       SELECT MIN(key_provider) FROM projects
       UNION ALL
       SELECT (SELECT MIN(key_provider) FROM projects WHERE key_provider > found.v) FROM found WHERE found.v IS NOT NULL)
     SELECT v FROM found WHERE v IS NOT NULL";

/// The distinct master key ids of the file provider, the same way.
pub(super) const KEK_IDS_IN_USE: &str = "WITH RECURSIVE found(v) AS (
       SELECT MIN(kek_id) FROM projects WHERE key_provider = 'file'
       UNION ALL
       SELECT (SELECT MIN(kek_id) FROM projects WHERE key_provider = 'file' AND kek_id > found.v)
       FROM found WHERE found.v IS NOT NULL)
     SELECT v FROM found WHERE v IS NOT NULL";

#[async_trait]
impl KeyStore for SqlStore {
    async fn data_keys_batch(
        &self,
        after_id: i64,
        target: NotWrappedBy<'_>,
        limit: i64,
    ) -> Result<Vec<(i64, WrappedKey)>> {
        // A migration wants every key of another provider; a rotation
        // every key of its own provider not on its current key.
        let rows: Vec<(i64, String, String, Vec<u8>)> = match target {
            NotWrappedBy::Provider(provider) => on!(self.writer(), |pool| sqlx::query_as(
                "SELECT id, key_provider, kek_id, wrapped_data_key FROM projects
                 WHERE id > $1 AND key_provider <> $2 ORDER BY id LIMIT $3"
            )
            .bind(after_id)
            .bind(provider)
            .bind(limit)
            .fetch_all(pool)
            .await)?,
            NotWrappedBy::Key { provider, key_id } => on!(self.writer(), |pool| sqlx::query_as(
                "SELECT id, key_provider, kek_id, wrapped_data_key FROM projects
                 WHERE id > $1 AND key_provider = $2 AND kek_id <> $3 ORDER BY id LIMIT $4"
            )
            .bind(after_id)
            .bind(provider)
            .bind(key_id)
            .bind(limit)
            .fetch_all(pool)
            .await)?,
        };
        Ok(rows
            .into_iter()
            .map(|(id, provider, key_id, blob)| (id, WrappedKey { provider, key_id, blob }))
            .collect())
    }

    async fn replace_data_key(&self, project_id: i64, old: &WrappedKey, new: &WrappedKey) -> Result<bool> {
        let done = on!(self.writer(), |pool| sqlx::query(
            "UPDATE projects SET key_provider = $1, kek_id = $2, wrapped_data_key = $3
             WHERE id = $4 AND key_provider = $5 AND wrapped_data_key = $6"
        )
        .bind(&new.provider)
        .bind(&new.key_id)
        .bind(&new.blob)
        .bind(project_id)
        .bind(&old.provider)
        .bind(&old.blob)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))?;
        Ok(done == 1)
    }

    async fn key_providers_in_use(&self) -> Result<Vec<String>> {
        Ok(on!(self.writer(), |pool| sqlx::query_scalar(KEY_PROVIDERS_IN_USE)
            .fetch_all(pool)
            .await)?)
    }

    async fn data_key_counts(&self) -> Result<Vec<(String, String, i64)>> {
        Ok(on!(self.writer(), |pool| sqlx::query_as(
            "SELECT key_provider, kek_id, COUNT(*) FROM projects
             GROUP BY key_provider, kek_id ORDER BY key_provider, kek_id"
        )
        .fetch_all(pool)
        .await)?)
    }
}
