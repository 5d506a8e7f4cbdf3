//! The SQLite side of the group commit (`group_commit.rs`): one
//! `BEGIN IMMEDIATE` transaction on the writer connection per batch.

use async_trait::async_trait;
use sqlx::{Row, SqliteConnection, SqlitePool};

use super::group_commit::{BatchCommit, BatchResults, WriteJob};
use super::sqlite::insert_audit;
use super::{NewAudit, WriteOutcome, now_millis};
use crate::error::Result;
use crate::secrets::rules;

/// Commits batches on the store's one writer connection.
pub struct SqliteBatches(pub SqlitePool);

#[async_trait]
impl BatchCommit for SqliteBatches {
    async fn commit_batch(&self, batch: &[WriteJob]) -> std::result::Result<BatchResults, sqlx::Error> {
        let mut tx = self.0.begin_with("BEGIN IMMEDIATE").await?;
        let mut results = Vec::with_capacity(batch.len());
        for job in batch {
            // Separate statements, not one `raw_sql` string: `raw_sql` makes
            // the spawned loop fail the compiler's `Send` check.
            sqlx::query("SAVEPOINT job").execute(&mut *tx).await?;
            let result = apply(&mut tx, job).await;
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

/// The writes of one job: bump each key's version, seal for it, upsert,
/// audit, then check the project's limits on the totals after the job.
async fn apply(conn: &mut SqliteConnection, job: &WriteJob) -> Result<Vec<WriteOutcome>> {
    let now = now_millis();
    let mut outcomes = Vec::with_capacity(job.writes.len());
    for write in &job.writes {
        let previous: Option<(i64, bool)> =
            sqlx::query_as("SELECT version, ciphertext IS NOT NULL FROM secrets WHERE project_id = ? AND key = ?")
                .bind(job.project_id)
                .bind(&write.key)
                .fetch_optional(&mut *conn)
                .await?;
        let (version, created) = match previous {
            Some((version, live)) => (version + 1, !live),
            None => (1, true),
        };
        let ciphertext = (write.seal)(version);
        sqlx::query(
            "INSERT INTO secrets (project_id, key, version, ciphertext, value_len, updated_at, updated_by)
             VALUES (?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (project_id, key) DO UPDATE SET
               version = excluded.version, ciphertext = excluded.ciphertext, value_len = excluded.value_len,
               updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        )
        .bind(job.project_id)
        .bind(&write.key)
        .bind(version)
        .bind(ciphertext)
        .bind(i64::try_from(write.value_len).unwrap_or(i64::MAX))
        .bind(now)
        .bind(&job.actor.name)
        .execute(&mut *conn)
        .await?;
        let audit = NewAudit {
            project_id: Some(job.project_id),
            action: if created { "secret.create" } else { "secret.overwrite" },
            key: Some(&write.key),
            version: Some(version),
            detail: None,
        };
        insert_audit(&mut *conn, audit, &job.actor, now).await?;
        outcomes.push(WriteOutcome {
            key: write.key.clone(),
            version,
            created,
            updated_at: now,
        });
    }
    let row = sqlx::query(
        "SELECT COUNT(*) AS count, COALESCE(SUM(value_len), 0) AS total FROM secrets
         WHERE project_id = ? AND ciphertext IS NOT NULL",
    )
    .bind(job.project_id)
    .fetch_one(&mut *conn)
    .await?;
    let (count, total): (i64, i64) = (row.get("count"), row.get("total"));
    rules::check_project_totals(
        usize::try_from(count).unwrap_or(usize::MAX),
        usize::try_from(total).unwrap_or(usize::MAX),
    )?;
    Ok(outcomes)
}
