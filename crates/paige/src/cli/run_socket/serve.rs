//! The server's side: `paige serve` runs the executions `paige run` hands
//! it over `<data dir>/run.sock` (see the module above).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};

use super::{
    ACCEPTED, DECLINED, END, FAILED, Failure, Request, STDERR, STDOUT, SYSTEM, fingerprint, socket_path, write_frame,
};
use crate::Paige;
use crate::cli::failure::CliError;
use crate::cli::runtime::RunEnd;
use crate::model::Actor;
use crate::runtime::sandbox::Isolation;
use crate::runtime::{ExecutionRequest, Limits, Stream, Trigger};

/// How long a client may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The listening socket and its runs.
pub struct RunSocket {
    path: PathBuf,
    stop: watch::Sender<bool>,
    accepting: JoinHandle<()>,
}

impl RunSocket {
    /// Listens on the data dir's socket, unless bots run outside the
    /// sandbox (such a run needs its own process as subreaper), another
    /// server answers there, or it cannot be bound: each is logged, and
    /// `paige run` then runs executions itself.
    pub fn bind(paige: &Paige) -> Option<Self> {
        let config = paige.config();
        if !Isolation::of(config.bot_users).sandboxed() {
            return None;
        }
        let path = socket_path(&config.data_dir);
        if std::os::unix::net::UnixStream::connect(&path).is_ok() {
            tracing::warn!(
                socket = %path.display(),
                "another paige serve answers on this data dir's run socket: `paige run` goes to that one"
            );
            return None;
        }
        // Left by a server that died: nobody answers on it.
        let _ = std::fs::remove_file(&path);
        let listener = match UnixListener::bind(&path).and_then(|listener| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
            Ok(listener)
        }) {
            Ok(listener) => listener,
            Err(e) => {
                tracing::warn!(socket = %path.display(), "cannot listen for `paige run`: {e}; it runs executions itself");
                return None;
            }
        };
        let (stop, stopped) = watch::channel(false);
        let accepting = tokio::spawn(accept(listener, paige.clone(), fingerprint(config), stopped));
        Some(Self { path, stop, accepting })
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Stops taking runs, stops those under way and waits until they are
    /// recorded, removes the socket.
    pub async fn close(mut self) {
        let _ = self.stop.send(true);
        let _ = (&mut self.accepting).await;
    }
}

