//! Projects and their members.

use crate::app::Paige;
use std::sync::Arc;

use crate::crypto::DataKey;
use crate::error::{Error, Result};
use crate::model::{Actor, AuditEvent, Member, Page, ProjectRecord, Role, UserRecord};
use crate::store::WrapFuture;

pub const SLUG_MAX_LEN: usize = 63;

/// A slug is 1–63 characters of `a-z`, `0-9` and `-`, starting with a
/// letter and not ending with `-`: it is safe in URLs and paths as it is.
pub fn check_slug(slug: &str) -> Result<()> {
    let rule = "a project slug is 1 to 63 characters of a-z, 0-9 and -, starting with a letter and not ending with -";
    let ok = !slug.is_empty()
        && slug.len() <= SLUG_MAX_LEN
        && slug.starts_with(|c: char| c.is_ascii_lowercase())
        && !slug.ends_with('-')
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid("invalid_slug", format!("invalid slug {slug:?}: {rule}")))
    }
}

pub fn parse_role(role: &str) -> Result<Role> {
    Role::parse(role).ok_or_else(|| {
        Error::invalid(
            "invalid_role",
            format!("invalid role {role:?}: a role is one of owner, admin, developer, viewer"),
        )
    })
}

impl Paige {
    /// Creates a project with a fresh data key, wrapped by the primary key
    /// provider's current key and bound to the project's id.
    pub async fn create_project(&self, slug: &str, owner_email: Option<&str>, actor: &Actor) -> Result<ProjectRecord> {
        check_slug(slug)?;
        let owner = match owner_email {
            Some(email) => Some(self.user(email).await?.id),
            None => None,
        };
        let provider = self.keys.primary();
        let dek = Arc::new(DataKey::generate());
        let wrap = |project_id: i64| -> WrapFuture<'_> { Box::pin(provider.wrap(project_id, &dek)) };
        let project = self.store.create_project(slug, &wrap, owner, actor).await?;
        // This node holds the key already: its first write need not ask
        // the key service to unwrap it.
        self.keys.cache().insert(project.id, &project.wrapped_data_key, dek);
        Ok(project)
    }

    pub async fn list_projects(&self) -> Result<Vec<ProjectRecord>> {
        self.store.list_projects().await
    }

    pub async fn project(&self, slug: &str) -> Result<ProjectRecord> {
        self.store
            .project_by_slug(slug)
            .await?
            .ok_or_else(|| Error::NotFound(format!("project {slug}")))
    }

    /// Adds a member, or changes the role of an existing one; true if new.
    pub async fn add_member(&self, slug: &str, email: &str, role: Role, actor: &Actor) -> Result<bool> {
        let project = self.project(slug).await?;
        let user = self.user(email).await?;
        self.store.set_member(project.id, user.id, role, actor).await
    }

    pub async fn remove_member(&self, slug: &str, email: &str, actor: &Actor) -> Result<()> {
        let project = self.project(slug).await?;
        let user = self.user(email).await?;
        if self.store.remove_member(project.id, user.id, actor).await? {
            Ok(())
        } else {
            Err(Error::NotFound(format!("member {} of project {slug}", user.email)))
        }
    }

    pub async fn list_members(&self, slug: &str) -> Result<Vec<Member>> {
        let project = self.project(slug).await?;
        self.list_members_in(&project).await
    }

    /// The members of a project already looked up (and authorized), by email.
    pub async fn list_members_in(&self, project: &ProjectRecord) -> Result<Vec<Member>> {
        self.store.list_members(project.id).await
    }

    /// A user's role in a project; `None` if they are not a member.
    pub async fn member_role(&self, project: &ProjectRecord, user: &UserRecord) -> Result<Option<Role>> {
        self.store.member_role(project.id, user.id).await
    }

    /// One page of a project's audit log, newest first.
    pub async fn audit_events(&self, project: &ProjectRecord, page: Page) -> Result<Vec<AuditEvent>> {
        self.store.audit_events(project.id, page).await
    }

    /// The projects a user is a member of, with their role.
    pub async fn projects_for(&self, user: &UserRecord) -> Result<Vec<(ProjectRecord, Role)>> {
        self.store.projects_for_user(user.id).await
    }
}
