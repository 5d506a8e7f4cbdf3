//! How many executions run at once: a global cap, and a per-project cap
//! below it, so one busy project cannot take every slot.
//!
//! An execution first waits for a slot of its project, then for a global
//! slot. Both queues are first-in first-out (tokio's semaphore is fair).
//! With a global cap G and a per-project cap P < G, a project with a
//! thousand queued events holds at most P global slots; the other G - P
//! keep serving the other projects, whose events wait in the global queue
//! behind at most P of the busy project's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The execution slots of one server process. Cheap to clone; all clones
/// share the same slots.
#[derive(Debug, Clone)]
pub struct ExecutionSlots {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    global: Arc<Semaphore>,
    global_cap: usize,
    per_project_cap: usize,
    projects: Mutex<HashMap<i64, Arc<Semaphore>>>,
}

/// A held slot; dropping it frees the slot for the next waiter.
#[derive(Debug)]
pub struct SlotPermit {
    _global: Option<OwnedSemaphorePermit>,
    project: Option<OwnedSemaphorePermit>,
    project_id: i64,
    inner: Arc<Inner>,
}

impl ExecutionSlots {
    /// `global` executions at once in all; at most `per_project` of them
    /// for one project (clamped to `1..=global`).
    pub fn new(global: usize, per_project: usize) -> Self {
        let global = global.max(1);
        Self {
            inner: Arc::new(Inner {
                global: Arc::new(Semaphore::new(global)),
                global_cap: global,
                per_project_cap: per_project.clamp(1, global),
                projects: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Defaults for this machine: twice the CPUs in all, half of that per project.
    pub fn for_this_machine() -> Self {
        let cpus = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        let global = (cpus * 2).max(2);
        Self::new(global, (global / 2).max(1))
    }

    pub fn global_cap(&self) -> usize {
        self.inner.global_cap
    }

    pub fn per_project_cap(&self) -> usize {
        self.inner.per_project_cap
    }

    /// Executions running now, in all.
    pub fn running(&self) -> usize {
        self.inner.global_cap - self.inner.global.available_permits()
    }

    /// Waits for a slot for `project_id`.
    pub async fn acquire(&self, project_id: i64) -> SlotPermit {
        let project_sem = {
            let mut projects = self.inner.projects.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(
                projects
                    .entry(project_id)
                    .or_insert_with(|| Arc::new(Semaphore::new(self.inner.per_project_cap))),
            )
        };
        // Neither semaphore is ever closed, so acquiring cannot fail; if
        // one ever were, running without that limit beats refusing forever.
        let metrics = crate::metrics::global();
        metrics.execution_queue.inc();
        let project = project_sem.acquire_owned().await.ok();
        let global = Arc::clone(&self.inner.global).acquire_owned().await.ok();
        metrics.execution_queue.dec();
        metrics.execution_slots_in_use.inc();
        SlotPermit {
            _global: global,
            project,
            project_id,
            inner: Arc::clone(&self.inner),
        }
    }
}

impl Drop for SlotPermit {
    fn drop(&mut self) {
        crate::metrics::global().execution_slots_in_use.dec();
        drop(self.project.take());
        // Forget idle projects, so the map does not grow with every project
        // that ever ran.
        let mut projects = self.inner.projects.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(sem) = projects.get(&self.project_id)
            && Arc::strong_count(sem) == 1
            && sem.available_permits() == self.inner.per_project_cap
        {
            projects.remove(&self.project_id);
        }
    }
}
