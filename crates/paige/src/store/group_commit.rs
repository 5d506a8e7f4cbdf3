//! Group commit for secret writes, on either store.
//!
//! Every acknowledged write must be durable, and one commit costs a disk
//! flush (about a millisecond for SQLite here, a few for PostgreSQL, which
//! also holds the project's row lock until the flush is done). One commit
//! per request would cap durable writes at one flush each. Instead, writes
//! queue for one task per node that takes every write waiting, hands the
//! batch to the store to apply in one transaction (each job inside its own
//! savepoint, so a refused write — say, over the project's limits — is
//! rolled back alone), and only after the commit answers each caller.
//! Under load a batch holds every write that arrived during the previous
//! commit; alone, a write commits at once.
//!
//! A store applies a batch in the same three steps ([`plan`] is the middle
//! one, shared): under its locks it reads what the batch needs (the stored
//! state of the keys written and each project's live count and bytes);
//! the batch is then decided in memory, job by job in order — versions
//! count up (twice for a key written twice), a job that breaks its
//! project's limits is refused and leaves no trace, as if rolled back to a
//! savepoint; last, the store writes every accepted write with a few bulk
//! statements (the replaced versions the deployment keeps, the last
//! version of each key, the pruning of versions no longer kept, and an
//! audit record per write). A round trip to the database costs far more
//! than the planning, so a batch takes the same handful of statements
//! however many writes it holds.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};

use super::traits::{SealFn, SecretWrite};
use crate::error::{Error, Result};
use crate::model::rules;
use crate::model::{Actor, Millis, WriteOutcome, now_millis};

/// The statement of every secret write, with its columns: a store's bulk
/// write adds its rows after it, and [`UPSERT_SECRET`] after them.
pub const INSERT_SECRETS: &str =
    "INSERT INTO secrets (project_id, key, version, ciphertext, value_len, updated_at, updated_by) ";

/// What a write does to a key that has a row (a value or a tombstone).
pub const UPSERT_SECRET: &str = " ON CONFLICT (project_id, key) DO UPDATE SET
    version = excluded.version, ciphertext = excluded.ciphertext, value_len = excluded.value_len,
    updated_at = excluded.updated_at, updated_by = excluded.updated_by";

/// The most writes one transaction takes.
const MAX_BATCH: usize = 512;
/// Writes waiting beyond this make callers wait to enqueue (back-pressure).
const QUEUE: usize = 4096;

/// The writes of one `write_secrets` call: all of them or none.
pub struct WriteJob {
    pub project_id: i64,
    pub writes: Vec<SecretWrite>,
    /// Versions kept per key, the current one included (at least 1).
    pub keep: u32,
    pub actor: Actor,
}

/// One result per job of a batch, in order.
pub type BatchResults = Vec<Result<Vec<WriteOutcome>>>;

/// How a store commits a batch of jobs.
#[async_trait]
pub trait BatchCommit: Send + Sync + 'static {
    /// One transaction for the whole batch. An `Err` means nothing of the
    /// batch was committed (or, for a failed `COMMIT`, that it is unknown).
    async fn commit_batch(&self, batch: &[WriteJob]) -> std::result::Result<BatchResults, sqlx::Error>;
}

struct Queued {
    job: WriteJob,
    reply: oneshot::Sender<Result<Vec<WriteOutcome>>>,
}

#[derive(Debug, Clone)]
pub struct GroupCommit {
    queue: mpsc::Sender<Queued>,
}

impl GroupCommit {
    /// Starts the committing task; it ends when every handle is dropped.
    pub fn start(store: impl BatchCommit) -> Self {
        let (queue, jobs) = mpsc::channel(QUEUE);
        tokio::spawn(run(store, jobs));
        Self { queue }
    }

