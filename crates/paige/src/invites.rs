//! Membership by invitation: an owner or admin invites an email; the
//! person with that email, once signed in, accepts or declines.
//!
//! Inviting answers the same whether or not the email has an account, so
//! the form tells nobody which emails exist: an invitation to an email
//! without an account waits until that account is made. Only a hash of
//! each invitation's random token is stored (for a link to it later); the
//! invitee is recognised by the email of the account they signed in with.

use crate::app::Paige;
use crate::auth::normalize_email;
use crate::auth::tokens::ApiToken;
use crate::error::{Error, Result};
use crate::model::{
    Actor, INVITE_TTL_MS, Invitation, InviteAnswer, NewInvite, ProjectRecord, Role, UserRecord, now_millis,
};

impl Paige {
    /// Invites `email` to `project` as `role` (who may invite whom is the
    /// caller's check). Refuses someone already a member or already invited.
    pub async fn invite(&self, project: &ProjectRecord, email: &str, role: Role, actor: &Actor) -> Result<Invitation> {
        let email = normalize_email(email)?;
        let token = ApiToken::generate();
        let invite = NewInvite {
            email: &email,
            role,
            token_hash: token.hash(),
            expires_at: now_millis() + INVITE_TTL_MS,
        };
        self.store.create_invite(project.id, invite, actor).await
    }

    /// The pending invitations of a project, by email.
    pub async fn project_invites(&self, project: &ProjectRecord) -> Result<Vec<Invitation>> {
        self.store.project_invites(project.id, now_millis()).await
    }

    /// The pending invitations to a user's email, by project.
    pub async fn invites_for(&self, user: &UserRecord) -> Result<Vec<Invitation>> {
        self.store.invites_for_email(&user.email, now_millis()).await
    }

    /// Cancels a pending invitation of `project`.
    pub async fn cancel_invite(&self, project: &ProjectRecord, invite_id: i64, actor: &Actor) -> Result<Invitation> {
        self.store
            .cancel_invite(project.id, invite_id, actor)
            .await?
            .ok_or_else(|| Error::NotFound(format!("pending invitation #{invite_id}")))
    }

    /// The invitee's answer. Another user's invitation, or one already
    /// answered, cancelled or expired, is `NotFound` alike.
    pub async fn answer_invite(
        &self,
        user: &UserRecord,
        invite_id: i64,
        answer: InviteAnswer,
        actor: &Actor,
    ) -> Result<Invitation> {
        self.store
            .answer_invite(invite_id, user, answer, now_millis(), actor)
            .await?
            .ok_or_else(|| Error::NotFound(format!("pending invitation #{invite_id}")))
    }
}
