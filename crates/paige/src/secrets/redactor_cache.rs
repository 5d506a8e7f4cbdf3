//! The redactor of each project's values, by secrets generation, so that
//! the executions a long-running node starts do not each build it again.
//!
//! Building a project's redactor (every leak form of every value, then
//! the finders) costs about 2 ms of CPU for 100 secrets: on a two-core
//! machine that is CPU the sandbox's own start waits for. A redactor is
//! served only for the exact project and secrets generation it was built
//! from, and that generation is the one `resolve` has just confirmed with
//! the store (migration 0012: every change to a project's secrets moves
//! it, in the changing transaction, on any node), so a changed, deleted
//! or rolled-back value is never masked by an old redactor.
//!
//! What is kept is derived from plaintext values: the redactor's forms
//! and windows, in zeroize-on-drop buffers (`paige_redact`). So, as with
//! unwrapped data keys (`crypto/cache.rs`, whose `--kms-cache-ttl` it
//! shares), an entry lives at most `ttl` after it was built, and at most
//! [`CAPACITY`] projects' are held, of at most [`WINDOW_BUDGET`] windows
//! in all (a redactor's memory is about 64 bytes per window: 1 MB for 100
//! values of 40 bytes, so a project near its size limit is never held, and
//! builds each time as before). What expired leaves memory at the next
//! insert or at [`RedactorCache::expire`] (the server's sweep), and is
//! zeroized once the last execution using it ends.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use paige_redact::Redactor;

/// At most this many projects' redactors are held; past it the oldest
/// goes (a node running more projects than this just builds more often).
pub const CAPACITY: usize = 64;
/// At most this many windows and forms, over all redactors held (about
/// 64 MB).
pub const WINDOW_BUDGET: usize = 1_000_000;

struct Entry {
    generation: i64,
    redactor: Arc<Redactor>,
    built: Instant,
}

pub struct RedactorCache {
    ttl: Duration,
    by_project: Mutex<HashMap<i64, Entry>>,
}

impl fmt::Debug for RedactorCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedactorCache")
            .field("ttl", &self.ttl)
            .field("held", &self.len())
            .finish()
    }
}

impl RedactorCache {
    /// A zero `ttl` turns the cache off.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            by_project: Mutex::new(HashMap::new()),
        }
    }

    /// The redactor built from `project_id`'s values at `generation`,
    /// within `ttl` of its build.
    pub fn get(&self, project_id: i64, generation: i64) -> Option<Arc<Redactor>> {
        let mut by_project = self.lock();
        let entry = by_project.get(&project_id)?;
        if entry.generation == generation && entry.built.elapsed() < self.ttl {
            return Some(Arc::clone(&entry.redactor));
        }
        // Superseded or expired: gone now, not at the next insert.
        by_project.remove(&project_id);
        None
    }

    /// Holds `redactor`, built from `project_id`'s values at `generation`.
    pub fn insert(&self, project_id: i64, generation: i64, redactor: Arc<Redactor>) {
        if self.ttl.is_zero() {
            return;
        }
        let weight = size(&redactor);
        if weight > WINDOW_BUDGET {
            return;
        }
        let mut by_project = self.lock();
        let ttl = self.ttl;
        by_project.retain(|_, e| e.built.elapsed() < ttl);
        by_project.remove(&project_id);
        while by_project.len() >= CAPACITY
            || by_project.values().map(|e| size(&e.redactor)).sum::<usize>() + weight > WINDOW_BUDGET
        {
            let oldest = by_project.iter().min_by_key(|(_, e)| e.built).map(|(id, _)| *id);
            let Some(oldest) = oldest else { break };
            by_project.remove(&oldest);
        }
        by_project.insert(
            project_id,
            Entry {
                generation,
                redactor,
                built: Instant::now(),
            },
        );
    }

    /// Drops what is past its `ttl` (the server's sweep calls it, so an
    /// idle node does not hold values' forms longer than that).
    pub fn expire(&self) {
        let ttl = self.ttl;
        self.lock().retain(|_, e| e.built.elapsed() < ttl);
    }

    /// How many projects' redactors are held.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<i64, Entry>> {
        // Entries are replaced whole: one left by a panicking holder is
        // still a consistent entry.
        self.by_project
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// What a redactor counts against [`WINDOW_BUDGET`].
fn size(redactor: &Redactor) -> usize {
    redactor.window_count() + redactor.pattern_count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor(value: &str) -> Arc<Redactor> {
        Arc::new(Redactor::new(&[("KEY", value)]))
    }

    #[test]
    fn a_redactor_is_served_for_its_generation_and_within_its_ttl_only() {
        let cache = RedactorCache::new(Duration::from_millis(80));
        cache.insert(1, 7, redactor("first-value-0001"));
        let held = cache.get(1, 7).expect("the generation it was built at");
        assert_eq!(held.redact(b"x first-value-0001"), b"x [REDACTED:KEY]");
        assert!(cache.get(1, 8).is_none(), "a moved generation is a miss");
        assert!(cache.get(1, 7).is_none(), "and the superseded entry is gone");
        assert!(cache.get(2, 7).is_none(), "another project's is never served");
        cache.insert(2, 1, redactor("second-value-0002"));
        std::thread::sleep(Duration::from_millis(100));
        assert!(cache.get(2, 1).is_none(), "expired");
        cache.insert(3, 1, redactor("third-value-00003"));
        std::thread::sleep(Duration::from_millis(100));
        cache.expire();
        assert_eq!(cache.len(), 0, "the sweep drops what expired");
        let off = RedactorCache::new(Duration::ZERO);
        off.insert(4, 1, redactor("fourth-value-0004"));
        assert!(off.get(4, 1).is_none());
    }

    #[test]
    fn past_its_capacity_the_oldest_project_goes() {
        let cache = RedactorCache::new(Duration::from_secs(60));
        for project in 0..=i64::try_from(CAPACITY).unwrap() {
            cache.insert(project, 1, redactor("some-value-000001"));
        }
        assert_eq!(cache.len(), CAPACITY);
        assert!(cache.get(0, 1).is_none(), "the oldest went");
        assert!(cache.get(i64::try_from(CAPACITY).unwrap(), 1).is_some());
    }

    #[test]
    fn a_redactor_past_the_window_budget_is_not_held() {
        let cache = RedactorCache::new(Duration::from_secs(60));
        cache.insert(1, 1, redactor("some-value-000001"));
        // Pseudo-random letters, so nearly every window is its own.
        let mut state = 0x2545_f491_u32;
        let huge: String = (0..200_000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                char::from(b'a' + u8::try_from(state % 26).unwrap())
            })
            .collect();
        let big = Arc::new(Redactor::new(&[("HUGE", huge.as_str())]));
        assert!(size(&big) > WINDOW_BUDGET, "{} windows", big.window_count());
        cache.insert(2, 1, big);
        assert!(cache.get(2, 1).is_none(), "too big to hold");
        assert!(cache.get(1, 1).is_some(), "and nothing was evicted for it");
    }
}
