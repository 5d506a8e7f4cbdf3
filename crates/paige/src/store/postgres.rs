//! The PostgreSQL store, for several `paige serve` nodes on one database.
//!
//! Nothing needed for correctness lives in this process: every write is one
//! PostgreSQL transaction, and writes that must not interleave take a row
//! lock in the database, so they serialize across nodes as well as tasks.
//!
//! - A secret write locks its project's row (`FOR NO KEY UPDATE`) first.
//!   Writes to one project therefore run one after another on every node:
//!   the version read, the sealed value, the upsert, the audit record and
//!   the project-limit check on the totals after the write commit together,
//!   and two writers can neither hand out one version twice, lose an update
//!   nor both squeeze under the project limit. `NO KEY UPDATE` leaves the
//!   foreign-key checks of other inserts (executions, audit) unblocked.
//! - Membership changes lock the project's member rows before the
//!   last-owner check.
//! - A code push or file write locks the project's row too, so its
//!   revision, limit checks and audit record commit together on any node
//!   (`postgres_code.rs`).
//! - Migrations run on a dedicated connection under sqlx's migrator, which
//!   holds `pg_advisory_lock` (keyed by the database name) while it checks
//!   and applies them: two nodes starting together apply each migration
//!   once. The connection is closed afterwards, so the session lock never
//!   lingers in the pool, even when a migration fails.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{Connection, Row};

use super::group_commit::GroupCommit;
use super::postgres_group::PgBatches;
use super::rows::{PROJECT_COLUMNS, project_from_row, unique_violation, user_from_row};
use super::{
    Actor, AuditEvent, Member, Millis, NewAudit, Page, ProjectRecord, RewrapFn, Role, SealedSecret, SecretMeta,
    SecretWrite, Store, UserRecord, WrapFn, WriteOutcome, now_millis,
};
use crate::config::redact_url;
use crate::error::{Error, Result};

/// Connections per node. A node's work is short transactions; PostgreSQL's
/// default `max_connections` of 100 leaves room for several nodes.
const MAX_CONNECTIONS: u32 = 16;
/// How long a request waits for a connection before it fails (503): during
/// an outage requests fail after this, they do not hang. Public for the
/// outage test, which bounds every request's latency by it.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `open` tries to reach the database before it gives up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A statement running longer than this is cancelled by the server.
const STATEMENT_TIMEOUT: &str = "30s";

#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// Secret writes go through the node's group commit.
    group: GroupCommit,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the connect options: they may hold a password.
        f.debug_struct("PostgresStore")
            .field("size", &self.pool.size())
            .field("idle", &self.pool.num_idle())
            .finish()
    }
}

impl PostgresStore {
    /// Connects to the database at `url`, applies the migrations (under
    /// sqlx's advisory lock) and opens the pool. Fails within a few seconds,
    /// naming the server, when the database cannot be reached.
    pub async fn open(url: &str) -> Result<Self> {
        let unreachable = |e: &dyn fmt::Display| {
            Error::Config(format!(
                "cannot reach the PostgreSQL database at {}: {e}",
                redact_url(url)
            ))
        };
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| Error::Config(format!("bad --database-url {}: {e}", redact_url(url))))?
            .options([("statement_timeout", STATEMENT_TIMEOUT)]);

        // One connection first, for the real cause when the server cannot
        // be reached (a pool would keep retrying a refused connection and
        // report only that it timed out).
        let probe = tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&options))
            .await
            .map_err(|_| unreachable(&"no answer"))?
            .map_err(|e| unreachable(&e))?;
        let _ = probe.close().await;

        // A pool of one connection, closed afterwards: closing the session
        // releases the migrator's advisory lock whatever happened. (A pool,
        // not a bare connection, keeps `open`'s future `Send`.)
        let migrator_pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_with(options.clone());
        let migrator_pool = tokio::time::timeout(CONNECT_TIMEOUT, migrator_pool)
            .await
            .map_err(|_| unreachable(&"no answer"))?
            .map_err(|e| unreachable(&e))?;
        let migrated = sqlx::migrate!("./migrations/postgres").run(&migrator_pool).await;
        migrator_pool.close().await;
        migrated?;

        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .min_connections(0)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .idle_timeout(Duration::from_secs(300))
            .connect_with(options)
            .await
            .map_err(|e| unreachable(&e))?;
        let group = GroupCommit::start(PgBatches(pool.clone()));
        Ok(Self { pool, group })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

