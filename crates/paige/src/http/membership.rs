//! Adding, re-roling and removing members, shared by the JSON API and the
//! dashboard, so the owner rule is written once.

use crate::Paige;
use crate::auth::roles::Action;
use crate::error::{Error, Result};
use crate::model::{Actor, Role, UserRecord};
use crate::projects::parse_role;

/// Only an owner may make or unmake owners.
pub fn check_owner_rule(caller_role: Role, touches_owner: bool) -> Result<()> {
    if touches_owner && caller_role != Role::Owner {
        return Err(Error::Forbidden);
    }
    Ok(())
}

/// Adds `email` to project `slug` with `role`, or changes their role, as
/// `caller` (who must be allowed to manage members). Returns whether the
/// member is new, their role and their normalized email.
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
    let user = paige.user(email).await?;
    let current = paige.member_role(&project, &user).await?;
    check_owner_rule(caller_role, role == Role::Owner || current == Some(Role::Owner))?;
    let added = paige.add_member(&project.slug, &user.email, role, actor).await?;
    Ok((added, role, user.email))
}

/// Removes `email` from project `slug`, as `caller`.
pub async fn remove_member(paige: &Paige, caller: &UserRecord, actor: &Actor, slug: &str, email: &str) -> Result<()> {
    let (project, caller_role) = paige.authorize(caller, slug, Action::ManageMembers).await?;
    let user = paige.user(email).await?;
    let current = paige.member_role(&project, &user).await?;
    check_owner_rule(caller_role, current == Some(Role::Owner))?;
    paige.remove_member(&project.slug, &user.email, actor).await
}
