#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

//! The one integration-test binary: every module drives the real library,
//! the real `paige` binary and a real SQLite file in a temporary data dir.

mod common;

mod api;
mod backup;
mod binding;
mod cli;
mod durability;
mod files;
mod hooks;
mod kms;
mod metrics;
mod outage;
mod remote;
mod rotation;
mod rules;
mod runtime;
mod versions;
mod web;
mod writes;
