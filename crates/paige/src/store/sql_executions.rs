//! The [`ExecutionStore`] of the SQL store.

use async_trait::async_trait;
use sqlx::QueryBuilder;

use super::backend::{Conn, SqlStore, Tx, on};
use super::executions::{ABANDONED_ERROR, ExecutionOutcome, ExecutionStore, Finish, HookTarget, NewExecution};
use super::relaxed::{RelaxedOne, RelaxedTx};
use super::rows::{
    EXECUTION_COLUMNS, PROJECT_COLUMNS, execution_from_row, list_to_json, log_line_from_row, project_from_row,
};
use super::sql::insert_audit;
use crate::error::{Error, Result};
use crate::model::{Actor, ExecutionRecord, LogLine, Millis, NewAudit, Page, RuntimeMode, now_millis};

/// Log lines per INSERT: at 5 values a line, far below either database's
/// limit of bound values.
const LINES_PER_INSERT: usize = 1_000;

/// The sweep every node runs each minute: it reads only the running
/// executions (the partial index `executions_running`), however many
/// finished ones are kept.
pub(super) const FAIL_ABANDONED: &str =
    "UPDATE executions SET status = 'failed', finished_at = $1, duration_ms = $1 - started_at, error = $2
     WHERE status = 'running' AND deadline_at < $1";

/// Inserts log lines, one statement per thousand.
/// Appends an execution's last lines and records its outcome, in `tx`;
/// false if it is no longer running.
async fn finish_one(tx: &mut Tx, finish: Finish<'_>) -> Result<bool> {
    let Finish {
        execution_id,
        last_lines,
        outcome,
    } = finish;
    insert_lines(tx.conn(), execution_id, last_lines).await?;
    update_finished(tx.conn(), execution_id, outcome).await
}

/// How a running execution ended.
const UPDATE_FINISHED: &str = "UPDATE executions SET status = $1, finished_at = $2, duration_ms = $3,
    exit_code = $4, signal = $5, error = $6, output_bytes = $7, truncated = $8, response_status = $9
    WHERE id = $10 AND status = 'running' RETURNING id";

/// Records how a running execution ended, by [`UPDATE_FINISHED`] or `sql`
/// (the same, wrapped: see `RelaxedOne::sql`): false if it is not running.
async fn update_finished(conn: Conn<'_>, execution_id: i64, outcome: &ExecutionOutcome) -> Result<bool> {
    update_finished_by(conn, UPDATE_FINISHED, execution_id, outcome).await
}

async fn update_finished_by(conn: Conn<'_>, sql: &str, execution_id: i64, outcome: &ExecutionOutcome) -> Result<bool> {
    // Every row fetched: on SQLite every statement of a wrapped `sql` ran.
    let updated = on!(conn, |c| sqlx::query(sql)
        .bind(outcome.status.as_str())
        .bind(outcome.finished_at)
        .bind(outcome.duration_ms)
        .bind(outcome.exit_code)
        .bind(outcome.signal)
        .bind(outcome.error.as_deref())
        .bind(outcome.output_bytes)
        .bind(outcome.truncated)
        .bind(outcome.response_status)
        .bind(execution_id)
        .fetch_all(c)
        .await?
        .len());
    Ok(updated == 1)
}

async fn insert_lines(mut conn: Conn<'_>, execution_id: i64, lines: &[LogLine]) -> Result<()> {
    for chunk in lines.chunks(LINES_PER_INSERT) {
        on!(&mut conn, |c: Db| {
            let mut insert =
                QueryBuilder::<Db>::new("INSERT INTO execution_logs (execution_id, seq, stream, at, line) ");
            insert.push_values(chunk, |mut row, line| {
                row.push_bind(execution_id)
                    .push_bind(line.seq)
                    .push_bind(line.stream.as_str())
                    .push_bind(line.at)
                    .push_bind(line.text.as_str());
            });
            insert.build().execute(&mut **c).await?;
        });
    }
    Ok(())
}

#[async_trait]
impl ExecutionStore for SqlStore {
    async fn create_execution(&self, new: NewExecution<'_>, actor: &Actor) -> Result<i64> {
        // On the way to the bot's exec: no fsync (see `relaxed.rs` for what
        // a crash or a power loss does to it).
        let mut tx = RelaxedTx::begin(self).await?;
        let id: i64 = on!(tx.conn()?, |c| sqlx::query_scalar(
            "INSERT INTO executions
               (project_id, status, trigger_kind, actor, command, secret_names, started_at, deadline_at,
                request_method, request_path)
             VALUES ($1, 'running', $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id"
        )
        .bind(new.project_id)
        .bind(new.trigger)
        .bind(&actor.name)
        .bind(list_to_json(new.command))
        .bind(list_to_json(new.secret_names))
        .bind(new.started_at)
        .bind(new.deadline_at)
        .bind(new.request.map(|(method, _)| method))
        .bind(new.request.map(|(_, path)| path))
        .fetch_one(c)
        .await)?;
        insert_audit(tx.conn()?, new.start_audit(id), actor, new.started_at).await?;
        // Synced soon: not while the bot starts, unless it runs that long.
        tx.commit_sync_soon().await?;
        Ok(id)
    }

    async fn append_execution_log(&self, execution_id: i64, lines: &[LogLine]) -> Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        if lines.len() <= LINES_PER_INSERT {
            // One statement: it commits whole on its own.
            let mut conn = self.acquire().await?;
            return insert_lines(conn.conn(), execution_id, lines).await;
        }
        let mut tx = self.begin_write().await?;
        insert_lines(tx.conn(), execution_id, lines).await?;
        tx.commit().await
    }

