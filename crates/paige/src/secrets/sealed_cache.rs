//! The last sealed values `resolve` read, per project, labelled with the
//! project's secrets generation (migration 0012: moved by every change to
//! its secrets, in the changing transaction, on any node). A warm
//! `resolve` sends the generation it holds and gets back the project's
//! row alone while it is still current, so it decrypts without reading
//! and decoding every ciphertext again. Only ciphertexts are kept: the
//! database holds them anyway, and nothing here can open them without the
//! project's data key.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::model::{ProjectRecord, SealedSecret};

/// At most this many projects are kept; past it the cache starts over
/// (a node serving more projects than this just reads more often).
const CAPACITY: usize = 1024;

/// One project's values as of one generation.
#[derive(Debug, Clone)]
pub(crate) struct Sealed {
    /// The project the slug named when read: a project deleted and made
    /// again under the same slug starts its generations over. Its record
    /// (with its wrapped data key) lets a warm `resolve` open the values
    /// while the store confirms the generation.
    pub project: ProjectRecord,
    pub generation: i64,
    pub secrets: Arc<[SealedSecret]>,
}

/// By slug, since `resolve` starts from one.
#[derive(Debug, Default)]
pub(crate) struct SealedCache {
    by_slug: Mutex<HashMap<String, Sealed>>,
}

impl SealedCache {
    pub(crate) fn get(&self, slug: &str) -> Option<Sealed> {
        self.lock().get(slug).cloned()
    }

    pub(crate) fn put(&self, slug: &str, sealed: Sealed) {
        let mut by_slug = self.lock();
        if by_slug.len() >= CAPACITY && !by_slug.contains_key(slug) {
            by_slug.clear();
        }
        by_slug.insert(slug.to_owned(), sealed);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Sealed>> {
        // Entries are replaced whole: one left by a panicking holder is
        // still a consistent entry.
        self.by_slug.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
