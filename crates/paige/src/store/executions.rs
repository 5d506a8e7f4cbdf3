//! Persistence for bot code and executions (the runtime's part of the store).
//!
//! A separate trait so the runtime's records stay apart from the secrets';
//! every `Store` is also an `ExecutionStore`.

use async_trait::async_trait;

#[async_trait]
pub trait ExecutionStore: Send + Sync {}
