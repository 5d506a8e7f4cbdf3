//! Persistence behind one trait ([`Store`], `traits.rs`), served by one SQL
//! store ([`SqlStore`]) on the embedded SQLite database or on PostgreSQL.
//!
//! Layers, each using only those below it: the traits and what they take
//! (`traits.rs`, `code.rs`, `executions.rs`, `keys.rs`); the row mappers (`rows.rs`)
//! and the group commit's planner (`group_commit.rs`); the two databases'
//! differences (`backend.rs`, `sqlite*.rs`, `postgres*.rs`); and the
//! statements, written once for both (`sql.rs`, `sql_code.rs`,
//! `sql_executions.rs`, `sql_keys.rs`). This file only names them.

mod backend;
pub mod code;
pub mod executions;
mod group_commit;
pub mod keys;
pub mod postgres;
mod postgres_group;
mod rows;
mod sql;
mod sql_code;
mod sql_executions;
mod sql_keys;
pub mod sqlite;
mod sqlite_group;
mod traits;

pub use backend::SqlStore;
pub use code::CodeStore;
pub use executions::ExecutionStore;
pub use keys::KeyStore;
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;
pub use traits::{RewrapFn, SealFn, SecretWrite, Store, WrapFn, WrapFuture};
