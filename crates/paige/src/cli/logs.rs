//! `paige logs` (an execution's redacted log, optionally followed to its
//! end) and `paige run --remote` (an execution on a server, its output
//! streamed back). Log lines come from the database, so a follower on one
//! node sees an execution another node runs.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use reqwest::Method;
use serde::Deserialize;

use super::backend::Backend;
use super::failure::{Class, CliError, CliResult};
use super::remote::{Client, segment};
use super::views::{ExecutionSummary, LogEntry};
use crate::model::ExecutionStatus;

#[derive(Debug, Args)]
pub struct LogsArgs {
    pub slug: String,
    /// The execution's id (default: the newest).
    pub execution: Option<i64>,
    /// Keep printing lines as they come, until the execution ends.
    #[arg(long, short)]
    pub follow: bool,
}

/// One line of a streamed answer (see `http/api/stream.rs`).
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum StreamEvent {
    Line(LogEntry),
    Output { stream: String, text: String },
    End { execution: ExecutionSummary },
    Error { message: String },
}

/// Prints a chunk where the bot wrote it: stdout, stderr, or paige's own
/// notes on stderr. A closed terminal is ignored.
fn print_output(stream: &str, text: &str, whole_line: bool) {
    let newline = if whole_line { "\n" } else { "" };
    match stream {
        "stdout" => {
            let mut out = std::io::stdout().lock();
            let _ = write!(out, "{text}{newline}").and_then(|()| out.flush());
        }
        "stderr" => {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "{text}{newline}").and_then(|()| err.flush());
        }
        _ => {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "paige: {text}{newline}").and_then(|()| err.flush());
        }
    }
}

pub async fn logs(backend: &Backend<'_>, args: LogsArgs) -> CliResult<()> {
    let id = match args.execution {
        Some(id) => id,
        None => backend
            .list_executions(&args.slug, 1)
            .await?
            .executions
            .first()
            .map(|e| e.id)
            .ok_or_else(|| CliError::new(Class::NotFound, format!("project {} has no executions yet", args.slug)))?,
    };
    match backend {
        Backend::Remote(client) => {
            let path = format!("/api/v1/projects/{}/executions/{id}/log", segment(&args.slug));
            let request = client.request(Method::GET, &path).query(&[("follow", args.follow)]);
            let response = client.send_streaming(request).await?;
            read_stream(client, response).await.map(drop)
        }
        Backend::Local { paige, .. } => {
            let mut after = None;
            loop {
                let lines = paige.execution_log(&args.slug, id, after, 1000).await?;
                for line in &lines {
                    print_output(line.stream.as_str(), &line.text, true);
                    after = Some(line.seq);
                }
                if !lines.is_empty() {
                    continue;
                }
                let record = paige.execution_record(&args.slug, id).await?;
                if !args.follow || record.status != ExecutionStatus::Running {
                    // Lines written just before the end.
                    for line in paige.execution_log(&args.slug, id, after, 10_000).await? {
                        print_output(line.stream.as_str(), &line.text, true);
                    }
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// Prints a JSON-lines answer as it arrives; the execution's summary when
/// the stream says it ended.
async fn read_stream(client: &Client, mut response: reqwest::Response) -> CliResult<Option<ExecutionSummary>> {
    let mut pending: Vec<u8> = Vec::new();
    let mut end = None;
    loop {
        let chunk = response.chunk().await.map_err(|e| {
            CliError::new(
                Class::Unavailable,
                format!("the connection to {} broke while following the log: {e}", client.url()),
            )
        })?;
        let Some(chunk) = chunk else { break };
        pending.extend_from_slice(&chunk);
        while let Some(at) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=at).collect();
            let event: StreamEvent = serde_json::from_slice(&line).map_err(|e| {
                CliError::new(
                    Class::Failure,
                    format!("the server sent a log line this paige does not understand: {e}"),
                )
            })?;
            match event {
                StreamEvent::Line(line) => print_output(&line.stream, &line.text, true),
                StreamEvent::Output { stream, text } => print_output(&stream, &text, false),
                StreamEvent::End { execution } => end = Some(execution),
                StreamEvent::Error { message } => return Err(CliError::new(Class::Failure, message)),
            }
        }
    }
    Ok(end)
}

/// `paige run SLUG --remote`: runs the project's bot on the server for the
/// event in `event` (or `{}`), prints its output as it comes, and answers
/// the exit status a shell expects (as a local `paige run`).
pub async fn run_remote(client: &Client, slug: &str, event: Option<&Path>) -> CliResult<ExitCode> {
    let event: serde_json::Value = match event {
        Some(path) => {
            let text = std::fs::read(path).map_err(|e| CliError::usage(format!("{}: {e}", path.display())))?;
            serde_json::from_slice(&text)
                .map_err(|e| CliError::usage(format!("{} is not valid JSON: {e}", path.display())))?
        }
        None => serde_json::json!({}),
    };
    if !event.is_object() {
        return Err(CliError::usage("the event must be a JSON object"));
    }
    let path = format!("/api/v1/projects/{}/executions/stream", segment(slug));
    let request = client
        .request(Method::POST, &path)
        .json(&serde_json::json!({ "event": event }));
    let response = client.send_streaming(request).await?;
    let summary = read_stream(client, response).await?.ok_or_else(|| {
        CliError::new(
            Class::Unavailable,
            format!(
                "the server at {} ended the stream before the execution ended",
                client.url()
            ),
        )
    })?;
    if summary.status != "succeeded" {
        eprintln!("paige: execution {} {}", summary.id, summary.status);
    }
    let code = match (summary.status.as_str(), summary.exit_code, summary.signal) {
        ("succeeded", _, _) => 0,
        ("timed_out", _, _) => 124,
        (_, Some(code), _) => code,
        (_, None, Some(signal)) => 128 + signal,
        _ => 127,
    };
    Ok(ExitCode::from(u8::try_from(code & 0xff).unwrap_or(1)))
}
