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

use super::group_commit::GroupCommit;
use super::rows::{PROJECT_COLUMNS, project_from_row, unique_violation, user_from_row};
use super::sqlite_group::SqliteBatches;
use super::{
    Actor, AuditEvent, Member, Millis, NewAudit, Page, ProjectRecord, RewrapFn, Role, SealedSecret, SecretMeta,
    SecretWrite, Store, UserRecord, WrapFn, WriteOutcome, now_millis,
};
use crate::error::{Error, Result};

/// The database file inside the data dir.
pub const DB_FILE: &str = "paige.db";

const READ_CONNECTIONS: u32 = 4;
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
const ROW_BUFFER: usize = 1_024;

#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    group: GroupCommit,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies the
    /// migrations.
    pub async fn open(path: &Path) -> Result<Self> {
        make_private(path)?;
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            // A whole project (up to 1,000 keys) fits the row channel, so the
            // database thread never stalls on a listing.
            .row_buffer_size(ROW_BUFFER);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(READ_CONNECTIONS)
            .connect_with(options)
            .await?;
        let group = GroupCommit::start(SqliteBatches(writer.clone()));
        Ok(Self { writer, reader, group })
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

/// Makes the database file, and its WAL, shared-memory and journal files
/// if they exist, readable by paige's user alone (0600), creating an empty
/// database file with that mode if there is none. SQLite gives the files it
/// creates beside the database the database's own mode, so this holds for
/// them too. Bots that run as their own users may pass through the data
/// dir (see `runtime::sandbox`), so the mode, not the directory, is what
/// keeps them out; without it the files get 0644 from the usual umask.
fn make_private(path: &Path) -> Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let io = |p: &Path, e: std::io::Error| Error::Config(format!("{}: {e}", p.display()));
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| io(path, e))?;
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let file = Path::new(&name);
        match std::fs::metadata(file) {
            Ok(meta) if meta.permissions().mode() & 0o077 != 0 => {
                std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600)).map_err(|e| io(file, e))?;
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(file, e)),
        }
    }
    Ok(())
}

/// SQLite's own JSON or hex came back malformed: the database is damaged.
fn corrupt(e: impl std::fmt::Display) -> Error {
    Error::Database(sqlx::Error::Protocol(format!("malformed aggregate from SQLite: {e}")))
}

pub(super) async fn insert_audit(
    conn: &mut SqliteConnection,
    event: NewAudit<'_>,
    actor: &Actor,
    at: Millis,
) -> Result<()> {
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

async fn role_in(conn: &mut SqliteConnection, project_id: i64, user_id: i64) -> Result<Option<Role>> {
    let role: Option<String> = sqlx::query_scalar("SELECT role FROM members WHERE project_id = ? AND user_id = ?")
        .bind(project_id)
        .bind(user_id)
        .fetch_optional(conn)
        .await?;
    Ok(role.as_deref().and_then(Role::parse))
}

async fn owner_count(conn: &mut SqliteConnection, project_id: i64) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM members WHERE project_id = ? AND role = 'owner'")
            .bind(project_id)
            .fetch_one(conn)
            .await?,
    )
}

