//! The CLI against a real `paige serve`: `paige login`, then the project
//! commands through the API, compared with the same commands run locally
//! on the same data (`--local`).

mod auth;
mod follow;
mod push;
mod roundtrip;

use std::process::Output;

use crate::common::{Env, ServeProcess, stderr, stdout};

/// The password of the test's user (never a secret value of a project).
pub const PASSWORD: &[u8] = b"a long enough password\n";
pub const EMAIL: &str = "dev@example.com";

/// A deployment with a user, a project `bot` they own, a running server
/// and an API token; nothing logged in yet.
pub struct Remote {
    pub env: Env,
    pub server: ServeProcess,
    pub token: String,
}

impl Remote {
    pub async fn start() -> Self {
        let env = Env::sqlite().await;
        ok(&env.cli(&["users", "create", EMAIL], PASSWORD));
        ok(&env.cli(&["projects", "create", "bot", "--owner", EMAIL], b""));
        let token = ok(&env.cli(&["tokens", "create", EMAIL], b"")).trim().to_owned();
        let server = env.serve("serve.log", &[]);
        Self { env, server, token }
    }

    /// `paige login --server <this server>` with the token on stdin.
    pub fn login(&self) -> String {
        ok(&self.cli(&["login", "--server", &self.server.base], self.token.as_bytes()))
    }

    /// The CLI, with whatever is logged in (the test's own config dir).
    pub fn cli(&self, args: &[&str], stdin: &[u8]) -> Output {
        self.env.cli(args, stdin)
    }

    /// The same command on the local store (`--local`).
    pub fn local(&self, args: &[&str], stdin: &[u8]) -> Output {
        let mut all = vec!["--local"];
        all.extend_from_slice(args);
        self.env.cli(&all, stdin)
    }

    pub fn config_file(&self) -> std::path::PathBuf {
        self.env.dir.path().join("config/paige/config.toml")
    }
}

pub fn ok(out: &Output) -> String {
    assert!(out.status.success(), "exit {:?}: {}", out.status, stderr(out));
    stdout(out)
}

pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_str(&ok(out)).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(out)))
}
