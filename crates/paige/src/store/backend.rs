//! Which database the store has, and how to talk to it.
//!
//! Both sqlx drivers take `$1, $2, …` placeholders by number (SQLite reads
//! `$N` as a named parameter, and sqlx-sqlite binds a parameter named `$N`
//! to the N-th value; see the test below), so one statement text serves
//! both databases. [`on!`] runs the same code on whichever database the
//! store has: it is compiled once per driver, with concrete types, so there
//! is no dynamic dispatch and no conversion of rows on the way.
//!
//! The real differences between the two live here, each small and named:
//! how a write transaction takes its lock ([`begin_write`],
//! [`Tx::lock_project`], [`Tx::for_update`]), how a read sees one snapshot
//! ([`SqlStore::begin_read`]), and how a group-commit batch is read and
//! written ([`Batches`], with `sqlite_group.rs` and `postgres_group.rs`).

use std::fmt;
use std::ops::DerefMut;
use std::sync::Arc;

use async_trait::async_trait;
use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, PgPool, Postgres, Sqlite, SqliteConnection, SqlitePool, Transaction};

use super::group_commit::{BatchCommit, BatchResults, GroupCommit, WriteJob, plan};
use super::wal_sync::WalSync;
use super::{postgres_group, sqlite_group};
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
            $crate::store::backend::Backend::Sqlite($x) => $body,
            $crate::store::backend::Backend::Postgres($x) => $body,
        }
    };
    ($on:expr, |$x:ident: $db:ident| $body:expr) => {
        match $on {
            $crate::store::backend::Backend::Sqlite($x) => {
                type $db = sqlx::Sqlite;
                $body
            }
            $crate::store::backend::Backend::Postgres($x) => {
                type $db = sqlx::Postgres;
                $body
            }
        }
    };
}
pub(super) use on;

/// The SQLite store's two pools: one writer connection (SQLite has one
/// write lock anyway) and a few readers; and the task that syncs the WAL
/// after a relaxed commit (`wal_sync.rs`).
#[derive(Clone)]
pub(super) struct SqlitePools {
    pub writer: SqlitePool,
    pub reader: SqlitePool,
    pub wal: Arc<WalSync>,
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

/// Begins a write transaction. On SQLite it takes the write lock up front
/// (`BEGIN IMMEDIATE`), so it never fails half-way with `SQLITE_BUSY`; on
/// PostgreSQL writes lock the rows they need ([`Tx::lock_project`]).
async fn begin_write(writer: Pool<'_>) -> Result<Tx, sqlx::Error> {
    Ok(match writer {
        Backend::Sqlite(pool) => Backend::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
        Backend::Postgres(pool) => Backend::Postgres(pool.begin().await?),
    })
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
            Self::Postgres(tx) => lock_project(tx, project_id).await,
        }
    }

    /// ` FOR UPDATE` where a read must lock the rows it reads (PostgreSQL);
    /// nothing on SQLite, whose write transaction holds the whole database.
    pub(super) fn for_update(&self) -> &'static str {
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
    pub(super) db: Backend<SqlitePools, PgPool>,
    /// Secret writes go through the node's group commit.
    pub(super) group: GroupCommit,
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
    /// The store over SQLite's pools; its group commit runs on the writer.
    pub(super) fn sqlite(pools: SqlitePools) -> Self {
        let group = GroupCommit::start(Batches(Backend::Sqlite(pools.writer.clone())));
        Self {
            db: Backend::Sqlite(pools),
            group,
        }
    }

    pub(super) fn postgres(pool: PgPool) -> Self {
        let group = GroupCommit::start(Batches(Backend::Postgres(pool.clone())));
        Self {
            db: Backend::Postgres(pool),
            group,
        }
    }

    /// SQLite's WAL syncing task; PostgreSQL has none.
    pub(super) fn wal_sync(&self) -> Option<&WalSync> {
        match &self.db {
            Backend::Sqlite(db) => Some(&db.wal),
            Backend::Postgres(_) => None,
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

    pub(super) async fn begin_write(&self) -> Result<Tx> {
        Ok(begin_write(self.writer()).await?)
    }

    /// Begins a read-only transaction: everything it reads is one snapshot.
    pub(super) async fn begin_read(&self) -> Result<Tx> {
        Ok(match &self.db {
            Backend::Sqlite(db) => Backend::Sqlite(db.reader.begin().await?),
            Backend::Postgres(pool) => Backend::Postgres(
                begin_postgres_with(pool, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").await?,
            ),
        })
    }
}

/// Begins a PostgreSQL transaction with `setting` (a `SET` statement for
/// this transaction) in force from its first statement.
pub(super) async fn begin_postgres_with(
    pool: &PgPool,
    setting: &str,
) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query(setting).execute(&mut *tx).await?;
    Ok(tx)
}

/// Locks the project's row against other writers of its secrets, members
/// and code until the transaction ends.
async fn lock_project(conn: &mut PgConnection, project_id: i64) -> Result<()> {
    let found: Option<i64> = sqlx::query_scalar("SELECT id FROM projects WHERE id = $1 FOR NO KEY UPDATE")
        .bind(project_id)
        .fetch_optional(conn)
        .await?;
    match found {
        Some(_) => Ok(()),
        None => Err(Error::NotFound(format!("project #{project_id}"))),
    }
}

/// Commits the group commit's batches on the writer pool: one write
/// transaction a batch, read and written in the few bulk statements of each
/// database (`sqlite_group.rs`, `postgres_group.rs`).
struct Batches(Backend<SqlitePool, PgPool>);

#[async_trait]
impl BatchCommit for Batches {
    async fn commit_batch(&self, batch: &[WriteJob]) -> Result<BatchResults, sqlx::Error> {
        let writer = match &self.0 {
            Backend::Sqlite(pool) => Backend::Sqlite(pool),
            Backend::Postgres(pool) => Backend::Postgres(pool),
        };
        let mut tx = begin_write(writer).await?;
        let results = write_jobs(&mut tx, batch).await?;
        on!(tx, |tx| tx.commit().await)?;
        Ok(results)
    }
}

/// Applies the secret writes of `batch` inside `tx` (which the caller
/// commits): the group commit's batch, or the one write of a transaction
/// that changes more than secrets (the code guard's "move into Secrets").
pub(super) async fn write_jobs(tx: &mut Tx, batch: &[WriteJob]) -> Result<BatchResults, sqlx::Error> {
    let stored = match tx {
        Backend::Sqlite(tx) => sqlite_group::read(tx, batch).await?,
        Backend::Postgres(tx) => postgres_group::read_locked(tx, batch).await?,
    };
    let plan = plan(batch, stored);
    if !plan.rows.is_empty() {
        match tx {
            Backend::Sqlite(tx) => sqlite_group::write(tx, &plan).await?,
            Backend::Postgres(tx) => postgres_group::write(tx, &plan).await?,
        }
    }
    Ok(plan.results)
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
