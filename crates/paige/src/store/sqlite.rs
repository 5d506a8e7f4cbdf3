//! The embedded store: one SQLite file in WAL mode with a full fsync on
//! every commit, so an acknowledged write survives `kill -9` and power loss.
//!
//! All writes go through a pool of one connection and start with
//! `BEGIN IMMEDIATE`: SQLite allows one writer at a time anyway, and taking
//! the write lock up front means a transaction never fails half-way with
//! `SQLITE_BUSY` when it upgrades from reading to writing. Reads use their
//! own pool and see a consistent snapshot per transaction.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqliteConnection, SqlitePool};

use super::{
    Actor, AuditEvent, Millis, NewAudit, Page, ProjectRecord, RewrapFn, Role, SealedSecret, SecretMeta, SecretWrite,
    Store, UserRecord, WrapFn, WriteOutcome, now_millis,
};
use crate::error::{Error, Result};
use crate::secrets::rules;

/// The database file inside the data dir.
pub const DB_FILE: &str = "paige.db";

const READ_CONNECTIONS: u32 = 4;
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies the
    /// migrations.
    pub async fn open(path: &Path) -> Result<Self> {
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(READ_CONNECTIONS)
            .connect_with(options)
            .await?;
        Ok(Self { writer, reader })
    }

    /// The writer pool: one connection; start writes with `BEGIN IMMEDIATE`.
    pub fn pool(&self) -> &SqlitePool {
        &self.writer
    }

    /// The reader pool, for reads that need no write lock.
    pub fn reader(&self) -> &SqlitePool {
        &self.reader
    }
}

fn unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

