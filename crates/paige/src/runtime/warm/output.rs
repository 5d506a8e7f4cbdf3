//! A warm process's output, routed line by line to whom it belongs: the
//! execution of the request being handled, or, between requests, the
//! process's start record. A process handles one request at a time, so
//! every line has one owner.
//!
//! Node writes to pipes synchronously on Linux: what the bot printed
//! before it answered is in the pipe when the answer arrives, so
//! [`OutputRouter::end`] drains the pipes before it hands the lines over.

use std::io;

use tokio::net::unix::pipe::Receiver;
use tokio::process::{ChildStderr, ChildStdout};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use zeroize::Zeroizing;

use crate::model::execution::{LogLine, Stream};
use crate::runtime::capture::{Capture, READ_BUFFER, Streams};

enum Control {
    /// From now on, lines go to this request's capture.
    Begin(Capture<'static>),
    /// The request is over: its capture back, and the start record's new lines.
    End(oneshot::Sender<Taken>),
}

/// What [`OutputRouter::end`] hands back.
pub(super) struct Taken {
    pub request: Option<Capture<'static>>,
    pub start_lines: Vec<LogLine>,
}

/// The task reading one process's stdout and stderr.
pub(super) struct OutputRouter {
    control: mpsc::UnboundedSender<Control>,
    task: Option<JoinHandle<Capture<'static>>>,
}

impl std::fmt::Debug for OutputRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputRouter").finish_non_exhaustive()
    }
}

impl OutputRouter {
    /// Starts reading; lines go to `start` until a request begins.
    pub(super) fn start(stdout: ChildStdout, stderr: ChildStderr, start: Capture<'static>) -> io::Result<Self> {
        let stdout = Receiver::from_owned_fd(stdout.into_owned_fd()?)?;
        let stderr = Receiver::from_owned_fd(stderr.into_owned_fd()?)?;
        let (control, commands) = mpsc::unbounded_channel();
        let task = tokio::spawn(route(stdout, stderr, start, commands));
        Ok(Self {
            control,
            task: Some(task),
        })
    }

    /// A request begins: its lines go to `capture`.
    pub(super) fn begin(&self, capture: Capture<'static>) {
        let _ = self.control.send(Control::Begin(capture));
    }

    /// The request ended: its capture (with every line printed so far) and
    /// the start record's lines since the last call.
    pub(super) async fn end(&self) -> Taken {
        let (reply, answer) = oneshot::channel();
        if self.control.send(Control::End(reply)).is_err() {
            return Taken {
                request: None,
                start_lines: Vec::new(),
            };
        }
        answer.await.unwrap_or(Taken {
            request: None,
            start_lines: Vec::new(),
        })
    }

    /// Once the process is gone: the start record's capture, with the rest
    /// of the output.
    pub(super) async fn finish(mut self) -> Option<Capture<'static>> {
        let task = self.task.take()?;
        drop(self);
        task.await.ok()
    }
}

/// Reads what is in the pipe now, without waiting.
fn drain(pipe: &mut Option<Receiver>, stream: Stream, target: &mut Capture<'static>, streams: &mut Streams<'_>) {
    let mut buf = Zeroizing::new(vec![0u8; READ_BUFFER]);
    while let Some(p) = pipe.as_mut() {
        match p.try_read(&mut buf) {
            Ok(0) => {
                *pipe = None;
                target.end(streams, stream);
            }
            Ok(n) => target.feed(streams, stream, &buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(_) => *pipe = None,
        }
    }
}

async fn read_some(pipe: &mut Option<Receiver>, buf: &mut [u8]) -> io::Result<usize> {
    use tokio::io::AsyncReadExt;
    match pipe {
        Some(p) => p.read(buf).await,
        None => std::future::pending().await,
    }
}

async fn route(
    stdout: Receiver,
    stderr: Receiver,
    mut start: Capture<'static>,
    mut commands: mpsc::UnboundedReceiver<Control>,
) -> Capture<'static> {
    let redactor = start.redactor();
    let mut streams = Streams::new(&redactor);
    let (mut out, mut err) = (Some(stdout), Some(stderr));
    let mut current: Option<Capture<'static>> = None;
    let mut out_buf = Zeroizing::new(vec![0u8; READ_BUFFER]);
    let mut err_buf = Zeroizing::new(vec![0u8; READ_BUFFER]);
    let mut listening = true;
    while out.is_some() || err.is_some() || listening {
        tokio::select! {
            r = read_some(&mut out, &mut out_buf), if out.is_some() => {
                let target = current.as_mut().unwrap_or(&mut start);
                match r {
                    Ok(n) if n > 0 => target.feed(&mut streams, Stream::Stdout, &out_buf[..n]),
                    _ => { out = None; target.end(&mut streams, Stream::Stdout); }
                }
            }
            r = read_some(&mut err, &mut err_buf), if err.is_some() => {
                let target = current.as_mut().unwrap_or(&mut start);
                match r {
                    Ok(n) if n > 0 => target.feed(&mut streams, Stream::Stderr, &err_buf[..n]),
                    _ => { err = None; target.end(&mut streams, Stream::Stderr); }
                }
            }
            command = commands.recv(), if listening => {
                // What was printed before the switch belongs to the old owner.
                let target = current.as_mut().unwrap_or(&mut start);
                drain(&mut out, Stream::Stdout, target, &mut streams);
                drain(&mut err, Stream::Stderr, target, &mut streams);
                target.end(&mut streams, Stream::Stdout);
                target.end(&mut streams, Stream::Stderr);
                match command {
                    Some(Control::Begin(capture)) => current = Some(capture),
                    Some(Control::End(reply)) => {
                        let _ = reply.send(Taken { request: current.take(), start_lines: start.lines.take() });
                    }
                    None => listening = false,
                }
            }
        }
    }
    start
}
