//! The runtime's `Paige` methods: run an execution (now or through the
//! slots), read executions and their logs, and sweep the ones a dead
//! server abandoned. Kept apart from `mod.rs`, whose types appear in these
//! methods' signatures, so the runtime's types never point back at `Paige`.

use std::time::Duration;

use super::execution::Execution;
use super::prepare::Preparation;
use super::sandbox::Isolation;
use super::timing::Phases;
use super::{ExecutionRecord, ExecutionRequest, ExecutionSlots, LOG_PAGE, LiveOutput, LogLine, StoredExecution};
use crate::Paige;
use crate::error::{Error, Result};
use crate::model::{Page, ProjectRecord, now_millis};

impl Paige {
    /// Marks `failed` every execution left `running` past its deadline by a
    /// server that died (crash, `kill -9`, power loss); returns how many.
    pub async fn fail_abandoned_executions(&self) -> Result<u64> {
        self.store.fail_abandoned_executions(now_millis()).await
    }

    /// Runs [`Paige::fail_abandoned_executions`] and the retention purge
    /// ([`Paige::purge_expired`]), and drops the redactors past their time,
    /// now and then every `every`, for as long
    /// as the returned future is polled. Each node of a deployment may run
    /// it: the update is idempotent, and the purge counts only what it deleted.
    pub async fn sweep_abandoned_executions(self, every: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            // Redactors past their time leave memory on an idle node too.
            self.redactors.expire();
            match self.fail_abandoned_executions().await {
                Ok(0) => {}
                Ok(n) => tracing::warn!(executions = n, "marked abandoned executions failed"),
                // The database is away or failing: the next sweep retries.
                Err(e) => tracing::debug!(error = %e, "the sweep for abandoned executions failed"),
            }
            match self.purge_expired(now_millis()).await {
                Ok(counts) if counts.is_empty() => {}
                Ok(counts) => tracing::info!(
                    executions = counts.executions,
                    log_lines = counts.log_lines,
                    audit_events = counts.audit_events,
                    "retention purged old records"
                ),
                Err(e) => tracing::debug!(error = %e, "the retention purge failed"),
            }
        }
    }

    /// Runs one execution of a project to its end and returns its record.
    /// A bot that fails, times out or cannot start is a recorded execution
    /// (`Ok`), not an `Err`; `Err` is for an unknown project or a store failure.
    ///
    /// Cancel safety: dropping the future kills the process group, but the
    /// record stays `running`. A server should run it in a spawned task.
    pub async fn execute(
        &self,
        slug: &str,
        request: ExecutionRequest,
        live: Option<LiveOutput<'_>>,
    ) -> Result<ExecutionRecord> {
        let project = self.project(slug).await?;
        self.execute_project(project, request, live).await
    }

    /// Like [`Paige::execute`], after waiting for a slot of `slots`. The
    /// secrets are resolved when the slot is granted, not when queued.
    pub async fn execute_queued(
        &self,
        slots: &ExecutionSlots,
        slug: &str,
        request: ExecutionRequest,
        live: Option<LiveOutput<'_>>,
    ) -> Result<ExecutionRecord> {
        let project = self.project(slug).await?;
        let _permit = slots.acquire(project.id).await;
        self.execute_project(project, request, live).await
    }

    /// A project's executions, newest first.
    pub async fn list_executions(&self, slug: &str, page: Page) -> Result<Vec<ExecutionRecord>> {
        let project = self.project(slug).await?;
        self.store.list_executions(project.id, page).await
    }

    /// One execution of a project, with its whole log. An id of another
    /// project is `NotFound`.
    pub async fn execution(&self, slug: &str, id: i64) -> Result<StoredExecution> {
        let project = self.project(slug).await?;
        let record = self
            .store
            .execution(project.id, id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("execution {id} of project {slug}")))?;
        let mut log = Vec::new();
        loop {
            let after = log.last().map(|l: &LogLine| l.seq);
            let page = self.store.execution_log(record.id, after, LOG_PAGE).await?;
            let done = page.len() < LOG_PAGE as usize;
            log.extend(page);
            if done {
                break;
            }
        }
        Ok(StoredExecution { record, log })
    }

    /// One execution's record without its log: what a follower of the
    /// log polls to learn that the execution has ended.
    pub async fn execution_record(&self, slug: &str, id: i64) -> Result<ExecutionRecord> {
        let project = self.project(slug).await?;
        self.store
            .execution(project.id, id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("execution {id} of project {slug}")))
    }

    /// Log lines of one execution after `after_seq`, for following a
    /// running execution.
    pub async fn execution_log(&self, slug: &str, id: i64, after_seq: Option<i64>, limit: u32) -> Result<Vec<LogLine>> {
        let project = self.project(slug).await?;
        self.store
            .execution(project.id, id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("execution {id} of project {slug}")))?;
        self.store.execution_log(id, after_seq, limit).await
    }

    /// One execution through its steps (see `execution`).
    async fn execute_project(
        &self,
        project: ProjectRecord,
        request: ExecutionRequest,
        live: Option<LiveOutput<'_>>,
    ) -> Result<ExecutionRecord> {
        let mut phases = Phases::start();
        if Isolation::of(self.config.bot_users).sandboxed() {
            super::jail::prepare_limits();
        }
        let prepared = match self.prepare_execution(&project, &request, &mut phases).await? {
            Preparation::Ready(prepared) => prepared,
            Preparation::NoEntryPoint { argv, error } => {
                let started_at = phases.started_at();
                return Execution::not_started(self, &project, &request, &argv, error, started_at).await;
            }
        };
        let mut execution = Execution::start(self, project, request, prepared, live, phases);
        let end = execution.run().await;
        execution.finish(end).await
    }
}
