//! One child process run to its end: its process group, its output into
//! the [`Capture`] as it comes, and its time limit.

use std::io;
use std::process::ExitStatus;
use std::time::Duration;

use rustix::process::{Pid, Signal, kill_process_group};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Child;
use tokio::time::{Instant, sleep_until};
use zeroize::Zeroizing;

use super::ExecutionRequest;
use super::capture::{Capture, READ_BUFFER, Streams};
use crate::error::Result;
use crate::model::execution::Stream;
use crate::store::Store;

/// After the entry point exits, its output pipes are read for at most this
/// long (they close at once unless a process escaped the process group).
const DRAIN_GRACE: Duration = Duration::from_secs(1);

/// The child's process group. Killing it kills the entry point and every
/// descendant that stayed in the group. Dropping it kills the group too,
/// so an execution abandoned half-way (a dropped future) leaves nothing
/// running.
#[derive(Debug)]
pub(super) struct ProcessGroup {
    pgid: Option<Pid>,
}

impl ProcessGroup {
    pub(super) fn new(pid: Option<u32>) -> Self {
        Self {
            pgid: pid.and_then(|p| i32::try_from(p).ok()).and_then(Pid::from_raw),
        }
    }

    /// SIGKILL to the whole group; a group that is already empty is fine.
    pub(super) fn kill(&self) {
        if let Some(pgid) = self.pgid {
            let _ = kill_process_group(pgid, Signal::KILL);
        }
    }

