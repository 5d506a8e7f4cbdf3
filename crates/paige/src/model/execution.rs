//! An execution as a record: where it stands, its log lines and how it
//! ended. Nothing here ever holds a secret value: an execution records the
//! *names* of the secrets it was given, and its log lines have already been
//! through the redactor.

use std::fmt;

use super::Millis;

/// Where an execution stands. `Running` until it is finished; the other
/// three are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutionStatus {
    Running,
    Succeeded,
    Failed,
    TimedOut,
}

impl ExecutionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::TimedOut => "timed_out",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Running, Self::Succeeded, Self::Failed, Self::TimedOut]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

impl fmt::Display for ExecutionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which output a log line came from. `System` lines are the runtime's own
/// notes (time limit reached, output truncated).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    Stdout,
    Stderr,
    System,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
            Self::System => "system",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Stdout, Self::Stderr, Self::System]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

impl fmt::Display for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One line of an execution's log, already redacted. `text` has no line
/// terminator; invalid UTF-8 was replaced by U+FFFD after redaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// 0, 1, 2, … in the order the runtime received the output, across streams.
    pub seq: i64,
    pub stream: Stream,
    /// When the line's first byte arrived.
    pub at: Millis,
    pub text: String,
}

/// An execution as stored: what ran, for whom, with which secret names,
/// and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionRecord {
    pub id: i64,
    pub project_id: i64,
    pub status: ExecutionStatus,
    /// `manual`, `webhook`, `test`, `api`.
    pub trigger: String,
    /// Who started it (an email, or `cli:<os user>`).
    pub actor: String,
    /// The program and its arguments, redacted.
    pub command: Vec<String>,
    /// The keys of the secrets it was given, sorted; never their values.
    pub secret_names: Vec<String>,
    pub started_at: Millis,
    pub finished_at: Option<Millis>,
    pub duration_ms: Option<i64>,
    pub exit_code: Option<i32>,
    /// The signal that ended the process, when a signal did.
    pub signal: Option<i32>,
    /// Why it failed or timed out, redacted; `None` when it succeeded.
    pub error: Option<String>,
    /// Bytes of (redacted) output stored in the log, at most the limit.
    pub output_bytes: i64,
    /// True when output past the limit was discarded.
    pub truncated: bool,
    /// A forwarded webhook's method and path (with its query, redacted);
    /// `None` for one-shot executions.
    pub request_method: Option<String>,
    pub request_path: Option<String>,
    /// The status of the bot's answer to a forwarded webhook.
    pub response_status: Option<i32>,
}
