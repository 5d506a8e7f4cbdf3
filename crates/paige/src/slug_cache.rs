//! What a node last read of a project, by slug, labelled with the
//! project's secrets generation (migration 0012: moved by every change to
//! its secrets, in the changing transaction, on any node). A reader sends
//! the generation it holds with its next read, and the store sends back
//! the project's row alone while that generation is still current; the
//! reader then uses what it holds. Used for `resolve`'s ciphertexts
//! (`secrets/sealed_cache.rs`) and the API's key listings
//! (`store/access.rs`). Nothing is taken from here without that check.

use std::collections::HashMap;
use std::sync::Mutex;

/// At most this many projects are kept; past it the cache starts over
/// (a node serving more projects than this just reads more often).
const CAPACITY: usize = 1024;

/// Entries by slug, since requests name projects by slug.
#[derive(Debug)]
pub(crate) struct SlugCache<T> {
    by_slug: Mutex<HashMap<String, T>>,
}

impl<T> Default for SlugCache<T> {
    fn default() -> Self {
        Self {
            by_slug: Mutex::new(HashMap::new()),
        }
    }
}

impl<T: Clone> SlugCache<T> {
    pub(crate) fn get(&self, slug: &str) -> Option<T> {
        self.lock().get(slug).cloned()
    }

    pub(crate) fn put(&self, slug: &str, entry: T) {
        let mut by_slug = self.lock();
        if by_slug.len() >= CAPACITY && !by_slug.contains_key(slug) {
            by_slug.clear();
        }
        by_slug.insert(slug.to_owned(), entry);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, T>> {
        // Entries are replaced whole: one left by a panicking holder is
        // still a consistent entry.
        self.by_slug.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
