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

use super::backend::{Conn, SqlStore, Tx, on, write_jobs};
use super::code::{CodeChange, CodeChanged, CodeFix, CodeFixed, CodeSink, CodeStore};
use super::group_commit::WriteJob;
use super::rows::{REVISION_COLUMNS, as_i64, code_entry_from_row, code_meta_from_row, revision_from_row};
use super::sql::insert_audit;
use super::sql_findings::{Replaced, list, store_findings};
use crate::error::{Error, Result};
use crate::model::code_limits::{CodeLimits, plan_put};
use crate::model::{Actor, CodeFinding, CodeMeta, CodeRevision, CodeTotals, NewAudit, NewCodeEntry, now_millis};

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

/// The project's current revision number, inside a transaction.
async fn current_revision(conn: Conn<'_>, project_id: i64) -> Result<Option<i64>> {
    Ok(on!(conn, |c| sqlx::query_scalar(
        "SELECT revision FROM code_revisions WHERE project_id = $1"
    )
    .bind(project_id)
    .fetch_optional(c)
    .await?))
}

/// Writes one regular file inside `tx` (which holds the project's lock):
/// the limits, the entry, the revision, the audit record of `action` and
/// the file's findings.
async fn put_file(
    tx: &mut Tx,
    project_id: i64,
    change: CodeChange<NewCodeEntry>,
    limits: &CodeLimits,
    action: &str,
    detail: Option<String>,
    actor: &Actor,
) -> Result<CodeChanged> {
    let new = change.entries;
    let after = plan_put(listing(tx.conn(), project_id).await?, new.meta.clone(), limits)?;
    upsert_entries(tx.conn(), project_id, &[&new]).await?;
    let revision = bump_revision(tx.conn(), project_id, &CodeTotals::of(&after), actor).await?;
    let what = detail.unwrap_or_else(|| format!("{} ({} bytes)", new.entry.path, new.meta.size));
    insert_audit(
        tx.conn(),
        code_audit(action, &revision, what, project_id),
        actor,
        revision.updated_at,
    )
    .await?;
    let path = new.entry.path.as_str();
    let findings = store_findings(tx, project_id, &revision, Replaced::File(path), &change.findings, actor).await?;
    Ok(CodeChanged { revision, findings })
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
        change: CodeChange<Vec<NewCodeEntry>>,
        action: &str,
        actor: &Actor,
    ) -> Result<CodeChanged> {
        let entries = change.entries;
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
        let findings = store_findings(&mut tx, project_id, &revision, Replaced::All, &change.findings, actor).await?;
        tx.commit().await?;
        Ok(CodeChanged { revision, findings })
    }

    async fn put_code_file(
        &self,
        project_id: i64,
        change: CodeChange<NewCodeEntry>,
        limits: &CodeLimits,
        actor: &Actor,
    ) -> Result<CodeChanged> {
        // Under the project's lock, so two writes cannot both pass the limits.
        let mut tx = self.begin_write().await?;
        tx.lock_project(project_id).await?;
        let changed = put_file(&mut tx, project_id, change, limits, "code.put", None, actor).await?;
        tx.commit().await?;
        Ok(changed)
    }

    async fn code_findings(&self, project_id: i64) -> Result<Vec<CodeFinding>> {
        let mut tx = self.begin_read().await?;
        let findings = list(tx.conn(), project_id).await?;
        tx.commit().await?;
        Ok(findings)
    }

    async fn fix_code(&self, project_id: i64, fix: CodeFix, limits: &CodeLimits, actor: &Actor) -> Result<CodeFixed> {
        let mut tx = self.begin_write().await?;
        tx.lock_project(project_id).await?;
        let current = current_revision(tx.conn(), project_id).await?;
        if current != Some(fix.expected_revision) {
            return Err(Error::Conflict(
                "the code changed since the finding was read; list the findings again".into(),
            ));
        }
        // The secret first: its limits are checked against the project's
        // totals under the same lock, and a refusal rolls back everything.
        let secret = match fix.secret {
            Some(write) => {
                let job = [WriteJob {
                    project_id,
                    writes: vec![write],
                    keep: fix.keep,
                    actor: actor.clone(),
                }];
                let mut results = write_jobs(&mut tx, &job).await?;
                let mut outcomes = results
                    .pop()
                    .ok_or_else(|| Error::internal("the secret write reported nothing"))??;
                Some(
                    outcomes
                        .pop()
                        .ok_or_else(|| Error::internal("the secret write reported no outcome"))?,
                )
            }
            None => None,
        };
        let change = CodeChange {
            entries: fix.file,
            findings: fix.findings,
        };
        let changed = put_file(&mut tx, project_id, change, limits, "code.fix", Some(fix.detail), actor).await?;
        tx.commit().await?;
        Ok(CodeFixed { changed, secret })
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
