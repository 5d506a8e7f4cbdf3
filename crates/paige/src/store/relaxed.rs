//! A write transaction whose commit does not wait for the disk: for the
//! records a crash of paige must not lose but a power loss may, on the
//! path to a bot's `exec` (an execution's opening record).
//!
//! What it guarantees, exactly:
//!
//! - **SQLite** (WAL): the transaction commits with `PRAGMA synchronous =
//!   NORMAL`, so the commit appends to the WAL without an fsync. A crash
//!   or `kill -9` of paige loses nothing: the WAL is in the operating
//!   system's cache and the next open reads it. A power loss or kernel
//!   crash before the next fsync of the WAL may lose it. The next commit
//!   with a full sync (every other write, the execution's closing record
//!   among them) fsyncs the WAL up to its own end, so it makes this one
//!   durable too. A lost opening record takes its `execution.start` audit
//!   record with it (one transaction): nothing is half-recorded. One
//!   case still syncs: the first write to a WAL that does not exist yet
//!   (the last connection's close checkpointed and deleted it, as every
//!   `paige run` does at its end) has SQLite fsync the new WAL's header
//!   and its directory, whatever `synchronous` says.
//! - **PostgreSQL**: the transaction commits with `SET LOCAL
//!   synchronous_commit = off`. The server has it once the commit returns,
//!   so a crash of paige loses nothing; a crash of the database server
//!   may lose it (at most about three times `wal_writer_delay`, 600 ms by
//!   default, of such commits), and never a synchronous commit after it.
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

use super::backend::{Backend, Conn, begin_postgres_with};
use crate::error::{Error, Result};

/// A write transaction that commits without waiting for the disk (see
/// the module docs). Rolled back if dropped before [`RelaxedTx::commit`].
pub(super) struct RelaxedTx(Backend<RelaxedSqlite, Transaction<'static, Postgres>>);

impl std::fmt::Debug for RelaxedTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelaxedTx").finish_non_exhaustive()
    }
}

impl RelaxedTx {
    /// Begins one on the writer: on SQLite its one connection, with the
    /// write lock taken up front (`BEGIN IMMEDIATE`), as every write does.
    pub(super) async fn begin(writer: Backend<&SqlitePool, &PgPool>) -> Result<Self> {
        Ok(Self(match writer {
            Backend::Sqlite(pool) => Backend::Sqlite(RelaxedSqlite::begin(pool).await?),
            Backend::Postgres(pool) => {
                Backend::Postgres(begin_postgres_with(pool, "SET LOCAL synchronous_commit = off").await?)
            }
        }))
    }

    /// The connection, to run the transaction's statements on.
    pub(super) fn conn(&mut self) -> Result<Conn<'_>> {
        Ok(match &mut self.0 {
            Backend::Sqlite(tx) => Backend::Sqlite(tx.conn()?),
            Backend::Postgres(tx) => Backend::Postgres(&mut **tx),
        })
    }

    pub(super) async fn commit(self) -> Result<()> {
        match self.0 {
            Backend::Sqlite(tx) => tx.commit().await,
            Backend::Postgres(tx) => Ok(tx.commit().await?),
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
        // Back to FULL: the connection may go back to the pool.
        drop(self.conn.take());
        Ok(())
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

    async fn insert_user(tx: &mut RelaxedTx, email: &str) -> Result<()> {
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
        let mut tx = RelaxedTx::begin(store.writer()).await.unwrap();
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
    async fn a_failed_or_abandoned_relaxed_transaction_never_leaves_the_writer_relaxed() {
        let (_dir, store) = store().await;
        // A statement fails: the caller returns its error, dropping the transaction.
        let mut tx = RelaxedTx::begin(store.writer()).await.unwrap();
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
            let mut tx = RelaxedTx::begin(store.writer()).await.unwrap();
            insert_user(&mut tx, "b@example.com").await.unwrap();
            std::future::pending::<()>().await;
        };
        let timed_out = tokio::time::timeout(std::time::Duration::from_millis(50), abandoned).await;
        assert!(timed_out.is_err());
        assert_eq!(writer_sync(&store).await, 2);
        assert_eq!(users(&store).await, 0);
    }
}