pub(super) async fn insert_audit(
    conn: &mut PgConnection,
    event: NewAudit<'_>,
    actor: &Actor,
    at: Millis,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_events (at, actor, project_id, action, key, version, request_id, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(at)
    .bind(&actor.name)
    .bind(event.project_id)
    .bind(event.action)
    .bind(event.key)
    .bind(event.version)
    .bind(actor.request_id.as_deref())
    .bind(event.detail)
    .execute(conn)
    .await?;
    Ok(())
}

async fn role_in(conn: &mut PgConnection, project_id: i64, user_id: i64) -> Result<Option<Role>> {
    let role: Option<String> = sqlx::query_scalar("SELECT role FROM members WHERE project_id = $1 AND user_id = $2")
        .bind(project_id)
        .bind(user_id)
        .fetch_optional(conn)
        .await?;
    Ok(role.as_deref().and_then(Role::parse))
}

/// Locks the project's row against other writers of its secrets, members
/// and code until the transaction ends.
pub(super) async fn lock_project(conn: &mut PgConnection, project_id: i64) -> Result<()> {
    let found: Option<i64> = sqlx::query_scalar("SELECT id FROM projects WHERE id = $1 FOR NO KEY UPDATE")
        .bind(project_id)
        .fetch_optional(conn)
        .await?;
    match found {
        Some(_) => Ok(()),
        None => Err(Error::NotFound(format!("project #{project_id}"))),
    }
}

async fn owner_count(conn: &mut PgConnection, project_id: i64) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM members WHERE project_id = $1 AND role = 'owner'")
            .bind(project_id)
            .fetch_one(conn)
            .await?,
    )
}

