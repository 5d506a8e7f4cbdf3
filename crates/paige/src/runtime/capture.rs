//! An execution's output: both streams through the one redactor, the
//! output limit, the live callback, and the log lines waiting to be
//! written to the store.

use std::sync::Arc;
use std::time::Duration;

use paige_redact::{RedactStream, Redactor};
use tokio::time::Instant;

use super::LiveOutput;
use crate::model::execution::{LogLine, Stream};
use crate::model::now_millis;

/// A line longer than this is stored in pieces.
const MAX_LINE_BYTES: usize = 16 * 1024;
/// Log lines wait at most this long before they are written to the store.
const FLUSH_AFTER: Duration = Duration::from_millis(100);
/// ... or until this many lines or bytes are waiting.
const FLUSH_LINES: usize = 256;
const FLUSH_BYTES: usize = 64 * 1024;
/// How much of the process's output is read at once.
pub(super) const READ_BUFFER: usize = 32 * 1024;

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

    pub(super) fn must_flush(&self) -> bool {
        self.pending.len() >= FLUSH_LINES || self.pending_bytes >= FLUSH_BYTES
    }

    pub(super) fn flush_at(&self) -> Option<Instant> {
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

/// The redaction state of the two output streams while the process runs,
/// so a secret split across two reads is masked all the same.
pub(super) struct Streams<'r> {
    stdout: RedactStream<'r>,
    stderr: RedactStream<'r>,
}

impl<'r> Streams<'r> {
    pub(super) fn new(redactor: &'r Redactor) -> Self {
        Self {
            stdout: redactor.stream(),
            stderr: redactor.stream(),
        }
    }

    fn of(&mut self, stream: Stream) -> &mut RedactStream<'r> {
        match stream {
            Stream::Stderr => &mut self.stderr,
            _ => &mut self.stdout,
        }
    }
}

/// The output side of an execution: the redactor, the output limit, the
/// live callback and the log lines.
pub(super) struct Capture<'l> {
    redactor: Arc<Redactor>,
    live: Option<LiveOutput<'l>>,
    limit: usize,
    pub written: usize,
    pub truncated: bool,
    pub lines: LineBuffer,
    scratch: Vec<u8>,
}

impl<'l> Capture<'l> {
    pub(super) fn new(redactor: Arc<Redactor>, live: Option<LiveOutput<'l>>, limit: usize) -> Self {
        Self {
            redactor,
            live,
            limit,
            written: 0,
            truncated: false,
            lines: LineBuffer::new(),
            scratch: Vec::with_capacity(READ_BUFFER + 1024),
        }
    }

    /// The redactor, for the [`Streams`] of one process.
    pub(super) fn redactor(&self) -> Arc<Redactor> {
        Arc::clone(&self.redactor)
    }

    /// Raw bytes the process wrote to one stream.
    pub(super) fn feed(&mut self, streams: &mut Streams<'_>, stream: Stream, raw: &[u8]) {
        if self.truncated {
            return;
        }
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        streams.of(stream).feed(raw, &mut out);
        count_masks(raw, &out);
        self.emit(stream, &out);
        self.scratch = out;
    }

    /// The stream ended: what the redactor held back is released.
    pub(super) fn end(&mut self, streams: &mut Streams<'_>, stream: Stream) {
        if !self.truncated {
            let mut out = Vec::new();
            streams.of(stream).finish(&mut out);
            count_masks(&[], &out);
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

/// Counts redactor traffic for the metrics: the bytes in, and the masks out
/// (`[REDACTED:` markers the output gained over the input; a mask held
/// back across a read is counted with the read that releases it).
fn count_masks(raw: &[u8], redacted: &[u8]) {
    const MARKER: &[u8] = b"[REDACTED:";
    let count = |text: &[u8]| memchr::memmem::find_iter(text, MARKER).count();
    let metrics = crate::metrics::global();
    metrics.redactor_bytes.inc_by(raw.len() as u64);
    let masks = count(redacted).saturating_sub(count(raw));
    if masks > 0 {
        metrics.redactor_masks.inc_by(masks as u64);
    }
}
