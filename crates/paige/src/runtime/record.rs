//! How an execution ended, and its row in the store: created `running`,
//! finished once. The one place an [`ExecutionRecord`] is put together.

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use super::process::{ProcessEnd, format_duration};
use super::signal_name;
use crate::error::Result;
use crate::store::executions::{ExecutionOutcome, ExecutionRecord, ExecutionStatus, LogLine, NewExecution};
use crate::store::{Actor, Millis, Store};

/// How an execution ended, before it is recorded.
#[derive(Debug)]
pub(super) struct End {
    pub status: ExecutionStatus,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    /// Not yet redacted: it may quote the command line.
    pub error: Option<String>,
}

/// What the bot's output came to, for the record.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Output {
    pub bytes: usize,
    pub truncated: bool,
}

impl End {
    /// The bot did not start, or paige gave up on it.
    pub(super) fn failed(error: String) -> Self {
        Self {
            status: ExecutionStatus::Failed,
            exit_code: None,
            signal: None,
            error: Some(error),
        }
    }

    /// How a bot that ran ended, under a time limit of `time_limit`.
    pub(super) fn of(process: &ProcessEnd, time_limit: Duration) -> Self {
        let code = process.status.code();
        let signal = process.status.signal();
        let (status, exit_code, signal, error) = if process.timed_out {
            let error = format!(
                "the time limit of {} was reached; the process group was killed",
                format_duration(time_limit)
            );
            (ExecutionStatus::TimedOut, code, signal, Some(error))
        } else if process.cancelled {
            let error = "the execution was cancelled; the process group was killed".to_owned();
            (ExecutionStatus::Failed, code, signal, Some(error))
        } else if let Some(signal) = signal {
            let error = format!("the bot was killed by signal {signal} ({})", signal_name(signal));
            (ExecutionStatus::Failed, None, Some(signal), Some(error))
        } else if code == Some(0) {
            (ExecutionStatus::Succeeded, code, None, None)
        } else {
            let error = format!("the bot exited with code {}", code.unwrap_or(-1));
            (ExecutionStatus::Failed, code, None, Some(error))
        };
        Self {
            status,
            exit_code,
            signal,
            error,
        }
    }

    /// The outcome to store. `error` is stored as it is: redact it first.
    pub(super) fn outcome(self, finished_at: Millis, duration_ms: i64, output: Output) -> ExecutionOutcome {
        ExecutionOutcome {
            status: self.status,
            exit_code: self.exit_code,
            signal: self.signal,
            error: self.error,
            finished_at,
            duration_ms,
            output_bytes: i64::try_from(output.bytes).unwrap_or(i64::MAX),
            truncated: output.truncated,
        }
    }
}

/// Records a new `running` execution, with its `execution.start` audit
/// record in the same transaction, and returns its record.
pub(super) async fn open(store: &dyn Store, new: NewExecution<'_>, actor: &Actor) -> Result<ExecutionRecord> {
    let id = store.create_execution(new.clone(), actor).await?;
    Ok(ExecutionRecord {
        id,
        project_id: new.project_id,
        status: ExecutionStatus::Running,
        trigger: new.trigger.to_owned(),
        actor: actor.name.clone(),
        command: new.command.to_vec(),
        secret_names: new.secret_names.to_vec(),
        started_at: new.started_at,
        finished_at: None,
        duration_ms: None,
        exit_code: None,
        signal: None,
        error: None,
        output_bytes: 0,
        truncated: false,
    })
}

/// Records how the execution of `record` ended, with its last log lines,
/// and returns the record as stored.
pub(super) async fn close(
    store: &dyn Store,
    mut record: ExecutionRecord,
    lines: &[LogLine],
    outcome: ExecutionOutcome,
) -> Result<ExecutionRecord> {
    store.finish_execution(record.id, lines, &outcome).await?;
    record.status = outcome.status;
    record.finished_at = Some(outcome.finished_at);
    record.duration_ms = Some(outcome.duration_ms);
    record.exit_code = outcome.exit_code;
    record.signal = outcome.signal;
    record.error = outcome.error;
    record.output_bytes = outcome.output_bytes;
    record.truncated = outcome.truncated;
    Ok(record)
}
