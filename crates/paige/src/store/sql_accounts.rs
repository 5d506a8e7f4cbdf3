//! The [`AccountStore`] of the SQL store: the first user and invitations.

use async_trait::async_trait;
use sqlx::Row;

use super::accounts::AccountStore;
use super::backend::{Backend, Conn, SqlStore, on};
use super::sql::insert_audit;
use crate::error::{Error, Result};
use crate::model::{
    Actor, Invitation, InviteAnswer, InviteState, Millis, NewAudit, NewInvite, Role, UserRecord, now_millis,
};

/// The columns of an invitation with its project's slug (`i` and `p`).
const INVITE_COLUMNS: &str = "i.id, i.project_id, p.slug, i.email, i.role, i.inviter, i.created_at, \
                              i.expires_at, i.state";

fn invite_from_row<R>(row: &R) -> Result<Invitation>
where
    R: Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let role: String = row.get("role");
    let state: String = row.get("state");
    Ok(Invitation {
        id: row.get("id"),
        project_id: row.get("project_id"),
        project: row.get("slug"),
        email: row.get("email"),
        role: Role::parse(&role).ok_or_else(|| Error::Corrupt(format!("invitation role {role:?}")))?,
        inviter: row.get("inviter"),
        created_at: row.get("created_at"),
        expires_at: row.get("expires_at"),
        state: InviteState::parse(&state).ok_or_else(|| Error::Corrupt(format!("invitation state {state:?}")))?,
    })
}

/// One invitation by id, whatever its state.
async fn invite_by_id(conn: Conn<'_>, invite_id: i64) -> Result<Option<Invitation>> {
    let sql =
        format!("SELECT {INVITE_COLUMNS} FROM invitations i JOIN projects p ON p.id = i.project_id WHERE i.id = $1");
    on!(conn, |c| sqlx::query(&sql)
        .bind(invite_id)
        .fetch_optional(c)
        .await?
        .as_ref()
        .map(invite_from_row)
        .transpose())
}

/// Closes a pending invitation with `state`; false if it was not pending.
async fn close_invite(conn: Conn<'_>, invite_id: i64, state: InviteState) -> Result<bool> {
    let done = on!(conn, |c| sqlx::query(
        "UPDATE invitations SET state = $1, closed_at = $2 WHERE id = $3 AND state = 'pending'"
    )
    .bind(state.as_str())
    .bind(now_millis())
    .bind(invite_id)
    .execute(c)
    .await?
    .rows_affected());
    Ok(done == 1)
}

async fn audit_invite(conn: Conn<'_>, invite: &Invitation, action: &str, actor: &Actor) -> Result<()> {
    let audit = NewAudit {
        project_id: Some(invite.project_id),
        action,
        detail: Some(format!("{} as {}", invite.email, invite.role)),
        ..NewAudit::default()
    };
    insert_audit(conn, audit, actor, now_millis()).await
}

#[async_trait]
impl AccountStore for SqlStore {
    async fn user_count(&self) -> Result<i64> {
        Ok(on!(self.reader(), |pool| sqlx::query_scalar(
            "SELECT COUNT(*) FROM users"
        )
        .fetch_one(pool)
        .await)?)
    }

    async fn create_first_user(&self, email: &str, password_hash: &str, actor: &Actor) -> Result<Option<UserRecord>> {
        let mut tx = self.begin_write().await?;
        // SQLite's write transaction already holds the database; PostgreSQL
        // needs the table held so two first users cannot both be made.
        if let Backend::Postgres(pg) = &mut tx {
            sqlx::query("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE")
                .execute(&mut **pg)
                .await?;
        }
        let existing: i64 = on!(tx.conn(), |c| sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(c)
            .await)?;
        if existing > 0 {
            return Ok(None);
        }
        let now = now_millis();
        let id: i64 = on!(tx.conn(), |c| sqlx::query_scalar(
            "INSERT INTO users (email, password_hash, created_at) VALUES ($1, $2, $3) RETURNING id"
        )
        .bind(email)
        .bind(password_hash)
        .bind(now)
        .fetch_one(c)
        .await)?;
        let audit = NewAudit {
            action: "user.create",
            detail: Some(format!("user {email} (first run)")),
            ..NewAudit::default()
        };
        insert_audit(tx.conn(), audit, actor, now).await?;
        tx.commit().await?;
        Ok(Some(UserRecord {
            id,
            email: email.to_owned(),
            password_hash: password_hash.to_owned(),
            created_at: now,
        }))
    }

