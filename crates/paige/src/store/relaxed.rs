//! A write transaction whose commit does not wait for the disk: for the
//! records a crash of paige must not lose but a power loss in the next
//! moment may: an execution's opening record, on the path to its bot's
//! `exec`, and its closing record, on the path to its answer.
//!
//! What it guarantees, exactly:
//!
//! - **SQLite** (WAL): the transaction commits with `PRAGMA synchronous =
//!   NORMAL`, so the commit appends to the WAL without an fsync. A crash
//!   or `kill -9` of paige loses nothing: the WAL is in the operating
//!   system's cache and the next open reads it. Right after the commit,
//!   the store's [`WalSync`] task fsyncs the WAL in the background, as a
//!   full commit would have before returning: at once after a closing
//!   record, within 50 ms after an opening one (or with its close's sync,
//!   if that comes first). A CLI command's store, closed right after its
//!   work, syncs at its close instead. A power loss or kernel crash before
//!   that sync is done may lose it. Any commit
//!   with a full sync (every other write) fsyncs the WAL up to its own end
//!   too, and the store's close syncs what its task had not. A lost opening
//!   record takes its `execution.start` audit record with it (one
//!   transaction): nothing is half-recorded. One case still syncs on the
//!   way: the first write to a WAL that does not exist yet (the last
//!   connection's close checkpointed and deleted it, as every `paige run`
//!   does at its end) has SQLite fsync the new WAL's header and its
//!   directory, whatever `synchronous` says.
//! - **PostgreSQL**: the transaction commits with `SET LOCAL
//!   synchronous_commit = off`. The server has it once the commit returns,
//!   so a crash of paige loses nothing; a crash of the database server
//!   may lose it (at most about three times `wal_writer_delay`, 600 ms by
//!   default, of such commits: the server's WAL writer flushes them, and
//!   a client cannot ask for that flush alone), and never a synchronous
//!   commit after it.
//!
//! The writer connection of SQLite is shared with every other write, which
//! must keep its fsync: it is put back to `synchronous = FULL` in the same
//! call as the `COMMIT`, and if that does not happen for any reason (an
//! error, a dropped future), the connection is closed instead of going
//! back to the pool ([`RelaxedSqlite`]'s `Drop`), and the pool opens a new
//! one with its `FULL` settings. PostgreSQL's `SET LOCAL` ends with its
//! transaction by itself.

use sqlx::pool::PoolConnection;
use sqlx::{PgPool, Postgres, Sqlite, SqliteConnection, SqlitePool, Transaction};

use super::backend::{Backend, Conn, SqlStore, begin_postgres_with};
use super::wal_sync::WalSync;
use crate::error::{Error, Result};

/// A write transaction that commits without waiting for the disk (see
/// the module docs). Rolled back if dropped before [`RelaxedTx::commit`].
pub(super) struct RelaxedTx<'s> {
    tx: Backend<RelaxedSqlite, Transaction<'static, Postgres>>,
    /// SQLite's: asked for a sync once the commit is done.
    sync: Option<&'s WalSync>,
}

impl std::fmt::Debug for RelaxedTx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelaxedTx").finish_non_exhaustive()
    }
}

impl<'s> RelaxedTx<'s> {
    /// Begins one on the store's writer: on SQLite its one connection, with
    /// the write lock taken up front (`BEGIN IMMEDIATE`), as every write does.
    pub(super) async fn begin(store: &'s SqlStore) -> Result<Self> {
        let writer: Backend<&SqlitePool, &PgPool> = store.writer();
        let tx = match writer {
            Backend::Sqlite(pool) => Backend::Sqlite(RelaxedSqlite::begin(pool).await?),
            Backend::Postgres(pool) => {
                Backend::Postgres(begin_postgres_with(pool, "SET LOCAL synchronous_commit = off").await?)
            }
        };
        Ok(Self {
            tx,
            sync: store.wal_sync(),
        })
    }

    /// The connection, to run the transaction's statements on.
    pub(super) fn conn(&mut self) -> Result<Conn<'_>> {
        Ok(match &mut self.tx {
            Backend::Sqlite(tx) => Backend::Sqlite(tx.conn()?),
            Backend::Postgres(tx) => Backend::Postgres(&mut **tx),
        })
    }

    /// Commits, and has SQLite's WAL synced at once, in the background.
    pub(super) async fn commit(self) -> Result<()> {
        self.commit_then(WalSync::request).await
    }

    /// Commits, and has SQLite's WAL synced within `wal_sync::SOON` (or
    /// by an earlier sync): for a commit whose fsync would compete with
    /// what follows it, as an opening record's with its bot's start.
    pub(super) async fn commit_sync_soon(self) -> Result<()> {
        self.commit_then(WalSync::request_soon).await
    }

    async fn commit_then(self, ask: fn(&WalSync)) -> Result<()> {
        match self.tx {
            Backend::Sqlite(tx) => tx.commit().await?,
            Backend::Postgres(tx) => tx.commit().await?,
        }
        if let Some(sync) = self.sync {
            ask(sync);
        }
        Ok(())
    }
}

