//! One child process: its process group, its output through the redactor
//! into the log (as it runs), and its limits.

use std::io;
use std::process::ExitStatus;
use std::time::Duration;

use paige_redact::{RedactStream, Redactor};
use rustix::process::{Pid, Signal, kill_process_group};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Child;
use tokio::time::{Instant, sleep_until};
use zeroize::Zeroizing;

use super::{ExecutionRequest, LiveOutput};
use crate::error::Result;
use crate::store::executions::{LogLine, Stream};
use crate::store::{Store, now_millis};

/// A line longer than this is stored in pieces.
const MAX_LINE_BYTES: usize = 16 * 1024;
/// Log lines wait at most this long before they are written to the store.
const FLUSH_AFTER: Duration = Duration::from_millis(100);
/// ... or until this many lines or bytes are waiting.
const FLUSH_LINES: usize = 256;
const FLUSH_BYTES: usize = 64 * 1024;
/// After the entry point exits, its output pipes are read for at most this
/// long (they close at once unless a process escaped the process group).
const DRAIN_GRACE: Duration = Duration::from_secs(1);
const READ_BUFFER: usize = 32 * 1024;

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

struct Partial {
    bytes: Vec<u8>,
    at: i64,
}

/// Cuts redacted output into log lines and keeps them until they are
/// written to the store.
pub(super) struct LineBuffer {
    next_seq: i64,
    pending: Vec<LogLine>,
    pending_bytes: usize,
    oldest: Option<Instant>,
    stdout: Partial,
    stderr: Partial,
}

impl LineBuffer {
    pub(super) fn new() -> Self {
        Self {
            next_seq: 0,
            pending: Vec::new(),
            pending_bytes: 0,
            oldest: None,
            stdout: Partial {
                bytes: Vec::new(),
                at: 0,
            },
            stderr: Partial {
                bytes: Vec::new(),
                at: 0,
            },
        }
    }

    fn emit(&mut self, stream: Stream, at: i64, bytes: &[u8]) {
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        let text = String::from_utf8_lossy(bytes).into_owned();
        self.pending_bytes += text.len();
        self.pending.push(LogLine {
            seq: self.next_seq,
            stream,
            at,
            text,
        });
        self.next_seq += 1;
        self.oldest.get_or_insert_with(Instant::now);
    }

    fn partial(&mut self, stream: Stream) -> &mut Partial {
        if stream == Stream::Stderr {
            &mut self.stderr
        } else {
            &mut self.stdout
        }
    }

    /// Adds output of one stream; complete lines become log lines.
    pub(super) fn push(&mut self, stream: Stream, mut bytes: &[u8], at: i64) {
        while !bytes.is_empty() {
            let partial = self.partial(stream);
            if partial.bytes.is_empty() {
                partial.at = at;
            }
            let room = MAX_LINE_BYTES - partial.bytes.len();
            let newline = memchr_newline(&bytes[..bytes.len().min(room)]);
            let (take, complete) = match newline {
                Some(i) => (i + 1, true),
                None if bytes.len() >= room => (room, true),
                None => (bytes.len(), false),
            };
            partial.bytes.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if complete {
                let line = std::mem::take(&mut partial.bytes);
                let at = partial.at;
                let line_ref = line.strip_suffix(b"\n").unwrap_or(&line);
                self.emit(stream, at, line_ref);
            }
        }
    }

    /// The stream ended: its unterminated last line becomes a log line.
    pub(super) fn end(&mut self, stream: Stream) {
        let partial = self.partial(stream);
        if !partial.bytes.is_empty() {
            let line = std::mem::take(&mut partial.bytes);
            let at = partial.at;
            self.emit(stream, at, &line);
        }
    }

    pub(super) fn note(&mut self, text: &str) {
        self.emit(Stream::System, now_millis(), text.as_bytes());
    }

    fn must_flush(&self) -> bool {
        self.pending.len() >= FLUSH_LINES || self.pending_bytes >= FLUSH_BYTES
    }

    fn flush_at(&self) -> Option<Instant> {
        self.oldest.map(|t| t + FLUSH_AFTER)
    }

    pub(super) fn take(&mut self) -> Vec<LogLine> {
        self.pending_bytes = 0;
        self.oldest = None;
        std::mem::take(&mut self.pending)
    }
}

fn memchr_newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'\n')
}

