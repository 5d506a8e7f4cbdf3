//! The SQLite implementation of [`CodeStore`].

use async_trait::async_trait;
use futures_util::TryStreamExt;
use sqlx::SqliteConnection;

use super::code::{CodeEntry, CodeMeta, CodeRevision, CodeSink, CodeStore, CodeTotals, NewCodeEntry};
use super::rows::{REVISION_COLUMNS, as_i64, code_entry_from_row, code_meta_from_row, revision_from_row};
use super::sqlite::{SqliteStore, insert_audit};
use super::{Actor, NewAudit, now_millis};
use crate::error::{Error, Result};
use crate::runtime::CodeLimits;
use crate::runtime::code::plan_put;

async fn insert_entry(conn: &mut SqliteConnection, project_id: i64, entry: &CodeEntry, meta: &CodeMeta) -> Result<()> {
    sqlx::query(
        "INSERT INTO code_files (project_id, path, kind, content, size, sha256) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (project_id, path) DO UPDATE SET
           kind = excluded.kind, content = excluded.content, size = excluded.size, sha256 = excluded.sha256",
    )
    .bind(project_id)
    .bind(&entry.path)
    .bind(entry.kind.as_str())
    .bind(&entry.content)
    .bind(as_i64(meta.size))
    .bind(meta.sha256.as_slice())
    .execute(conn)
    .await?;
    Ok(())
}

/// Bumps (or starts) the project's revision with the totals after a change.
async fn bump_revision(
    conn: &mut SqliteConnection,
    project_id: i64,
    totals: &CodeTotals,
    actor: &Actor,
) -> Result<CodeRevision> {
    let row = sqlx::query(&format!(
        "INSERT INTO code_revisions (project_id, revision, digest, files, bytes, updated_at, updated_by)
         VALUES (?, 1, ?, ?, ?, ?, ?)
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

async fn listing(conn: &mut SqliteConnection, project_id: i64) -> Result<Vec<CodeMeta>> {
    let rows = sqlx::query("SELECT path, kind, size, sha256 FROM code_files WHERE project_id = ?")
        .bind(project_id)
        .fetch_all(conn)
        .await?;
    rows.iter().map(code_meta_from_row).collect()
}

#[async_trait]
impl CodeStore for SqliteStore {
    async fn code_revision(&self, project_id: i64) -> Result<Option<CodeRevision>> {
        let row = sqlx::query(&format!(
            "SELECT {REVISION_COLUMNS} FROM code_revisions WHERE project_id = ?"
        ))
        .bind(project_id)
        .fetch_optional(self.reader())
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
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("DELETE FROM code_files WHERE project_id = ?")
            .bind(project_id)
            .execute(&mut *tx)
            .await?;
        for new in &entries {
            insert_entry(&mut tx, project_id, &new.entry, &new.meta).await?;
        }
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
        // BEGIN IMMEDIATE: the listing and the write are one writer's, so
        // two writes cannot both pass the limits.
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let after = plan_put(listing(&mut tx, project_id).await?, meta.clone(), limits)?;
        insert_entry(&mut tx, project_id, &entry, &meta).await?;
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
        // One read transaction: the revision and its entries from one snapshot.
        let mut tx = self.reader().begin().await?;
        let row = sqlx::query(&format!(
            "SELECT {REVISION_COLUMNS} FROM code_revisions WHERE project_id = ?"
        ))
        .bind(project_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(revision) = row.as_ref().map(revision_from_row) else {
            return Ok(None);
        };
        {
            let mut rows = sqlx::query("SELECT path, kind, content FROM code_files WHERE project_id = ?")
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
