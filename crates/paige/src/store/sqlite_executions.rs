//! The SQLite implementation of [`ExecutionStore`].

use async_trait::async_trait;

use super::executions::ExecutionStore;
use super::sqlite::SqliteStore;

#[async_trait]
impl ExecutionStore for SqliteStore {}
