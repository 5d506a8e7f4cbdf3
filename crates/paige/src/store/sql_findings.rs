//! The code guard's findings in the SQL store (table `code_findings`), kept
//! for the project's current code revision only and always written in the
//! transaction of the code change that found them, with its audit record.

use sqlx::{QueryBuilder, Row};

use super::backend::{Conn, Tx, on};
use super::sql::insert_audit;
use crate::error::Result;
use crate::model::findings::audit_detail;
use crate::model::{Actor, CodeFinding, CodeRevision, NewAudit, NewFinding};

/// Rows per INSERT: 9 values a row, far below either database's limit.
const ROWS_PER_INSERT: usize = 1_000;

const COLUMNS: &str = "id, revision, file, line, col, rule, key, fingerprint, suggested_key";

/// Which findings a change replaces.
pub(super) enum Replaced<'a> {
    /// A push: every finding of the project.
    All,
    /// A write of one file: that file's; the others are carried over to
    /// the new revision.
    File(&'a str),
}

/// Replaces the findings `replaced` names with `findings` (found in the
/// code of `revision`), and appends the `code.warnings` audit record when
/// there are any. Returns the new findings with their ids.
pub(super) async fn store_findings(
    tx: &mut Tx,
    project_id: i64,
    revision: &CodeRevision,
    replaced: Replaced<'_>,
    findings: &[NewFinding],
    actor: &Actor,
) -> Result<Vec<CodeFinding>> {
    match replaced {
        Replaced::All => on!(tx.conn(), |c| sqlx::query(
            "DELETE FROM code_findings WHERE project_id = $1"
        )
        .bind(project_id)
        .execute(c)
        .await
        .map(drop))?,
        Replaced::File(file) => {
            on!(tx.conn(), |c| sqlx::query(
                "DELETE FROM code_findings WHERE project_id = $1 AND file = $2"
            )
            .bind(project_id)
            .bind(file)
            .execute(c)
            .await
            .map(drop))?;
            on!(tx.conn(), |c| sqlx::query(
                "UPDATE code_findings SET revision = $2 WHERE project_id = $1"
            )
            .bind(project_id)
            .bind(revision.revision)
            .execute(c)
            .await
            .map(drop))?;
        }
    }
    let Some(first_id) = insert(tx, project_id, revision.revision, findings).await? else {
        return Ok(Vec::new());
    };
    if let Some(detail) = audit_detail(findings) {
        let audit = NewAudit {
            project_id: Some(project_id),
            action: "code.warnings",
            detail: Some(format!("revision {}: {detail}", revision.revision)),
            ..NewAudit::default()
        };
        insert_audit(tx.conn(), audit, actor, revision.updated_at).await?;
    }
    let mut stored = list(tx.conn(), project_id).await?;
    stored.retain(|f| f.id >= first_id);
    Ok(stored)
}

/// Inserts `findings`; the smallest id they got (`None` for none). The
/// ids count up, so every finding inserted has at least that id.
async fn insert(tx: &mut Tx, project_id: i64, revision: i64, findings: &[NewFinding]) -> Result<Option<i64>> {
    let mut first = None;
    for rows in findings.chunks(ROWS_PER_INSERT) {
        let id: i64 = on!(tx.conn(), |c: Db| {
            let mut insert = QueryBuilder::<Db>::new(
                "INSERT INTO code_findings (project_id, revision, file, line, col, rule, key, fingerprint, suggested_key) ",
            );
            insert.push_values(rows, |mut row, f| {
                row.push_bind(project_id)
                    .push_bind(revision)
                    .push_bind(f.file.as_str())
                    .push_bind(f.line)
                    .push_bind(f.column)
                    .push_bind(f.rule.as_str())
                    .push_bind(f.key.as_deref())
                    .push_bind(f.fingerprint.as_deref())
                    .push_bind(f.suggested_key.as_str());
            });
            insert.push(" RETURNING id");
            let ids: Vec<i64> = insert.build_query_scalar().fetch_all(c).await?;
            ids.into_iter().min().unwrap_or(i64::MAX)
        });
        first = Some(first.map_or(id, |f: i64| f.min(id)));
    }
    Ok(first)
}

/// The project's current findings, by file, line and column.
pub(super) async fn list(conn: Conn<'_>, project_id: i64) -> Result<Vec<CodeFinding>> {
    let rows = on!(conn, |c| sqlx::query(&format!(
        "SELECT {COLUMNS} FROM code_findings WHERE project_id = $1 ORDER BY file, line, col, id"
    ))
    .bind(project_id)
    .fetch_all(c)
    .await?
    .iter()
    .map(|row| CodeFinding {
        id: row.get("id"),
        revision: row.get("revision"),
        finding: NewFinding {
            file: row.get("file"),
            line: row.get("line"),
            column: row.get("col"),
            rule: row.get("rule"),
            key: row.get("key"),
            fingerprint: row.get("fingerprint"),
            suggested_key: row.get("suggested_key"),
        },
    })
    .collect::<Vec<_>>());
    Ok(rows)
}
