//! Group commit for secret writes on SQLite.
//!
//! Every acknowledged write must be on disk (`synchronous=FULL`), and one
//! fsync costs about a millisecond here, so one commit per request would
//! cap durable writes near 1,000 per second. Instead, writes queue for one
//! task that owns the writer connection for a batch: it takes every write
//! waiting, applies each inside its own savepoint (so a refused write —
//! say, over the project's limits — is rolled back alone), commits once,
//! and only then answers each caller. Under load a batch holds every write
//! that arrived during the previous fsync; alone, a write commits at once.

use sqlx::{Row, SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use super::sqlite::insert_audit;
use super::{Actor, NewAudit, SecretWrite, WriteOutcome, now_millis};
use crate::error::{Error, Result};
use crate::secrets::rules;

/// The most writes one transaction takes.
const MAX_BATCH: usize = 512;
/// Writes waiting beyond this make callers wait to enqueue (back-pressure).
const QUEUE: usize = 4096;

struct Job {
    project_id: i64,
    writes: Vec<SecretWrite>,
    actor: Actor,
    reply: oneshot::Sender<Result<Vec<WriteOutcome>>>,
}

#[derive(Debug, Clone)]
pub struct GroupCommit {
    queue: mpsc::Sender<Job>,
}

impl GroupCommit {
    /// Starts the committing task; it ends when every handle is dropped.
    pub fn start(writer: SqlitePool) -> Self {
        let (queue, jobs) = mpsc::channel(QUEUE);
        tokio::spawn(run(writer, jobs));
        Self { queue }
    }

    /// Writes all of `writes` or none, durably, before returning.
    pub async fn write(&self, project_id: i64, writes: Vec<SecretWrite>, actor: Actor) -> Result<Vec<WriteOutcome>> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            project_id,
            writes,
            actor,
            reply,
        };
        let stopped = || Error::Database(sqlx::Error::PoolClosed);
        self.queue.send(job).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn run(writer: SqlitePool, mut jobs: mpsc::Receiver<Job>) {
    let mut batch = Vec::new();
    while jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let results = match commit_batch(&writer, &batch).await {
            Ok(results) => results,
            Err(e) => {
                let message = format!("write not committed: {e}");
                batch
                    .iter()
                    .map(|_| Err(Error::Database(sqlx::Error::Protocol(message.clone()))))
                    .collect()
            }
        };
        for (job, result) in batch.drain(..).zip(results) {
            // A caller that went away no longer needs its answer.
            let _ = job.reply.send(result);
        }
    }
}

/// One transaction for the whole batch; one result per job, in order. An
/// `Err` means nothing of the batch was committed.
async fn commit_batch(writer: &SqlitePool, batch: &[Job]) -> Result<Vec<Result<Vec<WriteOutcome>>>, sqlx::Error> {
    let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
    let mut results = Vec::with_capacity(batch.len());
    for job in batch {
        // Separate statements, not one `raw_sql` string: `raw_sql` makes the
        // spawned loop fail the compiler's `Send` check.
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

/// The writes of one job: bump each key's version, seal for it, upsert,
/// audit, then check the project's limits on the totals after the job.
async fn apply(conn: &mut SqliteConnection, job: &Job) -> Result<Vec<WriteOutcome>> {
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
