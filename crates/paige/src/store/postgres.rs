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
//!   (`code.rs`).
//! - Migrations run on a dedicated connection under sqlx's migrator, which
//!   holds `pg_advisory_lock` (keyed by the database name) while it checks
//!   and applies them: two nodes starting together apply each migration
//!   once. The connection is closed afterwards, so the session lock never
//!   lingers in the pool, even when a migration fails.
//!
//! The statements are `sql.rs`'s, shared with SQLite; this file has
//! opening the database, the row lock, and the reads that differ.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{Connection, Row};

use super::backend::SqlStore;
use super::rows::project_from_row;
use crate::config::redact_url;
use crate::error::{Error, Result};
use crate::model::{SealedRead, SealedSecret};

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

/// Opens the PostgreSQL store (the name the rest of paige knows it by).
#[derive(Debug)]
pub struct PostgresStore;

impl PostgresStore {
    /// Connects to the database at `url`, applies the migrations (under
    /// sqlx's advisory lock) and opens the pool. Fails within a few seconds,
    /// naming the server, when the database cannot be reached.
    pub async fn open(url: &str) -> Result<SqlStore> {
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
        Ok(SqlStore::postgres(pool))
    }
}

pub(super) async fn sealed_secrets(pool: &PgPool, slug: &str, known: i64) -> Result<Option<SealedRead>> {
    // One statement, so one snapshot: the project's key, its generation and
    // its values are read together, and a concurrent write is seen whole or
    // not at all. A project without values, or whose generation the caller
    // holds already, comes back as one row of NULLs.
    let rows = sqlx::query(
        "SELECT p.id, p.slug, p.created_at, p.wrapped_data_key, p.kek_id, p.key_provider,
                p.secrets_generation, s.key, s.version, s.ciphertext
         FROM projects p
         LEFT JOIN secrets s ON s.project_id = p.id AND s.ciphertext IS NOT NULL
                            AND p.secrets_generation <> $2
         WHERE p.slug = $1 ORDER BY s.key",
    )
    .bind(slug)
    .bind(known)
    .fetch_all(pool)
    .await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let project = project_from_row(first);
    let generation: i64 = first.get("secrets_generation");
    if generation == known {
        return Ok(Some(SealedRead {
            project,
            generation,
            secrets: None,
        }));
    }
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
    Ok(Some(SealedRead {
        project,
        generation,
        secrets: Some(sealed),
    }))
}
