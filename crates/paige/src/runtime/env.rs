//! The child's environment, built from nothing.
//!
//! Only the platform set below and the project's secrets: nothing of the
//! server's own environment (its master key file, database URL, tokens)
//! reaches the bot. Secrets cannot use these names (SPEC §2 reserves
//! `PAIGE_*` and the others), and if one somehow did, the platform value wins.

use std::ffi::{OsStr, OsString};
use std::path::Path;

use secrecy::ExposeSecret;

use crate::secrets::Resolved;

/// The executable search path of every execution.
pub const PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// The working directory as the bot sees it, as a shell would set it.
/// `bwrap` sets it to its `--chdir` whatever it is given, so it is the
/// platform's rather than an `env -u` in front of every bot.
pub const WORKDIR_VAR: &str = "PWD";

/// What the platform tells the bot about the execution.
#[derive(Debug)]
pub(super) struct Platform<'a> {
    pub slug: &'a str,
    /// `None` while the execution is not recorded yet: its sandbox is
    /// handed `PAIGE_EXECUTION_ID` later (`launch::LateEnv`).
    pub execution_id: Option<i64>,
    pub trigger: &'a str,
    /// A fresh private directory, removed after the execution.
    pub home: &'a Path,
    /// A warm bot's `PORT`: the path of the socket it must listen on.
    pub port: Option<&'a Path>,
}

/// The execution's id, as the bot sees it.
pub const EXECUTION_ID_VAR: &str = "PAIGE_EXECUTION_ID";

/// The names the platform sets, in the order it sets them.
pub const PLATFORM_VARS: &[&str] = &[
    "PATH",
    "HOME",
    "TMPDIR",
    "USER",
    "LOGNAME",
    "SHELL",
    "TZ",
    "NODE_ENV",
    "PAIGE_PROJECT",
    EXECUTION_ID_VAR,
    "PAIGE_TRIGGER",
];

fn platform_values(p: &Platform<'_>) -> [Option<OsString>; 11] {
    [
        Some(PATH.into()),
        Some(p.home.as_os_str().to_owned()),
        Some(p.home.as_os_str().to_owned()),
        Some("paige".into()),
        Some("paige".into()),
        Some("/bin/sh".into()),
        Some("UTC".into()),
        Some("production".into()),
        Some(p.slug.into()),
        p.execution_id.map(|id| id.to_string().into()),
        Some(p.trigger.into()),
    ]
}

/// A child's whole environment: the platform set and the secrets.
#[derive(Debug)]
pub(super) struct ChildEnv<'a> {
    pub platform: Platform<'a>,
    pub secrets: &'a Resolved,
}

impl ChildEnv<'_> {
    /// Clears the command's environment and sets this one. The values are
    /// copied into the command (the standard library keeps them until it
    /// is dropped, right after the spawn).
    /// `workdir` is the working directory as the bot sees it.
    pub(super) fn apply(&self, command: &mut tokio::process::Command, workdir: &Path) {
        command.env_clear();
        self.each(workdir, |name, value| {
            command.env(name, value);
        });
    }

    /// Calls `set` with each variable in the order they are set: where a
    /// name comes twice, the later one wins.
    /// `workdir` is the working directory as the bot sees it.
    pub(super) fn each(&self, workdir: &Path, mut set: impl FnMut(&OsStr, &OsStr)) {
        for (key, value) in &self.secrets.secrets {
            if !PLATFORM_VARS.contains(&key.as_str()) {
                set(key.as_ref(), value.expose_secret().as_ref());
            }
        }
        for (name, value) in PLATFORM_VARS.iter().zip(platform_values(&self.platform)) {
            if let Some(value) = value {
                set(name.as_ref(), &value);
            }
        }
        // Set after the secrets: it wins over one of the same name.
        set(WORKDIR_VAR.as_ref(), workdir.as_os_str());
        if let Some(port) = self.platform.port {
            // Set last: it wins over a secret of the same name.
            set("PORT".as_ref(), port.as_os_str());
        }
    }
}