    async fn finish_execution(
        &self,
        execution_id: i64,
        last_lines: &[LogLine],
        outcome: &ExecutionOutcome,
    ) -> Result<()> {
        // On the way to the execution's answer: no fsync either (see
        // `relaxed.rs`); the WAL is synced right after, in the background.
        let not_running = || Error::NotFound(format!("running execution #{execution_id}"));
        if last_lines.is_empty() {
            // One statement: on SQLite one round trip, not a transaction's three.
            let mut one = RelaxedOne::begin(self).await?;
            let sql = one.sql(UPDATE_FINISHED);
            if !update_finished_by(one.conn()?, &sql, execution_id, outcome).await? {
                return Err(not_running());
            }
            return one.commit().await;
        }
        let mut tx = RelaxedTx::begin(self).await?;
        insert_lines(tx.conn()?, execution_id, last_lines).await?;
        if !update_finished(tx.conn()?, execution_id, outcome).await? {
            return Err(not_running());
        }
        tx.commit().await
    }

    async fn finish_executions(&self, finishes: &[Finish<'_>]) -> Result<usize> {
        let mut tx = self.begin_write().await?;
        let mut finished = 0;
        for finish in finishes {
            if finish_one(&mut tx, *finish).await? {
                finished += 1;
            }
        }
        tx.commit().await?;
        Ok(finished)
    }

    async fn execution(&self, project_id: i64, execution_id: i64) -> Result<Option<ExecutionRecord>> {
        on!(self.reader(), |pool| sqlx::query(&format!(
            "SELECT {EXECUTION_COLUMNS} FROM executions WHERE id = $1 AND project_id = $2"
        ))
        .bind(execution_id)
        .bind(project_id)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(execution_from_row)
        .transpose())
    }

    async fn list_executions(&self, project_id: i64, page: Page) -> Result<Vec<ExecutionRecord>> {
        let (before, limit) = page.bounds();
        on!(self.reader(), |pool| sqlx::query(&format!(
            "SELECT {EXECUTION_COLUMNS} FROM executions WHERE project_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3"
        ))
        .bind(project_id)
        .bind(before)
        .bind(limit)
        .fetch_all(pool)
        .await?
        .iter()
        .map(execution_from_row)
        .collect())
    }

    async fn execution_log(&self, execution_id: i64, after_seq: Option<i64>, limit: u32) -> Result<Vec<LogLine>> {
        on!(self.reader(), |pool| sqlx::query(
            "SELECT seq, stream, at, line FROM execution_logs WHERE execution_id = $1 AND seq > $2
             ORDER BY seq LIMIT $3"
        )
        .bind(execution_id)
        .bind(after_seq.unwrap_or(-1))
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?
        .iter()
        .map(log_line_from_row)
        .collect())
    }

    async fn fail_abandoned_executions(&self, now: Millis) -> Result<u64> {
        Ok(on!(self.writer(), |pool| sqlx::query(FAIL_ABANDONED)
            .bind(now)
            .bind(ABANDONED_ERROR)
            .execute(pool)
            .await?
            .rows_affected()))
    }

    async fn extend_execution_deadline(&self, execution_id: i64, deadline_at: Millis) -> Result<()> {
        on!(self.writer(), |pool| sqlx::query(
            "UPDATE executions SET deadline_at = $1 WHERE id = $2 AND status = 'running'"
        )
        .bind(deadline_at)
        .bind(execution_id)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(())
    }

    async fn runtime_mode(&self, project_id: i64) -> Result<Option<RuntimeMode>> {
        let mode: Option<String> = on!(self.reader(), |pool| sqlx::query_scalar(
            "SELECT runtime_mode FROM projects WHERE id = $1"
        )
        .bind(project_id)
        .fetch_optional(pool)
        .await)?;
        mode.map(|m| {
            RuntimeMode::parse(&m).ok_or_else(|| Error::Corrupt(format!("a project has an unknown runtime mode {m:?}")))
        })
        .transpose()
    }

    async fn hook_target(&self, slug: &str) -> Result<Option<HookTarget>> {
        let row = on!(self.reader(), |pool| sqlx::query(&format!(
            "SELECT {PROJECT_COLUMNS}, runtime_mode, secrets_generation, \
             (SELECT revision FROM code_revisions c WHERE c.project_id = projects.id) AS code_revision \
             FROM projects WHERE slug = $1"
        ))
        .bind(slug)
        .fetch_optional(pool)
        .await?
        .map(|row| {
            use sqlx::Row;
            (
                project_from_row(&row),
                row.get::<String, _>("runtime_mode"),
                row.get::<Option<i64>, _>("code_revision"),
                row.get::<i64, _>("secrets_generation"),
            )
        }));
        row.map(|(project, mode, code_revision, secrets_generation)| {
            let mode = RuntimeMode::parse(&mode)
                .ok_or_else(|| Error::Corrupt(format!("a project has an unknown runtime mode {mode:?}")))?;
            Ok(HookTarget {
                project,
                mode,
                code_revision,
                secrets_generation,
            })
        })
        .transpose()
    }

    async fn set_runtime_mode(&self, project_id: i64, mode: RuntimeMode, actor: &Actor) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let updated = on!(tx.conn(), |c| sqlx::query(
            "UPDATE projects SET runtime_mode = $1 WHERE id = $2"
        )
        .bind(mode.as_str())
        .bind(project_id)
        .execute(c)
        .await?
        .rows_affected());
        if updated != 1 {
            return Err(Error::NotFound(format!("project #{project_id}")));
        }
        let audit = NewAudit {
            project_id: Some(project_id),
            action: "project.runtime_mode",
            detail: Some(format!("runtime mode: {mode}")),
            ..NewAudit::default()
        };
        insert_audit(tx.conn(), audit, actor, now_millis()).await?;
        tx.commit().await
    }
}