impl Drop for RunSocket {
    /// Closed or not (a server that failed), nobody answers on the socket
    /// any more: it goes.
    fn drop(&mut self) {
        self.accepting.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

async fn accept(listener: UnixListener, paige: Paige, fingerprint: String, mut stopped: watch::Receiver<bool>) {
    let fingerprint: Arc<str> = fingerprint.into();
    let mut runs = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    runs.spawn(serve_one(paige.clone(), stream, Arc::clone(&fingerprint), stopped.clone()));
                }
                Err(e) => {
                    tracing::warn!("run socket: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = runs.join_next(), if !runs.is_empty() => {}
            _ = stopped.changed() => break,
        }
    }
    drop(listener);
    while runs.join_next().await.is_some() {}
}

/// Only this server's own user, or root, may run bots through it.
fn peer_allowed(stream: &UnixStream) -> bool {
    let own = rustix::process::geteuid().as_raw();
    stream
        .peer_cred()
        .is_ok_and(|peer| peer.uid() == own || peer.uid() == 0)
}

/// Runs one client's execution. `stopped` turns true when the server
/// shuts down: the execution is then stopped (and recorded as such), as
/// when the client asks or goes away.
async fn serve_one(paige: Paige, stream: UnixStream, fingerprint: Arc<str>, mut stopped: watch::Receiver<bool>) {
    let accepted = std::time::Instant::now();
    if !peer_allowed(&stream) {
        tracing::warn!("run socket: refused a client of another user");
        return;
    }
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let request = match tokio::time::timeout(REQUEST_TIMEOUT, read_request(&mut read)).await {
        Ok(Ok(request)) if *request.fingerprint == *fingerprint => request,
        Ok(Ok(_)) => {
            let reason = "this server runs bots with another store, key file, bot users or limits";
            let _ = write_frame(&mut write, DECLINED, reason.as_bytes()).await;
            return;
        }
        Ok(Err(reason)) => {
            let _ = write_frame(&mut write, DECLINED, reason.as_bytes()).await;
            return;
        }
        Err(_) => return,
    };
    if write_frame(&mut write, ACCEPTED, &[]).await.is_err() {
        return;
    }
    let cancel = Arc::new(tokio::sync::Notify::new());
    let shutting_down = stopped.clone();
    // A signal byte from the client, the client gone, or the server
    // shutting down stops the run.
    let watcher = {
        let cancel = Arc::clone(&cancel);
        tokio::spawn(async move {
            let mut byte = [0u8; 1];
            tokio::select! {
                _ = read.read(&mut byte) => {}
                _ = stopped.wait_for(|stop| *stop) => {}
            }
            cancel.notify_one();
        })
    };
    // Unbounded, as the API's stream: the bot's output is bounded by the
    // execution's output limit, and a slow terminal must not slow it down.
    let (frames, mut to_send) = mpsc::unbounded_channel::<(u8, Vec<u8>)>();
    let writer = tokio::spawn(async move {
        while let Some((kind, payload)) = to_send.recv().await {
            if write_frame(&mut write, kind, &payload).await.is_err() {
                // The client is gone; the watcher has stopped the run.
                break;
            }
        }
    });
    let Request {
        slug,
        actor,
        command,
        workdir,
        event,
        time_limit_ms,
        max_output,
        ..
    } = request;
    let execution = ExecutionRequest {
        command,
        workdir,
        event,
        trigger: Trigger::Manual,
        actor: Actor {
            name: actor,
            user_id: None,
            request_id: None,
        },
        limits: Limits {
            time: Duration::from_millis(time_limit_ms),
            output_bytes: max_output,
        },
        cancel: Some(cancel),
    };
    let mut live = {
        let frames = frames.clone();
        move |stream: Stream, bytes: &[u8]| {
            let kind = match stream {
                Stream::Stdout => STDOUT,
                Stream::Stderr => STDERR,
                Stream::System => SYSTEM,
            };
            let _ = frames.send((kind, bytes.to_vec()));
        }
    };
    let requested = accepted.elapsed();
    let result = paige.execute(&slug, execution, Some(&mut live)).await;
    let executed = accepted.elapsed();
    let last = match result {
        Ok(record) => (END, serde_json::to_vec(&RunEnd::from(&record))),
        Err(error) => {
            let error = CliError::from(error);
            let failure = Failure {
                exit_status: error.class.exit_status(),
                message: error.message,
            };
            (FAILED, serde_json::to_vec(&failure))
        }
    };
    if let (kind, Ok(payload)) = last {
        let _ = frames.send((kind, payload));
    }
    drop((live, frames));
    deliver(writer, shutting_down).await;
    watcher.abort();
    // The run's own phases around the execution's (`runtime::timing`).
    tracing::debug!(
        target: "paige::runtime::timing",
        request_us = requested.as_micros(),
        executed_us = executed.as_micros(),
        answered_us = accepted.elapsed().as_micros(),
        "run socket"
    );
}

/// How long a client that does not read may hold up the server's shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Waits until `writer` has passed everything on to the client, however
/// long a client that reads takes; but once the server is shutting down,
/// no longer than [`SHUTDOWN_GRACE`]: a client that stopped reading must
/// not keep the server up.
async fn deliver(mut writer: JoinHandle<()>, mut shutting_down: watch::Receiver<bool>) {
    let grace_over = async {
        let _ = shutting_down.wait_for(|stop| *stop).await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        _ = &mut writer => {}
        () = grace_over => writer.abort(),
    }
}

/// The request line, or why it is not one.
async fn read_request(read: &mut BufReader<tokio::net::unix::OwnedReadHalf>) -> Result<Request, String> {
    let mut line = Vec::new();
    (&mut *read)
        .take(super::MAX_REQUEST)
        .read_until(b'\n', &mut line)
        .await
        .map_err(|e| format!("cannot read the request: {e}"))?;
    if line.last() != Some(&b'\n') {
        return Err("the request is too large or incomplete".to_owned());
    }
    serde_json::from_slice(&line).map_err(|e| format!("not a run request: {e}"))
}
