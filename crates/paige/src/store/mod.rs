//! Persistence behind one trait ([`Store`], `traits.rs`), served by one SQL
//! store ([`SqlStore`]) on the embedded SQLite database or on PostgreSQL.
//!
//! Layers, each using only those below it: the traits and what they take
//! (`traits.rs`, `access.rs`, `code.rs`, `executions.rs`, `versions.rs`,
//! `retention.rs`, `keys.rs`); the row mappers (`rows.rs`) and the group
//! commit's planner (`group_commit.rs`); the two databases' differences
//! (`backend.rs`, `sqlite*.rs`, `postgres*.rs`, `relaxed.rs`: the
//! transaction that commits without waiting for the disk, and `wal_sync.rs`:
//! SQLite's WAL synced after it, in the background); and the statements,
//! written once for both (`sql.rs`, `sql_access.rs`, `sql_code.rs`, `sql_executions.rs`,
//! `sql_versions.rs`, `sql_retention.rs`, `sql_keys.rs`). This file only names them.

pub mod access;
pub mod accounts;
mod backend;
pub mod code;
pub mod executions;
mod group_commit;
pub mod keys;
#[cfg(test)]
mod plans;
pub mod postgres;
mod postgres_group;
mod relaxed;
pub mod retention;
mod rows;
pub mod snapshot;
mod sql;
mod sql_access;
mod sql_accounts;
mod sql_code;
mod sql_executions;
mod sql_findings;
mod sql_keys;
mod sql_retention;
mod sql_versions;
pub mod sqlite;
mod sqlite_group;
mod traits;
pub mod versions;
mod wal_sync;

pub use access::{AccessStore, KeyListing, TokenAccess};
pub use accounts::AccountStore;
pub use backend::SqlStore;
pub use code::{CodeChange, CodeChanged, CodeFix, CodeFixed, CodeStore};
pub use executions::ExecutionStore;
pub use keys::KeyStore;
pub use postgres::PostgresStore;
pub use retention::RetentionStore;
pub use sqlite::SqliteStore;
pub use traits::{NO_GENERATION, RewrapFn, SealFn, SecretWrite, Store, WrapFn, WrapFuture};
pub use versions::VersionStore;