    /// Kills what is left of the group, once, and forgets it (so a later
    /// drop cannot signal a reused id).
    pub(super) fn kill_and_forget(&mut self) {
        self.kill();
        self.pgid = None;
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A started bot: the child, and its process group (killed when this is
/// dropped).
#[derive(Debug)]
pub(super) struct Running {
    child: Child,
    group: ProcessGroup,
}

impl Running {
    pub(super) fn new(child: Child) -> Self {
        let group = ProcessGroup::new(child.id());
        Self { child, group }
    }
}

/// Where the log lines go while the process runs.
#[derive(Clone, Copy)]
pub(super) struct LogSink<'s> {
    pub store: &'s dyn Store,
    pub execution_id: i64,
}

/// How the process ended.
#[derive(Debug)]
pub(super) struct ProcessEnd {
    pub status: ExitStatus,
    pub timed_out: bool,
    pub cancelled: bool,
}

async fn notified(cancel: Option<&tokio::sync::Notify>) {
    match cancel {
        Some(notify) => notify.notified().await,
        None => std::future::pending().await,
    }
}

async fn read_some<R: AsyncRead + Unpin>(reader: &mut Option<R>, buf: &mut [u8]) -> io::Result<usize> {
    match reader {
        Some(r) => r.read(buf).await,
        None => Ok(0),
    }
}

enum Event {
    Stdout(io::Result<usize>),
    Stderr(io::Result<usize>),
    Exited(io::Result<ExitStatus>),
    StdinDone,
    Flush,
    Deadline,
    Cancelled,
    DrainOver,
}

/// Runs the child to its end: writes the event to its stdin, streams its
/// output through `capture`, writes log lines to `sink` as they come,
/// and enforces the time limit on the whole process group.
pub(super) async fn supervise(
    running: Running,
    capture: &mut Capture<'_>,
    sink: LogSink<'_>,
    request: &ExecutionRequest,
) -> Result<ProcessEnd> {
    let Running { mut child, mut group } = running;
    let redactor = capture.redactor();
    let mut streams = Streams::new(&redactor);
    let limits = &request.limits;
    let mut event = serde_json::to_vec(&request.event)
        .map_err(|e| crate::Error::invalid("invalid_event", format!("the event cannot be encoded as JSON: {e}")))?;
    event.push(b'\n');
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let stdin = child.stdin.take();
    // A bot that never reads its stdin must not block the rest.
    let stdin_task = async move {
        if let Some(mut stdin) = stdin {
            let _ = stdin.write_all(&event).await;
            let _ = stdin.shutdown().await;
        }
    };
    tokio::pin!(stdin_task);
    let mut stdin_done = false;

    let mut out_buf = Zeroizing::new(vec![0u8; READ_BUFFER]);
    let mut err_buf = Zeroizing::new(vec![0u8; READ_BUFFER]);
    // A limit too large to represent is no limit (a year is as good).
    let deadline = Instant::now()
        .checked_add(limits.time)
        .unwrap_or_else(|| Instant::now() + Duration::from_secs(365 * 24 * 3600));
    let mut exited: Option<ExitStatus> = None;
    let mut timed_out = false;
    let mut cancelled = false;
    let cancel = request.cancel.as_deref();
    let mut drain_until: Option<Instant> = None;

    loop {
        if exited.is_some() && stdout.is_none() && stderr.is_none() {
            break;
        }
        let flush_at = capture.lines.flush_at();
        let event = tokio::select! {
            biased;
            r = read_some(&mut stdout, &mut out_buf), if stdout.is_some() => Event::Stdout(r),
            r = read_some(&mut stderr, &mut err_buf), if stderr.is_some() => Event::Stderr(r),
            r = child.wait(), if exited.is_none() => Event::Exited(r),
            () = &mut stdin_task, if !stdin_done => Event::StdinDone,
            () = sleep_until(flush_at.unwrap_or(deadline)), if flush_at.is_some() => Event::Flush,
            () = sleep_until(deadline), if exited.is_none() && !timed_out && !cancelled => Event::Deadline,
            () = notified(cancel), if cancel.is_some() && exited.is_none() && !timed_out && !cancelled => Event::Cancelled,
            () = sleep_until(drain_until.unwrap_or(deadline)), if drain_until.is_some() => Event::DrainOver,
        };
        match event {
            Event::Stdout(Ok(n)) if n > 0 => capture.feed(&mut streams, Stream::Stdout, &out_buf[..n]),
            Event::Stdout(_) => {
                stdout = None;
                capture.end(&mut streams, Stream::Stdout);
            }
            Event::Stderr(Ok(n)) if n > 0 => capture.feed(&mut streams, Stream::Stderr, &err_buf[..n]),
            Event::Stderr(_) => {
                stderr = None;
                capture.end(&mut streams, Stream::Stderr);
            }
            Event::Exited(status) => {
                // The entry point is gone: whatever it left behind in its
                // group goes too, which also closes their copies of the pipes.
                group.kill_and_forget();
                exited = Some(status.map_err(|e| crate::Error::internal(format!("cannot wait for the bot: {e}")))?);
                drain_until = Some(Instant::now() + DRAIN_GRACE);
            }
            Event::StdinDone => stdin_done = true,
            Event::Flush => {}
            Event::Deadline => {
                timed_out = true;
                group.kill();
                capture.note(&format!(
                    "time limit of {} reached: the process group was killed",
                    format_duration(limits.time)
                ));
            }
            Event::Cancelled => {
                cancelled = true;
                group.kill();
                capture.note("the execution was cancelled: the process group was killed");
            }
            Event::DrainOver => {
                // A process that left the group still holds a pipe.
                for (open, stream) in [(stdout.is_some(), Stream::Stdout), (stderr.is_some(), Stream::Stderr)] {
                    if open {
                        capture.end(&mut streams, stream);
                    }
                }
                stdout = None;
                stderr = None;
                capture.note("output after the bot exited was cut off: a process it started still held its output");
            }
        }
        let due = capture.lines.flush_at().is_some_and(|t| t <= Instant::now());
        if capture.lines.must_flush() || due {
            let lines = capture.lines.take();
            sink.store.append_execution_log(sink.execution_id, &lines).await?;
        }
    }
    let status = exited.ok_or_else(|| crate::Error::internal("the bot's exit status is unknown"))?;
    Ok(ProcessEnd {
        status,
        timed_out,
        cancelled,
    })
}

pub(super) fn format_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}
