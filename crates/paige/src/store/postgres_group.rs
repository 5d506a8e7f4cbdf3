//! The PostgreSQL side of the group commit (`group_commit.rs`, run by
//! `backend::Batches`): one
//! transaction per batch, in 9 or 10 statements whatever its size.
//!
//! The batch first locks every project it writes to, in one statement and
//! in id order. Writes of other nodes (and this node's deletes) lock one
//! project at a time, and key rows only under their project's lock, so two
//! batches, or a batch and a single write, can never wait on each other in
//! a cycle; and under those locks nothing else changes the batch's secrets
//! between the read and the write.

use sqlx::PgConnection;

use super::group_commit::{INSERT_SECRETS, KeyRow, Plan, Stored, TotalsRow, UPSERT_SECRET, WriteJob};
use super::rows::{insert_audit_into, insert_version_into};

/// Locks the batch's projects and reads the state of its keys and the
/// projects' totals.
pub(super) async fn read_locked(conn: &mut PgConnection, batch: &[WriteJob]) -> Result<Stored, sqlx::Error> {
    let mut project_ids: Vec<i64> = batch.iter().map(|job| job.project_id).collect();
    project_ids.sort_unstable();
    project_ids.dedup();
    let projects: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM projects WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE")
            .bind(&project_ids)
            .fetch_all(&mut *conn)
            .await?;
    let (key_projects, key_names): (Vec<i64>, Vec<&str>) = batch
        .iter()
        .flat_map(|job| job.writes.iter().map(|w| (job.project_id, w.key.as_str())))
        .unzip();
    let keys: Vec<KeyRow> = sqlx::query_as(
        "SELECT s.project_id, s.key, s.version, s.ciphertext IS NOT NULL, s.value_len
         FROM secrets s JOIN UNNEST($1::BIGINT[], $2::TEXT[]) AS w(project_id, key)
           ON s.project_id = w.project_id AND s.key = w.key",
    )
    .bind(&key_projects)
    .bind(&key_names)
    .fetch_all(&mut *conn)
    .await?;
    let totals: Vec<TotalsRow> = sqlx::query_as(
        "SELECT project_id, COUNT(*), COALESCE(SUM(value_len), 0)::BIGINT FROM secrets
         WHERE project_id = ANY($1) AND ciphertext IS NOT NULL GROUP BY project_id",
    )
    .bind(&projects)
    .fetch_all(&mut *conn)
    .await?;
    Ok(Stored::from_rows(projects, keys, totals))
}

/// The (project ids, keys, floors) of the keys written, as arrays for `UNNEST`.
fn key_arrays<'a>(plan: &'a Plan<'_>) -> (Vec<i64>, Vec<&'a str>, Vec<i64>) {
    let rows = &plan.rows;
    (
        rows.iter().map(|r| r.project_id).collect(),
        rows.iter().map(|r| r.key).collect(),
        rows.iter().map(|r| r.floor()).collect(),
    )
}