    /// Writes all of `writes` or none, durably, before returning.
    pub async fn write(
        &self,
        project_id: i64,
        writes: Vec<SecretWrite>,
        keep: u32,
        actor: Actor,
    ) -> Result<Vec<WriteOutcome>> {
        let (reply, answer) = oneshot::channel();
        let job = WriteJob {
            project_id,
            writes,
            keep: keep.max(1),
            actor,
        };
        let stopped = || Error::Database(sqlx::Error::PoolClosed);
        self.queue.send(Queued { job, reply }).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn run(store: impl BatchCommit, mut queue: mpsc::Receiver<Queued>) {
    let mut waiting = Vec::new();
    while queue.recv_many(&mut waiting, MAX_BATCH).await > 0 {
        let (jobs, replies): (Vec<WriteJob>, Vec<_>) = waiting.drain(..).map(|q| (q.job, q.reply)).unzip();
        crate::metrics::global().group_commit_batch.observe(jobs.len() as f64);
        let failure = match store.commit_batch(&jobs).await {
            Ok(results) => {
                answer(replies, results);
                continue;
            }
            Err(e) => Error::batch_failed(&e),
        };
        let unavailable = failure.is_unavailable();
        let results = jobs.iter().map(|_| Err(Error::batch_failed_again(&failure))).collect();
        answer(replies, results);
        if unavailable {
            // The database is away, and the batch took up to the pool's
            // acquire timeout to find out. Writes that queued meanwhile
            // would wait that long again in the next batch, so they are
            // answered now: during an outage no write waits much longer
            // than one timeout. Writes that arrive later try again.
            while let Ok(queued) = queue.try_recv() {
                let _ = queued.reply.send(Err(Error::batch_failed_again(&failure)));
            }
        }
    }
}

fn answer(replies: Vec<oneshot::Sender<Result<Vec<WriteOutcome>>>>, results: BatchResults) {
    for (reply, result) in replies.into_iter().zip(results) {
        // A caller that went away no longer needs its answer.
        let _ = reply.send(result);
    }
}

/// A key's stored state, as a batch has it so far.
#[derive(Debug, Clone, Copy)]
pub struct KeyState {
    pub version: i64,
    /// False for a deleted key's tombstone.
    pub live: bool,
    pub value_len: i64,
}

/// A project's live secrets: how many, and their bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Totals {
    pub count: i64,
    pub bytes: i64,
}

/// What a store read under its locks for a batch.
#[derive(Debug, Default)]
pub struct Stored {
    /// The batch's projects that exist (and are locked), sorted.
    pub projects: Vec<i64>,
    /// At least every key the batch writes that has a row.
    pub keys: HashMap<(i64, String), KeyState>,
    /// Every project with live secrets among the batch's.
    pub totals: HashMap<i64, Totals>,
}

/// A key's row as a store reads it: (project id, key, version, live, value length).
pub type KeyRow = (i64, String, i64, bool, i64);

/// A project's totals as a store reads them: (project id, live count, live bytes).
pub type TotalsRow = (i64, i64, i64);

impl Stored {
    pub fn from_rows(projects: Vec<i64>, keys: Vec<KeyRow>, totals: Vec<TotalsRow>) -> Self {
        Self {
            projects,
            keys: keys
                .into_iter()
                .map(|(project_id, key, version, live, value_len)| {
                    let state = KeyState {
                        version,
                        live,
                        value_len,
                    };
                    ((project_id, key), state)
                })
                .collect(),
            totals: totals
                .into_iter()
                .map(|(project_id, count, bytes)| (project_id, Totals { count, bytes }))
                .collect(),
        }
    }
}

/// The last accepted write of one key: to be sealed for its version.
pub struct PlannedRow<'a> {
    pub project_id: i64,
    pub key: &'a str,
    pub version: i64,
    pub value_len: i64,
    pub seal: &'a SealFn,
    pub updated_by: &'a str,
    /// Versions of the key kept, this one included.
    pub keep: i64,
}

impl PlannedRow<'_> {
    /// The newest version of the key that is no longer kept: the store
    /// deletes its kept versions up to this one.
    pub fn floor(&self) -> i64 {
        self.version - self.keep
    }
}

/// The audit record of one accepted write.
pub struct PlannedAudit<'a> {
    pub actor: &'a str,
    pub project_id: i64,
    pub action: &'static str,
    pub key: &'a str,
    pub version: i64,
    pub request_id: Option<&'a str>,
    pub detail: Option<String>,
}

/// What a batch writes, and what each job is told.
pub struct Plan<'a> {
    /// One per key, in (project, key) order.
    pub rows: Vec<PlannedRow<'a>>,
    /// Versions written and replaced within the batch that are still kept:
    /// they go straight to the key's previous versions.
    pub history: Vec<PlannedRow<'a>>,
    /// One per accepted write, in the order of the batch.
    pub audits: Vec<PlannedAudit<'a>>,
    pub results: BatchResults,
    pub now: Millis,
}

