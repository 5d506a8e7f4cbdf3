//! The [`RetentionStore`] of the SQL store: every statement stands alone
//! (no transaction), so each holds the write lock only while it runs.

use async_trait::async_trait;

use super::backend::{SqlStore, on};
use super::retention::{LOG_LINES_PER_DELETE, RetentionStore};
use crate::error::Result;
use crate::model::Millis;

/// The oldest expired executions, by start time rather than by id: the
/// index on `started_at` then reads only the expired rows. In id order
/// SQLite walked the whole table to learn that nothing had expired (10
/// million rows at 10,000 projects, 1.7 s on the writer connection, once a
/// minute).
pub(super) const EXPIRED_EXECUTIONS: &str = "SELECT id FROM executions WHERE started_at < $1 AND status <> 'running'
     ORDER BY started_at, id LIMIT $2";

/// The oldest expired audit records, by time (`audit_by_time`), for the
/// same reason.
pub(super) const EXPIRED_AUDIT: &str = "DELETE FROM audit_events WHERE id IN
     (SELECT id FROM audit_events WHERE at < $1 ORDER BY at, id LIMIT $2)";

#[async_trait]
impl RetentionStore for SqlStore {
    async fn expired_executions(&self, before: Millis, limit: i64) -> Result<Vec<i64>> {
        Ok(on!(self.writer(), |pool| sqlx::query_scalar(EXPIRED_EXECUTIONS)
            .bind(before)
            .bind(limit)
            .fetch_all(pool)
            .await)?)
    }

    async fn delete_execution(&self, execution_id: i64) -> Result<(u64, u64)> {
        let range: (Option<i64>, Option<i64>) = on!(self.writer(), |pool| sqlx::query_as(
            "SELECT MIN(seq), MAX(seq) FROM execution_logs WHERE execution_id = $1"
        )
        .bind(execution_id)
        .fetch_one(pool)
        .await)?;
        let mut deleted = 0;
        if let (Some(first), Some(last)) = range {
            // By ranges of the primary key: each statement is short, and
            // the log of a chatty bot (up to 1 MiB) takes a few of them.
            let mut from = first;
            while from <= last {
                deleted += on!(self.writer(), |pool| sqlx::query(
                    "DELETE FROM execution_logs WHERE execution_id = $1 AND seq >= $2 AND seq < $3"
                )
                .bind(execution_id)
                .bind(from)
                .bind(from + LOG_LINES_PER_DELETE)
                .execute(pool)
                .await?
                .rows_affected());
                from += LOG_LINES_PER_DELETE;
            }
        }
        let executions = on!(self.writer(), |pool| sqlx::query(
            "DELETE FROM executions WHERE id = $1 AND status <> 'running'"
        )
        .bind(execution_id)
        .execute(pool)
        .await?
        .rows_affected());
        Ok((executions, deleted))
    }

    async fn delete_audit_before(&self, before: Millis, limit: i64) -> Result<u64> {
        Ok(on!(self.writer(), |pool| sqlx::query(EXPIRED_AUDIT)
            .bind(before)
            .bind(limit)
            .execute(pool)
            .await?
            .rows_affected()))
    }
}
