//! The client's side: `paige run` hands its execution to the data dir's
//! `paige serve` when one answers and agrees (see the module above).

use std::process::ExitCode;

use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;

use super::{
    ACCEPTED, DECLINED, END, FAILED, Failure, Request, STDERR, STDOUT, SYSTEM, fingerprint, read_frame, socket_path,
};
use crate::cli::failure::{Class, CliError, CliResult};
use crate::cli::runtime::{Interrupts, RunArgs, RunEnd, RunInputs, print_live};
use crate::config::Config;
use crate::error::Error;
use crate::model::Actor;
use crate::runtime::Stream;

/// How long the server may take to take or decline a run: it answers as
/// soon as it has read the request, so only a stopped or stuck server
/// takes this long.
const ANSWER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// How a handed-off run came out, before `paige run` reports it.
enum Answer {
    /// No server took it: this process runs the execution itself.
    NotHere,
    Ended(RunEnd),
}

/// Runs `args` through the local server: `Ok(None)` when there is none,
/// or it declines, and this process must run the execution itself.
pub async fn run(config: &Config, args: &RunArgs, actor: &Actor) -> CliResult<Option<ExitCode>> {
    // Diagnostics on stderr only when asked for, as a local run's.
    crate::cli::log_format::init(None)?;
    let Ok(mut stream) = UnixStream::connect(socket_path(&config.data_dir)).await else {
        return Ok(None);
    };
    let RunInputs {
        command,
        workdir,
        event,
        limits,
    } = args.inputs()?;
    let request = Request {
        fingerprint: fingerprint(config),
        slug: args.slug.clone(),
        actor: actor.name.clone(),
        command,
        workdir,
        event,
        time_limit_ms: u64::try_from(limits.time.as_millis()).unwrap_or(u64::MAX),
        max_output: limits.output_bytes,
    };
    let mut line = serde_json::to_vec(&request).map_err(|e| Error::internal(format!("cannot encode the run: {e}")))?;
    line.push(b'\n');
    if stream.write_all(&line).await.is_err() {
        return Ok(None);
    }
    let interrupts = Interrupts::listen();
    let answer = follow(stream, &interrupts, config).await;
    let interrupted = interrupts.finish();
    match answer? {
        Answer::Ended(end) => Ok(Some(end.report(interrupted))),
        // A signal while the server was asked stops `paige run` before anything ran.
        Answer::NotHere if interrupted != 0 => Ok(Some(ExitCode::from(u8::try_from(128 + interrupted).unwrap_or(1)))),
        Answer::NotHere => Ok(None),
    }
}

/// Follows the server's answer to a sent request: its decline, or the
/// execution's output (printed as it comes) and end. A signal from
/// `interrupts` is passed on, once.
async fn follow(stream: UnixStream, interrupts: &Interrupts, config: &Config) -> CliResult<Answer> {
    let (mut read, mut write) = stream.into_split();
    let mut started = false;
    let mut signalled = false;
    let answer_by = tokio::time::Instant::now() + ANSWER_TIMEOUT;
    loop {
        let frame = tokio::select! {
            frame = read_frame(&mut read) => frame,
            () = tokio::time::sleep_until(answer_by), if !started => {
                // Closed on return: should the server wake up, its ACCEPTED
                // fails to reach us and it runs nothing.
                return Err(CliError::new(
                    Class::Unavailable,
                    format!(
                        "the paige serve of this data dir did not answer `paige run` within {} s ({}): \
                         is it stopped or stuck?",
                        ANSWER_TIMEOUT.as_secs(),
                        socket_path(&config.data_dir).display()
                    ),
                ));
            }
            () = interrupts.cancel.notified(), if !signalled => {
                signalled = true;
                let number = interrupts.received.load(std::sync::atomic::Ordering::SeqCst);
                // The server stops the execution; its end still follows.
                let _ = write.write_all(&[u8::try_from(number).unwrap_or(15)]).await;
                continue;
            }
        };
        let (kind, payload) = match frame {
            Ok(Some(frame)) => frame,
            Ok(None) | Err(_) if !started => {
                tracing::debug!(target: "paige::cli::run", "the local server closed the run socket; running here");
                return Ok(Answer::NotHere);
            }
            Ok(None) | Err(_) => {
                return Err(CliError::new(
                    Class::Failure,
                    "the local paige serve stopped during the execution (see `paige executions list`)",
                ));
            }
        };
        match kind {
            DECLINED if !started => {
                tracing::debug!(
                    target: "paige::cli::run",
                    reason = %String::from_utf8_lossy(&payload),
                    "the local server declined the run; running here"
                );
                return Ok(Answer::NotHere);
            }
            ACCEPTED if !started => {
                started = true;
                tracing::debug!(target: "paige::cli::run", "the local paige serve runs this execution");
            }
            STDOUT | STDERR | SYSTEM if started => {
                let stream = match kind {
                    STDOUT => Stream::Stdout,
                    STDERR => Stream::Stderr,
                    _ => Stream::System,
                };
                print_live(stream, &payload);
            }
            END if started => return Ok(Answer::Ended(parse_answer(serde_json::from_slice(&payload))?)),
            FAILED if started => {
                let failure: Failure = parse_answer(serde_json::from_slice(&payload))?;
                return Err(CliError::new(
                    Class::of_exit_status(failure.exit_status),
                    failure.message,
                ));
            }
            other => {
                return Err(Error::internal(format!("the local server sent an unexpected frame ({other})")).into());
            }
        }
    }
}

/// A JSON frame of the server's, or paige's error that it is not one.
fn parse_answer<T>(parsed: serde_json::Result<T>) -> CliResult<T> {
    parsed.map_err(|e| Error::internal(format!("the local server's answer is unreadable: {e}")).into())
}
