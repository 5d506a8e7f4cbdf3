//! The PostgreSQL implementation of [`CodeStore`].
//!
//! A code change locks its project's row (`FOR NO KEY UPDATE`), as a secret
//! write does, so changes from several nodes run one after another: the
//! revision, the limit checks on the entries and the audit record commit
//! together. A read of the code runs in one `REPEATABLE READ` transaction,
//! so its revision and its entries come from one snapshot.

use async_trait::async_trait;
use futures_util::TryStreamExt;
use sqlx::postgres::PgConnection;

use super::code::{CodeMeta, CodeRevision, CodeSink, CodeStore, CodeTotals, NewCodeEntry};
use super::postgres::{PostgresStore, insert_audit, lock_project};
use super::rows::{REVISION_COLUMNS, as_i64, code_entry_from_row, code_meta_from_row, revision_from_row};
use super::{Actor, NewAudit, now_millis};
use crate::error::{Error, Result};
use crate::runtime::CodeLimits;
use crate::runtime::code::plan_put;

/// Entries per INSERT of a push, and bytes of content at most (one entry
/// may be larger on its own): few round trips, bounded statements.
const BATCH_ROWS: usize = 500;
const BATCH_BYTES: usize = 16 * 1024 * 1024;

/// Inserts entries with one statement per batch.
async fn insert_entries(conn: &mut PgConnection, project_id: i64, batch: &[&NewCodeEntry]) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let paths: Vec<&str> = batch.iter().map(|n| n.entry.path.as_str()).collect();
    let kinds: Vec<&str> = batch.iter().map(|n| n.entry.kind.as_str()).collect();
    let contents: Vec<&[u8]> = batch.iter().map(|n| n.entry.content.as_slice()).collect();
    let sizes: Vec<i64> = batch.iter().map(|n| as_i64(n.meta.size)).collect();
    let shas: Vec<&[u8]> = batch.iter().map(|n| n.meta.sha256.as_slice()).collect();
    sqlx::query(
        "INSERT INTO code_files (project_id, path, kind, content, size, sha256)
         SELECT $1, * FROM UNNEST($2::TEXT[], $3::TEXT[], $4::BYTEA[], $5::BIGINT[], $6::BYTEA[])",
    )
    .bind(project_id)
    .bind(&paths)
    .bind(&kinds)
    .bind(&contents)
    .bind(&sizes)
    .bind(&shas)
    .execute(conn)
    .await?;
    Ok(())
}

/// Bumps (or starts) the project's revision with the totals after a change.
async fn bump_revision(
    conn: &mut PgConnection,
    project_id: i64,
    totals: &CodeTotals,
    actor: &Actor,
) -> Result<CodeRevision> {
    let row = sqlx::query(&format!(
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
    .fetch_one(conn)
    .await?;
    Ok(revision_from_row(&row))
}

async fn listing(conn: &mut PgConnection, project_id: i64) -> Result<Vec<CodeMeta>> {
    let rows = sqlx::query("SELECT path, kind, size, sha256 FROM code_files WHERE project_id = $1")
        .bind(project_id)
        .fetch_all(conn)
        .await?;
    rows.iter().map(code_meta_from_row).collect()
}

#[async_trait]
impl CodeStore for PostgresStore {
    async fn code_revision(&self, project_id: i64) -> Result<Option<CodeRevision>> {
        let row = sqlx::query(&format!(
            "SELECT {REVISION_COLUMNS} FROM code_revisions WHERE project_id = $1"
        ))
        .bind(project_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(revision_from_row))
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
        let mut tx = self.pool().begin().await?;
        lock_project(&mut tx, project_id).await?;
        sqlx::query("DELETE FROM code_files WHERE project_id = $1")
            .bind(project_id)
            .execute(&mut *tx)
            .await?;
        let mut batch = Vec::new();
        let mut batch_bytes = 0;
        for new in &entries {
            let len = new.entry.content.len();
            if !batch.is_empty() && (batch.len() == BATCH_ROWS || batch_bytes + len > BATCH_BYTES) {
                insert_entries(&mut tx, project_id, &batch).await?;
                batch.clear();
                batch_bytes = 0;
            }
            batch_bytes += len;
            batch.push(new);
        }
        insert_entries(&mut tx, project_id, &batch).await?;
        let revision = bump_revision(&mut tx, project_id, &totals, actor).await?;
        let audit = NewAudit {
            project_id: Some(project_id),
            action,
            detail: Some(format!(
                "revision {}: {} files, {} bytes",
                revision.revision, revision.files, revision.bytes
            )),
            ..NewAudit::default()
        };
        insert_audit(&mut tx, audit, actor, revision.updated_at).await?;
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
        let NewCodeEntry { entry, meta } = new;
        let mut tx = self.pool().begin().await?;
        lock_project(&mut tx, project_id).await?;
        let after = plan_put(listing(&mut tx, project_id).await?, meta.clone(), limits)?;
        sqlx::query(
            "INSERT INTO code_files (project_id, path, kind, content, size, sha256) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (project_id, path) DO UPDATE SET
               kind = excluded.kind, content = excluded.content, size = excluded.size, sha256 = excluded.sha256",
        )
        .bind(project_id)
        .bind(&entry.path)
        .bind(entry.kind.as_str())
        .bind(&entry.content)
        .bind(as_i64(meta.size))
        .bind(meta.sha256.as_slice())
        .execute(&mut *tx)
        .await?;
        let revision = bump_revision(&mut tx, project_id, &CodeTotals::of(&after), actor).await?;
        let audit = NewAudit {
            project_id: Some(project_id),
            action: "code.put",
            detail: Some(format!(
                "revision {}: {} ({} bytes)",
                revision.revision, entry.path, meta.size
            )),
            ..NewAudit::default()
        };
        insert_audit(&mut tx, audit, actor, revision.updated_at).await?;
        tx.commit().await?;
        Ok(revision)
    }

    async fn read_code(&self, project_id: i64, sink: CodeSink) -> Result<Option<CodeRevision>> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query(&format!(
            "SELECT {REVISION_COLUMNS} FROM code_revisions WHERE project_id = $1"
        ))
        .bind(project_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(revision) = row.as_ref().map(revision_from_row) else {
            return Ok(None);
        };
        {
            let mut rows = sqlx::query("SELECT path, kind, content FROM code_files WHERE project_id = $1")
                .bind(project_id)
                .fetch(&mut *tx);
            while let Some(row) = rows.try_next().await? {
                sink.send(code_entry_from_row(&row)?)
                    .await
                    .map_err(|_| Error::Config("the code tree being built stopped reading".into()))?;
            }
        }
        tx.commit().await?;
        Ok(Some(revision))
    }
}
