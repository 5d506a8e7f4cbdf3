//! How a project's bot runs: a warm HTTP server behind `/hooks/{slug}/…`,
//! or one process per event.

use std::fmt;

use crate::error::{Error, Result};

/// A project's runtime mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RuntimeMode {
    /// The bot is an HTTP server (a Paige bot is an Express app): paige
    /// keeps it running and forwards the webhooks of `/hooks/{slug}/…` to
    /// it. What new projects get.
    #[default]
    Http,
    /// The bot runs once per event, with the event as JSON on its stdin.
    Event,
}

impl RuntimeMode {
    pub const ALL: [RuntimeMode; 2] = [RuntimeMode::Http, RuntimeMode::Event];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Event => "event",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// A mode a user named (API, dashboard, CLI), or the error that says
    /// which names there are.
    pub fn named(s: &str) -> Result<Self> {
        Self::parse(s).ok_or_else(|| {
            Error::invalid(
                "invalid_runtime_mode",
                format!("the runtime mode must be `http` or `event`, not {s:?}"),
            )
        })
    }
}

impl fmt::Display for RuntimeMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
