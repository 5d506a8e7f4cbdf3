//! Purging what is past its retention time (the store's part of it).
//!
//! Each call deletes one small batch in statements of its own, each
//! committed alone: a purge never holds the write lock (SQLite's one lock,
//! or PostgreSQL's row locks) for longer than one short statement, so
//! secret writes and executions go on between them. The loop over
//! batches, the audit record and the counters are `retention.rs`'s.

use async_trait::async_trait;

use crate::error::Result;
use crate::model::Millis;

/// Log lines one statement deletes at most.
pub const LOG_LINES_PER_DELETE: i64 = 2_000;

#[async_trait]
pub trait RetentionStore: Send + Sync {
    /// Up to `limit` ids of executions that are over (not `running`) and
    /// started before `before`, oldest first.
    async fn expired_executions(&self, before: Millis, limit: i64) -> Result<Vec<i64>>;

    /// Deletes one execution and its log, the log in statements of at most
    /// [`LOG_LINES_PER_DELETE`] lines. Returns (executions deleted, 0 or 1
    /// as another node may have been first; log lines deleted).
    async fn delete_execution(&self, execution_id: i64) -> Result<(u64, u64)>;

    /// Deletes up to `limit` audit records from before `before`, oldest
    /// first, in one statement. Returns how many.
    async fn delete_audit_before(&self, before: Millis, limit: i64) -> Result<u64>;
}
