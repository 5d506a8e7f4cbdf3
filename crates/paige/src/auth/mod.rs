//! Users, passwords and API tokens, and `Paige::authorize`: the role
//! table of `roles.rs` applied to a user and a project.

pub mod access;
pub mod device;
pub mod passwords;
pub mod ratelimit;
pub mod roles;
pub mod sessions;
pub mod setup;
pub mod tokens;

use secrecy::SecretString;

use crate::app::Paige;
use crate::error::{Error, Result};
use crate::model::{Actor, NewAudit, ProjectRecord, Role, UserRecord};
use roles::{Action, allows};

pub use tokens::ApiToken;

pub const EMAIL_MAX_LEN: usize = 254;

/// Normalises an email to lower case and checks its shape (one `@`, a
/// non-empty local part, a dotted domain, no spaces or control characters).
pub fn normalize_email(email: &str) -> Result<String> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= EMAIL_MAX_LEN
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && match email.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            }
            None => false,
        };
    if valid {
        Ok(email)
    } else {
        Err(Error::invalid(
            "invalid_email",
            format!("invalid email {email:?}: expected name@domain.tld of at most {EMAIL_MAX_LEN} characters"),
        ))
    }
}

impl Paige {
    pub async fn create_user(&self, email: &str, password: &SecretString, actor: &Actor) -> Result<UserRecord> {
        let email = normalize_email(email)?;
        passwords::check_password(password)?;
        let hash = passwords::hash_password(password)?;
        self.store.create_user(&email, &hash, actor).await
    }

    pub async fn user(&self, email: &str) -> Result<UserRecord> {
        let email = normalize_email(email)?;
        self.store
            .user_by_email(&email)
            .await?
            .ok_or_else(|| Error::NotFound(format!("user {email}")))
    }

    /// Creates an API token for a user. The token is returned once; only
    /// its hash is stored.
    pub async fn create_token(&self, email: &str, actor: &Actor) -> Result<(i64, ApiToken)> {
        let user = self.user(email).await?;
        let token = ApiToken::generate();
        let id = self.store.create_token(user.id, &token.hash(), actor).await?;
        Ok((id, token))
    }

    /// The user an API token belongs to, if it is valid and not revoked.
    pub async fn user_for_token(&self, presented: &str) -> Result<Option<UserRecord>> {
        Ok(self.token(presented).await?.map(|(user, _)| user))
    }

    /// The user an API token belongs to and the token's id, if it is valid
    /// and not revoked (the id lets a client revoke the token it holds).
    pub async fn token(&self, presented: &str) -> Result<Option<(UserRecord, i64)>> {
        let hash = tokens::hash_token(presented);
        let found = self.store.token_by_hash(&hash).await?;
        Ok(found.and_then(|(user, id, stored)| tokens::hashes_match(&stored, &hash).then_some((user, id))))
    }

    pub async fn revoke_token(&self, token_id: i64, owner: Option<i64>, actor: &Actor) -> Result<()> {
        if self.store.revoke_token(token_id, owner, actor).await? {
            Ok(())
        } else {
            Err(Error::NotFound(format!("token #{token_id}")))
        }
    }

    /// The project `slug` if `user` may do `action` in it. A user who is not
    /// a member gets the same `NotFound` as for a project that does not
    /// exist, so membership is the only way to learn that a project exists;
    /// a member without the right gets `Forbidden`.
    pub async fn authorize(&self, user: &UserRecord, slug: &str, action: Action) -> Result<(ProjectRecord, Role)> {
        let not_found = || Error::NotFound(format!("project {slug}"));
        let (project, role) = self
            .store
            .project_and_role(slug, user.id)
            .await?
            .ok_or_else(not_found)?;
        let role = role.ok_or_else(not_found)?;
        if allows(role, action) {
            Ok((project, role))
        } else {
            Err(Error::Forbidden)
        }
    }

    /// Records a failed sign-in (`auth.login_failed`) for `account`, the
    /// email as typed and normalised where it could be; `actor` names where
    /// the attempt came from.
    pub async fn record_failed_login(&self, account: &str, actor: &Actor) -> Result<()> {
        let audit = NewAudit {
            action: "auth.login_failed",
            detail: Some(format!("email {account}")),
            ..NewAudit::default()
        };
        self.store.append_audit(audit, actor).await
    }

    /// Checks an email and password. Unknown emails cost the same Argon2id
    /// work as known ones, so timing does not tell which accounts exist.
    pub async fn verify_login(&self, email: &str, password: SecretString) -> Result<Option<UserRecord>> {
        let user = match normalize_email(email) {
            Ok(email) => self.store.user_by_email(&email).await?,
            Err(_) => None,
        };
        let stored = user
            .as_ref()
            .map_or_else(|| passwords::DUMMY_HASH.clone(), |u| u.password_hash.clone());
        let matches = tokio::task::spawn_blocking(move || passwords::verify_password(&password, &stored))
            .await
            .unwrap_or(false);
        Ok(user.filter(|_| matches))
    }
}
