//! This node's cache of unwrapped data keys, so that a resolve or an
//! execution does not wait on the key service each time.
//!
//! An entry is found only for the exact wrapped blob it came from (a
//! re-wrapped or replaced key is a miss) and only for `ttl` after it was
//! unwrapped: a key revoked in the KMS stops serving uncached projects at
//! once and cached ones within `ttl`. Keys are `DataKey`s, zeroized when
//! the last holder drops them.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::keys::DataKey;

/// The default time an unwrapped data key stays in memory.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);

struct Entry {
    wrapped: Vec<u8>,
    key: Arc<DataKey>,
    at: Instant,
}

pub struct DataKeyCache {
    ttl: Duration,
    entries: Mutex<HashMap<i64, Entry>>,
}

impl fmt::Debug for DataKeyCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataKeyCache")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl DataKeyCache {
    /// A zero `ttl` turns the cache off.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The project's data key if unwrapped from this very blob within `ttl`.
    pub fn get(&self, project_id: i64, wrapped: &[u8]) -> Option<Arc<DataKey>> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let entry = entries.get(&project_id)?;
        if entry.at.elapsed() < self.ttl && entry.wrapped == wrapped {
            return Some(Arc::clone(&entry.key));
        }
        // Expired or superseded: drop it now rather than at the next sweep.
        entries.remove(&project_id);
        None
    }

    pub fn insert(&self, project_id: i64, wrapped: &[u8], key: Arc<DataKey>) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        // Expired keys of projects nobody asks for again leave memory at
        // the next insert, so no key outlives its ttl by much.
        let ttl = self.ttl;
        entries.retain(|_, e| e.at.elapsed() < ttl);
        entries.insert(
            project_id,
            Entry {
                wrapped: wrapped.to_vec(),
                key,
                at: Instant::now(),
            },
        );
    }

    /// Forgets every key (after a rotation or a migration, by this process).
    pub fn clear(&self) {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_served_for_its_blob_and_within_its_ttl_only() {
        let cache = DataKeyCache::new(Duration::from_millis(50));
        cache.insert(1, b"blob-a", Arc::new(DataKey::generate()));
        assert!(cache.get(1, b"blob-a").is_some());
        assert!(cache.get(1, b"blob-b").is_none());
        assert!(cache.get(1, b"blob-a").is_none(), "a superseded entry is dropped");
        cache.insert(2, b"blob", Arc::new(DataKey::generate()));
        std::thread::sleep(Duration::from_millis(60));
        assert!(cache.get(2, b"blob").is_none());
        let off = DataKeyCache::new(Duration::ZERO);
        off.insert(3, b"blob", Arc::new(DataKey::generate()));
        assert!(off.get(3, b"blob").is_none());
    }
}
