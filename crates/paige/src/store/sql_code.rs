//! The [`CodeStore`] of the SQL store.
//!
//! A code change runs in a write transaction that locks its project
//! (`Tx::lock_project` on PostgreSQL, SQLite's one write lock), as a secret
//! write does, so changes from several nodes run one after another: the
//! revision, the limit checks on the entries and the audit record commit
//! together. A read of the code runs in one read-only transaction, so its
//! revision and its entries come from one snapshot.

use async_trait::async_trait;
use futures_util::TryStreamExt;
use sqlx::QueryBuilder;

use super::backend::{Conn, SqlStore, on};
use super::code::{CodeSink, CodeStore};
use super::rows::{REVISION_COLUMNS, as_i64, code_entry_from_row, code_meta_from_row, revision_from_row};
use super::sql::insert_audit;
use crate::error::{Error, Result};
use crate::model::code_limits::{CodeLimits, plan_put};
use crate::model::{Actor, CodeMeta, CodeRevision, CodeTotals, NewAudit, NewCodeEntry, now_millis};

/// Entries per INSERT of a push, and bytes of content at most (one entry
/// may be larger on its own): few round trips, bounded statements, and at
/// 6 values a row far below either database's limit of bound values.
const BATCH_ROWS: usize = 500;
const BATCH_BYTES: usize = 16 * 1024 * 1024;

/// Inserts or replaces entries, one statement per batch.
async fn upsert_entries(conn: Conn<'_>, project_id: i64, batch: &[&NewCodeEntry]) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    on!(conn, |c: Db| {
        let mut insert =
            QueryBuilder::<Db>::new("INSERT INTO code_files (project_id, path, kind, content, size, sha256) ");
        insert.push_values(batch, |mut row, new| {
            row.push_bind(project_id)
                .push_bind(new.entry.path.as_str())
                .push_bind(new.entry.kind.as_str())
                .push_bind(new.entry.content.as_slice())
                .push_bind(as_i64(new.meta.size))
                .push_bind(new.meta.sha256.as_slice());
        });
        insert.push(
            " ON CONFLICT (project_id, path) DO UPDATE SET
               kind = excluded.kind, content = excluded.content, size = excluded.size, sha256 = excluded.sha256",
        );
        insert.build().execute(c).await?;
    });
    Ok(())
}

/// Bumps (or starts) the project's revision with the totals after a change.
async fn bump_revision(conn: Conn<'_>, project_id: i64, totals: &CodeTotals, actor: &Actor) -> Result<CodeRevision> {
    Ok(on!(conn, |c| revision_from_row(
        &sqlx::query(&format!(
            "INSERT INTO code_revisions (project_id, revision, digest, files, bytes, updated_at, updated_by)
             VALUES ($1, 1, $2, $3, $4, $5, $6)
             ON CONFLICT (project_id) DO UPDATE SET
               revision = code_revisions.revision + 1, digest = excluded.digest, files = excluded.files,
               bytes = excluded.bytes, updated_at = excluded.updated_at, updated_by = excluded.updated_by
             RETURNING {REVISION_COLUMNS}"
        ))
        .bind(project_id)
        .bind(&totals.digest)
        .bind(as_i64(totals.files))
        .bind(as_i64(totals.bytes))
        .bind(now_millis())
        .bind(&actor.name)
        .fetch_one(c)
        .await?
    )))
}

/// The metadata of every entry of the project's code.
async fn listing(conn: Conn<'_>, project_id: i64) -> Result<Vec<CodeMeta>> {
    on!(conn, |c| sqlx::query(
        "SELECT path, kind, size, sha256 FROM code_files WHERE project_id = $1"
    )
    .bind(project_id)
    .fetch_all(c)
    .await?
    .iter()
    .map(code_meta_from_row)
    .collect())
}

/// The audit record of a code change that made `revision`.
fn code_audit<'a>(action: &'a str, revision: &CodeRevision, what: String, project_id: i64) -> NewAudit<'a> {
    NewAudit {
        project_id: Some(project_id),
        action,
        detail: Some(format!("revision {}: {what}", revision.revision)),
        ..NewAudit::default()
    }
}

