//! The SQLite implementation of [`ExecutionStore`].

use async_trait::async_trait;
use sqlx::SqliteConnection;

use super::executions::{ABANDONED_ERROR, ExecutionOutcome, ExecutionRecord, ExecutionStore, LogLine, NewExecution};
use super::rows::{EXECUTION_COLUMNS, execution_from_row, list_to_json, log_line_from_row};
use super::sqlite::{SqliteStore, insert_audit};
use super::{Actor, Millis, Page};
use crate::error::{Error, Result};

async fn insert_lines(conn: &mut SqliteConnection, execution_id: i64, lines: &[LogLine]) -> Result<()> {
    for line in lines {
        sqlx::query("INSERT INTO execution_logs (execution_id, seq, stream, at, line) VALUES (?, ?, ?, ?, ?)")
            .bind(execution_id)
            .bind(line.seq)
            .bind(line.stream.as_str())
            .bind(line.at)
            .bind(&line.text)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

#[async_trait]
impl ExecutionStore for SqliteStore {
    async fn create_execution(&self, new: NewExecution<'_>, actor: &Actor) -> Result<i64> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO executions
               (project_id, status, trigger_kind, actor, command, secret_names, started_at, deadline_at)
             VALUES (?, 'running', ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(new.project_id)
        .bind(new.trigger)
        .bind(&actor.name)
        .bind(list_to_json(new.command))
        .bind(list_to_json(new.secret_names))
        .bind(new.started_at)
        .bind(new.deadline_at)
        .fetch_one(&mut *tx)
        .await?;
        insert_audit(&mut tx, new.start_audit(id), actor, new.started_at).await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn append_execution_log(&self, execution_id: i64, lines: &[LogLine]) -> Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        insert_lines(&mut tx, execution_id, lines).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn finish_execution(
        &self,
        execution_id: i64,
        last_lines: &[LogLine],
        outcome: &ExecutionOutcome,
    ) -> Result<()> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        insert_lines(&mut tx, execution_id, last_lines).await?;
        let updated = sqlx::query(
            "UPDATE executions SET status = ?, finished_at = ?, duration_ms = ?, exit_code = ?, signal = ?,
             error = ?, output_bytes = ?, truncated = ? WHERE id = ? AND status = 'running'",
        )
        .bind(outcome.status.as_str())
        .bind(outcome.finished_at)
        .bind(outcome.duration_ms)
        .bind(outcome.exit_code)
        .bind(outcome.signal)
        .bind(outcome.error.as_deref())
        .bind(outcome.output_bytes)
        .bind(i64::from(outcome.truncated))
        .bind(execution_id)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() != 1 {
            return Err(Error::NotFound(format!("running execution #{execution_id}")));
        }
        tx.commit().await?;
        Ok(())
    }

    async fn execution(&self, project_id: i64, execution_id: i64) -> Result<Option<ExecutionRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {EXECUTION_COLUMNS} FROM executions WHERE id = ? AND project_id = ?"
        ))
        .bind(execution_id)
        .bind(project_id)
        .fetch_optional(self.reader())
        .await?;
        row.as_ref().map(execution_from_row).transpose()
    }

    async fn list_executions(&self, project_id: i64, page: Page) -> Result<Vec<ExecutionRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {EXECUTION_COLUMNS} FROM executions WHERE project_id = ? AND id < ? ORDER BY id DESC LIMIT ?"
        ))
        .bind(project_id)
        .bind(page.before_id.unwrap_or(i64::MAX))
        .bind(i64::from(page.limit))
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(execution_from_row).collect()
    }

    async fn execution_log(&self, execution_id: i64, after_seq: Option<i64>, limit: u32) -> Result<Vec<LogLine>> {
        let rows = sqlx::query(
            "SELECT seq, stream, at, line FROM execution_logs WHERE execution_id = ? AND seq > ?
             ORDER BY seq LIMIT ?",
        )
        .bind(execution_id)
        .bind(after_seq.unwrap_or(-1))
        .bind(i64::from(limit))
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(log_line_from_row).collect()
    }

    async fn fail_abandoned_executions(&self, now: Millis) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE executions SET status = 'failed', finished_at = ?, duration_ms = ? - started_at, error = ?
             WHERE status = 'running' AND deadline_at < ?",
        )
        .bind(now)
        .bind(now)
        .bind(ABANDONED_ERROR)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }
}