    async fn create_invite(&self, project_id: i64, invite: NewInvite<'_>, actor: &Actor) -> Result<Invitation> {
        let mut tx = self.begin_write().await?;
        tx.lock_project(project_id).await?;
        let role: Option<String> = on!(tx.conn(), |c| sqlx::query_scalar(
            "SELECT m.role FROM members m JOIN users u ON u.id = m.user_id WHERE m.project_id = $1 AND u.email = $2"
        )
        .bind(project_id)
        .bind(invite.email)
        .fetch_optional(c)
        .await)?;
        if let Some(role) = role {
            return Err(Error::Conflict(format!(
                "{} is already a member as {role}; nothing was changed. \
                 To change their role, use the Role menu on their row and press “Change role”.",
                invite.email
            )));
        }
        let now = now_millis();
        let pending: Option<String> = on!(tx.conn(), |c| {
            sqlx::query_scalar(
            "SELECT role FROM invitations WHERE project_id = $1 AND email = $2 AND state = 'pending' AND expires_at > $3"
        )
        .bind(project_id)
        .bind(invite.email)
        .bind(now)
        .fetch_optional(c)
        .await
        })?;
        if let Some(role) = pending {
            return Err(Error::Conflict(format!(
                "{} is already invited as {role}; nothing was changed. Cancel that invitation to send another.",
                invite.email
            )));
        }
        let id: i64 = on!(tx.conn(), |c| sqlx::query_scalar(
            "INSERT INTO invitations (project_id, email, role, inviter, token_hash, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id"
        )
        .bind(project_id)
        .bind(invite.email)
        .bind(invite.role.as_str())
        .bind(&actor.name)
        .bind(invite.token_hash.as_slice())
        .bind(now)
        .bind(invite.expires_at)
        .fetch_one(c)
        .await)?;
        let created = invite_by_id(tx.conn(), id)
            .await?
            .ok_or_else(|| Error::Internal(format!("invitation #{id} vanished")))?;
        audit_invite(tx.conn(), &created, "member.invite", actor).await?;
        tx.commit().await?;
        Ok(created)
    }

    async fn project_invites(&self, project_id: i64, now: Millis) -> Result<Vec<Invitation>> {
        let sql = format!(
            "SELECT {INVITE_COLUMNS} FROM invitations i JOIN projects p ON p.id = i.project_id
             WHERE i.project_id = $1 AND i.state = 'pending' AND i.expires_at > $2 ORDER BY i.email"
        );
        on!(self.reader(), |pool| sqlx::query(&sql)
            .bind(project_id)
            .bind(now)
            .fetch_all(pool)
            .await?
            .iter()
            .map(invite_from_row)
            .collect())
    }

    async fn invites_for_email(&self, email: &str, now: Millis) -> Result<Vec<Invitation>> {
        let sql = format!(
            "SELECT {INVITE_COLUMNS} FROM invitations i JOIN projects p ON p.id = i.project_id
             WHERE i.email = $1 AND i.state = 'pending' AND i.expires_at > $2 ORDER BY p.slug"
        );
        on!(self.reader(), |pool| sqlx::query(&sql)
            .bind(email)
            .bind(now)
            .fetch_all(pool)
            .await?
            .iter()
            .map(invite_from_row)
            .collect())
    }

    async fn cancel_invite(&self, project_id: i64, invite_id: i64, actor: &Actor) -> Result<Option<Invitation>> {
        let mut tx = self.begin_write().await?;
        tx.lock_project(project_id).await?;
        let Some(invite) = invite_by_id(tx.conn(), invite_id)
            .await?
            .filter(|i| i.project_id == project_id && i.state == InviteState::Pending)
        else {
            return Ok(None);
        };
        close_invite(tx.conn(), invite_id, InviteState::Cancelled).await?;
        audit_invite(tx.conn(), &invite, "member.invite_cancel", actor).await?;
        tx.commit().await?;
        Ok(Some(Invitation {
            state: InviteState::Cancelled,
            ..invite
        }))
    }

    async fn answer_invite(
        &self,
        invite_id: i64,
        user: &UserRecord,
        answer: InviteAnswer,
        now: Millis,
        actor: &Actor,
    ) -> Result<Option<Invitation>> {
        let mut tx = self.begin_write().await?;
        let mine = |i: &Invitation| i.email == user.email && i.state == InviteState::Pending && i.expires_at > now;
        let Some(project_id) = invite_by_id(tx.conn(), invite_id)
            .await?
            .filter(mine)
            .map(|i| i.project_id)
        else {
            return Ok(None);
        };
        tx.lock_project(project_id).await?;
        // Read again under the lock: a cancel may have come first.
        let Some(invite) = invite_by_id(tx.conn(), invite_id).await?.filter(mine) else {
            return Ok(None);
        };
        let (state, action) = match answer {
            InviteAnswer::Accept => (InviteState::Accepted, "member.invite_accept"),
            InviteAnswer::Decline => (InviteState::Declined, "member.invite_decline"),
        };
        close_invite(tx.conn(), invite_id, state).await?;
        if answer == InviteAnswer::Accept {
            // Someone already a member (added since) keeps the role they have.
            on!(tx.conn(), |c| sqlx::query(
                "INSERT INTO members (project_id, user_id, role) VALUES ($1, $2, $3)
                 ON CONFLICT (project_id, user_id) DO NOTHING"
            )
            .bind(project_id)
            .bind(user.id)
            .bind(invite.role.as_str())
            .execute(c)
            .await
            .map(drop))?;
        }
        audit_invite(tx.conn(), &invite, action, actor).await?;
        tx.commit().await?;
        Ok(Some(Invitation { state, ..invite }))
    }
}
