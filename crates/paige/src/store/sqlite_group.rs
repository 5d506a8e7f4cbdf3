//! The SQLite side of the group commit (`group_commit.rs`, run by
//! `backend::Batches`): one `BEGIN IMMEDIATE` transaction on the writer
//! connection per batch, which holds SQLite's one write lock from the read
//! to the commit.

use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use super::group_commit::{INSERT_SECRETS, KeyRow, Plan, PlannedRow, Stored, TotalsRow, UPSERT_SECRET, WriteJob};
use super::rows::{insert_audit_into, insert_version_into};

/// Rows per INSERT: at 8 values a row at most, far below SQLite's limit of 32,766
/// bound values per statement.
const ROWS_PER_INSERT: usize = 1_000;

/// The batch's projects that exist, the stored state of the keys it
/// writes, and each project's live count and bytes (counted inside SQLite,
/// so a project of 1,000 secrets costs no more rows than one of 10).
pub(super) async fn read(conn: &mut SqliteConnection, batch: &[WriteJob]) -> Result<Stored, sqlx::Error> {
    let mut project_ids: Vec<i64> = batch.iter().map(|job| job.project_id).collect();
    project_ids.sort_unstable();
    project_ids.dedup();
    let ids = serde_json::Value::from(project_ids).to_string();
    let projects: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM projects WHERE id IN (SELECT value FROM json_each($1)) ORDER BY id")
            .bind(&ids)
            .fetch_all(&mut *conn)
            .await?;
    let written: Vec<serde_json::Value> = batch
        .iter()
        .flat_map(|job| job.writes.iter().map(|w| serde_json::json!([job.project_id, w.key])))
        .collect();
    let keys: Vec<KeyRow> = sqlx::query_as(
        "SELECT project_id, key, version, ciphertext IS NOT NULL, value_len FROM secrets
         WHERE (project_id, key) IN
           (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each($1))",
    )
    .bind(serde_json::Value::from(written).to_string())
    .fetch_all(&mut *conn)
    .await?;
    let totals: Vec<TotalsRow> = sqlx::query_as(
        "SELECT project_id, COUNT(*), COALESCE(SUM(value_len), 0) FROM secrets
         WHERE project_id IN (SELECT value FROM json_each($1)) AND ciphertext IS NOT NULL GROUP BY project_id",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    Ok(Stored::from_rows(projects, keys, totals))
}

/// `[project id, key, floor]` of each key written, as JSON for `json_each`.
fn keys_json<'a>(rows: impl Iterator<Item = &'a PlannedRow<'a>>) -> String {
    let keys: Vec<serde_json::Value> = rows
        .map(|row| serde_json::json!([row.project_id, row.key, row.floor()]))
        .collect();
    serde_json::Value::from(keys).to_string()
}

/// Before the upsert: copies the current value of every key written that
/// keeps more than one version into its previous versions.
async fn archive_current(conn: &mut SqliteConnection, plan: &Plan<'_>) -> Result<(), sqlx::Error> {
    if !plan.rows.iter().any(|row| row.keep > 1) {
        return Ok(());
    }
    sqlx::query(concat!(
        insert_version_into!(),
        "SELECT s.project_id, s.key, s.version, s.ciphertext, s.value_len, s.updated_at, s.updated_by
         FROM json_each($1) w JOIN secrets s
           ON s.project_id = json_extract(w.value, '$[0]') AND s.key = json_extract(w.value, '$[1]')
         WHERE s.ciphertext IS NOT NULL AND s.version > json_extract(w.value, '$[2]')
         ON CONFLICT DO NOTHING"
    ))
    .bind(keys_json(plan.rows.iter()))
    .execute(&mut *conn)
    .await?;
    store_history(conn, plan).await
}

/// The versions written and replaced within the batch that are kept.
async fn store_history(conn: &mut SqliteConnection, plan: &Plan<'_>) -> Result<(), sqlx::Error> {
    for rows in plan.history.chunks(ROWS_PER_INSERT) {
        let mut insert = QueryBuilder::<Sqlite>::new(insert_version_into!());
        insert.push_values(rows, |mut values, row| {
            values
                .push_bind(row.project_id)
                .push_bind(row.key)
                .push_bind(row.version)
                .push_bind((row.seal)(row.version))
                .push_bind(row.value_len)
                .push_bind(plan.now)
                .push_bind(row.updated_by);
        });
        insert.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// After the upsert: deletes the versions of every key written that are
/// no longer kept (all of them when one version is kept).
async fn prune_versions(conn: &mut SqliteConnection, plan: &Plan<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM secret_versions WHERE (project_id, key, version) IN
           (SELECT v.project_id, v.key, v.version FROM json_each($1) w JOIN secret_versions v
              ON v.project_id = json_extract(w.value, '$[0]') AND v.key = json_extract(w.value, '$[1]')
             AND v.version <= json_extract(w.value, '$[2]'))",
    )
    .bind(keys_json(plan.rows.iter()))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Upserts every key the batch wrote, sealed for its last version.
async fn store_rows(conn: &mut SqliteConnection, plan: &Plan<'_>) -> Result<(), sqlx::Error> {
    for rows in plan.rows.chunks(ROWS_PER_INSERT) {
        let mut insert = QueryBuilder::<Sqlite>::new(INSERT_SECRETS);
        insert.push_values(rows, |mut values, row| {
            values
                .push_bind(row.project_id)
                .push_bind(row.key)
                .push_bind(row.version)
                .push_bind((row.seal)(row.version))
                .push_bind(row.value_len)
                .push_bind(plan.now)
                .push_bind(row.updated_by);
        });
        insert.push(UPSERT_SECRET);
        insert.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Inserts the audit records of every accepted write, in order.
async fn store_audits(conn: &mut SqliteConnection, plan: &Plan<'_>) -> Result<(), sqlx::Error> {
    for audits in plan.audits.chunks(ROWS_PER_INSERT) {
        let mut insert = QueryBuilder::<Sqlite>::new(insert_audit_into!());
        insert.push_values(audits, |mut values, audit| {
            values
                .push_bind(plan.now)
                .push_bind(audit.actor)
                .push_bind(audit.project_id)
                .push_bind(audit.action)
                .push_bind(audit.key)
                .push_bind(audit.version)
                .push_bind(audit.request_id)
                .push_bind(audit.detail.as_deref());
        });
        insert.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Writes what the batch accepted: the versions it replaces, its keys, the
/// pruning of versions no longer kept, then an audit record a write.
pub(super) async fn write(conn: &mut SqliteConnection, plan: &Plan<'_>) -> Result<(), sqlx::Error> {
    archive_current(conn, plan).await?;
    store_rows(conn, plan).await?;
    prune_versions(conn, plan).await?;
    store_audits(conn, plan).await
}
