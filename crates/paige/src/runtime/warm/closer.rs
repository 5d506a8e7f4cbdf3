//! The closing writes of webhook executions, gathered into batches.
//!
//! A webhook's execution is closed after its answer has gone (its status,
//! response status and log lines), durably. Written one by one, each close
//! is an fsync'd commit on SQLite's one writer connection, and the opening
//! write of the caller's next request waits behind it: half a millisecond
//! of the webhook's added latency. Gathered for [`WINDOW`], the closes of
//! a busy project share one commit, and an opening write rarely meets one.
//!
//! What a crash costs is what it cost before, over a longer window: the
//! record of a request answered in the last [`WINDOW`] before a `kill -9`
//! stays `running` until the abandoned-execution sweep fails it at its
//! deadline, and its log lines are lost. A server that stops cleanly
//! writes what it holds first ([`Closer::flush`]).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::model::execution::{ExecutionRecord, LogLine};
use crate::runtime::record;
use crate::store::Store;
use crate::store::executions::{ExecutionOutcome, Finish};

/// How long the first close of a batch waits for others.
const WINDOW: Duration = Duration::from_millis(20);
/// The most closes one commit takes.
const MAX_BATCH: usize = 256;

/// One execution's end, as the webhook path hands it over.
#[derive(Debug)]
pub(super) struct Close {
    pub execution: ExecutionRecord,
    pub lines: Vec<LogLine>,
    pub outcome: ExecutionOutcome,
}

#[derive(Debug)]
enum Queued {
    Close(Box<Close>),
    Flush(oneshot::Sender<()>),
}

/// The queue of one server's closes; its writer task starts with the first.
#[derive(Debug, Default)]
pub struct Closer {
    queue: OnceLock<mpsc::UnboundedSender<Queued>>,
}

impl Closer {
    /// Queues `close` for the next batch (its writer is started on `store`
    /// if this is the first).
    pub(super) fn close(&self, store: &Arc<dyn Store>, close: Close) {
        let queue = self.queue.get_or_init(|| {
            let (sender, receiver) = mpsc::unbounded_channel();
            tokio::spawn(write_batches(Arc::clone(store), receiver));
            sender
        });
        if let Err(mpsc::error::SendError(Queued::Close(close))) = queue.send(Queued::Close(Box::new(close))) {
            tracing::error!(
                execution = close.execution.id,
                "a webhook's execution could not be finished: its writer is gone"
            );
        }
    }

    /// Returns once every close queued before it is written (or failed).
    pub(super) async fn flush(&self) {
        let Some(queue) = self.queue.get() else {
            return;
        };
        let (done, written) = oneshot::channel();
        if queue.send(Queued::Flush(done)).is_ok() {
            let _ = written.await;
        }
    }
}

/// Takes closes off the queue in batches of up to [`MAX_BATCH`] gathered
/// within [`WINDOW`] of the first, and writes each batch in one commit.
async fn write_batches(store: Arc<dyn Store>, mut queue: mpsc::UnboundedReceiver<Queued>) {
    while let Some(first) = queue.recv().await {
        let mut closes = Vec::new();
        let mut flushes = Vec::new();
        let mut next = Some(first);
        let until = tokio::time::Instant::now() + WINDOW;
        while let Some(queued) = next.take() {
            match queued {
                Queued::Close(close) => closes.push(*close),
                // Whoever flushes waits for what came before, no longer.
                Queued::Flush(done) => {
                    flushes.push(done);
                    break;
                }
            }
            if closes.len() >= MAX_BATCH {
                break;
            }
            next = tokio::time::timeout_at(until, queue.recv()).await.ok().flatten();
        }
        write(store.as_ref(), closes).await;
        for done in flushes {
            let _ = done.send(());
        }
    }
}

async fn write(store: &dyn Store, closes: Vec<Close>) {
    if closes.is_empty() {
        return;
    }
    let finishes: Vec<Finish<'_>> = closes
        .iter()
        .map(|close| Finish {
            execution_id: close.execution.id,
            last_lines: &close.lines,
            outcome: &close.outcome,
        })
        .collect();
    match store.finish_executions(&finishes).await {
        Ok(finished) => {
            for close in &closes {
                record::count_finished(&close.execution, &close.outcome);
            }
            if finished < closes.len() {
                tracing::warn!(
                    not_running = closes.len() - finished,
                    "webhook executions were no longer running when their end was written (the sweep had failed them)"
                );
            }
        }
        Err(e) => {
            let ids: Vec<i64> = closes.iter().map(|close| close.execution.id).collect();
            tracing::error!(error = %e, executions = ?ids, "webhook executions could not be finished");
        }
    }
}