#[async_trait]
impl CodeStore for SqlStore {
    async fn code_revision(&self, project_id: i64) -> Result<Option<CodeRevision>> {
        Ok(on!(self.reader(), |pool| sqlx::query(&format!(
            "SELECT {REVISION_COLUMNS} FROM code_revisions WHERE project_id = $1"
        ))
        .bind(project_id)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(revision_from_row)))
    }

    async fn replace_code(
        &self,
        project_id: i64,
        entries: Vec<NewCodeEntry>,
        action: &str,
        actor: &Actor,
    ) -> Result<CodeRevision> {
        let metas: Vec<CodeMeta> = entries.iter().map(|e| e.meta.clone()).collect();
        let totals = CodeTotals::of(&metas);
        let mut tx = self.begin_write().await?;
        tx.lock_project(project_id).await?;
        on!(tx.conn(), |c| sqlx::query(
            "DELETE FROM code_files WHERE project_id = $1"
        )
        .bind(project_id)
        .execute(c)
        .await
        .map(drop))?;
        let mut batch = Vec::new();
        let mut batch_bytes = 0;
        for new in &entries {
            let len = new.entry.content.len();
            if !batch.is_empty() && (batch.len() == BATCH_ROWS || batch_bytes + len > BATCH_BYTES) {
                upsert_entries(tx.conn(), project_id, &batch).await?;
                batch.clear();
                batch_bytes = 0;
            }
            batch_bytes += len;
            batch.push(new);
        }
        upsert_entries(tx.conn(), project_id, &batch).await?;
        let revision = bump_revision(tx.conn(), project_id, &totals, actor).await?;
        let what = format!("{} files, {} bytes", revision.files, revision.bytes);
        insert_audit(
            tx.conn(),
            code_audit(action, &revision, what, project_id),
            actor,
            revision.updated_at,
        )
        .await?;
        tx.commit().await?;
        Ok(revision)
    }

    async fn put_code_file(
        &self,
        project_id: i64,
        new: NewCodeEntry,
        limits: &CodeLimits,
        actor: &Actor,
    ) -> Result<CodeRevision> {
        // Under the project's lock, so two writes cannot both pass the limits.
        let mut tx = self.begin_write().await?;
        tx.lock_project(project_id).await?;
        let after = plan_put(listing(tx.conn(), project_id).await?, new.meta.clone(), limits)?;
        upsert_entries(tx.conn(), project_id, &[&new]).await?;
        let revision = bump_revision(tx.conn(), project_id, &CodeTotals::of(&after), actor).await?;
        let what = format!("{} ({} bytes)", new.entry.path, new.meta.size);
        insert_audit(
            tx.conn(),
            code_audit("code.put", &revision, what, project_id),
            actor,
            revision.updated_at,
        )
        .await?;
        tx.commit().await?;
        Ok(revision)
    }

    async fn read_code(&self, project_id: i64, sink: CodeSink) -> Result<Option<CodeRevision>> {
        let mut tx = self.begin_read().await?;
        let revision = on!(tx.conn(), |c| sqlx::query(&format!(
            "SELECT {REVISION_COLUMNS} FROM code_revisions WHERE project_id = $1"
        ))
        .bind(project_id)
        .fetch_optional(c)
        .await?
        .as_ref()
        .map(revision_from_row));
        let Some(revision) = revision else {
            return Ok(None);
        };
        on!(tx.conn(), |c| {
            let mut rows = sqlx::query("SELECT path, kind, content FROM code_files WHERE project_id = $1")
                .bind(project_id)
                .fetch(c);
            while let Some(row) = rows.try_next().await? {
                sink.send(code_entry_from_row(&row)?)
                    .await
                    .map_err(|_| Error::internal("the code tree being built stopped reading"))?;
            }
        });
        tx.commit().await?;
        Ok(Some(revision))
    }
}
