//! The one SQL store: every statement written once, for SQLite and
//! PostgreSQL alike.
//!
//! Both sqlx drivers take `$1, $2, …` placeholders by number (SQLite reads
//! `$N` as a named parameter, and sqlx-sqlite binds a parameter named `$N`
//! to the N-th value; see the test below), so one statement text serves
//! both databases. [`on!`] runs the same code on whichever database the
//! store has: it is compiled once per driver, with concrete types, so there
//! is no dynamic dispatch and no conversion of rows on the way.
//!
//! Where the databases really differ, the branch is small and named:
//! [`SqlStore::begin_write`] (SQLite's one write lock versus PostgreSQL's
//! row locks, [`Tx::lock_project`]), the aggregate reads of SQLite
//! (`sqlite::list_secrets`, `sqlite::sealed_secrets`), and the bulk writes
//! of the group commit (`sqlite_group.rs`, `postgres_group.rs`).

use std::fmt;
use std::ops::DerefMut;

use async_trait::async_trait;
use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, PgPool, Postgres, Row, Sqlite, SqliteConnection, SqlitePool, Transaction};

use super::group_commit::GroupCommit;
use super::rows::{PROJECT_COLUMNS, project_from_row, unique_violation, user_from_row};
use super::{
    Actor, AuditEvent, Member, Millis, NewAudit, Page, ProjectRecord, RewrapFn, Role, SealedSecret, SecretMeta,
    SecretWrite, Store, UserRecord, WrapFn, WriteOutcome, now_millis, postgres, sqlite,
};
use crate::error::{Error, Result};

/// A value of one of the two databases: its pools, a transaction, a connection.
#[derive(Clone)]
pub(super) enum Backend<S, P> {
    Sqlite(S),
    Postgres(P),
}

/// Runs `$body` with `$x` bound to the value `$on` holds for its database,
/// and, with `|$x: $db|`, the type `$db` naming that database's driver. The
/// body is the same text for both; each arm is compiled for its driver.
macro_rules! on {
    ($on:expr, |$x:ident| $body:expr) => {
        match $on {
            $crate::store::sql::Backend::Sqlite($x) => $body,
            $crate::store::sql::Backend::Postgres($x) => $body,
        }
    };
    ($on:expr, |$x:ident: $db:ident| $body:expr) => {
        match $on {
            $crate::store::sql::Backend::Sqlite($x) => {
                type $db = sqlx::Sqlite;
                $body
            }
            $crate::store::sql::Backend::Postgres($x) => {
                type $db = sqlx::Postgres;
                $body
            }
        }
    };
}
pub(super) use on;

/// The SQLite store's two pools: one writer connection (SQLite has one
/// write lock anyway) and a few readers.
#[derive(Clone)]
pub(super) struct SqlitePools {
    pub writer: SqlitePool,
    pub reader: SqlitePool,
}

pub(super) type Pool<'a> = Backend<&'a SqlitePool, &'a PgPool>;
pub(super) type Conn<'a> = Backend<&'a mut SqliteConnection, &'a mut PgConnection>;
/// A transaction of either database (`'static`: it owns its connection).
pub(super) type Tx = Backend<Transaction<'static, Sqlite>, Transaction<'static, Postgres>>;
/// A connection taken from the writer pool, outside a transaction.
pub(super) type Pooled = Backend<PoolConnection<Sqlite>, PoolConnection<Postgres>>;

impl<S, P> Backend<S, P>
where
    S: DerefMut<Target = SqliteConnection>,
    P: DerefMut<Target = PgConnection>,
{
    /// The connection of a transaction or pooled connection, to run statements on.
    pub(super) fn conn(&mut self) -> Conn<'_> {
        match self {
            Self::Sqlite(c) => Backend::Sqlite(&mut **c),
            Self::Postgres(c) => Backend::Postgres(&mut **c),
        }
    }
}

impl Tx {
    pub(super) async fn commit(self) -> Result<()> {
        on!(self, |tx| tx.commit().await)?;
        Ok(())
    }

    /// Locks the project's row against other writers of its secrets,
    /// members and code until the transaction ends, on every node. SQLite
    /// needs nothing more: `BEGIN IMMEDIATE` took its one write lock.
    pub(super) async fn lock_project(&mut self, project_id: i64) -> Result<()> {
        match self {
            Self::Sqlite(_) => Ok(()),
            Self::Postgres(tx) => postgres::lock_project(tx, project_id).await,
        }
    }

    /// ` FOR UPDATE` where a read must lock the rows it reads (PostgreSQL);
    /// nothing on SQLite, whose write transaction holds the whole database.
    fn for_update(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "",
            Self::Postgres(_) => " FOR UPDATE",
        }
    }
}

