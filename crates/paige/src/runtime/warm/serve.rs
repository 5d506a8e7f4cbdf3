//! One forwarded request once its execution is open ([`Handling`]): the
//! exchange on a warm process, the answer's head returned as soon as the
//! bot sends it, its body streamed by a task of its own, and, when the
//! body has ended (whole, cut at the size or time limit, or broken off by
//! a crash), the process given back or stopped and the execution closed.
//!
//! The process is given back only once its answer is complete: it serves
//! one request at a time, so every line it prints until then belongs to
//! this request's execution.

use std::sync::Arc;

use http_body_util::BodyExt;
use hyper::StatusCode;
use hyper::body::Incoming;
use paige_redact::Redactor;
use tokio::sync::OwnedSemaphorePermit;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::bot::{BotProcess, describe_exit, with_output};
use super::closer::Close;
use super::exchange::{self, BodySender, Connection, HookBody, HookRequest, HookResponse, RESPONSE_LIMIT};
use super::output;
use super::pool::ProjectPool;
use crate::Paige;
use crate::model::execution::{ExecutionRecord, ExecutionStatus, LogLine};
use crate::model::now_millis;
use crate::runtime::capture::Capture;
use crate::runtime::record::{self, End, Output};
use crate::runtime::timing::Phases;
use crate::runtime::{DEFAULT_OUTPUT_LIMIT, Trigger};

/// How a request ended, before it is recorded.
#[derive(Debug)]
pub(super) enum Ended {
    /// The bot's whole answer was passed on.
    Answered,
    TimedOut,
    /// The bot's answer passed [`RESPONSE_LIMIT`]: cut there.
    TooLarge,
    /// The bot died, or broke the exchange off.
    Crashed(String),
    /// paige could not forward the request (the process is fine).
    Failed(String),
    /// No process could take it (the start failed, or a crash loop's
    /// back-off): the error, and paige's answer.
    NotStarted(String, HookResponse),
}

/// One request after its execution was opened `running`.
pub(super) struct Handling {
    pub paige: Paige,
    pub pool: Arc<ProjectPool>,
    /// The request's place among the project's `--bot-processes`: held
    /// until its process is given back.
    pub permit: OwnedSemaphorePermit,
    pub execution: ExecutionRecord,
    pub started: Instant,
    /// The request's time limit, as an instant: it covers the answer's
    /// body too.
    pub deadline: Instant,
    pub redactor: Arc<Redactor>,
    pub phases: Phases,
}

impl Handling {
    /// Forwards `request` to `bot` and returns the answer's head, with its
    /// body streaming from the task also returned (which ends once the
    /// execution is closed); or paige's own answer, the execution closed.
    pub(super) async fn serve(
        mut self,
        mut bot: BotProcess,
        request: &HookRequest,
    ) -> (HookResponse, Option<JoinHandle<()>>) {
        let capture = Capture::new(Arc::clone(&self.redactor), None, DEFAULT_OUTPUT_LIMIT);
        if let Some(router) = bot.output() {
            router.begin(capture);
        }
        let head = match exchange::to_bot(request, self.execution.id) {
            Err(error) => Err(Ended::Failed(error)),
            Ok(forwarded) => {
                let socket = bot.socket_path();
                let kept = bot.take_connection();
                self.phases.mark("to_bot");
                tokio::select! {
                    // An answer that is there wins over the exit that may follow it.
                    biased;
                    answer = exchange::send(&socket, kept, forwarded) => answer.map_err(Ended::Crashed),
                    status = bot.exited() => Err(Ended::Crashed(format!(
                        "the bot exited while handling the request ({})", describe_exit(status)
                    ))),
                    () = tokio::time::sleep_until(self.deadline) => Err(Ended::TimedOut),
                }
            }
        };
        self.phases.mark("head");
        match head {
            Err(ended) => (self.finish(Some(bot), ended, None, None).await, None),
            Ok((answer, connection)) => {
                let (parts, body) = answer.into_parts();
                let (sender, streamed) = exchange::bot_body();
                let response = HookResponse {
                    status: parts.status,
                    headers: exchange::end_to_end(&parts.headers),
                    body: HookBody::Streaming(streamed),
                    execution_id: Some(self.execution.id),
                };
                let task = tokio::spawn(self.stream(bot, body, connection, parts.status, sender));
                (response, Some(task))
            }
        }
    }

    /// Passes the bot's body on, chunk by chunk, within the size and time
    /// limits, then gives the process back and closes the execution.
    async fn stream(
        self,
        mut bot: BotProcess,
        mut body: Incoming,
        connection: Connection,
        status: StatusCode,
        sender: BodySender,
    ) {
        let mut passed = 0usize;
        // `None` once the caller went away: the answer is still read to
        // its end, so the process can serve again.
        let mut caller = Some(sender);
        let ended = loop {
            let frame = tokio::select! {
                biased;
                frame = body.frame() => frame,
                status = bot.exited() => break Ended::Crashed(format!(
                    "the bot exited while sending its answer ({})", describe_exit(status)
                )),
                () = tokio::time::sleep_until(self.deadline) => break Ended::TimedOut,
            };
            let frame = match frame {
                None => break Ended::Answered,
                Some(Err(e)) => break Ended::Crashed(format!("the bot's answer broke off: {e}")),
                Some(Ok(frame)) => frame,
            };
            if let Some(data) = frame.data_ref() {
                passed = passed.saturating_add(data.len());
                if passed > RESPONSE_LIMIT {
                    break Ended::TooLarge;
                }
            }
            if let Some(sending) = &caller {
                match tokio::time::timeout_at(self.deadline, sending.chunks.send(frame)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => caller = None,
                    Err(_) => break Ended::TimedOut,
                }
            }
        };
        if matches!(ended, Ended::Answered) {
            bot.keep_connection(connection);
        } else {
            drop(connection);
        }
        self.finish(Some(bot), ended, Some(status), caller).await;
    }