async fn email_of(conn: &mut PgConnection, user_id: i64) -> Result<String> {
    Ok(sqlx::query_scalar("SELECT email FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_one(conn)
        .await?)
}

#[async_trait]
impl Store for PostgresStore {
    async fn create_user(&self, email: &str, password_hash: &str, actor: &Actor) -> Result<UserRecord> {
        let mut tx = self.pool.begin().await?;
        let now = now_millis();
        let id: i64 =
            sqlx::query_scalar("INSERT INTO users (email, password_hash, created_at) VALUES ($1, $2, $3) RETURNING id")
                .bind(email)
                .bind(password_hash)
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| {
                    if unique_violation(&e) {
                        Error::AlreadyExists(format!("user {email}"))
                    } else {
                        e.into()
                    }
                })?;
        let audit = NewAudit {
            action: "user.create",
            detail: Some(format!("user {email}")),
            ..NewAudit::default()
        };
        insert_audit(&mut tx, audit, actor, now).await?;
        tx.commit().await?;
        Ok(UserRecord {
            id,
            email: email.to_owned(),
            password_hash: password_hash.to_owned(),
            created_at: now,
        })
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>> {
        let row = sqlx::query("SELECT id, email, password_hash, created_at FROM users WHERE email = $1")
            .bind(email)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(user_from_row))
    }

    async fn user_by_id(&self, user_id: i64) -> Result<Option<UserRecord>> {
        let row = sqlx::query("SELECT id, email, password_hash, created_at FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(user_from_row))
    }

    async fn create_token(&self, user_id: i64, token_hash: &[u8], actor: &Actor) -> Result<i64> {
        let mut tx = self.pool.begin().await?;
        let now = now_millis();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO api_tokens (user_id, token_hash, created_at) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(user_id)
        .bind(token_hash)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let audit = NewAudit {
            action: "token.create",
            detail: Some(format!("token #{id} for user #{user_id}")),
            ..NewAudit::default()
        };
        insert_audit(&mut tx, audit, actor, now).await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn token_by_hash(&self, token_hash: &[u8]) -> Result<Option<(UserRecord, Vec<u8>)>> {
        let row = sqlx::query(
            "SELECT u.id, u.email, u.password_hash, u.created_at, t.token_hash
             FROM api_tokens t JOIN users u ON u.id = t.user_id
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| (user_from_row(&row), row.get("token_hash"))))
    }

    async fn revoke_token(&self, token_id: i64, owner: Option<i64>, actor: &Actor) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let now = now_millis();
        let revoked = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1
             WHERE id = $2 AND revoked_at IS NULL AND ($3::BIGINT IS NULL OR user_id = $3)",
        )
        .bind(now)
        .bind(token_id)
        .bind(owner)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if revoked {
            let audit = NewAudit {
                action: "token.revoke",
                detail: Some(format!("token #{token_id}")),
                ..NewAudit::default()
            };
            insert_audit(&mut tx, audit, actor, now).await?;
            tx.commit().await?;
        }
        Ok(revoked)
    }

    async fn create_session(&self, id_hash: &[u8], user_id: i64, expires_at: Millis) -> Result<()> {
        let now = now_millis();
        let mut conn = self.pool.acquire().await?;
        // Sign-in is a good moment to sweep this user's expired sessions.
        sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND expires_at <= $2")
            .bind(user_id)
            .bind(now)
            .execute(&mut *conn)
            .await?;
        sqlx::query(
            "INSERT INTO sessions (id_hash, user_id, created_at, last_seen_at, expires_at) VALUES ($1, $2, $3, $3, $4)",
        )
        .bind(id_hash)
        .bind(user_id)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    async fn session_user(&self, id_hash: &[u8], idle_ms: i64) -> Result<Option<UserRecord>> {
        let now = now_millis();
        let row = sqlx::query(
            "SELECT u.id, u.email, u.password_hash, u.created_at, s.last_seen_at, s.expires_at
             FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = $1",
        )
        .bind(id_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let last_seen: i64 = row.get("last_seen_at");
        let expires_at: i64 = row.get("expires_at");
        if now >= expires_at || now - last_seen > idle_ms {
            self.delete_session(id_hash).await?;
            return Ok(None);
        }
        // Refresh at most once a minute: a write per request would be waste.
        if now - last_seen > 60_000 {
            sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2")
                .bind(now)
                .bind(id_hash)
                .execute(&self.pool)
                .await?;
        }
        Ok(Some(user_from_row(&row)))
    }

    async fn delete_session(&self, id_hash: &[u8]) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn create_project(
        &self,
        slug: &str,
        kek_id: &str,
        wrap: WrapFn<'_>,
        owner: Option<i64>,
        actor: &Actor,
    ) -> Result<ProjectRecord> {
        let mut tx = self.pool.begin().await?;
        let now = now_millis();
        // Insert with an empty key to learn the id the key must be bound to.
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO projects (slug, created_at, wrapped_data_key, kek_id) VALUES ($1, $2, ''::BYTEA, $3)
             RETURNING id",
        )
        .bind(slug)
        .bind(now)
        .bind(kek_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| {
            if unique_violation(&e) {
                Error::AlreadyExists(format!("project {slug}"))
            } else {
                e.into()
            }
        })?;
        let wrapped = wrap(id);
        sqlx::query("UPDATE projects SET wrapped_data_key = $1 WHERE id = $2")
            .bind(&wrapped)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if let Some(user_id) = owner {
            sqlx::query("INSERT INTO members (project_id, user_id, role) VALUES ($1, $2, 'owner')")
                .bind(id)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        }
        let audit = NewAudit {
            project_id: Some(id),
            action: "project.create",
            ..NewAudit::default()
        };
        insert_audit(&mut tx, audit, actor, now).await?;
        tx.commit().await?;
        Ok(ProjectRecord {
            id,
            slug: slug.to_owned(),
            created_at: now,
            wrapped_data_key: wrapped,
            kek_id: kek_id.to_owned(),
        })
    }

    async fn project_by_slug(&self, slug: &str) -> Result<Option<ProjectRecord>> {
        let row = sqlx::query(&format!("SELECT {PROJECT_COLUMNS} FROM projects WHERE slug = $1"))
            .bind(slug)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(project_from_row))
    }

    async fn list_projects(&self) -> Result<Vec<ProjectRecord>> {
        let rows = sqlx::query(&format!("SELECT {PROJECT_COLUMNS} FROM projects ORDER BY slug"))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(project_from_row).collect())
    }

    async fn projects_for_user(&self, user_id: i64) -> Result<Vec<(ProjectRecord, Role)>> {
        let rows = sqlx::query(
            "SELECT p.id, p.slug, p.created_at, p.wrapped_data_key, p.kek_id, m.role
             FROM members m JOIN projects p ON p.id = m.project_id WHERE m.user_id = $1 ORDER BY p.slug",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .filter_map(|row| Role::parse(row.get("role")).map(|role| (project_from_row(row), role)))
            .collect())
    }

    async fn set_member(&self, project_id: i64, user_id: i64, role: Role, actor: &Actor) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        // Two demotions of the last two owners on two nodes must not both pass.
        lock_project(&mut tx, project_id).await?;
        let previous = role_in(&mut tx, project_id, user_id).await?;
        if previous == Some(Role::Owner) && role != Role::Owner && owner_count(&mut tx, project_id).await? <= 1 {
            return Err(Error::Conflict(
                "a project needs at least one owner: make someone else owner first".into(),
            ));
        }
        sqlx::query(
            "INSERT INTO members (project_id, user_id, role) VALUES ($1, $2, $3)
             ON CONFLICT (project_id, user_id) DO UPDATE SET role = excluded.role",
        )
        .bind(project_id)
        .bind(user_id)
        .bind(role.as_str())
        .execute(&mut *tx)
        .await?;
        let email = email_of(&mut tx, user_id).await?;
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
        insert_audit(&mut tx, audit, actor, now_millis()).await?;
        tx.commit().await?;
        Ok(previous.is_none())
    }

    async fn remove_member(&self, project_id: i64, user_id: i64, actor: &Actor) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        lock_project(&mut tx, project_id).await?;
        let Some(previous) = role_in(&mut tx, project_id, user_id).await? else {
            return Ok(false);
        };
        if previous == Role::Owner && owner_count(&mut tx, project_id).await? <= 1 {
            return Err(Error::Conflict("the last owner of a project cannot be removed".into()));
        }
        sqlx::query("DELETE FROM members WHERE project_id = $1 AND user_id = $2")
            .bind(project_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        let email = email_of(&mut tx, user_id).await?;
        let audit = NewAudit {
            project_id: Some(project_id),
            action: "member.remove",
            detail: Some(format!("{email} (was {previous})")),
            ..NewAudit::default()
        };
        insert_audit(&mut tx, audit, actor, now_millis()).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn member_role(&self, project_id: i64, user_id: i64) -> Result<Option<Role>> {
        let role: Option<String> =
            sqlx::query_scalar("SELECT role FROM members WHERE project_id = $1 AND user_id = $2")
                .bind(project_id)
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(role.as_deref().and_then(Role::parse))
    }

    async fn project_and_role(&self, slug: &str, user_id: i64) -> Result<Option<(ProjectRecord, Option<Role>)>> {
        let row = sqlx::query(
            "SELECT p.id, p.slug, p.created_at, p.wrapped_data_key, p.kek_id, m.role
             FROM projects p LEFT JOIN members m ON m.project_id = p.id AND m.user_id = $1
             WHERE p.slug = $2",
        )
        .bind(user_id)
        .bind(slug)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| {
            let role: Option<String> = row.get("role");
            (project_from_row(&row), role.as_deref().and_then(Role::parse))
        }))
    }

    async fn list_members(&self, project_id: i64) -> Result<Vec<Member>> {
        let rows = sqlx::query(
            "SELECT u.id, u.email, m.role FROM members m JOIN users u ON u.id = m.user_id
             WHERE m.project_id = $1 ORDER BY u.email",
        )
        .bind(project_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .filter_map(|row| {
                Role::parse(row.get("role")).map(|role| Member {
                    user_id: row.get("id"),
                    email: row.get("email"),
                    role,
                })
            })
            .collect())
    }

    async fn write_secrets(
        &self,
        project_id: i64,
        writes: Vec<SecretWrite>,
        actor: &Actor,
    ) -> Result<Vec<WriteOutcome>> {
        self.group.write(project_id, writes, actor.clone()).await
    }

    async fn delete_secret(&self, project_id: i64, key: &str, actor: &Actor) -> Result<Option<i64>> {
        let mut tx = self.pool.begin().await?;
        lock_project(&mut tx, project_id).await?;
        let now = now_millis();
        // The row stays as a tombstone so the version never goes backwards.
        let version: Option<i64> = sqlx::query_scalar(
            "UPDATE secrets SET ciphertext = NULL, value_len = 0, updated_at = $1, updated_by = $2
             WHERE project_id = $3 AND key = $4 AND ciphertext IS NOT NULL RETURNING version",
        )
        .bind(now)
        .bind(&actor.name)
        .bind(project_id)
        .bind(key)
        .fetch_optional(&mut *tx)
        .await?;
        if version.is_some() {
            let audit = NewAudit {
                project_id: Some(project_id),
                action: "secret.delete",
                key: Some(key),
                version,
                detail: None,
            };
            insert_audit(&mut tx, audit, actor, now).await?;
            tx.commit().await?;
        }
        Ok(version)
    }

    async fn list_secrets(&self, project_id: i64) -> Result<Vec<SecretMeta>> {
        let rows: Vec<(String, i64, i64, String)> = sqlx::query_as(
            "SELECT key, version, updated_at, updated_by FROM secrets
             WHERE project_id = $1 AND ciphertext IS NOT NULL ORDER BY key",
        )
        .bind(project_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(key, version, updated_at, updated_by)| SecretMeta {
                key,
                version,
                updated_at,
                updated_by,
            })
            .collect())
    }

    async fn sealed_secrets(&self, slug: &str) -> Result<Option<(ProjectRecord, Vec<SealedSecret>)>> {
        // One statement, so one snapshot: the project's key and its values
        // are read together, and a concurrent write is seen whole or not at
        // all. A project without values comes back as one row of NULLs.
        let rows = sqlx::query(
            "SELECT p.id, p.slug, p.created_at, p.wrapped_data_key, p.kek_id,
                    s.key, s.version, s.ciphertext
             FROM projects p
             LEFT JOIN secrets s ON s.project_id = p.id AND s.ciphertext IS NOT NULL
             WHERE p.slug = $1 ORDER BY s.key",
        )
        .bind(slug)
        .fetch_all(&self.pool)
        .await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let project = project_from_row(first);
        let sealed = rows
            .iter()
            .filter_map(|row| {
                let key: Option<String> = row.get("key");
                let version: Option<i64> = row.get("version");
                let ciphertext: Option<Vec<u8>> = row.get("ciphertext");
                Some(SealedSecret {
                    key: key?,
                    version: version?,
                    ciphertext: ciphertext?,
                })
            })
            .collect();
        Ok(Some((project, sealed)))
    }

    async fn rewrap_data_keys(&self, new_kek_id: &str, rewrap: RewrapFn<'_>, actor: &Actor) -> Result<usize> {
        let mut tx = self.pool.begin().await?;
        // Locked in id order; a project created meanwhile waits for the
        // commit of its own transaction, not for this one, so the count is
        // the projects that existed when the lock was taken.
        let rows = sqlx::query("SELECT id, wrapped_data_key, kek_id FROM projects ORDER BY id FOR UPDATE")
            .fetch_all(&mut *tx)
            .await?;
        for row in &rows {
            let id: i64 = row.get("id");
            let wrapped: Vec<u8> = row.get("wrapped_data_key");
            let kek_id: String = row.get("kek_id");
            let rewrapped = rewrap(id, &wrapped, &kek_id)?;
            sqlx::query("UPDATE projects SET wrapped_data_key = $1, kek_id = $2 WHERE id = $3")
                .bind(rewrapped)
                .bind(new_kek_id)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        let audit = NewAudit {
            action: "keys.rotate",
            detail: Some(format!(
                "{} data keys re-wrapped under master key {new_kek_id}",
                rows.len()
            )),
            ..NewAudit::default()
        };
        insert_audit(&mut tx, audit, actor, now_millis()).await?;
        tx.commit().await?;
        Ok(rows.len())
    }

    async fn kek_ids_in_use(&self) -> Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT DISTINCT kek_id FROM projects ORDER BY kek_id")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    async fn audit_events(&self, project_id: i64, page: Page) -> Result<Vec<AuditEvent>> {
        let rows = sqlx::query(
            "SELECT a.id, a.at, a.actor, p.slug, a.action, a.key, a.version, a.request_id, a.detail
             FROM audit_events a LEFT JOIN projects p ON p.id = a.project_id
             WHERE a.project_id = $1 AND a.id < $2
             ORDER BY a.id DESC LIMIT $3",
        )
        .bind(project_id)
        .bind(page.before_id.unwrap_or(i64::MAX))
        .bind(i64::from(page.limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
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
            .collect())
    }

    async fn append_audit(&self, event: NewAudit<'_>, actor: &Actor) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        insert_audit(&mut conn, event, actor, now_millis()).await
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
