//! The embedded store: one SQLite file in WAL mode with a full fsync on
//! every commit, so an acknowledged write survives `kill -9` and power loss.
//!
//! All writes go through a pool of one connection and start with
//! `BEGIN IMMEDIATE` (`SqlStore::begin_write`): SQLite allows one writer at
//! a time anyway, and taking the write lock up front means a transaction
//! never fails half-way with `SQLITE_BUSY` when it upgrades from reading to
//! writing. Reads use their own pool and see a consistent snapshot per
//! transaction.
//!
//! The statements are `sql.rs`'s, shared with PostgreSQL; this file has
//! opening the database and the two reads SQLite answers as one JSON
//! aggregate.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use super::backend::{SqlStore, SqlitePools};
use super::rows::project_from_row;
use super::wal_sync::WalSync;
use crate::error::{Error, Result};
use crate::model::{SealedRead, SealedSecret};

/// The database file inside the data dir.
pub const DB_FILE: &str = "paige.db";

/// A server's read connections, beside the writer's one. Each is a thread
/// of its own, opened when a read finds none idle; a connection is back in
/// its pool only once the async runtime has run the task its release
/// spawns (sqlx), so a process that reads one thing after another on a
/// single-threaded runtime (the CLI) would open a second one for its
/// second read. The CLI opens its store with none ([`SHARED_WITH_WRITER`]).
pub const SERVER_READERS: u32 = 4;
/// No read connections of their own: reads go through the writer's one
/// connection, which then serves a whole CLI command. Each connection is
/// a thread, an open, a parse of the schema and a close: about 1.5 ms of
/// `paige run` on the 2-core machine. Such a store syncs its relaxed
/// commits at its close, not in the background (`wal_sync.rs`).
pub const SHARED_WITH_WRITER: u32 = 0;
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
const ROW_BUFFER: usize = 1_024;
// Neither pool pings a connection before handing it out (sqlx's default):
// a connection to a local file has no peer to lose, and the ping is a
// round trip to the connection's thread, as costly as a small query.

/// Opens the embedded store (the name the rest of paige knows it by).
#[derive(Debug)]
pub struct SqliteStore;

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies the
    /// migrations, with [`SERVER_READERS`] read connections.
    pub async fn open(path: &Path) -> Result<SqlStore> {
        Self::open_with_readers(path, SERVER_READERS).await
    }

    /// [`SqliteStore::open`] with `readers` read connections, or none
    /// ([`SHARED_WITH_WRITER`]).
    pub async fn open_with_readers(path: &Path, readers: u32) -> Result<SqlStore> {
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
        // A connection to a local file does not go stale: no ping (a round
        // trip to its thread) before each use.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await?;
        let migrator = sqlx::migrate!("./migrations/sqlite");
        if !schema_is_current(&writer, &migrator).await {
            migrator.run(&writer).await?;
        }
        let reader = if readers == SHARED_WITH_WRITER {
            writer.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(readers)
                .test_before_acquire(false)
                .connect_with(options)
                .await?
        };
        Ok(SqlStore::sqlite(SqlitePools {
            writer,
            reader,
            wal: Arc::new(if readers == SHARED_WITH_WRITER {
                // A CLI command's: closed right after its work, which syncs.
                WalSync::at_close(path)
            } else {
                WalSync::start(path)
            }),
        }))
    }
}

/// True when every migration paige has is applied, unchanged (its
/// checksum): the usual case, answered by one read, where the migrator
/// would first create its table if missing and look for a failed
/// migration. Anything else (a new database, a migration to apply, a
/// failed or unknown one) is the migrator's to apply or report.
async fn schema_is_current(pool: &SqlitePool, migrator: &Migrator) -> bool {
    let Ok(applied) = sqlx::query_as::<_, (i64, Vec<u8>)>(
        "SELECT version, checksum FROM _sqlx_migrations WHERE success ORDER BY version",
    )
    .fetch_all(pool)
    .await
    else {
        return false;
    };
    let ours: Vec<_> = migrator
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .collect();
    applied.len() == ours.len()
        && applied
            .iter()
            .zip(ours)
            .all(|((version, checksum), m)| *version == m.version && checksum[..] == m.checksum[..])
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
    let io = |p: &Path, e: std::io::Error| Error::io("cannot make private", p, e);
    // Only a database that does not exist yet is opened here. Closing any
    // descriptor of a database file drops every POSIX lock this process
    // holds on it, those of its open SQLite connections included (SQLite's
    // "How To Corrupt", 2.2): another process may then take the file as
    // unused, checkpoint and delete the WAL under those connections, which
    // go on to read stale pages. A second `Paige` in one process (tests,
    // tools) did exactly that.
    match std::fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io(path, e)),
    }
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
    Error::corrupt(format!("malformed aggregate from SQLite: {e}"))
}

