//! The API's one-statement path for API tokens: authenticate the token,
//! authorize its user for one project and, for a listing, read the keys,
//! all in one statement (`store/access.rs`), instead of one round trip for
//! each. No authorization is cached, so a revocation, a removal or a
//! demotion committed by any node or by the local CLI applies to the next
//! request; a listing's keys are reused while the project's secrets
//! generation, read by the same statement, has not moved.
//!
//! The answers are those of [`Paige::token`] followed by
//! [`Paige::authorize`]: no valid token is `Ok(None)` (401); a project
//! that does not exist and one the user is not a member of are the same
//! `NotFound`; a member without the right is `Forbidden`.

use std::sync::Arc;

use super::roles::{Action, allows};
use super::tokens;
use crate::app::Paige;
use crate::error::{Error, Result};
use crate::model::{Actor, ProjectRecord, SecretMeta};
use crate::store::TokenAccess;

/// A token holder allowed to do an action in a project.
#[derive(Debug, Clone)]
pub struct TokenGrant {
    pub user_id: i64,
    pub email: String,
    pub token_id: i64,
    /// The project, as a write to it needs it (no second lookup).
    pub project: ProjectRecord,
}

impl TokenGrant {
    /// Who the token holder is, for the audit record of a write.
    pub fn actor(&self, request_id: Option<String>) -> Actor {
        Actor {
            name: self.email.clone(),
            user_id: Some(self.user_id),
            request_id,
        }
    }
}

/// The grant `access` gives for `action` in `slug`; `Ok(None)` when the
/// stored hash does not match (compared in constant time, as
/// [`Paige::token`] does).
fn grant(access: TokenAccess, hash: &[u8], slug: &str, action: Action) -> Result<Option<TokenGrant>> {
    if !tokens::hashes_match(&access.token_hash, hash) {
        return Ok(None);
    }
    let (project, role) = access
        .member
        .ok_or_else(|| Error::NotFound(format!("project {slug}")))?;
    if !allows(role, action) {
        return Err(Error::Forbidden);
    }
    Ok(Some(TokenGrant {
        user_id: access.user_id,
        email: access.email,
        token_id: access.token_id,
        project,
    }))
}

impl Paige {
    /// Authenticates the API token `presented` and authorizes its user for
    /// `action` in project `slug`, in one statement.
    pub async fn authorize_token(&self, presented: &str, slug: &str, action: Action) -> Result<Option<TokenGrant>> {
        let hash = tokens::hash_token(presented);
        match self.store.token_access(&hash, slug).await? {
            Some(access) => grant(access, &hash, slug, action),
            None => Ok(None),
        }
    }

    /// The keys of project `slug` as the holder of the API token
    /// `presented` may list them, authenticated, authorized and read in
    /// one statement.
    ///
    /// The keys are those this node last listed for the project when the
    /// statement finds its secrets generation unchanged (the authorization
    /// is read every time; only the keys are reused).
    pub async fn list_secrets_for_token(&self, presented: &str, slug: &str) -> Result<Option<Arc<[SecretMeta]>>> {
        let hash = tokens::hash_token(presented);
        let held = self.listings.get(slug);
        let Some((access, listing)) = self.store.token_listing(&hash, slug, held.as_ref()).await? else {
            return Ok(None);
        };
        let Some(grant) = grant(access, &hash, slug, Action::ListKeys)? else {
            return Ok(None);
        };
        // A member has a listing; `grant` refused anyone else.
        let listing = listing.ok_or_else(|| Error::internal(format!("no key listing for member {}", grant.user_id)))?;
        // The store hands back what this node holds when it is current.
        let reused = held.is_some_and(|h| Arc::ptr_eq(&h.keys, &listing.keys));
        if !reused {
            self.listings.put(slug, listing.clone());
        }
        Ok(Some(listing.keys))
    }
}
