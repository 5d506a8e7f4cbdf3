//! Versions and rollback without reading, and retention of executions,
//! logs and audit records.

mod dashboard;
mod history;
mod retention;
mod rollback;
mod verify;