async fn insert_audit(conn: &mut SqliteConnection, event: NewAudit<'_>, actor: &Actor, at: Millis) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_events (at, actor, project_id, action, key, version, request_id, detail)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
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

fn user_from_row(row: &sqlx::sqlite::SqliteRow) -> UserRecord {
    UserRecord {
        id: row.get("id"),
        email: row.get("email"),
        password_hash: row.get("password_hash"),
        created_at: row.get("created_at"),
    }
}

fn project_from_row(row: &sqlx::sqlite::SqliteRow) -> ProjectRecord {
    ProjectRecord {
        id: row.get("id"),
        slug: row.get("slug"),
        created_at: row.get("created_at"),
        wrapped_data_key: row.get("wrapped_data_key"),
        kek_id: row.get("kek_id"),
    }
}

const PROJECT_COLUMNS: &str = "id, slug, created_at, wrapped_data_key, kek_id";

#[async_trait]
impl Store for SqliteStore {
    async fn create_user(&self, email: &str, password_hash: &str, actor: &Actor) -> Result<UserRecord> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let now = now_millis();
        let id: i64 =
            sqlx::query_scalar("INSERT INTO users (email, password_hash, created_at) VALUES (?, ?, ?) RETURNING id")
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
        let row = sqlx::query("SELECT id, email, password_hash, created_at FROM users WHERE email = ?")
            .bind(email)
            .fetch_optional(&self.reader)
            .await?;
        Ok(row.as_ref().map(user_from_row))
    }

    async fn create_token(&self, user_id: i64, token_hash: &[u8], actor: &Actor) -> Result<i64> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let now = now_millis();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO api_tokens (user_id, token_hash, created_at) VALUES (?, ?, ?) RETURNING id",
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

    async fn user_by_token_hash(&self, token_hash: &[u8]) -> Result<Option<UserRecord>> {
        let row = sqlx::query(
            "SELECT u.id, u.email, u.password_hash, u.created_at FROM api_tokens t JOIN users u ON u.id = t.user_id
             WHERE t.token_hash = ? AND t.revoked_at IS NULL",
        )
        .bind(token_hash)
        .fetch_optional(&self.reader)
        .await?;
        Ok(row.as_ref().map(user_from_row))
    }

    async fn create_project(
        &self,
        slug: &str,
        kek_id: &str,
        wrap: WrapFn<'_>,
        owner: Option<i64>,
        actor: &Actor,
    ) -> Result<ProjectRecord> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let now = now_millis();
        // Insert with an empty key to learn the id the key must be bound to.
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO projects (slug, created_at, wrapped_data_key, kek_id) VALUES (?, ?, x'', ?) RETURNING id",
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
        sqlx::query("UPDATE projects SET wrapped_data_key = ? WHERE id = ?")
            .bind(&wrapped)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if let Some(user_id) = owner {
            sqlx::query("INSERT INTO members (project_id, user_id, role) VALUES (?, ?, 'owner')")
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
        let row = sqlx::query(&format!("SELECT {PROJECT_COLUMNS} FROM projects WHERE slug = ?"))
            .bind(slug)
            .fetch_optional(&self.reader)
            .await?;
        Ok(row.as_ref().map(project_from_row))
    }

    async fn list_projects(&self) -> Result<Vec<ProjectRecord>> {
        let rows = sqlx::query(&format!("SELECT {PROJECT_COLUMNS} FROM projects ORDER BY slug"))
            .fetch_all(&self.reader)
            .await?;
        Ok(rows.iter().map(project_from_row).collect())
    }

    async fn set_member(&self, project_id: i64, user_id: i64, role: Role, actor: &Actor) -> Result<()> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let previous: Option<String> =
            sqlx::query_scalar("SELECT role FROM members WHERE project_id = ? AND user_id = ?")
                .bind(project_id)
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await?;
        sqlx::query(
            "INSERT INTO members (project_id, user_id, role) VALUES (?, ?, ?)
             ON CONFLICT (project_id, user_id) DO UPDATE SET role = excluded.role",
        )
        .bind(project_id)
        .bind(user_id)
        .bind(role.as_str())
        .execute(&mut *tx)
        .await?;
        let email: String = sqlx::query_scalar("SELECT email FROM users WHERE id = ?")
            .bind(user_id)
            .fetch_one(&mut *tx)
            .await?;
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
        Ok(())
    }

    async fn member_role(&self, project_id: i64, user_id: i64) -> Result<Option<Role>> {
        let role: Option<String> = sqlx::query_scalar("SELECT role FROM members WHERE project_id = ? AND user_id = ?")
            .bind(project_id)
            .bind(user_id)
            .fetch_optional(&self.reader)
            .await?;
        Ok(role.as_deref().and_then(Role::parse))
    }

    async fn write_secrets(
        &self,
        project_id: i64,
        writes: &[SecretWrite<'_>],
        actor: &Actor,
    ) -> Result<Vec<WriteOutcome>> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let now = now_millis();
        let mut outcomes = Vec::with_capacity(writes.len());
        for write in writes {
            let previous: Option<(i64, bool)> =
                sqlx::query_as("SELECT version, ciphertext IS NOT NULL FROM secrets WHERE project_id = ? AND key = ?")
                    .bind(project_id)
                    .bind(write.key)
                    .fetch_optional(&mut *tx)
                    .await?;
            let (version, created) = match previous {
                Some((version, live)) => (version + 1, !live),
                None => (1, true),
            };
            let ciphertext = (write.seal)(version);
            sqlx::query(
                "INSERT INTO secrets (project_id, key, version, ciphertext, value_len, updated_at, updated_by)
                 VALUES (?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (project_id, key) DO UPDATE SET
                   version = excluded.version, ciphertext = excluded.ciphertext, value_len = excluded.value_len,
                   updated_at = excluded.updated_at, updated_by = excluded.updated_by",
            )
            .bind(project_id)
            .bind(write.key)
            .bind(version)
            .bind(ciphertext)
            .bind(i64::try_from(write.value_len).unwrap_or(i64::MAX))
            .bind(now)
            .bind(&actor.name)
            .execute(&mut *tx)
            .await?;
            let audit = NewAudit {
                project_id: Some(project_id),
                action: if created { "secret.create" } else { "secret.overwrite" },
                key: Some(write.key),
                version: Some(version),
                detail: None,
            };
            insert_audit(&mut tx, audit, actor, now).await?;
            outcomes.push(WriteOutcome {
                key: write.key.to_owned(),
                version,
                created,
                updated_at: now,
            });
        }
        let (count, total): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), COALESCE(SUM(value_len), 0) FROM secrets WHERE project_id = ? AND ciphertext IS NOT NULL",
        )
        .bind(project_id)
        .fetch_one(&mut *tx)
        .await?;
        // On refusal the transaction is dropped, which rolls it back.
        rules::check_project_totals(
            usize::try_from(count).unwrap_or(usize::MAX),
            usize::try_from(total).unwrap_or(usize::MAX),
        )?;
        tx.commit().await?;
        Ok(outcomes)
    }

    async fn delete_secret(&self, project_id: i64, key: &str, actor: &Actor) -> Result<Option<i64>> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let now = now_millis();
        // The row stays as a tombstone so the version never goes backwards.
        let version: Option<i64> = sqlx::query_scalar(
            "UPDATE secrets SET ciphertext = NULL, value_len = 0, updated_at = ?, updated_by = ?
             WHERE project_id = ? AND key = ? AND ciphertext IS NOT NULL RETURNING version",
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
        let rows = sqlx::query(
            "SELECT key, version, updated_at, updated_by FROM secrets
             WHERE project_id = ? AND ciphertext IS NOT NULL ORDER BY key",
        )
        .bind(project_id)
        .fetch_all(&self.reader)
        .await?;
        Ok(rows
            .iter()
            .map(|row| SecretMeta {
                key: row.get("key"),
                version: row.get("version"),
                updated_at: row.get("updated_at"),
                updated_by: row.get("updated_by"),
            })
            .collect())
    }

    async fn sealed_secrets(&self, slug: &str) -> Result<Option<(ProjectRecord, Vec<SealedSecret>)>> {
        // One read transaction: the project's key and its values come from
        // the same snapshot, so a concurrent write is seen whole or not at all.
        let mut tx = self.reader.begin().await?;
        let Some(row) = sqlx::query(&format!("SELECT {PROJECT_COLUMNS} FROM projects WHERE slug = ?"))
            .bind(slug)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(None);
        };
        let project = project_from_row(&row);
        let rows = sqlx::query(
            "SELECT key, version, ciphertext FROM secrets WHERE project_id = ? AND ciphertext IS NOT NULL ORDER BY key",
        )
        .bind(project.id)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let sealed = rows
            .iter()
            .map(|row| SealedSecret {
                key: row.get("key"),
                version: row.get("version"),
                ciphertext: row.get("ciphertext"),
            })
            .collect();
        Ok(Some((project, sealed)))
    }

    async fn rewrap_data_keys(&self, new_kek_id: &str, rewrap: RewrapFn<'_>, actor: &Actor) -> Result<usize> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let rows = sqlx::query("SELECT id, wrapped_data_key, kek_id FROM projects ORDER BY id")
            .fetch_all(&mut *tx)
            .await?;
        for row in &rows {
            let id: i64 = row.get("id");
            let wrapped: Vec<u8> = row.get("wrapped_data_key");
            let kek_id: String = row.get("kek_id");
            let rewrapped = rewrap(id, &wrapped, &kek_id)?;
            sqlx::query("UPDATE projects SET wrapped_data_key = ?, kek_id = ? WHERE id = ?")
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
                .fetch_all(&self.writer)
                .await?,
        )
    }

    async fn audit_events(&self, project_id: i64, page: Page) -> Result<Vec<AuditEvent>> {
        let rows = sqlx::query(
            "SELECT a.id, a.at, a.actor, p.slug, a.action, a.key, a.version, a.request_id, a.detail
             FROM audit_events a LEFT JOIN projects p ON p.id = a.project_id
             WHERE a.project_id = ? AND (? IS NULL OR a.id < ?)
             ORDER BY a.id DESC LIMIT ?",
        )
        .bind(project_id)
        .bind(page.before_id)
        .bind(page.before_id)
        .bind(i64::from(page.limit))
        .fetch_all(&self.reader)
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
        let mut conn = self.writer.acquire().await?;
        insert_audit(&mut conn, event, actor, now_millis()).await
    }

    async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}