    /// Takes the request's output, gives `bot` back (or stops it), ends
    /// the caller's body (`caller`: cleanly only if the answer is whole),
    /// closes the execution, and returns paige's answer for a request that
    /// got none from the bot. `answered`: the status the caller already got.
    ///
    /// The process is back (and the request's place free) before the
    /// caller's body ends: a caller that sends its next request at once
    /// finds the process idle rather than waiting or starting another.
    pub(super) async fn finish(
        mut self,
        bot: Option<BotProcess>,
        ended: Ended,
        answered: Option<StatusCode>,
        caller: Option<BodySender>,
    ) -> HookResponse {
        self.phases.mark("body");
        let (lines, output, ended) = match bot {
            Some(bot) => self.give_back(bot, ended).await,
            None => (Vec::new(), Output::default(), ended),
        };
        self.phases.mark("give_back");
        let Self {
            paige,
            pool: _,
            permit,
            execution,
            started,
            deadline: _,
            redactor,
            mut phases,
        } = self;
        drop(permit);
        if let Some(sender) = caller
            && matches!(ended, Ended::Answered)
        {
            sender.complete();
        }
        let execution_id = execution.id;
        let time_limit = paige.config.warm.request_timeout;
        let plain = |status, text| HookResponse::plain(status, text, None, Some(execution_id));
        let (end, response) = match ended {
            Ended::Answered => (
                End {
                    status: ExecutionStatus::Succeeded,
                    exit_code: None,
                    signal: None,
                    error: None,
                },
                None,
            ),
            Ended::TimedOut => (
                End {
                    status: ExecutionStatus::TimedOut,
                    exit_code: None,
                    signal: None,
                    error: Some(format!(
                        "the time limit of {} s was reached{}: the bot process was stopped",
                        time_limit.as_secs_f32(),
                        if answered.is_some() {
                            " while its answer was sent"
                        } else {
                            ""
                        }
                    )),
                },
                Some(plain(StatusCode::GATEWAY_TIMEOUT, "the bot did not answer in time")),
            ),
            Ended::TooLarge => (
                End::failed(format!(
                    "the bot's answer passed the limit of {} MiB: it was cut there, and the bot process was stopped",
                    RESPONSE_LIMIT / (1024 * 1024)
                )),
                Some(plain(StatusCode::BAD_GATEWAY, "the bot failed")),
            ),
            Ended::Crashed(error) | Ended::Failed(error) => (
                End::failed(error),
                Some(plain(StatusCode::BAD_GATEWAY, "the bot failed")),
            ),
            Ended::NotStarted(error, response) => (End::failed(error), Some(response)),
        };
        let elapsed = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let mut outcome = end.outcome(now_millis(), elapsed, output);
        outcome.error = outcome
            .error
            .map(|e| String::from_utf8_lossy(&redactor.redact(e.as_bytes())).into_owned());
        let response = response.unwrap_or_else(|| plain(StatusCode::BAD_GATEWAY, "the bot failed"));
        let status = answered.unwrap_or(response.status);
        outcome.response_status = Some(i32::from(status.as_u16()));
        if execution.trigger == Trigger::Webhook.as_str() {
            // Written with other closes in one commit, within 20 ms (`closer`).
            paige.warm.closer.close(
                &paige.store,
                Close {
                    execution,
                    lines,
                    outcome,
                },
            );
        } else if let Err(e) = record::close(paige.store.as_ref(), execution, &lines, outcome).await {
            // A test event's sender reads the record as soon as it returns.
            tracing::error!(error = %e, execution = execution_id, "a test event's execution could not be finished");
        }
        phases.mark("close");
        phases.report(execution_id);
        response
    }

    /// The request's lines and output size; the process kept for the next
    /// request if its answer was whole, else stopped (a crash's error then
    /// quotes its last output).
    async fn give_back(&self, mut bot: BotProcess, ended: Ended) -> (Vec<LogLine>, Output, Ended) {
        let taken = match bot.output() {
            Some(router) => router.end().await,
            None => output::Taken {
                request: None,
                start_lines: Vec::new(),
            },
        };
        bot.append_start_lines(&taken.start_lines).await;
        let (mut lines, output) = match taken.request {
            Some(mut capture) => {
                let lines = capture.lines.take();
                let output = Output {
                    bytes: capture.written,
                    truncated: capture.truncated,
                };
                (lines, output)
            }
            None => (Vec::new(), Output::default()),
        };
        let ended = match ended {
            Ended::Answered | Ended::Failed(_) | Ended::NotStarted(..) => {
                self.pool.checkin(bot).await;
                ended
            }
            Ended::TimedOut => {
                bot.stop("stopped: a request reached its time limit").await;
                ended
            }
            Ended::TooLarge => {
                bot.stop("stopped: its answer passed the size limit").await;
                ended
            }
            Ended::Crashed(error) => {
                // The crash output: the request's lines, then the rest.
                let error = with_output(&error, &lines);
                let _ = bot.stop_with(Some(error.clone())).await;
                self.pool.crashed().await;
                Ended::Crashed(error)
            }
        };
        for (seq, line) in lines.iter_mut().enumerate() {
            line.seq = i64::try_from(seq).unwrap_or(i64::MAX);
        }
        (lines, output, ended)
    }
}
