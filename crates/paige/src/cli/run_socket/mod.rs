//! `paige run` through the `paige serve` of the same data dir, when one
//! runs: the server already holds the open store, the unwrapped data keys
//! and a redactor per secrets generation, so an execution handed to it
//! skips what a new process pays for each (store open and close, key
//! unwrap, the start record's new WAL) and its output comes back live.
//!
//! The server listens on `<data dir>/run.sock` (mode 0600) and serves only
//! a peer of its own uid, or root (`SO_PEERCRED`): whoever can open the
//! data dir could run the bot with its secrets anyway. A run is handed off
//! only when the server would run it exactly as this process would: same
//! store, same master key file, same bot users and limits (the
//! [`fingerprint`]); otherwise, or with no server, the client runs it
//! itself. Its record, audit and output are the same either way.
//!
//! The protocol, one connection per run:
//! - client → server: the [`Request`] as one JSON line; later, at most one
//!   byte, the number of the signal (SIGINT, SIGTERM, SIGHUP) that asks
//!   to stop the execution. Closing the connection stops it too: a client
//!   that dies takes its bot with it, as a local run's does.
//! - server → client: frames of one kind byte, a big-endian `u32` length
//!   and the payload. First [`DECLINED`] with the reason (the client then
//!   runs the execution itself) or [`ACCEPTED`]; after that, redacted
//!   output ([`STDOUT`], [`STDERR`], [`SYSTEM`]), then [`END`] (a `RunEnd`
//!   as JSON) or [`FAILED`] (a [`Failure`]). A connection closed before
//!   either first frame is a decline; one closed after [`ACCEPTED`] is a
//!   failure, never a second run.

pub mod client;
pub mod serve;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::config::Config;

/// The socket's file name in the data dir.
pub const SOCKET_NAME: &str = "run.sock";

/// Frame kinds, server to client.
pub const DECLINED: u8 = 0;
pub const ACCEPTED: u8 = 1;
pub const STDOUT: u8 = 2;
pub const STDERR: u8 = 3;
pub const SYSTEM: u8 = 4;
pub const END: u8 = 5;
pub const FAILED: u8 = 6;

/// The largest request (its event included) and the largest frame.
const MAX_REQUEST: u64 = 16 << 20;
const MAX_FRAME: u32 = 16 << 20;

pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SOCKET_NAME)
}

/// What must be the same in the client and the server for a handed-off
/// execution to be the one the client would run: the store, the master
/// key file, the bot users and the resource limits. A digest, so a
/// database URL's password does not travel.
pub fn fingerprint(config: &Config) -> String {
    let key_file = config
        .master_key_file
        .as_ref()
        .map(|path| std::fs::canonicalize(path).unwrap_or_else(|_| path.clone()));
    let text = format!(
        "{:?}\n{:?}\n{:?}\n{:?}",
        config.database_url, key_file, config.bot_users, config.resource_limits
    );
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// One execution, as `paige run` asks for it.
#[derive(Serialize, Deserialize)]
pub struct Request {
    pub fingerprint: String,
    pub slug: String,
    /// The local actor of the client (`cli:<user>@<host>`).
    pub actor: String,
    pub command: Option<Vec<String>>,
    pub workdir: Option<PathBuf>,
    pub event: serde_json::Value,
    pub time_limit_ms: u64,
    pub max_output: usize,
}

/// A failure of paige's own (no such project, a store error), as the CLI
/// would print it: its exit status and its one line.
#[derive(Serialize, Deserialize)]
pub struct Failure {
    pub exit_status: u8,
    pub message: String,
}

pub async fn write_frame(to: &mut (impl AsyncWrite + Unpin), kind: u8, payload: &[u8]) -> std::io::Result<()> {
    let length = u32::try_from(payload.len()).map_err(|_| std::io::Error::other("frame too large"))?;
    let mut head = [0u8; 5];
    head[0] = kind;
    head[1..].copy_from_slice(&length.to_be_bytes());
    to.write_all(&head).await?;
    to.write_all(payload).await?;
    to.flush().await
}

/// The next frame, or `None` at the end of the stream.
pub async fn read_frame(from: &mut (impl AsyncRead + Unpin)) -> std::io::Result<Option<(u8, Vec<u8>)>> {
    let mut head = [0u8; 5];
    match from.read_exact(&mut head).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let length = u32::from_be_bytes([head[1], head[2], head[3], head[4]]);
    if length > MAX_FRAME {
        return Err(std::io::Error::other(format!("a frame of {length} bytes is too large")));
    }
    let mut payload = vec![0u8; length as usize];
    from.read_exact(&mut payload).await?;
    Ok(Some((head[0], payload)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip_and_a_short_stream_ends_cleanly() {
        let mut bytes = Vec::new();
        write_frame(&mut bytes, STDOUT, b"hello\n").await.unwrap();
        write_frame(&mut bytes, END, b"{}").await.unwrap();
        let mut reader = bytes.as_slice();
        assert_eq!(
            read_frame(&mut reader).await.unwrap(),
            Some((STDOUT, b"hello\n".to_vec()))
        );
        assert_eq!(read_frame(&mut reader).await.unwrap(), Some((END, b"{}".to_vec())));
        assert_eq!(read_frame(&mut reader).await.unwrap(), None);
        let mut huge = [SYSTEM, 0xff, 0xff, 0xff, 0xff].as_slice();
        assert!(read_frame(&mut huge).await.is_err());
    }
}
