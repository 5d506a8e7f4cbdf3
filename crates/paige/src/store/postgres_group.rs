//! The PostgreSQL side of the group commit (`group_commit.rs`): one
//! transaction per batch, planned in memory and written in a fixed number
//! of statements, however many writes the batch holds.
//!
//! The batch first locks every project it writes to, in one statement and
//! in id order. Writes of other nodes (and this node's deletes) lock one
//! project at a time, and key rows only under their project's lock, so two
//! batches, or a batch and a single write, can never wait on each other in
//! a cycle.
//!
//! Under those locks nothing else changes the batch's secrets, so it reads
//! once what it needs (the current version of every key it writes, and each
//! project's live count and bytes), then decides each job in order in
//! memory: versions count up (twice for a key written twice), and a job
//! that breaks its project's limits is refused and leaves no trace, exactly
//! as the savepoint per job does on SQLite. Every accepted write is then
//! stored with one upsert (the last version of each key) and audited with
//! one insert (a record per write). A round trip to the database costs far
//! more here than the planning, so a batch of 32 writes takes 7 of them
//! instead of about 200.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use sqlx::PgPool;

use super::group_commit::{BatchCommit, BatchResults, WriteJob};
use super::{SealFn, WriteOutcome, now_millis};
use crate::error::Error;
use crate::secrets::rules;

/// Commits batches on connections of the node's pool.
pub struct PgBatches(pub PgPool);

/// A key's stored state, as the batch has it so far.
#[derive(Debug, Clone, Copy)]
struct KeyState {
    version: i64,
    /// False for a deleted key's tombstone.
    live: bool,
    value_len: i64,
}

/// A project's live secrets: how many, and their bytes.
#[derive(Debug, Clone, Copy, Default)]
struct Totals {
    count: i64,
    bytes: i64,
}

/// The last write of one key, to be sealed for its version and stored.
struct Row<'a> {
    version: i64,
    value_len: i64,
    seal: &'a SealFn,
    updated_by: &'a str,
}

/// One audit record of an accepted write.
struct Audit<'a> {
    actor: &'a str,
    project_id: i64,
    action: &'static str,
    key: &'a str,
    version: i64,
    request_id: Option<&'a str>,
}

fn as_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn as_usize(n: i64) -> usize {
    usize::try_from(n).unwrap_or(0)
}

#[async_trait]
impl BatchCommit for PgBatches {
    async fn commit_batch(&self, batch: &[WriteJob]) -> Result<BatchResults, sqlx::Error> {
        let mut tx = self.0.begin().await?;
        let mut project_ids: Vec<i64> = batch.iter().map(|job| job.project_id).collect();
        project_ids.sort_unstable();
        project_ids.dedup();
        let locked: Vec<i64> =
            sqlx::query_scalar("SELECT id FROM projects WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE")
                .bind(&project_ids)
                .fetch_all(&mut *tx)
                .await?;

        let (key_projects, key_names): (Vec<i64>, Vec<&str>) = batch
            .iter()
            .flat_map(|job| job.writes.iter().map(|w| (job.project_id, w.key.as_str())))
            .unzip();
        let stored: Vec<(i64, String, i64, bool, i64)> = sqlx::query_as(
            "SELECT s.project_id, s.key, s.version, s.ciphertext IS NOT NULL, s.value_len
             FROM secrets s JOIN UNNEST($1::BIGINT[], $2::TEXT[]) AS w(project_id, key)
               ON s.project_id = w.project_id AND s.key = w.key",
        )
        .bind(&key_projects)
        .bind(&key_names)
        .fetch_all(&mut *tx)
        .await?;
        let mut keys: HashMap<(i64, String), KeyState> = stored
            .into_iter()
            .map(|(project_id, key, version, live, value_len)| {
                (
                    (project_id, key),
                    KeyState {
                        version,
                        live,
                        value_len,
                    },
                )
            })
            .collect();
        let counted: Vec<(i64, i64, i64)> = sqlx::query_as(
            "SELECT project_id, COUNT(*), COALESCE(SUM(value_len), 0)::BIGINT FROM secrets
             WHERE project_id = ANY($1) AND ciphertext IS NOT NULL GROUP BY project_id",
        )
        .bind(&locked)
        .fetch_all(&mut *tx)
        .await?;
        let mut totals: HashMap<i64, Totals> = counted
            .into_iter()
            .map(|(project_id, count, bytes)| (project_id, Totals { count, bytes }))
            .collect();

        let now = now_millis();
        let mut rows: BTreeMap<(i64, &str), Row<'_>> = BTreeMap::new();
        let mut audits: Vec<Audit<'_>> = Vec::new();
        let mut results = Vec::with_capacity(batch.len());
        for job in batch {
            if locked.binary_search(&job.project_id).is_err() {
                // Deleted since the caller looked it up.
                results.push(Err(Error::NotFound(format!("project #{}", job.project_id))));
                continue;
            }
            // The job's effect, kept apart until its limits are checked.
            let mut staged: HashMap<&str, KeyState> = HashMap::new();
            let mut project = totals.get(&job.project_id).copied().unwrap_or_default();
            let mut outcomes = Vec::with_capacity(job.writes.len());
            for write in &job.writes {
                let before = staged
                    .get(write.key.as_str())
                    .or_else(|| keys.get(&(job.project_id, write.key.clone())))
                    .copied();
                let (version, created, old_len) = match before {
                    Some(state) if state.live => (state.version + 1, false, state.value_len),
                    Some(state) => (state.version + 1, true, 0),
                    None => (1, true, 0),
                };
                let value_len = as_i64(write.value_len);
                project.count += i64::from(created);
                project.bytes += value_len - old_len;
                staged.insert(
                    &write.key,
                    KeyState {
                        version,
                        live: true,
                        value_len,
                    },
                );
                outcomes.push(WriteOutcome {
                    key: write.key.clone(),
                    version,
                    created,
                    updated_at: now,
                });
            }
            if let Err(refused) = rules::check_project_totals(as_usize(project.count), as_usize(project.bytes)) {
                results.push(Err(refused.into()));
                continue;
            }
            totals.insert(job.project_id, project);
            for (write, outcome) in job.writes.iter().zip(&outcomes) {
                keys.insert((job.project_id, write.key.clone()), staged[write.key.as_str()]);
                rows.insert(
                    (job.project_id, write.key.as_str()),
                    Row {
                        version: outcome.version,
                        value_len: as_i64(write.value_len),
                        seal: &write.seal,
                        updated_by: &job.actor.name,
                    },
                );
                audits.push(Audit {
                    actor: &job.actor.name,
                    project_id: job.project_id,
                    action: if outcome.created {
                        "secret.create"
                    } else {
                        "secret.overwrite"
                    },
                    key: &write.key,
                    version: outcome.version,
                    request_id: job.actor.request_id.as_deref(),
                });
            }
            results.push(Ok(outcomes));
        }

        if !rows.is_empty() {
            store_rows(&mut tx, &rows, now).await?;
            store_audits(&mut tx, &audits, now).await?;
        }
        tx.commit().await?;
        Ok(results)
    }
}