/// The store over either database. `SqliteStore::open` and
/// `PostgresStore::open` make one.
#[derive(Clone)]
pub struct SqlStore {
    db: Backend<SqlitePools, PgPool>,
    /// Secret writes go through the node's group commit.
    group: GroupCommit,
}

impl fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Pool sizes only: the connect options may hold a password.
        let (backend, pool) = match &self.db {
            Backend::Sqlite(db) => ("sqlite", &db.reader as &dyn PoolState),
            Backend::Postgres(pool) => ("postgres", pool as &dyn PoolState),
        };
        f.debug_struct("SqlStore")
            .field("backend", &backend)
            .field("size", &pool.size())
            .field("idle", &pool.idle())
            .finish()
    }
}

trait PoolState {
    fn size(&self) -> u32;
    fn idle(&self) -> usize;
}

impl<DB: sqlx::Database> PoolState for sqlx::Pool<DB> {
    fn size(&self) -> u32 {
        sqlx::Pool::size(self)
    }
    fn idle(&self) -> usize {
        self.num_idle()
    }
}

impl SqlStore {
    pub(super) fn sqlite(pools: SqlitePools, group: GroupCommit) -> Self {
        Self {
            db: Backend::Sqlite(pools),
            group,
        }
    }

    pub(super) fn postgres(pool: PgPool, group: GroupCommit) -> Self {
        Self {
            db: Backend::Postgres(pool),
            group,
        }
    }

    /// Where reads go: SQLite's reader pool, which needs no write lock.
    pub(super) fn reader(&self) -> Pool<'_> {
        match &self.db {
            Backend::Sqlite(db) => Backend::Sqlite(&db.reader),
            Backend::Postgres(pool) => Backend::Postgres(pool),
        }
    }

    /// Where writes outside a transaction go.
    pub(super) fn writer(&self) -> Pool<'_> {
        match &self.db {
            Backend::Sqlite(db) => Backend::Sqlite(&db.writer),
            Backend::Postgres(pool) => Backend::Postgres(pool),
        }
    }

    pub(super) async fn acquire(&self) -> Result<Pooled> {
        Ok(match self.writer() {
            Backend::Sqlite(pool) => Backend::Sqlite(pool.acquire().await?),
            Backend::Postgres(pool) => Backend::Postgres(pool.acquire().await?),
        })
    }

    /// Begins a write transaction. On SQLite it takes the write lock up
    /// front (`BEGIN IMMEDIATE`), so it never fails half-way with
    /// `SQLITE_BUSY`; on PostgreSQL writes lock the rows they need
    /// ([`Tx::lock_project`]).
    pub(super) async fn begin_write(&self) -> Result<Tx> {
        Ok(match &self.db {
            Backend::Sqlite(db) => Backend::Sqlite(db.writer.begin_with("BEGIN IMMEDIATE").await?),
            Backend::Postgres(pool) => Backend::Postgres(pool.begin().await?),
        })
    }

    /// Begins a read-only transaction: everything it reads is one snapshot.
    pub(super) async fn begin_read(&self) -> Result<Tx> {
        Ok(match &self.db {
            Backend::Sqlite(db) => Backend::Sqlite(db.reader.begin().await?),
            Backend::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .execute(&mut *tx)
                    .await?;
                Backend::Postgres(tx)
            }
        })
    }
}