/// A statement that wraps `$select` (whose columns are `$columns`) so that
/// SQLite answers with one row holding a JSON array of its rows: sqlx hands
/// rows over one at a time from the database thread, which costs more than
/// the query itself.
macro_rules! sqlite_json {
    ($columns:expr, $select:expr) => {
        concat!(
            "SELECT json_group_array(json_array(",
            $columns,
            ")) FROM (",
            $select,
            ")"
        )
    };
}
pub(super) use sqlite_json;

/// The rows of a [`sqlite_json!`] statement with one parameter.
pub(super) async fn json_rows<T: serde::de::DeserializeOwned>(
    reader: &SqlitePool,
    statement: &'static str,
    param: i64,
) -> Result<Vec<T>> {
    let rows: String = sqlx::query_scalar(statement).bind(param).fetch_one(reader).await?;
    serde_json::from_str(&rows).map_err(corrupt)
}

pub(super) async fn sealed_secrets(reader: &SqlitePool, slug: &str, known: i64) -> Result<Option<SealedRead>> {
    // One statement, so one snapshot: the project's key, its generation and
    // its values are read together, and a concurrent write is seen whole or
    // not at all. The values come back as one JSON array (ciphertexts in
    // hex): one row to hand over instead of one per secret; none at all
    // when the caller holds this generation already.
    let row = sqlx::query(
        "SELECT p.id, p.slug, p.created_at, p.wrapped_data_key, p.kek_id, p.key_provider,
                p.secrets_generation,
                CASE WHEN p.secrets_generation = $2 THEN NULL ELSE
                  (SELECT json_group_array(json_array(key, version, hex(ciphertext))) FROM
                     (SELECT key, version, ciphertext FROM secrets
                      WHERE project_id = p.id AND ciphertext IS NOT NULL ORDER BY key)) END AS sealed
         FROM projects p WHERE p.slug = $1",
    )
    .bind(slug)
    .bind(known)
    .fetch_optional(reader)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let generation: i64 = row.get("secrets_generation");
    let sealed: Option<String> = row.get("sealed");
    let secrets = match sealed {
        None => None,
        Some(sealed) => {
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
            Some(sealed)
        }
    };
    Ok(Some(SealedRead {
        project: project_from_row(&row),
        generation,
        secrets,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::backend::Backend;

    /// Two reads one after the other on a single-threaded runtime (the
    /// CLI's), and the read connections they leave open.
    async fn connections_after_two_reads(readers: u32) -> u32 {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_with_readers(&dir.path().join("paige.db"), readers)
            .await
            .unwrap();
        let Backend::Sqlite(pool) = store.reader() else {
            unreachable!("a SQLite store")
        };
        for _ in 0..2 {
            let one: i64 = sqlx::query_scalar("SELECT 1").fetch_one(pool).await.unwrap();
            assert_eq!(one, 1);
        }
        pool.size()
    }

    #[tokio::test(flavor = "current_thread")]
    async fn reads_one_after_another_need_one_connection() {
        // The reason for `SERVER_READERS` being a server's only: sqlx hands
        // a connection back from a task of its own, so the second read found
        // none idle and opened another. If this changes, the CLI could
        // have its own readers again.
        assert_eq!(connections_after_two_reads(SERVER_READERS).await, 2);
        // With one, the second read waits for the first's connection.
        assert_eq!(connections_after_two_reads(1).await, 1);
        // Shared with the writer: one connection in all.
        assert_eq!(connections_after_two_reads(SHARED_WITH_WRITER).await, 1);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_store_on_one_connection_reads_and_writes_in_turn() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_with_readers(&dir.path().join("paige.db"), SHARED_WITH_WRITER)
            .await
            .unwrap();
        let (Backend::Sqlite(reader), Backend::Sqlite(writer)) = (store.reader(), store.writer()) else {
            unreachable!("a SQLite store")
        };
        let users = || sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM users").fetch_one(reader);
        // Write transactions and reads in turn, as a CLI command does: none
        // waits for a connection another holds.
        for (n, email) in [(1, "a@example.com"), (2, "b@example.com")] {
            let mut tx = writer.begin().await.unwrap();
            sqlx::query("INSERT INTO users (email, password_hash, created_at) VALUES ($1, 'x', 0)")
                .bind(email)
                .execute(&mut *tx)
                .await
                .unwrap();
            tx.commit().await.unwrap();
            assert_eq!(users().await.unwrap(), n);
        }
        let mut read = store.begin_read().await.unwrap();
        let Backend::Sqlite(conn) = read.conn() else {
            unreachable!("a SQLite store")
        };
        let seen: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(conn)
            .await
            .unwrap();
        assert_eq!(seen, 2);
        drop(read);
        assert_eq!(users().await.unwrap(), 2);
        assert_eq!((reader.size(), writer.size()), (1, 1));
    }
}
