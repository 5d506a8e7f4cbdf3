//! Invitations to a project: how membership begins (an owner or admin
//! invites an email, the person with that email accepts).

use super::{Millis, Role};

/// How long an invitation can be accepted.
pub const INVITE_TTL_MS: i64 = 7 * 24 * 60 * 60 * 1000;

/// Where an invitation stands. It leaves `Pending` once, for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteState {
    Pending,
    Accepted,
    Declined,
    Cancelled,
}

impl InviteState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Accepted => "accepted",
            Self::Declined => "declined",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Accepted, Self::Declined, Self::Cancelled]
            .into_iter()
            .find(|state| state.as_str() == s)
    }
}

/// One invitation, with its project's slug. Never holds its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    pub id: i64,
    pub project_id: i64,
    pub project: String,
    pub email: String,
    pub role: Role,
    /// Who invited: an email, or `cli:<user>`.
    pub inviter: String,
    pub created_at: Millis,
    pub expires_at: Millis,
    pub state: InviteState,
}

/// What the store needs to record a new invitation.
#[derive(Debug, Clone)]
pub struct NewInvite<'a> {
    pub email: &'a str,
    pub role: Role,
    pub token_hash: [u8; 32],
    pub expires_at: Millis,
}

/// An invitation's answer by its invitee.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteAnswer {
    Accept,
    Decline,
}
