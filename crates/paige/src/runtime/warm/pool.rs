//! The warm processes of each project: the idle ones with what they were
//! started with, how many may serve at once (a semaphore of
//! `--bot-processes` permits), how many requests may wait, and the crash
//! count behind the back-off of a crash loop.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::bot::{BotProcess, Fingerprint};
use super::environment::Environment;

/// Every project's pool, on this server.
#[derive(Debug, Default)]
pub struct Pools {
    projects: Mutex<HashMap<i64, Arc<ProjectPool>>>,
    /// The closing writes of webhook executions, batched.
    pub(super) closer: super::closer::Closer,
}

/// One project's processes.
#[derive(Debug)]
pub(super) struct ProjectPool {
    pub permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    state: tokio::sync::Mutex<PoolState>,
    /// The environment the last request resolved (see `environment`).
    environment: Mutex<Option<Arc<Environment>>>,
}

#[derive(Debug, Default)]
struct PoolState {
    idle: Vec<BotProcess>,
    /// What the newest request resolved: a process started with anything
    /// else is stopped instead of reused.
    newest: Option<Fingerprint>,
    crashes: u32,
    retry_at: Option<Instant>,
}

/// A place in a project's queue; given back on drop.
#[derive(Debug)]
pub(super) struct Ticket<'p>(&'p AtomicUsize);

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The longest wait between starts of a crashing bot.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

impl Pools {
    pub(super) fn project(&self, project_id: i64, processes: usize) -> Arc<ProjectPool> {
        let mut projects = self.projects.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(projects.entry(project_id).or_insert_with(|| {
            Arc::new(ProjectPool {
                permits: Arc::new(Semaphore::new(processes.max(1))),
                waiting: AtomicUsize::new(0),
                state: tokio::sync::Mutex::new(PoolState::default()),
                environment: Mutex::new(None),
            })
        }))
    }

    fn all(&self) -> Vec<Arc<ProjectPool>> {
        let projects = self.projects.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        projects.values().cloned().collect()
    }

    /// Stops the processes idle for longer than `idle`.
    pub(super) async fn stop_idle(&self, idle: Duration) {
        for pool in self.all() {
            let stale = {
                let mut state = pool.state.lock().await;
                let (keep, stale): (Vec<_>, Vec<_>) = state.idle.drain(..).partition(|b| b.last_used.elapsed() < idle);
                state.idle = keep;
                stale
            };
            for bot in stale {
                bot.stop("stopped: idle").await;
            }
        }
    }

    /// Stops a project's idle processes at once, and those serving as soon
    /// as they answer (its runtime mode changed).
    pub(super) async fn stop_project(&self, project_id: i64) {
        let pool = {
            let projects = self.projects.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            projects.get(&project_id).cloned()
        };
        let Some(pool) = pool else {
            return;
        };
        let idle = {
            let mut state = pool.state.lock().await;
            // No fingerprint is the newest: a process given back stops.
            state.newest = None;
            // Nor are its decrypted values kept for requests that now get a 404.
            *pool
                .environment
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
            std::mem::take(&mut state.idle)
        };
        for bot in idle {
            bot.stop("stopped: the project's runtime mode changed").await;
        }
    }

    /// Renews the start records' leases of the idle processes.
    pub(super) async fn renew_leases(&self) {
        for pool in self.all() {
            let mut state = pool.state.lock().await;
            for bot in &mut state.idle {
                bot.renew_lease().await;
            }
        }
    }

    /// Stops every idle process (a server shutting down).
    pub(super) async fn stop_all(&self) {
        self.stop_idle(Duration::ZERO).await;
    }
}

impl ProjectPool {
    /// The environment the last request resolved, if any.
    pub(super) fn environment(&self) -> Option<Arc<Environment>> {
        self.environment
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Replaces the cached environment (the old one's values are dropped,
    /// and zeroized, once no request holds it).
    pub(super) fn set_environment(&self, environment: Arc<Environment>) {
        *self
            .environment
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(environment);
    }

    /// A place in the queue, unless `queue` requests already wait for a
    /// process (a request holds its ticket only until it has one).
    pub(super) fn admit(&self, queue: usize) -> Option<Ticket<'_>> {
        let before = self.waiting.fetch_add(1, Ordering::SeqCst);
        let ticket = Ticket(&self.waiting);
        (before < queue).then_some(ticket)
    }

    /// An idle process started with `fingerprint`, if there is one; the
    /// idle ones started with anything else are stopped (after the lock).
    pub(super) async fn checkout(&self, fingerprint: Fingerprint) -> Option<BotProcess> {
        let (found, stale) = {
            let mut state = self.state.lock().await;
            state.newest = Some(fingerprint);
            let (fresh, stale): (Vec<_>, Vec<_>) = state.idle.drain(..).partition(|b| b.fingerprint == fingerprint);
            state.idle = fresh;
            // The most recently used: the others may go idle and stop.
            (state.idle.pop(), stale)
        };
        for bot in stale {
            bot.stop("stopped: its code or secrets changed").await;
        }
        let mut found = found?;
        if found.alive() {
            Some(found)
        } else {
            let _ = found.stop_with(None).await;
            None
        }
    }

    /// Gives a process back after a request it answered: kept if it still
    /// runs and was started with the newest environment, else stopped.
    pub(super) async fn checkin(&self, mut bot: BotProcess) {
        bot.last_used = Instant::now();
        let stale = {
            let mut state = self.state.lock().await;
            state.crashes = 0;
            state.retry_at = None;
            if state.newest == Some(bot.fingerprint) && bot.alive() {
                state.idle.push(bot);
                None
            } else {
                Some(bot)
            }
        };
        if let Some(bot) = stale {
            bot.stop("stopped: its code or secrets changed").await;
        }
    }

    /// A start failed or the bot crashed: the next start waits, longer
    /// each time in a row (none after the first).
    pub(super) async fn crashed(&self) -> u32 {
        let mut state = self.state.lock().await;
        state.crashes += 1;
        let wait = match state.crashes {
            0 | 1 => Duration::ZERO,
            n => Duration::from_secs(1u64 << (n - 2).min(5)).min(MAX_BACKOFF),
        };
        state.retry_at = Some(Instant::now() + wait);
        state.crashes
    }

    /// How long until a new process may start, and the crashes in a row.
    pub(super) async fn backoff(&self) -> Option<(Duration, u32)> {
        let state = self.state.lock().await;
        let left = state.retry_at?.checked_duration_since(Instant::now())?;
        (!left.is_zero()).then_some((left, state.crashes))
    }
}
