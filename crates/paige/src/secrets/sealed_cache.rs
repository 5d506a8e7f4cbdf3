//! The last sealed values `resolve` read, per project, by secrets
//! generation (see `slug_cache.rs`). A warm `resolve` sends the generation
//! it holds and gets back the project's row alone while it is still
//! current, so it decrypts without reading and decoding every ciphertext
//! again. Only ciphertexts are kept: the database holds them anyway, and
//! nothing here can open them without the project's data key.

use std::sync::Arc;

use crate::model::{ProjectRecord, SealedSecret};
use crate::slug_cache::SlugCache;

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
pub(crate) type SealedCache = SlugCache<Sealed>;
