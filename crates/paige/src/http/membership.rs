//! Inviting, re-roling and removing members, shared by the JSON API and the
//! dashboard, so the owner rule is written once.

use crate::Paige;
use crate::auth::normalize_email;
use crate::auth::roles::Action;
use crate::error::{Error, Result};
use crate::model::{Actor, Invitation, ProjectRecord, Role, UserRecord};
use crate::projects::parse_role;

/// Only an owner may make or unmake owners.
pub fn check_owner_rule(caller_role: Role, touches_owner: bool) -> Result<()> {
    if touches_owner && caller_role != Role::Owner {
        return Err(Error::Forbidden);
    }
    Ok(())
}

/// The member `email` of `project`: a user who is not a member and an
/// email with no account get the same `NotFound`, so this tells nobody
/// which emails have accounts.
async fn member(paige: &Paige, project: &ProjectRecord, email: &str) -> Result<(UserRecord, Role)> {
    let email = normalize_email(email)?;
    let not_member = || Error::NotFound(format!("member {email} of project {}", project.slug));
    let user = match paige.user(&email).await {
        Ok(user) => user,
        Err(Error::NotFound(_)) => return Err(not_member()),
        Err(e) => return Err(e),
    };
    let role = paige.member_role(project, &user).await?.ok_or_else(not_member)?;
    Ok((user, role))
}

/// Changes the role of member `email` of project `slug` to `role`, as
/// `caller` (who must be allowed to manage members). Someone who is not a
/// member is invited instead ([`invite`]). Returns whether the member is
/// new (never, now), their role and their normalized email.
pub async fn set_member(
    paige: &Paige,
    caller: &UserRecord,
    actor: &Actor,
    slug: &str,
    email: &str,
    role: &str,
) -> Result<(bool, Role, String)> {
    let (project, caller_role) = paige.authorize(caller, slug, Action::ManageMembers).await?;
    let role = parse_role(role)?;
    let (user, current) = member(paige, &project, email).await?;
    check_owner_rule(caller_role, role == Role::Owner || current == Role::Owner)?;
    let added = paige.add_member(&project.slug, &user.email, role, actor).await?;
    Ok((added, role, user.email))
}

/// Removes `email` from project `slug`, as `caller`.
pub async fn remove_member(paige: &Paige, caller: &UserRecord, actor: &Actor, slug: &str, email: &str) -> Result<()> {
    let (project, caller_role) = paige.authorize(caller, slug, Action::ManageMembers).await?;
    let (user, current) = member(paige, &project, email).await?;
    check_owner_rule(caller_role, current == Role::Owner)?;
    paige.remove_member(&project.slug, &user.email, actor).await
}

/// Invites `email` to project `slug` as `role`, as `caller` (who must be
/// allowed to manage members; only an owner invites an owner). The answer
/// is the same whether or not `email` has an account.
pub async fn invite(
    paige: &Paige,
    caller: &UserRecord,
    actor: &Actor,
    slug: &str,
    email: &str,
    role: &str,
) -> Result<Invitation> {
    let (project, caller_role) = paige.authorize(caller, slug, Action::ManageMembers).await?;
    let role = parse_role(role)?;
    check_owner_rule(caller_role, role == Role::Owner)?;
    paige.invite(&project, email, role, actor).await
}

/// Cancels pending invitation `id` of project `slug`, as `caller`.
pub async fn cancel_invite(
    paige: &Paige,
    caller: &UserRecord,
    actor: &Actor,
    slug: &str,
    id: i64,
) -> Result<Invitation> {
    let (project, _) = paige.authorize(caller, slug, Action::ManageMembers).await?;
    paige.cancel_invite(&project, id, actor).await
}
