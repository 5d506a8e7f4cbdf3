//! Persistence for the API's hot reads: who holds a token, what they may
//! do in one project and, for a listing, that project's keys, all read by
//! one statement.
//!
//! Nothing of the authorization is cached: every request reads the
//! token, the membership and the role as committed at that moment, so a
//! revocation, a removal or a demotion made through any node or by the
//! local CLI applies to the very next request everywhere. A listing the
//! caller holds ([`KeyListing`]) is sent back instead of aggregated again
//! only when the same statement finds the project's secrets generation
//! unchanged (see `slug_cache.rs`).
//!
//! The implementation is `sql_access.rs`.

use std::sync::Arc;

use async_trait::async_trait;

use crate::error::Result;
use crate::model::{ProjectRecord, Role, SecretMeta};

/// A valid (unrevoked) API token, its user, and that user's place in one
/// project.
#[derive(Debug, Clone)]
pub struct TokenAccess {
    pub token_id: i64,
    /// The stored hash, for the constant-time comparison.
    pub token_hash: Vec<u8>,
    pub user_id: i64,
    pub email: String,
    /// The project and the user's role in it; `None` when there is no
    /// such project or the user is not a member of it (the same answer).
    pub member: Option<(ProjectRecord, Role)>,
}

/// A project's current keys, by key, as of one secrets generation.
#[derive(Debug, Clone)]
pub struct KeyListing {
    pub project_id: i64,
    pub generation: i64,
    pub keys: Arc<[SecretMeta]>,
}

#[async_trait]
pub trait AccessStore: Send + Sync {
    /// The unrevoked token whose hash is `token_hash`, with its user's role
    /// in project `slug`; `None` when there is no such token.
    async fn token_access(&self, token_hash: &[u8], slug: &str) -> Result<Option<TokenAccess>>;

    /// Like [`AccessStore::token_access`], with the current keys of the
    /// project when the user is a member, from the same statement and so
    /// the same snapshot: `held` itself when it is of that project at its
    /// current generation, else read anew.
    async fn token_listing(
        &self,
        token_hash: &[u8],
        slug: &str,
        held: Option<&KeyListing>,
    ) -> Result<Option<(TokenAccess, Option<KeyListing>)>>;
}