/// One statement that commits on its own without waiting for the disk
/// (see the module docs), in the fewest round trips: on SQLite one, the
/// statement run between the two `PRAGMA synchronous` ([`RelaxedOne::sql`]
/// wraps it) on the writer connection outside a transaction; on
/// PostgreSQL a [`RelaxedTx`] (`SET LOCAL` needs a transaction).
pub(super) enum RelaxedOne<'s> {
    Sqlite {
        conn: RelaxedSqlite,
        sync: Option<&'s WalSync>,
    },
    Postgres(RelaxedTx<'s>),
}

impl<'s> RelaxedOne<'s> {
    pub(super) async fn begin(store: &'s SqlStore) -> Result<Self> {
        Ok(match store.writer() {
            Backend::Sqlite(pool) => Self::Sqlite {
                conn: RelaxedSqlite {
                    conn: Some(pool.acquire().await?),
                },
                sync: store.wal_sync(),
            },
            Backend::Postgres(_) => Self::Postgres(RelaxedTx::begin(store).await?),
        })
    }

    /// `statement` as it is to run: on SQLite between the two pragmas. It
    /// must be run whole (every row fetched), or the connection is closed
    /// rather than reused (it may still be at `NORMAL`).
    pub(super) fn sql<'a>(&self, statement: &'a str) -> std::borrow::Cow<'a, str> {
        match self {
            Self::Sqlite { .. } => {
                format!("PRAGMA synchronous = NORMAL; {statement}; PRAGMA synchronous = FULL").into()
            }
            Self::Postgres(_) => statement.into(),
        }
    }

    pub(super) fn conn(&mut self) -> Result<Conn<'_>> {
        match self {
            Self::Sqlite { conn, .. } => Ok(Backend::Sqlite(conn.conn()?)),
            Self::Postgres(tx) => tx.conn(),
        }
    }

    /// After the statement ran whole: the connection goes back to the pool
    /// (at `FULL` again), and SQLite's WAL is synced in the background.
    pub(super) async fn commit(self) -> Result<()> {
        match self {
            Self::Sqlite { conn, sync } => {
                conn.release();
                if let Some(sync) = sync {
                    sync.request();
                }
                Ok(())
            }
            Self::Postgres(tx) => tx.commit().await,
        }
    }
}

/// SQLite's writer connection in a transaction with `synchronous = NORMAL`.
/// Dropped before [`RelaxedSqlite::commit`] put it back to `FULL`, it
/// closes the connection (rolling the transaction back) rather than
/// return it to the pool.
pub(super) struct RelaxedSqlite {
    conn: Option<PoolConnection<Sqlite>>,
}

impl RelaxedSqlite {
    /// The statement that begins one: `synchronous` cannot change inside a
    /// transaction, so it is set first.
    const BEGIN: &'static str = "PRAGMA synchronous = NORMAL; BEGIN IMMEDIATE";
    /// The statement that ends one: the connection is back to a full sync
    /// before anything else can use it.
    const COMMIT: &'static str = "COMMIT; PRAGMA synchronous = FULL";

    async fn begin(pool: &SqlitePool) -> Result<Self> {
        let mut tx = Self {
            conn: Some(pool.acquire().await?),
        };
        // On an error `tx` is dropped: the connection is closed.
        sqlx::query(Self::BEGIN).execute(tx.conn()?).await?;
        Ok(tx)
    }

    fn conn(&mut self) -> Result<&mut SqliteConnection> {
        self.conn
            .as_deref_mut()
            .ok_or_else(|| Error::internal("a relaxed transaction was used after its end"))
    }

    async fn commit(mut self) -> Result<()> {
        sqlx::query(Self::COMMIT).execute(self.conn()?).await?;
        self.release();
        Ok(())
    }

    /// Once the connection is known to be back at FULL: to the pool.
    fn release(mut self) {
        drop(self.conn.take());
    }
}

impl Drop for RelaxedSqlite {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            // Not known to be back to a full sync: closed, never reused.
            drop(conn.detach());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteStore;
    use crate::store::backend::SqlStore;

