//! The one SQL store: every statement written once, for SQLite and
//! PostgreSQL alike, with `$N` placeholders and run through [`on!`] on
//! whichever database the store has (`backend.rs`).
//!
//! Where the databases really differ, the branch is small and named: the
//! locks of a write (`Tx::lock_project`, `Tx::for_update`), SQLite's
//! aggregate reads of a project's secrets (`sqlite.rs`), and the bulk
//! writes of the group commit (`sqlite_group.rs`, `postgres_group.rs`).

use std::path::Path;

use async_trait::async_trait;
use sqlx::Row;

use super::backend::{Backend, Conn, SqlStore, on};
use super::rows::insert_audit_into;
use super::rows::{PROJECT_COLUMNS, project_from_row, secret_metas, unique_violation, user_from_row};
use super::snapshot::PoolStat;
use super::sqlite::sqlite_json;
use super::traits::{RewrapFn, SecretWrite, Store, WrapFn};
use super::{postgres, sqlite};
use crate::error::{Error, Result};
use crate::model::{
    Actor, AuditEvent, Member, Millis, NewAudit, Page, ProjectRecord, Role, SealedRead, SecretMeta, UserRecord,
    WriteOutcome, now_millis,
};

pub(super) async fn insert_audit(conn: Conn<'_>, event: NewAudit<'_>, actor: &Actor, at: Millis) -> Result<()> {
    on!(conn, |c| sqlx::query(concat!(
        insert_audit_into!(),
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    ))
    .bind(at)
    .bind(&actor.name)
    .bind(event.project_id)
    .bind(event.action)
    .bind(event.key)
    .bind(event.version)
    .bind(actor.request_id.as_deref())
    .bind(event.detail)
    .execute(c)
    .await
    .map(drop))?;
    Ok(())
}

async fn role_in(conn: Conn<'_>, project_id: i64, user_id: i64) -> Result<Option<Role>> {
    let role: Option<String> = on!(conn, |c| sqlx::query_scalar(
        "SELECT role FROM members WHERE project_id = $1 AND user_id = $2"
    )
    .bind(project_id)
    .bind(user_id)
    .fetch_optional(c)
    .await)?;
    Ok(role.as_deref().and_then(Role::parse))
}

async fn owner_count(conn: Conn<'_>, project_id: i64) -> Result<i64> {
    Ok(on!(conn, |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM members WHERE project_id = $1 AND role = 'owner'"
    )
    .bind(project_id)
    .fetch_one(c)
    .await)?)
}

async fn email_of(conn: Conn<'_>, user_id: i64) -> Result<String> {
    Ok(on!(conn, |c| sqlx::query_scalar(
        "SELECT email FROM users WHERE id = $1"
    )
    .bind(user_id)
    .fetch_one(c)
    .await)?)
}

/// Adds a member with `role`, or changes their role.
async fn upsert_member(conn: Conn<'_>, project_id: i64, user_id: i64, role: Role) -> Result<()> {
    on!(conn, |c| sqlx::query(
        "INSERT INTO members (project_id, user_id, role) VALUES ($1, $2, $3)
         ON CONFLICT (project_id, user_id) DO UPDATE SET role = excluded.role"
    )
    .bind(project_id)
    .bind(user_id)
    .bind(role.as_str())
    .execute(c)
    .await
    .map(drop))?;
    Ok(())
}

/// What `list_secrets` reads of a project's current keys, by key.
macro_rules! listing_columns {
    () => {
        "key, version, updated_at, updated_by"
    };
}
macro_rules! listing {
    () => {
        concat!(
            "SELECT ",
            listing_columns!(),
            " FROM secrets WHERE project_id = $1 AND ciphertext IS NOT NULL ORDER BY key"
        )
    };
}

/// `e`, or `AlreadyExists(what)` when it broke a unique constraint.
fn exists_or(what: String) -> impl FnOnce(sqlx::Error) -> Error {
    move |e| {
        if unique_violation(&e) {
            Error::AlreadyExists(what)
        } else {
            e.into()
        }
    }
}

