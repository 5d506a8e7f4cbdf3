//! Paige Secrets: encrypted, write-only, per-project secrets for bot code.
//!
//! The CLI (`main.rs` → [`cli`]) and, later, the HTTP server call the same
//! [`Paige`] operations. Values are sealed with envelope encryption
//! ([`crypto`]) and persisted through the [`store::Store`] trait.

pub mod app;
pub mod auth;
pub mod backup;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod error;
pub mod hardening;
pub mod http;
pub mod invites;
pub mod kms;
pub mod metrics;
pub mod model;
mod poll;
pub mod projects;
pub mod retention;
pub mod runtime;
pub mod secrets;
mod slug_cache;
pub mod store;

pub use app::Paige;
pub use config::Config;
pub use error::{Error, Result};