/// The statement of every audit record, with its columns; a bulk insert
/// adds its own rows after it.
macro_rules! insert_audit_into {
    () => {
        "INSERT INTO audit_events (at, actor, project_id, action, key, version, request_id, detail) "
    };
}
pub(super) use insert_audit_into;

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

    async fn token_by_hash(&self, token_hash: &[u8]) -> Result<Option<(UserRecord, Vec<u8>)>> {
        Ok(on!(self.reader(), |pool| sqlx::query(
            "SELECT u.id, u.email, u.password_hash, u.created_at, t.token_hash
             FROM api_tokens t JOIN users u ON u.id = t.user_id
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL"
        )
        .bind(token_hash)
        .fetch_optional(pool)
        .await?
        .map(|row| (user_from_row(&row), row.get("token_hash")))))
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
        kek_id: &str,
        wrap: WrapFn<'_>,
        owner: Option<i64>,
        actor: &Actor,
    ) -> Result<ProjectRecord> {
        let mut tx = self.begin_write().await?;
        let now = now_millis();
        // Insert with an empty key to learn the id the key must be bound to.
        let id: i64 = on!(tx.conn(), |c| sqlx::query_scalar(
            "INSERT INTO projects (slug, created_at, wrapped_data_key, kek_id) VALUES ($1, $2, $3, $4)
             RETURNING id"
        )
        .bind(slug)
        .bind(now)
        .bind(Vec::<u8>::new())
        .bind(kek_id)
        .fetch_one(c)
        .await)
        .map_err(exists_or(format!("project {slug}")))?;
        let wrapped = wrap(id);
        on!(tx.conn(), |c| sqlx::query(
            "UPDATE projects SET wrapped_data_key = $1 WHERE id = $2"
        )
        .bind(&wrapped)
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
            wrapped_data_key: wrapped,
            kek_id: kek_id.to_owned(),
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
            "SELECT p.id, p.slug, p.created_at, p.wrapped_data_key, p.kek_id, m.role
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
            "SELECT p.id, p.slug, p.created_at, p.wrapped_data_key, p.kek_id, m.role
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
        actor: &Actor,
    ) -> Result<Vec<WriteOutcome>> {
        self.group.write(project_id, writes, actor.clone()).await
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
            let audit = NewAudit {
                project_id: Some(project_id),
                action: "secret.delete",
                key: Some(key),
                version,
                detail: None,
            };
            insert_audit(tx.conn(), audit, actor, now).await?;
            tx.commit().await?;
        }
        Ok(version)
    }

    async fn list_secrets(&self, project_id: i64) -> Result<Vec<SecretMeta>> {
        match self.reader() {
            Backend::Sqlite(pool) => sqlite::list_secrets(pool, project_id).await,
            Backend::Postgres(pool) => postgres::list_secrets(pool, project_id).await,
        }
    }

    async fn sealed_secrets(&self, slug: &str) -> Result<Option<(ProjectRecord, Vec<SealedSecret>)>> {
        match self.reader() {
            Backend::Sqlite(pool) => sqlite::sealed_secrets(pool, slug).await,
            Backend::Postgres(pool) => postgres::sealed_secrets(pool, slug).await,
        }
    }

    async fn rewrap_data_keys(&self, new_kek_id: &str, rewrap: RewrapFn<'_>, actor: &Actor) -> Result<usize> {
        let mut tx = self.begin_write().await?;
        // Locked in id order; a project created meanwhile waits for the
        // commit of its own transaction, not for this one, so the count is
        // the projects that existed when the lock was taken.
        let lock = tx.for_update();
        let rows: Vec<(i64, Vec<u8>, String)> = on!(tx.conn(), |c| sqlx::query_as(&format!(
            "SELECT id, wrapped_data_key, kek_id FROM projects ORDER BY id{lock}"
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
        Ok(on!(self.writer(), |pool| sqlx::query_scalar(
            "SELECT DISTINCT kek_id FROM projects ORDER BY kek_id"
        )
        .fetch_all(pool)
        .await)?)
    }

    async fn audit_events(&self, project_id: i64, page: Page) -> Result<Vec<AuditEvent>> {
        Ok(on!(self.reader(), |pool| sqlx::query(
            "SELECT a.id, a.at, a.actor, p.slug, a.action, a.key, a.version, a.request_id, a.detail
             FROM audit_events a LEFT JOIN projects p ON p.id = a.project_id
             WHERE a.project_id = $1 AND a.id < $2
             ORDER BY a.id DESC LIMIT $3"
        )
        .bind(project_id)
        .bind(page.before_id.unwrap_or(i64::MAX))
        .bind(i64::from(page.limit))
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

    async fn close(&self) {
        match &self.db {
            Backend::Sqlite(db) => {
                // The reader first: closing the writer last checkpoints the WAL.
                db.reader.close().await;
                db.writer.close().await;
            }
            Backend::Postgres(pool) => pool.close().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use sqlx::sqlite::SqlitePoolOptions;

    /// The placeholders every shared statement uses: sqlx-sqlite binds a
    /// parameter named `$N` to the N-th value, whatever order the names
    /// appear in and however often, as PostgreSQL does.
    #[tokio::test]
    async fn sqlite_binds_dollar_placeholders_by_number() {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap();
        let row: (i64, String, i64, Option<i64>) = sqlx::query_as("SELECT $3, $1, $3 + $2, $4")
            .bind("one")
            .bind(2_i64)
            .bind(3_i64)
            .bind(None::<i64>)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(row, (3, "one".to_owned(), 5, None));
        // `$N IS NULL OR … = $N`, as `revoke_token` has it, with one value.
        let hits: Vec<i64> = sqlx::query_scalar(
            "SELECT x FROM (SELECT 1 AS x UNION ALL SELECT 2) WHERE ($1 IS NULL OR x = $1) ORDER BY x",
        )
        .bind(Some(2_i64))
        .fetch_all(&pool)
        .await
        .unwrap();
        assert_eq!(hits, [2]);
        let all: Vec<i64> = sqlx::query_scalar(
            "SELECT x FROM (SELECT 1 AS x UNION ALL SELECT 2) WHERE ($1 IS NULL OR x = $1) ORDER BY x",
        )
        .bind(None::<i64>)
        .fetch_all(&pool)
        .await
        .unwrap();
        assert_eq!(all, [1, 2]);
    }
}
