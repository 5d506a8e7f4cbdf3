//! Who a bot runs as: the configured choice, what it amounts to in this
//! process, and one project's uid and gid.

use std::fs;

// What is configured is plain configuration; what it means here is `Isolation::of`.
pub use crate::config::{BotUsers, DEFAULT_UID_BASE};
use crate::error::{Error, Result};

/// The lowest base accepted: the ids below belong to the system and to
/// its people.
pub const MIN_UID_BASE: u32 = 1_000;
/// The highest id a bot may get: `u32::MAX` is `(uid_t)-1`, "no change",
/// and values from 2^31 up are negative where ids are read as signed.
const MAX_BOT_ID: u64 = i32::MAX as u64;

/// What actually happens, given the configuration and who paige runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    PerProject {
        uid_base: u32,
    },
    /// Bots run as paige's own uid: in the sandbox (not root), or without
    /// one (opted out), when they can read what paige can read.
    SameAsPaige {
        reason: SharedReason,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SharedReason {
    /// Only root can start a process as another user.
    NotRoot,
    /// `--insecure-bots-as-paige-user`.
    OptedOut,
}

impl Isolation {
    /// The isolation bots get in this process with `users` configured.
    pub fn of(users: BotUsers) -> Self {
        match users {
            BotUsers::SameAsPaige => Self::SameAsPaige {
                reason: SharedReason::OptedOut,
            },
            BotUsers::PerProject { uid_base } if rustix::process::geteuid().is_root() => Self::PerProject { uid_base },
            BotUsers::PerProject { .. } => Self::SameAsPaige {
                reason: SharedReason::NotRoot,
            },
        }
    }

    /// True when bots run in the bubblewrap sandbox (all but the opt-out).
    pub fn sandboxed(self) -> bool {
        !matches!(
            self,
            Self::SameAsPaige {
                reason: SharedReason::OptedOut
            }
        )
    }

    /// One line for the operator: where and as whom bots run, and what
    /// that means.
    pub fn describe(self) -> String {
        const SANDBOX: &str = "in a bubblewrap sandbox (their own PID, mount and IPC namespaces; \
                               paige's data dir, other projects' code and the host's processes out of view)";
        match self {
            Self::PerProject { uid_base } => format!(
                "bots run {SANDBOX} as their project's own user: uid and gid {uid_base} + project id \
                 (--bot-uid-base)"
            ),
            Self::SameAsPaige {
                reason: SharedReason::NotRoot,
            } => format!(
                "bots run {SANDBOX} as paige's own uid, in a user namespace of their own \
                 (paige is not root, so projects share the uid; run paige as root to give each its own)"
            ),
            Self::SameAsPaige {
                reason: SharedReason::OptedOut,
            } => "WARNING: bots run as paige's own user (--insecure-bots-as-paige-user is set), with no \
                  sandbox: any bot can read the master key and the database, see every process on the \
                  machine with its command line, and leave processes running after its execution. \
                  Run only bot code you trust, or drop --insecure-bots-as-paige-user"
                .to_owned(),
        }
    }
}

/// The uid and gid one project's bots run as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BotIdentity {
    pub uid: u32,
    pub gid: u32,
}

impl BotIdentity {
    /// `uid_base + project_id`, refused if it is out of the usable range.
    pub fn for_project(uid_base: u32, project_id: i64) -> Result<Self> {
        let id = u64::try_from(project_id)
            .ok()
            .and_then(|p| u64::from(uid_base).checked_add(p))
            .filter(|&id| id <= MAX_BOT_ID && uid_base >= MIN_UID_BASE)
            .and_then(|id| u32::try_from(id).ok())
            .ok_or_else(|| {
                Error::Config(format!(
                    "project #{project_id} has no usable bot user with --bot-uid-base {uid_base}: \
                     the base must be at least {MIN_UID_BASE} and base + project id at most {MAX_BOT_ID}"
                ))
            })?;
        Ok(Self { uid: id, gid: id })
    }
}

/// Warnings about ids of the bots' range that the system already uses:
/// a bot given such an id could open that user's or group's files.
/// Checks the first `span` ids of the range against `/etc/passwd` and
/// `/etc/group`.
pub fn overlapping_accounts(uid_base: u32, span: u32) -> Vec<String> {
    let range = u64::from(uid_base)..u64::from(uid_base) + u64::from(span);
    let mut found = Vec::new();
    for (file, what) in [("/etc/passwd", "user"), ("/etc/group", "group")] {
        let Ok(text) = fs::read_to_string(file) else {
            continue;
        };
        for line in text.lines() {
            let mut fields = line.split(':');
            let (Some(name), Some(id)) = (fields.next(), fields.nth(1)) else {
                continue;
            };
            if let Ok(id) = id.parse::<u64>()
                && range.contains(&id)
            {
                found.push(format!(
                    "{what} {name} ({file}) has id {id}, inside the bots' range from {uid_base}: \
                     the bot of project #{} would run as it; choose another --bot-uid-base",
                    id - u64::from(uid_base)
                ));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_are_base_plus_project_and_refused_out_of_range() {
        assert_eq!(
            BotIdentity::for_project(200_000, 7).unwrap(),
            BotIdentity {
                uid: 200_007,
                gid: 200_007
            }
        );
        for (base, project) in [(999, 1), (200_000, -1), (u32::MAX, 1), (i32::MAX as u32, 1)] {
            let err = BotIdentity::for_project(base, project).unwrap_err();
            assert!(err.to_string().contains("no usable bot user"), "{err}");
        }
        assert_eq!(BotIdentity::for_project(1_000, 0).unwrap().uid, 1_000);
    }

    #[test]
    fn the_operator_is_told_what_bots_run_as() {
        let per_project = Isolation::PerProject { uid_base: 300_000 }.describe();
        assert!(per_project.contains("300000 + project id"), "{per_project}");
        assert!(per_project.contains("bubblewrap sandbox"), "{per_project}");
        let not_root = Isolation::SameAsPaige {
            reason: SharedReason::NotRoot,
        };
        assert!(not_root.sandboxed());
        assert!(
            !not_root.describe().starts_with("WARNING") && not_root.describe().contains("bubblewrap sandbox"),
            "{}",
            not_root.describe()
        );
        let opted_out = Isolation::SameAsPaige {
            reason: SharedReason::OptedOut,
        };
        assert!(!opted_out.sandboxed());
        let text = opted_out.describe();
        assert!(text.starts_with("WARNING") && text.contains("can read the master key") && text.contains("no sandbox"));
    }
}
