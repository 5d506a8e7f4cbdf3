//! The PostgreSQL side of the group commit (`group_commit.rs`): one
//! transaction per batch, on one pooled connection.
//!
//! The batch first locks every project it writes to, in one statement and
//! in id order. Writes of other nodes (and this node's deletes) lock one
//! project at a time, and key rows only under their project's lock, so two
//! batches, or a batch and a single write, can never wait on each other in
//! a cycle.

use async_trait::async_trait;
use sqlx::PgPool;

use super::group_commit::{BatchCommit, BatchResults, WriteJob};
use super::postgres::apply_writes;
use crate::error::Error;

/// Commits batches on connections of the node's pool.
pub struct PgBatches(pub PgPool);

#[async_trait]
impl BatchCommit for PgBatches {
    async fn commit_batch(&self, batch: &[WriteJob]) -> Result<BatchResults, sqlx::Error> {
        let mut tx = self.0.begin().await?;
        let mut project_ids: Vec<i64> = batch.iter().map(|job| job.project_id).collect();
        project_ids.sort_unstable();
        project_ids.dedup();
        let locked: Vec<i64> =
            sqlx::query_scalar("SELECT id FROM projects WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE")
                .bind(&project_ids)
                .fetch_all(&mut *tx)
                .await?;
        let mut results = Vec::with_capacity(batch.len());
        for job in batch {
            if locked.binary_search(&job.project_id).is_err() {
                // Deleted since the caller looked it up.
                results.push(Err(Error::NotFound(format!("project #{}", job.project_id))));
                continue;
            }
            sqlx::query("SAVEPOINT job").execute(&mut *tx).await?;
            // On a refusal the savepoint is rolled back: no row, no version
            // and no audit record of the refused write remains.
            let result = apply_writes(&mut tx, job.project_id, &job.writes, &job.actor).await;
            if result.is_err() {
                sqlx::query("ROLLBACK TO job").execute(&mut *tx).await?;
            }
            sqlx::query("RELEASE job").execute(&mut *tx).await?;
            results.push(result);
        }
        tx.commit().await?;
        Ok(results)
    }
}
