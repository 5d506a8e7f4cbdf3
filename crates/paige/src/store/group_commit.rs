//! Group commit for secret writes, on either store.
//!
//! Every acknowledged write must be durable, and one commit costs a disk
//! flush (about a millisecond for SQLite here, a few for PostgreSQL, which
//! also holds the project's row lock until the flush is done). One commit
//! per request would cap durable writes at one flush each. Instead, writes
//! queue for one task per node that takes every write waiting, hands the
//! batch to the store to apply in one transaction (each job inside its own
//! savepoint, so a refused write — say, over the project's limits — is
//! rolled back alone), and only after the commit answers each caller.
//! Under load a batch holds every write that arrived during the previous
//! commit; alone, a write commits at once.

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};

use super::{Actor, SecretWrite, WriteOutcome};
use crate::error::{Error, Result};

/// The most writes one transaction takes.
const MAX_BATCH: usize = 512;
/// Writes waiting beyond this make callers wait to enqueue (back-pressure).
const QUEUE: usize = 4096;

/// The writes of one `write_secrets` call: all of them or none.
pub struct WriteJob {
    pub project_id: i64,
    pub writes: Vec<SecretWrite>,
    pub actor: Actor,
}

/// One result per job of a batch, in order.
pub type BatchResults = Vec<Result<Vec<WriteOutcome>>>;

/// How a store commits a batch of jobs.
#[async_trait]
pub trait BatchCommit: Send + Sync + 'static {
    /// One transaction for the whole batch. An `Err` means nothing of the
    /// batch was committed (or, for a failed `COMMIT`, that it is unknown).
    async fn commit_batch(&self, batch: &[WriteJob]) -> std::result::Result<BatchResults, sqlx::Error>;
}

struct Queued {
    job: WriteJob,
    reply: oneshot::Sender<Result<Vec<WriteOutcome>>>,
}

#[derive(Debug, Clone)]
pub struct GroupCommit {
    queue: mpsc::Sender<Queued>,
}

impl GroupCommit {
    /// Starts the committing task; it ends when every handle is dropped.
    pub fn start(store: impl BatchCommit) -> Self {
        let (queue, jobs) = mpsc::channel(QUEUE);
        tokio::spawn(run(store, jobs));
        Self { queue }
    }

    /// Writes all of `writes` or none, durably, before returning.
    pub async fn write(&self, project_id: i64, writes: Vec<SecretWrite>, actor: Actor) -> Result<Vec<WriteOutcome>> {
        let (reply, answer) = oneshot::channel();
        let job = WriteJob {
            project_id,
            writes,
            actor,
        };
        let stopped = || Error::Database(sqlx::Error::PoolClosed);
        self.queue.send(Queued { job, reply }).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn run(store: impl BatchCommit, mut queue: mpsc::Receiver<Queued>) {
    let mut waiting = Vec::new();
    while queue.recv_many(&mut waiting, MAX_BATCH).await > 0 {
        let (jobs, replies): (Vec<WriteJob>, Vec<_>) = waiting.drain(..).map(|q| (q.job, q.reply)).unzip();
        let results = match store.commit_batch(&jobs).await {
            Ok(results) => results,
            Err(e) => jobs.iter().map(|_| Err(Error::batch_failed(&e))).collect(),
        };
        for (reply, result) in replies.into_iter().zip(results) {
            // A caller that went away no longer needs its answer.
            let _ = reply.send(result);
        }
    }
}