/// Before the upsert: copies the current value of every key written that
/// keeps more than one version into its previous versions, and adds the
/// kept versions written and replaced within the batch.
async fn archive_current(conn: &mut PgConnection, plan: &Plan<'_>) -> Result<(), sqlx::Error> {
    if !plan.rows.iter().any(|row| row.keep > 1) {
        return Ok(());
    }
    let (project_ids, keys, floors) = key_arrays(plan);
    sqlx::query(concat!(
        insert_version_into!(),
        "SELECT s.project_id, s.key, s.version, s.ciphertext, s.value_len, s.updated_at, s.updated_by
         FROM secrets s JOIN UNNEST($1::BIGINT[], $2::TEXT[], $3::BIGINT[]) AS w(project_id, key, floor)
           ON s.project_id = w.project_id AND s.key = w.key
         WHERE s.ciphertext IS NOT NULL AND s.version > w.floor
         ON CONFLICT DO NOTHING"
    ))
    .bind(&project_ids)
    .bind(&keys)
    .bind(&floors)
    .execute(&mut *conn)
    .await?;
    if plan.history.is_empty() {
        return Ok(());
    }
    let history = &plan.history;
    sqlx::query(concat!(
        insert_version_into!(),
        "SELECT project_id, key, version, ciphertext, value_len, $6, created_by
         FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::BIGINT[], $4::BYTEA[], $5::BIGINT[], $7::TEXT[])
           AS w(project_id, key, version, ciphertext, value_len, created_by)"
    ))
    .bind(history.iter().map(|r| r.project_id).collect::<Vec<_>>())
    .bind(history.iter().map(|r| r.key).collect::<Vec<_>>())
    .bind(history.iter().map(|r| r.version).collect::<Vec<_>>())
    .bind(history.iter().map(|r| (r.seal)(r.version)).collect::<Vec<_>>())
    .bind(history.iter().map(|r| r.value_len).collect::<Vec<_>>())
    .bind(plan.now)
    .bind(history.iter().map(|r| r.updated_by).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// After the upsert: deletes the versions of every key written that are
/// no longer kept (all of them when one version is kept).
async fn prune_versions(conn: &mut PgConnection, plan: &Plan<'_>) -> Result<(), sqlx::Error> {
    let (project_ids, keys, floors) = key_arrays(plan);
    sqlx::query(
        "DELETE FROM secret_versions v
         USING UNNEST($1::BIGINT[], $2::TEXT[], $3::BIGINT[]) AS w(project_id, key, floor)
         WHERE v.project_id = w.project_id AND v.key = w.key AND v.version <= w.floor",
    )
    .bind(&project_ids)
    .bind(&keys)
    .bind(&floors)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One upsert for every key the batch wrote, sealed for its last version.
async fn store_rows(conn: &mut PgConnection, plan: &Plan<'_>) -> Result<(), sqlx::Error> {
    let rows = &plan.rows;
    let project_ids: Vec<i64> = rows.iter().map(|r| r.project_id).collect();
    let keys: Vec<&str> = rows.iter().map(|r| r.key).collect();
    let versions: Vec<i64> = rows.iter().map(|r| r.version).collect();
    let ciphertexts: Vec<Vec<u8>> = rows.iter().map(|r| (r.seal)(r.version)).collect();
    let lengths: Vec<i64> = rows.iter().map(|r| r.value_len).collect();
    let authors: Vec<&str> = rows.iter().map(|r| r.updated_by).collect();
    // One statement text whatever the batch's size, so it is prepared once.
    const ROWS: &str = "SELECT project_id, key, version, ciphertext, value_len, $6, updated_by
         FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::BIGINT[], $4::BYTEA[], $5::BIGINT[], $7::TEXT[])
           AS w(project_id, key, version, ciphertext, value_len, updated_by)";
    sqlx::query(&[INSERT_SECRETS, ROWS, UPSERT_SECRET].concat())
        .bind(&project_ids)
        .bind(&keys)
        .bind(&versions)
        .bind(&ciphertexts)
        .bind(&lengths)
        .bind(plan.now)
        .bind(&authors)
        .execute(conn)
        .await?;
    Ok(())
}

/// One insert for the audit records of every accepted write, in order.
async fn store_audits(conn: &mut PgConnection, plan: &Plan<'_>) -> Result<(), sqlx::Error> {
    let audits = &plan.audits;
    let actors: Vec<&str> = audits.iter().map(|a| a.actor).collect();
    let project_ids: Vec<i64> = audits.iter().map(|a| a.project_id).collect();
    let actions: Vec<&str> = audits.iter().map(|a| a.action).collect();
    let keys: Vec<&str> = audits.iter().map(|a| a.key).collect();
    let versions: Vec<i64> = audits.iter().map(|a| a.version).collect();
    let request_ids: Vec<Option<&str>> = audits.iter().map(|a| a.request_id).collect();
    let details: Vec<Option<&str>> = audits.iter().map(|a| a.detail.as_deref()).collect();
    sqlx::query(concat!(
        insert_audit_into!(),
        "SELECT $1, actor, project_id, action, key, version, request_id, detail
         FROM UNNEST($2::TEXT[], $3::BIGINT[], $4::TEXT[], $5::TEXT[], $6::BIGINT[], $7::TEXT[], $8::TEXT[])
           WITH ORDINALITY AS a(actor, project_id, action, key, version, request_id, detail, n)
         ORDER BY n"
    ))
    .bind(plan.now)
    .bind(&actors)
    .bind(&project_ids)
    .bind(&actions)
    .bind(&keys)
    .bind(&versions)
    .bind(&request_ids)
    .bind(&details)
    .execute(conn)
    .await?;
    Ok(())
}

/// Writes what the batch accepted: the versions it replaces, its keys, the
/// pruning of versions no longer kept, then an audit record a write.
pub(super) async fn write(conn: &mut PgConnection, plan: &Plan<'_>) -> Result<(), sqlx::Error> {
    archive_current(conn, plan).await?;
    store_rows(conn, plan).await?;
    prune_versions(conn, plan).await?;
    store_audits(conn, plan).await
}