    async fn store() -> (tempfile::TempDir, SqlStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("paige.db")).await.unwrap();
        (dir, store)
    }

    fn pool(store: &SqlStore) -> &SqlitePool {
        match store.writer() {
            Backend::Sqlite(pool) => pool,
            Backend::Postgres(_) => unreachable!("a SQLite store"),
        }
    }

    /// `PRAGMA synchronous` of the writer connection: 2 is FULL.
    async fn writer_sync(store: &SqlStore) -> i64 {
        sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(pool(store))
            .await
            .unwrap()
    }

    async fn users(store: &SqlStore) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(pool(store))
            .await
            .unwrap()
    }

    async fn insert_user(tx: &mut RelaxedTx<'_>, email: &str) -> Result<()> {
        let Backend::Sqlite(conn) = tx.conn()? else {
            unreachable!("a SQLite store")
        };
        sqlx::query("INSERT INTO users (email, password_hash, created_at) VALUES ($1, 'x', 0)")
            .bind(email)
            .execute(conn)
            .await?;
        Ok(())
    }

    #[tokio::test]
    async fn a_relaxed_commit_puts_the_writer_back_to_a_full_sync() {
        let (_dir, store) = store().await;
        assert_eq!(writer_sync(&store).await, 2);
        let mut tx = RelaxedTx::begin(&store).await.unwrap();
        {
            let Backend::Sqlite(conn) = tx.conn().unwrap() else {
                unreachable!()
            };
            // Inside: the commit will not wait for the disk.
            let inside: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(conn).await.unwrap();
            assert_eq!(inside, 1, "NORMAL inside the relaxed transaction");
        }
        insert_user(&mut tx, "a@example.com").await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(users(&store).await, 1);
        // The next write on the writer (a secret's, say) syncs in full.
        assert_eq!(writer_sync(&store).await, 2);
    }

    #[tokio::test]
    async fn a_relaxed_commit_is_followed_by_a_sync_of_the_wal_and_a_rolled_back_one_is_not() {
        let (_dir, store) = store().await;
        let sync = store.wal_sync().expect("a SQLite store syncs its WAL");
        let mut tx = RelaxedTx::begin(&store).await.unwrap();
        insert_user(&mut tx, "a@example.com").await.unwrap();
        // Not before the commit.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(sync.syncs(), 0);
        tx.commit().await.unwrap();
        wait_for_syncs(&store, 1).await;
        // One rolled back asks for none.
        let mut tx = RelaxedTx::begin(&store).await.unwrap();
        insert_user(&mut tx, "b@example.com").await.unwrap();
        drop(tx);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(sync.syncs(), 1);
        assert_eq!(users(&store).await, 1);
    }

    async fn wait_for_syncs(store: &SqlStore, syncs: u64) {
        let sync = store.wal_sync().expect("a SQLite store syncs its WAL");
        let waited = tokio::time::Instant::now();
        while sync.syncs() < syncs {
            assert!(
                waited.elapsed().as_secs() < 5,
                "no sync of the WAL after a relaxed commit"
            );
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        assert_eq!(sync.syncs(), syncs);
    }

    #[tokio::test]
    async fn one_relaxed_statement_runs_between_the_pragmas_and_leaves_the_writer_at_full() {
        let (_dir, store) = store().await;
        let insert = "INSERT INTO users (email, password_hash, created_at) VALUES ($1, 'x', 0) RETURNING id";
        let mut one = RelaxedOne::begin(&store).await.unwrap();
        let sql = one.sql(insert);
        assert_eq!(
            sql,
            format!("PRAGMA synchronous = NORMAL; {insert}; PRAGMA synchronous = FULL")
        );
        let Backend::Sqlite(conn) = one.conn().unwrap() else {
            unreachable!("a SQLite store")
        };
        let rows = sqlx::query(&sql).bind("a@example.com").fetch_all(conn).await.unwrap();
        assert_eq!(rows.len(), 1, "the statement's row, and none of the pragmas'");
        one.commit().await.unwrap();
        assert_eq!(users(&store).await, 1);
        assert_eq!(writer_sync(&store).await, 2);
        wait_for_syncs(&store, 1).await;

        // The statement fails after the first pragma ran: the connection
        // is closed, not reused at NORMAL, and no sync is asked for.
        let mut one = RelaxedOne::begin(&store).await.unwrap();
        let sql = one.sql(insert);
        let Backend::Sqlite(conn) = one.conn().unwrap() else {
            unreachable!("a SQLite store")
        };
        assert!(sqlx::query(&sql).bind("a@example.com").fetch_all(conn).await.is_err());
        drop(one);
        assert_eq!(writer_sync(&store).await, 2);
        assert_eq!(users(&store).await, 1);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        wait_for_syncs(&store, 1).await;
    }

    #[tokio::test]
    async fn a_failed_or_abandoned_relaxed_transaction_never_leaves_the_writer_relaxed() {
        let (_dir, store) = store().await;
        // A statement fails: the caller returns its error, dropping the transaction.
        let mut tx = RelaxedTx::begin(&store).await.unwrap();
        insert_user(&mut tx, "a@example.com").await.unwrap();
        assert!(
            insert_user(&mut tx, "a@example.com").await.is_err(),
            "a duplicate email"
        );
        drop(tx);
        assert_eq!(writer_sync(&store).await, 2);
        assert_eq!(users(&store).await, 0, "rolled back with its connection");

        // A future dropped half-way (a cancelled request) does the same.
        let abandoned = async {
            let mut tx = RelaxedTx::begin(&store).await.unwrap();
            insert_user(&mut tx, "b@example.com").await.unwrap();
            std::future::pending::<()>().await;
        };
        let timed_out = tokio::time::timeout(std::time::Duration::from_millis(50), abandoned).await;
        assert!(timed_out.is_err());
        assert_eq!(writer_sync(&store).await, 2);
        assert_eq!(users(&store).await, 0);
    }
}