/// One upsert for every key the batch wrote, sealed for its last version.
async fn store_rows(
    conn: &mut sqlx::PgConnection,
    rows: &BTreeMap<(i64, &str), Row<'_>>,
    now: i64,
) -> Result<(), sqlx::Error> {
    let mut project_ids = Vec::with_capacity(rows.len());
    let mut keys = Vec::with_capacity(rows.len());
    let mut versions = Vec::with_capacity(rows.len());
    let mut ciphertexts = Vec::with_capacity(rows.len());
    let mut lengths = Vec::with_capacity(rows.len());
    let mut authors = Vec::with_capacity(rows.len());
    for (&(project_id, key), row) in rows {
        project_ids.push(project_id);
        keys.push(key);
        versions.push(row.version);
        ciphertexts.push((row.seal)(row.version));
        lengths.push(row.value_len);
        authors.push(row.updated_by);
    }
    sqlx::query(
        "INSERT INTO secrets (project_id, key, version, ciphertext, value_len, updated_at, updated_by)
         SELECT project_id, key, version, ciphertext, value_len, $6, updated_by
         FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::BIGINT[], $4::BYTEA[], $5::BIGINT[], $7::TEXT[])
           AS w(project_id, key, version, ciphertext, value_len, updated_by)
         ON CONFLICT (project_id, key) DO UPDATE SET
           version = excluded.version, ciphertext = excluded.ciphertext, value_len = excluded.value_len,
           updated_at = excluded.updated_at, updated_by = excluded.updated_by",
    )
    .bind(&project_ids)
    .bind(&keys)
    .bind(&versions)
    .bind(&ciphertexts)
    .bind(&lengths)
    .bind(now)
    .bind(&authors)
    .execute(conn)
    .await?;
    Ok(())
}

/// One insert for the audit records of every accepted write, in order.
async fn store_audits(conn: &mut sqlx::PgConnection, audits: &[Audit<'_>], now: i64) -> Result<(), sqlx::Error> {
    let actors: Vec<&str> = audits.iter().map(|a| a.actor).collect();
    let project_ids: Vec<i64> = audits.iter().map(|a| a.project_id).collect();
    let actions: Vec<&str> = audits.iter().map(|a| a.action).collect();
    let keys: Vec<&str> = audits.iter().map(|a| a.key).collect();
    let versions: Vec<i64> = audits.iter().map(|a| a.version).collect();
    let request_ids: Vec<Option<&str>> = audits.iter().map(|a| a.request_id).collect();
    sqlx::query(
        "INSERT INTO audit_events (at, actor, project_id, action, key, version, request_id)
         SELECT $1, actor, project_id, action, key, version, request_id
         FROM UNNEST($2::TEXT[], $3::BIGINT[], $4::TEXT[], $5::TEXT[], $6::BIGINT[], $7::TEXT[])
           WITH ORDINALITY AS a(actor, project_id, action, key, version, request_id, n)
         ORDER BY n",
    )
    .bind(now)
    .bind(&actors)
    .bind(&project_ids)
    .bind(&actions)
    .bind(&keys)
    .bind(&versions)
    .bind(&request_ids)
    .execute(conn)
    .await?;
    Ok(())
}
