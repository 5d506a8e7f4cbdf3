//! The PostgreSQL implementation of [`ExecutionStore`].

use async_trait::async_trait;
use sqlx::postgres::PgConnection;

use super::executions::{ABANDONED_ERROR, ExecutionOutcome, ExecutionRecord, ExecutionStore, LogLine, NewExecution};
use super::postgres::{PostgresStore, insert_audit};
use super::rows::{EXECUTION_COLUMNS, execution_from_row, list_to_json, log_line_from_row};
use super::{Actor, Millis, Page};
use crate::error::{Error, Result};

async fn insert_lines(conn: &mut PgConnection, execution_id: i64, lines: &[LogLine]) -> Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    // One statement for the whole batch: one round trip, not one per line.
    let seqs: Vec<i64> = lines.iter().map(|l| l.seq).collect();
    let streams: Vec<&str> = lines.iter().map(|l| l.stream.as_str()).collect();
    let ats: Vec<i64> = lines.iter().map(|l| l.at).collect();
    let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
    sqlx::query(
        "INSERT INTO execution_logs (execution_id, seq, stream, at, line)
         SELECT $1, * FROM UNNEST($2::BIGINT[], $3::TEXT[], $4::BIGINT[], $5::TEXT[])",
    )
    .bind(execution_id)
    .bind(&seqs)
    .bind(&streams)
    .bind(&ats)
    .bind(&texts)
    .execute(conn)
    .await?;
    Ok(())
}

#[async_trait]
impl ExecutionStore for PostgresStore {
    async fn create_execution(&self, new: NewExecution<'_>, actor: &Actor) -> Result<i64> {
        let mut tx = self.pool().begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO executions
               (project_id, status, trigger_kind, actor, command, secret_names, started_at, deadline_at)
             VALUES ($1, 'running', $2, $3, $4, $5, $6, $7) RETURNING id",
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
        let mut conn = self.pool().acquire().await?;
        insert_lines(&mut conn, execution_id, lines).await
    }

    async fn finish_execution(
        &self,
        execution_id: i64,
        last_lines: &[LogLine],
        outcome: &ExecutionOutcome,
    ) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        insert_lines(&mut tx, execution_id, last_lines).await?;
        let updated = sqlx::query(
            "UPDATE executions SET status = $1, finished_at = $2, duration_ms = $3, exit_code = $4, signal = $5,
             error = $6, output_bytes = $7, truncated = $8 WHERE id = $9 AND status = 'running'",
        )
        .bind(outcome.status.as_str())
        .bind(outcome.finished_at)
        .bind(outcome.duration_ms)
        .bind(outcome.exit_code)
        .bind(outcome.signal)
        .bind(outcome.error.as_deref())
        .bind(outcome.output_bytes)
        .bind(outcome.truncated)
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
            "SELECT {EXECUTION_COLUMNS} FROM executions WHERE id = $1 AND project_id = $2"
        ))
        .bind(execution_id)
        .bind(project_id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(execution_from_row).transpose()
    }

    async fn list_executions(&self, project_id: i64, page: Page) -> Result<Vec<ExecutionRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {EXECUTION_COLUMNS} FROM executions WHERE project_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3"
        ))
        .bind(project_id)
        .bind(page.before_id.unwrap_or(i64::MAX))
        .bind(i64::from(page.limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(execution_from_row).collect()
    }

    async fn execution_log(&self, execution_id: i64, after_seq: Option<i64>, limit: u32) -> Result<Vec<LogLine>> {
        let rows = sqlx::query(
            "SELECT seq, stream, at, line FROM execution_logs WHERE execution_id = $1 AND seq > $2
             ORDER BY seq LIMIT $3",
        )
        .bind(execution_id)
        .bind(after_seq.unwrap_or(-1))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(log_line_from_row).collect()
    }

    async fn fail_abandoned_executions(&self, now: Millis) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE executions SET status = 'failed', finished_at = $1, duration_ms = $1 - started_at, error = $2
             WHERE status = 'running' AND deadline_at < $1",
        )
        .bind(now)
        .bind(ABANDONED_ERROR)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }
}
