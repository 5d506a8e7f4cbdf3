//! What backups need of the store: a consistent copy of the embedded
//! database while it serves, its integrity check, and how full its
//! connection pools are (for the metrics).
//!
//! SQLite's `VACUUM INTO` writes the copy from one read transaction, so it
//! is one snapshot: every commit before it started, none after. It takes no
//! write lock; writers carry on while it runs. PostgreSQL is backed up with
//! its own tools (`pg_dump`), so it has no snapshot here.

use std::path::Path;

use super::backend::{Backend, SqlStore};
use crate::error::{Error, Result};

/// One pool's connections, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStat {
    /// `sqlite_writer`, `sqlite_reader` or `postgres`.
    pub name: &'static str,
    pub in_use: u64,
    pub idle: u64,
    pub max: u64,
}

fn stat<DB: sqlx::Database>(name: &'static str, pool: &sqlx::Pool<DB>) -> PoolStat {
    let size = u64::from(pool.size());
    let idle = pool.num_idle() as u64;
    PoolStat {
        name,
        in_use: size.saturating_sub(idle),
        idle,
        max: u64::from(pool.options().get_max_connections()),
    }
}

impl SqlStore {
    /// Writes a consistent copy of the embedded database to `dest`, which
    /// must not exist or be empty.
    pub(super) async fn vacuum_into(&self, dest: &Path) -> Result<()> {
        let Backend::Sqlite(db) = &self.db else {
            return Err(Error::invalid(
                "backup_postgres",
                "the store is PostgreSQL: back it up with pg_dump and keep the master key apart (see README, Backups)",
            ));
        };
        let dest = dest
            .to_str()
            .ok_or_else(|| Error::invalid("backup_path", "the backup path must be UTF-8"))?;
        sqlx::query("VACUUM INTO $1").bind(dest).execute(&db.reader).await?;
        Ok(())
    }

    /// SQLite's `PRAGMA integrity_check`: every page, index and constraint.
    /// The problems it reports, none if the file is sound. PostgreSQL
    /// checks its own pages; there it only checks the database answers.
    pub(super) async fn integrity_problems(&self) -> Result<Vec<String>> {
        match &self.db {
            Backend::Sqlite(db) => {
                let rows: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
                    .fetch_all(&db.reader)
                    .await?;
                Ok(rows.into_iter().filter(|r| r != "ok").collect())
            }
            Backend::Postgres(pool) => {
                sqlx::query("SELECT 1").execute(pool).await?;
                Ok(Vec::new())
            }
        }
    }

    pub(super) fn pools(&self) -> Vec<PoolStat> {
        match &self.db {
            Backend::Sqlite(db) => vec![stat("sqlite_writer", &db.writer), stat("sqlite_reader", &db.reader)],
            Backend::Postgres(pool) => vec![stat("postgres", pool)],
        }
    }
}
