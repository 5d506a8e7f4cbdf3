//! How an execution ended, and its row in the store: created `running`,
//! finished once. The one place an [`ExecutionRecord`] is put together.

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use super::process::{ProcessEnd, format_duration};
use super::{Trigger, signal_name};
use crate::error::Result;
use crate::model::execution::{ExecutionRecord, ExecutionStatus, LogLine};
use crate::model::{Actor, Millis};
use crate::store::Store;
use crate::store::executions::{ExecutionOutcome, NewExecution};

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
            response_status: None,
        }
    }
}

/// Records a new `running` execution, with its `execution.start` audit
/// record in the same transaction, and returns its record. The commit
/// does not wait for the disk: a crash of paige leaves the record for the
/// sweep of abandoned executions to fail, a power loss may take both back
/// (see `ExecutionStore::create_execution`); [`close`] is durable.
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
        request_method: new.request.map(|(method, _)| method.to_owned()),
        request_path: new.request.map(|(_, path)| path.to_owned()),
        response_status: None,
    })
}

/// Counts a finished execution in `/metrics`.
pub(super) fn count_finished(record: &ExecutionRecord, outcome: &ExecutionOutcome) {
    crate::metrics::global()
        .executions
        .get_or_create(&crate::metrics::ExecutionLabels {
            status: outcome.status.as_str(),
            trigger: trigger_label(&record.trigger),
        })
        .inc();
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
    count_finished(&record, &outcome);
    record.status = outcome.status;
    record.finished_at = Some(outcome.finished_at);
    record.duration_ms = Some(outcome.duration_ms);
    record.exit_code = outcome.exit_code;
    record.signal = outcome.signal;
    record.error = outcome.error;
    record.output_bytes = outcome.output_bytes;
    record.truncated = outcome.truncated;
    record.response_status = outcome.response_status;
    Ok(record)
}

/// The trigger as a metrics label: one of the closed set, never free text
/// (a row written by another version could hold anything).
fn trigger_label(trigger: &str) -> &'static str {
    [Trigger::Manual, Trigger::Webhook, Trigger::Test, Trigger::Api]
        .into_iter()
        .map(Trigger::as_str)
        .find(|known| *known == trigger)
        .unwrap_or("other")
}

#[cfg(test)]
mod tests {
    use std::process::ExitStatus;

    use super::*;

    fn ended(raw_wait_status: i32, timed_out: bool, cancelled: bool) -> End {
        let process = ProcessEnd {
            status: ExitStatus::from_raw(raw_wait_status),
            timed_out,
            cancelled,
        };
        End::of(&process, Duration::from_millis(1500))
    }

    #[test]
    fn a_process_end_is_classified_once() {
        let ok = ended(0, false, false);
        assert_eq!(
            (ok.status, ok.exit_code, ok.signal, ok.error),
            (ExecutionStatus::Succeeded, Some(0), None, None)
        );

        // Exit code 3 is `3 << 8` in a wait status.
        let exited = ended(3 << 8, false, false);
        assert_eq!((exited.status, exited.exit_code), (ExecutionStatus::Failed, Some(3)));
        assert_eq!(exited.error.as_deref(), Some("the bot exited with code 3"));

        let killed = ended(11, false, false);
        assert_eq!(
            (killed.status, killed.exit_code, killed.signal),
            (ExecutionStatus::Failed, None, Some(11))
        );
        assert_eq!(
            killed.error.as_deref(),
            Some("the bot was killed by signal 11 (SIGSEGV)")
        );

        // The time limit wins over the SIGKILL that enforced it.
        let late = ended(9, true, false);
        assert_eq!((late.status, late.signal), (ExecutionStatus::TimedOut, Some(9)));
        assert_eq!(
            late.error.as_deref(),
            Some("the time limit of 1500 ms was reached; the process group was killed")
        );

        let cancelled = ended(9, false, true);
        assert_eq!(cancelled.status, ExecutionStatus::Failed);
        assert!(cancelled.error.unwrap().contains("cancelled"));
    }

    #[test]
    fn an_outcome_keeps_the_end_and_the_output() {
        let outcome = End::failed("no".into()).outcome(
            2_000,
            1_500,
            Output {
                bytes: 42,
                truncated: true,
            },
        );
        assert_eq!(outcome.status, ExecutionStatus::Failed);
        assert_eq!(outcome.error.as_deref(), Some("no"));
        assert_eq!((outcome.finished_at, outcome.duration_ms), (2_000, 1_500));
        assert_eq!((outcome.output_bytes, outcome.truncated), (42, true));
    }
}