fn as_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn as_usize(n: i64) -> usize {
    usize::try_from(n).unwrap_or(0)
}

/// Decides every job of a batch, in order, against what was stored.
pub fn plan(batch: &[WriteJob], mut stored: Stored) -> Plan<'_> {
    let now = now_millis();
    let mut rows: BTreeMap<(i64, &str), PlannedRow<'_>> = BTreeMap::new();
    let mut replaced = Vec::new();
    let mut audits = Vec::new();
    let mut results = Vec::with_capacity(batch.len());
    for job in batch {
        if stored.projects.binary_search(&job.project_id).is_err() {
            // Deleted since the caller looked it up.
            results.push(Err(Error::NotFound(format!("project #{}", job.project_id))));
            continue;
        }
        // The job's effect, kept apart until its limits are checked.
        let mut staged: HashMap<&str, KeyState> = HashMap::new();
        let mut totals = stored.totals.get(&job.project_id).copied().unwrap_or_default();
        let mut outcomes = Vec::with_capacity(job.writes.len());
        for write in &job.writes {
            let before = match staged.get(write.key.as_str()) {
                Some(state) => Some(*state),
                None => stored.keys.get(&(job.project_id, write.key.clone())).copied(),
            };
            let (version, created, old_len) = match before {
                Some(state) if state.live => (state.version + 1, false, state.value_len),
                Some(state) => (state.version + 1, true, 0),
                None => (1, true, 0),
            };
            let value_len = as_i64(write.value_len);
            totals.count += i64::from(created);
            totals.bytes += value_len - old_len;
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
        if let Err(refused) = rules::check_project_totals(as_usize(totals.count), as_usize(totals.bytes)) {
            results.push(Err(refused.into()));
            continue;
        }
        stored.totals.insert(job.project_id, totals);
        for (write, outcome) in job.writes.iter().zip(&outcomes) {
            stored
                .keys
                .insert((job.project_id, write.key.clone()), staged[write.key.as_str()]);
            let row = PlannedRow {
                project_id: job.project_id,
                key: &write.key,
                version: outcome.version,
                value_len: as_i64(write.value_len),
                seal: &write.seal,
                updated_by: &job.actor.name,
                keep: i64::from(job.keep),
            };
            replaced.extend(rows.insert((job.project_id, write.key.as_str()), row));
            let (action, detail) = match write.rollback_of {
                Some(old) => ("secret.rollback", Some(format!("to the value of version {old}"))),
                None if outcome.created => ("secret.create", None),
                None => ("secret.overwrite", None),
            };
            audits.push(PlannedAudit {
                actor: &job.actor.name,
                project_id: job.project_id,
                action,
                key: &write.key,
                version: outcome.version,
                request_id: job.actor.request_id.as_deref(),
                detail,
            });
        }
        results.push(Ok(outcomes));
    }
    // A version replaced within the batch is kept if the key's last write
    // keeps it (the last write's setting is the one that holds).
    let history = replaced
        .into_iter()
        .filter(|old| rows[&(old.project_id, old.key)].floor() < old.version)
        .collect();
    Plan {
        rows: rows.into_values().collect(),
        history,
        audits,
        results,
        now,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::rules::{PROJECT_MAX_SECRETS, PROJECT_MAX_VALUE_BYTES};

    fn job(project_id: i64, writes: &[(&str, usize)]) -> WriteJob {
        WriteJob {
            project_id,
            writes: writes
                .iter()
                .map(|&(key, value_len)| SecretWrite {
                    key: key.to_owned(),
                    value_len,
                    seal: Arc::new(|version| version.to_be_bytes().to_vec()),
                    rollback_of: None,
                })
                .collect(),
            keep: 2,
            actor: Actor {
                name: "tester".to_owned(),
                user_id: None,
                request_id: Some("req-1".to_owned()),
            },
        }
    }

    fn stored(projects: &[i64], keys: &[(i64, &str, i64, bool, i64)]) -> Stored {
        let mut stored = Stored {
            projects: projects.to_vec(),
            ..Stored::default()
        };
        for &(project_id, key, version, live, value_len) in keys {
            stored.keys.insert(
                (project_id, key.to_owned()),
                KeyState {
                    version,
                    live,
                    value_len,
                },
            );
            if live {
                let totals = stored.totals.entry(project_id).or_default();
                totals.count += 1;
                totals.bytes += value_len;
            }
        }
        stored
    }

    fn versions(result: &Result<Vec<WriteOutcome>>) -> Vec<(i64, bool)> {
        match result {
            Ok(outcomes) => outcomes.iter().map(|o| (o.version, o.created)).collect(),
            Err(e) => panic!("refused: {e}"),
        }
    }

    #[test]
    fn versions_count_up_across_jobs_and_within_one() {
        let batch = [
            job(1, &[("A", 10)]),
            job(1, &[("A", 10), ("A", 12)]),
            job(1, &[("B", 5)]),
        ];
        let plan = plan(&batch, stored(&[1], &[(1, "A", 4, true, 10), (1, "B", 7, false, 0)]));
        assert_eq!(versions(&plan.results[0]), [(5, false)]);
        assert_eq!(versions(&plan.results[1]), [(6, false), (7, false)]);
        // A tombstone's key comes back as created, its versions continuing.
        assert_eq!(versions(&plan.results[2]), [(8, true)]);
        // One row per key, its last version, sealed for it; an audit per write.
        let rows: Vec<_> = plan.rows.iter().map(|r| (r.key, r.version, r.value_len)).collect();
        assert_eq!(rows, [("A", 7, 12), ("B", 8, 5)]);
        assert_eq!((plan.rows[0].seal)(plan.rows[0].version), 7i64.to_be_bytes());
        // Two versions kept: A's 6, replaced within the batch, is kept; its 5 is not.
        let history: Vec<_> = plan.history.iter().map(|r| (r.key, r.version)).collect();
        assert_eq!(history, [("A", 6)]);
        let audits: Vec<_> = plan.audits.iter().map(|a| (a.action, a.key, a.version)).collect();
        assert_eq!(
            audits,
            [
                ("secret.overwrite", "A", 5),
                ("secret.overwrite", "A", 6),
                ("secret.overwrite", "A", 7),
                ("secret.create", "B", 8),
            ]
        );
        assert!(plan.audits.iter().all(|a| a.request_id == Some("req-1")));
    }

    #[test]
    fn a_refused_job_leaves_no_trace_and_later_jobs_see_the_state_before_it() {
        let full = PROJECT_MAX_VALUE_BYTES / 8;
        let big: Vec<(String, usize)> = (0..8).map(|i| (format!("BIG_{i}"), full)).collect();
        let big: Vec<(&str, usize)> = big.iter().map(|(k, n)| (k.as_str(), *n)).collect();
        let batch = [
            job(1, &big),
            // One byte over the project's limit, with the job before it.
            job(1, &[("SMALL", 1), ("BIG_0", full)]),
            // Shrinking a value frees room for another.
            job(1, &[("BIG_0", 1), ("SMALL", 1)]),
            job(2, &[("X", 1)]),
        ];
        let plan = plan(&batch, stored(&[1], &[]));
        assert_eq!(versions(&plan.results[0]).len(), 8);
        let refused = plan.results[1].as_ref().unwrap_err();
        assert_eq!(refused.code(), "project_too_large", "{refused}");
        assert_eq!(versions(&plan.results[2]), [(2, false), (1, true)]);
        let missing = plan.results[3].as_ref().unwrap_err();
        assert!(matches!(missing, Error::NotFound(_)), "{missing}");
        assert_eq!(
            plan.audits.len(),
            10,
            "no record of the refused job or the missing project"
        );
        assert!(plan.rows.iter().all(|r| r.project_id == 1));
    }

    #[test]
    fn the_count_limit_holds_across_the_jobs_of_a_batch() {
        let keys: Vec<String> = (0..PROJECT_MAX_SECRETS).map(|i| format!("K{i}")).collect();
        let held: Vec<(i64, &str, i64, bool, i64)> = keys.iter().map(|k| (1, k.as_str(), 1, true, 4)).collect();
        let batch = [job(1, &[("NEW_1", 4)]), job(1, &[("K0", 8)])];
        let plan = plan(&batch, stored(&[1], &held));
        assert_eq!(plan.results[0].as_ref().unwrap_err().code(), "too_many_secrets");
        assert_eq!(
            versions(&plan.results[1]),
            [(2, false)],
            "an overwrite at the limit is fine"
        );
    }
}
