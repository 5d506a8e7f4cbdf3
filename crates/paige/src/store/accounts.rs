//! Persistence for how accounts and memberships begin: the first user of
//! a fresh install, and invitations to a project.
//!
//! An invitation moves from pending to accepted, declined or cancelled
//! once, in a write transaction that locks its project, as member changes
//! do; accepting one adds the member and closes it in the same
//! transaction, with an audit record for each step.
//!
//! The implementation is `sql_accounts.rs`.

use async_trait::async_trait;

use crate::error::Result;
use crate::model::{Actor, Invitation, InviteAnswer, Millis, NewInvite, UserRecord};

#[async_trait]
pub trait AccountStore: Send + Sync {
    /// How many users exist (the first-run page shows only at zero).
    async fn user_count(&self) -> Result<i64>;

    /// Creates a user only if there is none yet, in one transaction that
    /// keeps a concurrent sign-up out; `None` if a user already exists.
    async fn create_first_user(&self, email: &str, password_hash: &str, actor: &Actor) -> Result<Option<UserRecord>>;

    /// Records an invitation to `project_id` and audits it
    /// (`member.invite`). Refuses (conflict) an email that is already a
    /// member or has a pending invitation to the project.
    async fn create_invite(&self, project_id: i64, invite: NewInvite<'_>, actor: &Actor) -> Result<Invitation>;

    /// A project's pending, unexpired invitations, by email.
    async fn project_invites(&self, project_id: i64, now: Millis) -> Result<Vec<Invitation>>;

    /// The pending, unexpired invitations to `email`, by project.
    async fn invites_for_email(&self, email: &str, now: Millis) -> Result<Vec<Invitation>>;

    /// Cancels a pending invitation of `project_id` (`member.invite_cancel`);
    /// `None` if there is no such pending invitation.
    async fn cancel_invite(&self, project_id: i64, invite_id: i64, actor: &Actor) -> Result<Option<Invitation>>;

    /// The invitee's answer to a pending, unexpired invitation to their
    /// email: accepting makes them a member with its role
    /// (`member.invite_accept`), declining closes it
    /// (`member.invite_decline`). `None` if there is no such invitation
    /// for this user.
    async fn answer_invite(
        &self,
        invite_id: i64,
        user: &UserRecord,
        answer: InviteAnswer,
        now: Millis,
        actor: &Actor,
    ) -> Result<Option<Invitation>>;
}