#[async_trait]
impl Store for SqlStore {
    async fn create_user(&self, email: &str, password_hash: &str, actor: &Actor) -> Result<UserRecord> {
        let mut tx = self.begin_write().await?;
        let now = now_millis();
        let id: i64 = on!(tx.conn(), |c| sqlx::query_scalar(
            "INSERT INTO users (email, password_hash, created_at) VALUES ($1, $2, $3) RETURNING id"
        )
        .bind(email)
        .bind(password_hash)
        .bind(now)
        .fetch_one(c)
        .await)
        .map_err(exists_or(format!("user {email}")))?;
        let audit = NewAudit {
            action: "user.create",
            detail: Some(format!("user {email}")),
            ..NewAudit::default()
        };
        insert_audit(tx.conn(), audit, actor, now).await?;
        tx.commit().await?;
        Ok(UserRecord {
            id,
            email: email.to_owned(),
            password_hash: password_hash.to_owned(),
            created_at: now,
        })
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>> {
        Ok(on!(self.reader(), |pool| sqlx::query(
            "SELECT id, email, password_hash, created_at FROM users WHERE email = $1"
        )
        .bind(email)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(user_from_row)))
    }

    async fn user_by_id(&self, user_id: i64) -> Result<Option<UserRecord>> {
        Ok(on!(self.reader(), |pool| sqlx::query(
            "SELECT id, email, password_hash, created_at FROM users WHERE id = $1"
        )
        .bind(user_id)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(user_from_row)))
    }

    async fn create_token(&self, user_id: i64, token_hash: &[u8], actor: &Actor) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        let now = now_millis();
        let id: i64 = on!(tx.conn(), |c| sqlx::query_scalar(
            "INSERT INTO api_tokens (user_id, token_hash, created_at) VALUES ($1, $2, $3) RETURNING id"
        )
        .bind(user_id)
        .bind(token_hash)
        .bind(now)
        .fetch_one(c)
        .await)?;
        let audit = NewAudit {
            action: "token.create",
            detail: Some(format!("token #{id} for user #{user_id}")),
            ..NewAudit::default()
        };
        insert_audit(tx.conn(), audit, actor, now).await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn token_by_hash(&self, token_hash: &[u8]) -> Result<Option<(UserRecord, i64, Vec<u8>)>> {
        Ok(on!(self.reader(), |pool| sqlx::query(
            "SELECT u.id, u.email, u.password_hash, u.created_at, t.id AS token_id, t.token_hash
             FROM api_tokens t JOIN users u ON u.id = t.user_id
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL"
        )
        .bind(token_hash)
        .fetch_optional(pool)
        .await?
        .map(|row| (
            user_from_row(&row),
            row.get("token_id"),
            row.get("token_hash")
        ))))
    }

    async fn revoke_token(&self, token_id: i64, owner: Option<i64>, actor: &Actor) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let now = now_millis();
        let revoked = on!(tx.conn(), |c| sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1
             WHERE id = $2 AND revoked_at IS NULL AND ($3 IS NULL OR user_id = $3)"
        )
        .bind(now)
        .bind(token_id)
        .bind(owner)
        .execute(c)
        .await?
        .rows_affected())
            == 1;
        if revoked {
            let audit = NewAudit {
                action: "token.revoke",
                detail: Some(format!("token #{token_id}")),
                ..NewAudit::default()
            };
            insert_audit(tx.conn(), audit, actor, now).await?;
            tx.commit().await?;
        }
        Ok(revoked)
    }

    async fn create_session(&self, id_hash: &[u8], user_id: i64, expires_at: Millis) -> Result<()> {
        let now = now_millis();
        let mut conn = self.acquire().await?;
        on!(conn.conn(), |c| {
            // Sign-in is a good moment to sweep this user's expired sessions.
            sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND expires_at <= $2")
                .bind(user_id)
                .bind(now)
                .execute(&mut *c)
                .await?;
            sqlx::query(
                "INSERT INTO sessions (id_hash, user_id, created_at, last_seen_at, expires_at)
                 VALUES ($1, $2, $3, $3, $4)",
            )
            .bind(id_hash)
            .bind(user_id)
            .bind(now)
            .bind(expires_at)
            .execute(c)
            .await?;
        });
        Ok(())
    }

    async fn session_user(&self, id_hash: &[u8], idle_ms: i64) -> Result<Option<UserRecord>> {
        let now = now_millis();
        let found = on!(self.reader(), |pool| sqlx::query(
            "SELECT u.id, u.email, u.password_hash, u.created_at, s.last_seen_at, s.expires_at
             FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = $1"
        )
        .bind(id_hash)
        .fetch_optional(pool)
        .await?
        .map(|row| (
            user_from_row(&row),
            row.get::<i64, _>("last_seen_at"),
            row.get::<i64, _>("expires_at")
        )));
        let Some((user, last_seen, expires_at)) = found else {
            return Ok(None);
        };
        if now >= expires_at || now - last_seen > idle_ms {
            self.delete_session(id_hash).await?;
            return Ok(None);
        }
        // Refresh at most once a minute: a write per request would be waste.
        if now - last_seen > 60_000 {
            on!(self.writer(), |pool| sqlx::query(
                "UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2"
            )
            .bind(now)
            .bind(id_hash)
            .execute(pool)
            .await
            .map(drop))?;
        }
        Ok(Some(user))
    }

    async fn delete_session(&self, id_hash: &[u8]) -> Result<()> {
        on!(self.writer(), |pool| sqlx::query(
            "DELETE FROM sessions WHERE id_hash = $1"
        )
        .bind(id_hash)
        .execute(pool)
        .await
        .map(drop))?;
        Ok(())
    }

    async fn create_project(
        &self,
        slug: &str,
        wrap: WrapFn<'_>,
        owner: Option<i64>,
        actor: &Actor,
    ) -> Result<ProjectRecord> {
        let mut tx = self.begin_write().await?;
        let now = now_millis();
        // Insert with an empty key to learn the id the key must be bound to.
        let id: i64 = on!(tx.conn(), |c| sqlx::query_scalar(
            "INSERT INTO projects (slug, created_at, wrapped_data_key, kek_id) VALUES ($1, $2, $3, '')
             RETURNING id"
        )
        .bind(slug)
        .bind(now)
        .bind(Vec::<u8>::new())
        .fetch_one(c)
        .await)
        .map_err(exists_or(format!("project {slug}")))?;
        // A key service's round trip happens inside the transaction: it is
        // bounded by the provider's timeout, and a failure creates nothing.
        let wrapped = wrap(id).await?;
        on!(tx.conn(), |c| sqlx::query(
            "UPDATE projects SET wrapped_data_key = $1, kek_id = $2, key_provider = $3 WHERE id = $4"
        )
        .bind(&wrapped.blob)
        .bind(&wrapped.key_id)
        .bind(&wrapped.provider)
        .bind(id)
        .execute(c)
        .await
        .map(drop))?;
        if let Some(user_id) = owner {
            upsert_member(tx.conn(), id, user_id, Role::Owner).await?;
        }
        let audit = NewAudit {
            project_id: Some(id),
            action: "project.create",
            ..NewAudit::default()
        };
        insert_audit(tx.conn(), audit, actor, now).await?;
        tx.commit().await?;
        Ok(ProjectRecord {
            id,
            slug: slug.to_owned(),
            created_at: now,
            wrapped_data_key: wrapped.blob,
            kek_id: wrapped.key_id,
            key_provider: wrapped.provider,
        })
    }

    async fn project_by_slug(&self, slug: &str) -> Result<Option<ProjectRecord>> {
        Ok(on!(self.reader(), |pool| sqlx::query(&format!(
            "SELECT {PROJECT_COLUMNS} FROM projects WHERE slug = $1"
        ))
        .bind(slug)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(project_from_row)))
    }

    async fn list_projects(&self) -> Result<Vec<ProjectRecord>> {
        Ok(on!(self.reader(), |pool| sqlx::query(&format!(
            "SELECT {PROJECT_COLUMNS} FROM projects ORDER BY slug"
        ))
        .fetch_all(pool)
        .await?
        .iter()
        .map(project_from_row)
        .collect()))
    }

    async fn projects_for_user(&self, user_id: i64) -> Result<Vec<(ProjectRecord, Role)>> {
        Ok(on!(self.reader(), |pool| sqlx::query(
            "SELECT p.id, p.slug, p.created_at, p.wrapped_data_key, p.kek_id, p.key_provider, m.role
             FROM members m JOIN projects p ON p.id = m.project_id WHERE m.user_id = $1 ORDER BY p.slug"
        )
        .bind(user_id)
        .fetch_all(pool)
        .await?
        .iter()
        .filter_map(|row| Role::parse(row.get("role")).map(|role| (project_from_row(row), role)))
        .collect()))
    }

    async fn set_member(&self, project_id: i64, user_id: i64, role: Role, actor: &Actor) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        // Two demotions of the last two owners on two nodes must not both pass.
        tx.lock_project(project_id).await?;
        let previous = role_in(tx.conn(), project_id, user_id).await?;
        if previous == Some(Role::Owner) && role != Role::Owner && owner_count(tx.conn(), project_id).await? <= 1 {
            return Err(Error::Conflict(
                "a project needs at least one owner: make someone else owner first".into(),
            ));
        }
        upsert_member(tx.conn(), project_id, user_id, role).await?;
        let email = email_of(tx.conn(), user_id).await?;
        let (action, detail) = match previous {
            None => ("member.add", format!("{email} as {role}")),
            Some(old) => ("member.role", format!("{email} from {old} to {role}")),
        };
        let audit = NewAudit {
            project_id: Some(project_id),
            action,
            detail: Some(detail),
            ..NewAudit::default()
        };
        insert_audit(tx.conn(), audit, actor, now_millis()).await?;
        tx.commit().await?;
        Ok(previous.is_none())
    }

    async fn remove_member(&self, project_id: i64, user_id: i64, actor: &Actor) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        tx.lock_project(project_id).await?;
        let Some(previous) = role_in(tx.conn(), project_id, user_id).await? else {
            return Ok(false);
        };
        if previous == Role::Owner && owner_count(tx.conn(), project_id).await? <= 1 {
            return Err(Error::Conflict("the last owner of a project cannot be removed".into()));
        }
        on!(tx.conn(), |c| sqlx::query(
            "DELETE FROM members WHERE project_id = $1 AND user_id = $2"
        )
        .bind(project_id)
        .bind(user_id)
        .execute(c)
        .await
        .map(drop))?;
        let email = email_of(tx.conn(), user_id).await?;
        let audit = NewAudit {
            project_id: Some(project_id),
            action: "member.remove",
            detail: Some(format!("{email} (was {previous})")),
            ..NewAudit::default()
        };
        insert_audit(tx.conn(), audit, actor, now_millis()).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn member_role(&self, project_id: i64, user_id: i64) -> Result<Option<Role>> {
        let role: Option<String> = on!(self.reader(), |pool| sqlx::query_scalar(
            "SELECT role FROM members WHERE project_id = $1 AND user_id = $2"
        )
        .bind(project_id)
        .bind(user_id)
        .fetch_optional(pool)
        .await)?;
        Ok(role.as_deref().and_then(Role::parse))
    }

    async fn project_and_role(&self, slug: &str, user_id: i64) -> Result<Option<(ProjectRecord, Option<Role>)>> {
        Ok(on!(self.reader(), |pool| sqlx::query(
            "SELECT p.id, p.slug, p.created_at, p.wrapped_data_key, p.kek_id, p.key_provider, m.role
             FROM projects p LEFT JOIN members m ON m.project_id = p.id AND m.user_id = $1
             WHERE p.slug = $2"
        )
        .bind(user_id)
        .bind(slug)
        .fetch_optional(pool)
        .await?
        .map(|row| {
            let role: Option<String> = row.get("role");
            (project_from_row(&row), role.as_deref().and_then(Role::parse))
        })))
    }

    async fn list_members(&self, project_id: i64) -> Result<Vec<Member>> {
        Ok(on!(self.reader(), |pool| sqlx::query(
            "SELECT u.id, u.email, m.role FROM members m JOIN users u ON u.id = m.user_id
             WHERE m.project_id = $1 ORDER BY u.email"
        )
        .bind(project_id)
        .fetch_all(pool)
        .await?
        .iter()
        .filter_map(|row| {
            Role::parse(row.get("role")).map(|role| Member {
                user_id: row.get("id"),
                email: row.get("email"),
                role,
            })
        })
        .collect()))
    }

    async fn write_secrets(
        &self,
        project_id: i64,
        writes: Vec<SecretWrite>,
        keep: u32,
        actor: &Actor,
    ) -> Result<Vec<WriteOutcome>> {
        self.group.write(project_id, writes, keep, actor.clone()).await
    }

    async fn delete_secret(&self, project_id: i64, key: &str, actor: &Actor) -> Result<Option<i64>> {
        let mut tx = self.begin_write().await?;
        tx.lock_project(project_id).await?;
        let now = now_millis();
        // The row stays as a tombstone so the version never goes backwards.
        let version: Option<i64> = on!(tx.conn(), |c| sqlx::query_scalar(
            "UPDATE secrets SET ciphertext = NULL, value_len = 0, updated_at = $1, updated_by = $2
             WHERE project_id = $3 AND key = $4 AND ciphertext IS NOT NULL RETURNING version"
        )
        .bind(now)
        .bind(&actor.name)
        .bind(project_id)
        .bind(key)
        .fetch_optional(c)
        .await)?;
        if version.is_some() {
            // A deleted key's previous versions go with it: nothing of its
            // value is left to roll back to.
            let purged = on!(tx.conn(), |c| sqlx::query(
                "DELETE FROM secret_versions WHERE project_id = $1 AND key = $2"
            )
            .bind(project_id)
            .bind(key)
            .execute(c)
            .await?
            .rows_affected());
            let audit = NewAudit {
                project_id: Some(project_id),
                action: "secret.delete",
                key: Some(key),
                version,
                detail: (purged > 0).then(|| format!("and its {purged} previous versions")),
            };
            insert_audit(tx.conn(), audit, actor, now).await?;
            tx.commit().await?;
        }
        Ok(version)
    }

    async fn list_secrets(&self, project_id: i64) -> Result<Vec<SecretMeta>> {
        let rows: Vec<(String, i64, i64, String)> = match self.reader() {
            Backend::Sqlite(pool) => {
                sqlite::json_rows(pool, sqlite_json!(listing_columns!(), listing!()), project_id).await?
            }
            Backend::Postgres(pool) => sqlx::query_as(listing!()).bind(project_id).fetch_all(pool).await?,
        };
        Ok(secret_metas(rows))
    }

    async fn sealed_secrets_since(&self, slug: &str, known: i64) -> Result<Option<SealedRead>> {
        match self.reader() {
            Backend::Sqlite(pool) => sqlite::sealed_secrets(pool, slug, known).await,
            Backend::Postgres(pool) => postgres::sealed_secrets(pool, slug, known).await,
        }
    }

    async fn rewrap_data_keys(&self, new_kek_id: &str, rewrap: RewrapFn<'_>, actor: &Actor) -> Result<usize> {
        let mut tx = self.begin_write().await?;
        // Locked in id order; a project created meanwhile waits for the
        // commit of its own transaction, not for this one, so the count is
        // the projects that existed when the lock was taken.
        let lock = tx.for_update();
        let rows: Vec<(i64, Vec<u8>, String)> = on!(tx.conn(), |c| sqlx::query_as(&format!(
            "SELECT id, wrapped_data_key, kek_id FROM projects WHERE key_provider = 'file' ORDER BY id{lock}"
        ))
        .fetch_all(c)
        .await)?;
        for (id, wrapped, kek_id) in &rows {
            let rewrapped = rewrap(*id, wrapped, kek_id)?;
            on!(tx.conn(), |c| sqlx::query(
                "UPDATE projects SET wrapped_data_key = $1, kek_id = $2 WHERE id = $3"
            )
            .bind(rewrapped)
            .bind(new_kek_id)
            .bind(id)
            .execute(c)
            .await
            .map(drop))?;
        }
        let audit = NewAudit {
            action: "keys.rotate",
            detail: Some(format!(
                "{} data keys re-wrapped under master key {new_kek_id}",
                rows.len()
            )),
            ..NewAudit::default()
        };
        insert_audit(tx.conn(), audit, actor, now_millis()).await?;
        tx.commit().await?;
        Ok(rows.len())
    }

    async fn kek_ids_in_use(&self) -> Result<Vec<String>> {
        // Every start on PostgreSQL asks: a few index probes, not a read
        // of every project.
        Ok(on!(self.writer(), |pool| sqlx::query_scalar(
            super::sql_keys::KEK_IDS_IN_USE
        )
        .fetch_all(pool)
        .await)?)
    }

    async fn audit_events(&self, project_id: i64, page: Page) -> Result<Vec<AuditEvent>> {
        let (before, limit) = page.bounds();
        Ok(on!(self.reader(), |pool| sqlx::query(
            "SELECT a.id, a.at, a.actor, p.slug, a.action, a.key, a.version, a.request_id, a.detail
             FROM audit_events a LEFT JOIN projects p ON p.id = a.project_id
             WHERE a.project_id = $1 AND a.id < $2
             ORDER BY a.id DESC LIMIT $3"
        )
        .bind(project_id)
        .bind(before)
        .bind(limit)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|row| AuditEvent {
            id: row.get("id"),
            at: row.get("at"),
            actor: row.get("actor"),
            project: row.get("slug"),
            action: row.get("action"),
            key: row.get("key"),
            version: row.get("version"),
            request_id: row.get("request_id"),
            detail: row.get("detail"),
        })
        .collect()))
    }

    async fn append_audit(&self, event: NewAudit<'_>, actor: &Actor) -> Result<()> {
        let mut conn = self.acquire().await?;
        insert_audit(conn.conn(), event, actor, now_millis()).await
    }

    async fn ping(&self) -> Result<()> {
        on!(self.reader(), |pool| sqlx::query("SELECT 1")
            .execute(pool)
            .await
            .map(drop))?;
        Ok(())
    }

    async fn snapshot_into(&self, dest: &Path) -> Result<()> {
        self.vacuum_into(dest).await
    }

    async fn integrity_problems(&self) -> Result<Vec<String>> {
        SqlStore::integrity_problems(self).await
    }

    fn pool_stats(&self) -> Vec<PoolStat> {
        self.pools()
    }

    async fn close(&self) {
        match &self.db {
            Backend::Sqlite(db) => {
                // What the background sync had not synced yet, first: the
                // close checkpoints only if no other process has the file open.
                db.wal.finish().await;
                // The reader first: closing the writer last checkpoints the WAL.
                db.reader.close().await;
                db.writer.close().await;
            }
            Backend::Postgres(pool) => pool.close().await,
        }
    }
}
