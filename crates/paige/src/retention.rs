//! Retention: executions (with their logs) and audit records older than
//! the deployment keeps them (`paige serve --execution-retention-days`,
//! `--audit-retention-days`) are purged by the sweep every node runs.
//!
//! The purge goes in small batches, each statement committed alone
//! (`store::retention`), with a pause between batches, so it never holds
//! the write lock for long however much there is to purge. Every node may
//! run it at once: a row another node deleted first is simply not counted.
//! A run that removed something writes one audit record with its counts,
//! and every run adds to [`RetentionCounters`], which metrics can read.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::Paige;
use crate::config::Retention;
use crate::error::Result;
use crate::model::{Actor, Millis, NewAudit};

/// Executions one batch takes.
const EXECUTIONS_PER_BATCH: i64 = 50;
/// Audit records one statement deletes.
const AUDIT_PER_BATCH: i64 = 5_000;
/// The pause between two batches, which lets other writers in.
const PAUSE: Duration = Duration::from_millis(5);
const DAY_MS: Millis = 24 * 60 * 60 * 1_000;

/// What one purge run removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeCounts {
    pub executions: u64,
    pub log_lines: u64,
    pub audit_events: u64,
}

impl PurgeCounts {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Totals since this process started, for metrics.
#[derive(Debug, Default)]
pub struct RetentionCounters {
    pub runs: AtomicU64,
    pub executions: AtomicU64,
    pub log_lines: AtomicU64,
    pub audit_events: AtomicU64,
}

impl RetentionCounters {
    fn add(&self, counts: PurgeCounts) {
        self.runs.fetch_add(1, Ordering::Relaxed);
        self.executions.fetch_add(counts.executions, Ordering::Relaxed);
        self.log_lines.fetch_add(counts.log_lines, Ordering::Relaxed);
        self.audit_events.fetch_add(counts.audit_events, Ordering::Relaxed);
        // And the process's metrics (`/metrics`), which every node exports.
        let metrics = crate::metrics::global();
        metrics.retention_runs.inc();
        for (what, count) in [
            ("executions", counts.executions),
            ("log_lines", counts.log_lines),
            ("audit_events", counts.audit_events),
        ] {
            metrics
                .retention_purged
                .get_or_create(&crate::metrics::PurgeLabels { what })
                .inc_by(count);
        }
    }

    /// The totals so far.
    pub fn totals(&self) -> PurgeCounts {
        PurgeCounts {
            executions: self.executions.load(Ordering::Relaxed),
            log_lines: self.log_lines.load(Ordering::Relaxed),
            audit_events: self.audit_events.load(Ordering::Relaxed),
        }
    }
}

/// The first moment still kept, `days` before `now`; `None` keeps all.
fn cutoff(now: Millis, days: u32) -> Option<Millis> {
    (days > 0).then(|| now - i64::from(days) * DAY_MS)
}

/// The actor of purge records.
fn retention_actor() -> Actor {
    Actor {
        name: "paige:retention".to_owned(),
        user_id: None,
        request_id: None,
    }
}

impl Paige {
    /// Purges what the deployment's retention (its config) no longer keeps
    /// at `now`, and returns what it removed.
    pub async fn purge_expired(&self, now: Millis) -> Result<PurgeCounts> {
        self.purge_expired_with(now, self.config.retention).await
    }

    /// Like [`Paige::purge_expired`] with the retention given.
    pub async fn purge_expired_with(&self, now: Millis, retention: Retention) -> Result<PurgeCounts> {
        let mut counts = PurgeCounts::default();
        let result = self.purge_into(&mut counts, now, retention).await;
        // Counted and recorded even when a later batch failed: what was
        // deleted is gone.
        self.retention.add(counts);
        if !counts.is_empty() {
            let audit = NewAudit {
                action: "retention.purge",
                detail: Some(format!(
                    "{} executions with {} log lines older than {} days, {} audit records older than {} days",
                    counts.executions,
                    counts.log_lines,
                    retention.execution_days,
                    counts.audit_events,
                    retention.audit_days
                )),
                ..NewAudit::default()
            };
            self.store.append_audit(audit, &retention_actor()).await?;
        }
        result.map(|()| counts)
    }

    async fn purge_into(&self, counts: &mut PurgeCounts, now: Millis, retention: Retention) -> Result<()> {
        if let Some(before) = cutoff(now, retention.execution_days) {
            loop {
                let ids = self.store.expired_executions(before, EXECUTIONS_PER_BATCH).await?;
                let mut deleted = 0;
                for &id in &ids {
                    let (executions, lines) = self.store.delete_execution(id).await?;
                    deleted += executions;
                    counts.log_lines += lines;
                }
                counts.executions += deleted;
                // A short batch was the last; an empty one means another
                // node is purging the same rows.
                if deleted == 0 || ids.len() < usize::try_from(EXECUTIONS_PER_BATCH).unwrap_or(usize::MAX) {
                    break;
                }
                tokio::time::sleep(PAUSE).await;
            }
        }
        if let Some(before) = cutoff(now, retention.audit_days) {
            loop {
                let deleted = self.store.delete_audit_before(before, AUDIT_PER_BATCH).await?;
                counts.audit_events += deleted;
                if deleted < u64::try_from(AUDIT_PER_BATCH).unwrap_or(u64::MAX) {
                    break;
                }
                tokio::time::sleep(PAUSE).await;
            }
        }
        Ok(())
    }

    /// What the purges of this process removed so far, for metrics.
    pub fn retention_counters(&self) -> &RetentionCounters {
        &self.retention
    }
}