async fn email_of(conn: &mut SqliteConnection, user_id: i64) -> Result<String> {
    Ok(sqlx::query_scalar("SELECT email FROM users WHERE id = ?")
        .bind(user_id)
        .fetch_one(conn)
        .await?)
}

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

    async fn token_by_hash(&self, token_hash: &[u8]) -> Result<Option<(UserRecord, Vec<u8>)>> {
        let row = sqlx::query(
            "SELECT u.id, u.email, u.password_hash, u.created_at, t.token_hash
             FROM api_tokens t JOIN users u ON u.id = t.user_id
             WHERE t.token_hash = ? AND t.revoked_at IS NULL",
        )
        .bind(token_hash)
        .fetch_optional(&self.reader)
        .await?;
        Ok(row.map(|row| (user_from_row(&row), row.get("token_hash"))))
    }

    async fn revoke_token(&self, token_id: i64, owner: Option<i64>, actor: &Actor) -> Result<bool> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let now = now_millis();
        let revoked = sqlx::query(
            "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL AND (? IS NULL OR user_id = ?)",
        )
        .bind(now)
        .bind(token_id)
        .bind(owner)
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

    async fn user_by_id(&self, user_id: i64) -> Result<Option<UserRecord>> {
        let row = sqlx::query("SELECT id, email, password_hash, created_at FROM users WHERE id = ?")
            .bind(user_id)
            .fetch_optional(&self.reader)
            .await?;
        Ok(row.as_ref().map(user_from_row))
    }

    async fn create_session(&self, id_hash: &[u8], user_id: i64, expires_at: Millis) -> Result<()> {
        let now = now_millis();
        let mut conn = self.writer.acquire().await?;
        // Sign-in is a good moment to sweep this user's expired sessions.
        sqlx::query("DELETE FROM sessions WHERE user_id = ? AND expires_at <= ?")
            .bind(user_id)
            .bind(now)
            .execute(&mut *conn)
            .await?;
        sqlx::query(
            "INSERT INTO sessions (id_hash, user_id, created_at, last_seen_at, expires_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(id_hash)
        .bind(user_id)
        .bind(now)
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
             FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = ?",
        )
        .bind(id_hash)
        .fetch_optional(&self.reader)
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
            sqlx::query("UPDATE sessions SET last_seen_at = ? WHERE id_hash = ?")
                .bind(now)
                .bind(id_hash)
                .execute(&self.writer)
                .await?;
        }
        Ok(Some(user_from_row(&row)))
    }

    async fn delete_session(&self, id_hash: &[u8]) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = ?")
            .bind(id_hash)
            .execute(&self.writer)
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

    async fn projects_for_user(&self, user_id: i64) -> Result<Vec<(ProjectRecord, Role)>> {
        let rows = sqlx::query(
            "SELECT p.id, p.slug, p.created_at, p.wrapped_data_key, p.kek_id, m.role
             FROM members m JOIN projects p ON p.id = m.project_id WHERE m.user_id = ? ORDER BY p.slug",
        )
        .bind(user_id)
        .fetch_all(&self.reader)
        .await?;
        Ok(rows
            .iter()
            .filter_map(|row| Role::parse(row.get("role")).map(|role| (project_from_row(row), role)))
            .collect())
    }

    async fn set_member(&self, project_id: i64, user_id: i64, role: Role, actor: &Actor) -> Result<bool> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let previous = role_in(&mut tx, project_id, user_id).await?;
        if previous == Some(Role::Owner) && role != Role::Owner && owner_count(&mut tx, project_id).await? <= 1 {
            return Err(Error::Conflict(
                "a project needs at least one owner: make someone else owner first".into(),
            ));
        }
        sqlx::query(
            "INSERT INTO members (project_id, user_id, role) VALUES (?, ?, ?)
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
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let Some(previous) = role_in(&mut tx, project_id, user_id).await? else {
            return Ok(false);
        };
        if previous == Role::Owner && owner_count(&mut tx, project_id).await? <= 1 {
            return Err(Error::Conflict("the last owner of a project cannot be removed".into()));
        }
        sqlx::query("DELETE FROM members WHERE project_id = ? AND user_id = ?")
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
        let role: Option<String> = sqlx::query_scalar("SELECT role FROM members WHERE project_id = ? AND user_id = ?")
            .bind(project_id)
            .bind(user_id)
            .fetch_optional(&self.reader)
            .await?;
        Ok(role.as_deref().and_then(Role::parse))
    }

    async fn project_and_role(&self, slug: &str, user_id: i64) -> Result<Option<(ProjectRecord, Option<Role>)>> {
        let row = sqlx::query(
            "SELECT p.id, p.slug, p.created_at, p.wrapped_data_key, p.kek_id, m.role
             FROM projects p LEFT JOIN members m ON m.project_id = p.id AND m.user_id = ?
             WHERE p.slug = ?",
        )
        .bind(user_id)
        .bind(slug)
        .fetch_optional(&self.reader)
        .await?;
        Ok(row.map(|row| {
            let role: Option<String> = row.get("role");
            (project_from_row(&row), role.as_deref().and_then(Role::parse))
        }))
    }

    async fn list_members(&self, project_id: i64) -> Result<Vec<Member>> {
        let rows = sqlx::query(
            "SELECT u.id, u.email, m.role FROM members m JOIN users u ON u.id = m.user_id
             WHERE m.project_id = ? ORDER BY u.email",
        )
        .bind(project_id)
        .fetch_all(&self.reader)
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
        // One row holding a JSON array: sqlx hands rows over one at a time
        // from the database thread, which costs more than the query itself.
        let listing: String = sqlx::query_scalar(
            "SELECT json_group_array(json_array(key, version, updated_at, updated_by)) FROM
               (SELECT key, version, updated_at, updated_by FROM secrets
                WHERE project_id = ? AND ciphertext IS NOT NULL ORDER BY key)",
        )
        .bind(project_id)
        .fetch_one(&self.reader)
        .await?;
        let rows: Vec<(String, i64, i64, String)> = serde_json::from_str(&listing).map_err(corrupt)?;
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
        // all. The values come back as one JSON array (ciphertexts in hex):
        // one row to hand over instead of one per secret.
        let row = sqlx::query(
            "SELECT p.id, p.slug, p.created_at, p.wrapped_data_key, p.kek_id,
                    (SELECT json_group_array(json_array(key, version, hex(ciphertext))) FROM
                       (SELECT key, version, ciphertext FROM secrets
                        WHERE project_id = p.id AND ciphertext IS NOT NULL ORDER BY key)) AS sealed
             FROM projects p WHERE p.slug = ?",
        )
        .bind(slug)
        .fetch_optional(&self.reader)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let sealed: String = row.get("sealed");
        let sealed: Vec<(String, i64, String)> = serde_json::from_str(&sealed).map_err(corrupt)?;
        let sealed = sealed
            .into_iter()
            .map(|(key, version, ciphertext)| {
                Ok(SealedSecret {
                    key,
                    version,
                    ciphertext: hex::decode(ciphertext).map_err(corrupt)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some((project_from_row(&row), sealed)))
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

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}