/// The output side of an execution: both streams through the one
/// redactor, the output limit, the live callback and the log lines.
pub(super) struct Capture<'r, 'l> {
    redactor: &'r Redactor,
    stdout: RedactStream<'r>,
    stderr: RedactStream<'r>,
    live: Option<LiveOutput<'l>>,
    limit: usize,
    pub written: usize,
    pub truncated: bool,
    pub lines: LineBuffer,
    scratch: Vec<u8>,
}

impl<'r, 'l> Capture<'r, 'l> {
    pub(super) fn new(redactor: &'r Redactor, live: Option<LiveOutput<'l>>, limit: usize) -> Self {
        Self {
            redactor,
            stdout: redactor.stream(),
            stderr: redactor.stream(),
            live,
            limit,
            written: 0,
            truncated: false,
            lines: LineBuffer::new(),
            scratch: Vec::with_capacity(READ_BUFFER + 1024),
        }
    }

    /// Raw bytes the process wrote to one stream.
    fn feed(&mut self, stream: Stream, raw: &[u8]) {
        if self.truncated {
            return;
        }
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        match stream {
            Stream::Stderr => self.stderr.feed(raw, &mut out),
            _ => self.stdout.feed(raw, &mut out),
        }
        self.emit(stream, &out);
        self.scratch = out;
    }

    /// The stream ended: what the redactor held back is released.
    fn end(&mut self, stream: Stream) {
        if !self.truncated {
            let mut out = Vec::new();
            match stream {
                Stream::Stderr => self.stderr.finish(&mut out),
                _ => self.stdout.finish(&mut out),
            }
            self.emit(stream, &out);
        }
        self.lines.end(stream);
    }

    /// Redacted output: to the live callback and the log, up to the limit.
    fn emit(&mut self, stream: Stream, redacted: &[u8]) {
        if redacted.is_empty() || self.truncated {
            return;
        }
        let room = self.limit - self.written;
        let take = redacted.len().min(room);
        let kept = &redacted[..take];
        if let Some(live) = self.live.as_mut() {
            live(stream, kept);
        }
        self.lines.push(stream, kept, now_millis());
        self.written += take;
        if take < redacted.len() {
            self.truncated = true;
            self.lines.end(Stream::Stdout);
            self.lines.end(Stream::Stderr);
            self.note(&format!(
                "output limit of {} bytes reached: the rest of the output was discarded",
                self.limit
            ));
        }
    }

    /// A note of the runtime's own, in the log and the live output; masked
    /// like the rest, since it may quote a command line.
    pub(super) fn note(&mut self, text: &str) {
        let text = self.redact(text);
        if let Some(live) = self.live.as_mut() {
            live(Stream::System, format!("{text}\n").as_bytes());
        }
        self.lines.note(&text);
    }

    /// Masks a message of the runtime's own.
    pub(super) fn redact(&self, text: &str) -> String {
        String::from_utf8_lossy(&self.redactor.redact(text.as_bytes())).into_owned()
    }
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
/// output through `capture`, writes log lines to the store as they come,
/// and enforces the time limit on the whole process group.
pub(super) async fn supervise(
    mut child: Child,
    group: &mut ProcessGroup,
    capture: &mut Capture<'_, '_>,
    store: &dyn Store,
    execution_id: i64,
    request: &ExecutionRequest,
) -> Result<ProcessEnd> {
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
            Event::Stdout(Ok(n)) if n > 0 => capture.feed(Stream::Stdout, &out_buf[..n]),
            Event::Stdout(_) => {
                stdout = None;
                capture.end(Stream::Stdout);
            }
            Event::Stderr(Ok(n)) if n > 0 => capture.feed(Stream::Stderr, &err_buf[..n]),
            Event::Stderr(_) => {
                stderr = None;
                capture.end(Stream::Stderr);
            }
            Event::Exited(status) => {
                // The entry point is gone: whatever it left behind in its
                // group goes too, which also closes their copies of the pipes.
                group.kill_and_forget();
                exited = Some(status.map_err(|e| crate::Error::Config(format!("cannot wait for the bot: {e}")))?);
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
                        capture.end(stream);
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
            store.append_execution_log(execution_id, &lines).await?;
        }
    }
    let status = exited.ok_or_else(|| crate::Error::Config("the bot's exit status is unknown".into()))?;
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
