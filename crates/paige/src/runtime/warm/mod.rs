//! Warm bot processes for `http` projects: a Paige bot is an Express app,
//! kept running and reached through `/hooks/{slug}/{*path}`.
//!
//! [`Paige::forward_webhook`] takes one request through its steps:
//! admission (at most `--bot-processes` serve at once per project, a
//! bounded queue waits, the rest get 503), the one read of the code and
//! secrets ([`bot::fingerprint`]), a process started with exactly those
//! (`pool`: an idle one, or a fresh one, `bot`), the exchange over its
//! private Unix socket (`exchange`, `socket`) with the request's output
//! routed to the request's execution (`output`), and the record.
//!
//! Rotation: an overwrite, a delete or a code push changes the
//! fingerprint, so the next request starts a fresh process; a process of
//! the old one finishes its request and stops when given back. No request
//! sees a mix.

mod bot;
mod exchange;
mod output;
mod pool;
mod socket;
mod test_event;

use std::sync::Arc;
use std::time::Duration;

use hyper::StatusCode;
use tokio::time::Instant;

use self::bot::{BotProcess, describe_exit, fingerprint, with_output};
use self::pool::ProjectPool;
use crate::Paige;
use crate::error::{Error, Result};
use crate::model::execution::{ExecutionStatus, LogLine};
use crate::model::{Actor, RuntimeMode, now_millis};
use crate::runtime::capture::Capture;
use crate::runtime::record::{self, End, Output};
use crate::runtime::timing::Phases;
use crate::runtime::{DEFAULT_OUTPUT_LIMIT, ENTRY_POINT, Trigger, deadline};
use crate::store::executions::NewExecution;

pub use exchange::{HookRequest, HookResponse, RESPONSE_LIMIT};
pub use pool::Pools;
pub use test_event::{hmac_sha256, whatsapp_message};

/// What a request came to, before it is recorded.
enum Served {
    Answered(HookResponse),
    Crashed(String),
    TimedOut,
    Failed(String),
}

impl Paige {
    /// Forwards one webhook to the project's warm bot and returns its
    /// answer (or paige's 502/503/504). `Err(NotFound)` for an unknown
    /// project, one in `event` mode, or one without an entry point: the
    /// HTTP layer answers all of them with the same bare 404.
    pub async fn forward_webhook(&self, slug: &str, request: HookRequest) -> Result<HookResponse> {
        self.forward_as(slug, request, Trigger::Webhook, None).await
    }

    /// [`Paige::forward_webhook`], recorded with `trigger`.
    async fn forward_as(
        &self,
        slug: &str,
        request: HookRequest,
        trigger: Trigger,
        by: Option<&Actor>,
    ) -> Result<HookResponse> {
        let not_found = || Error::NotFound("hook".to_owned());
        let mut phases = Phases::start();
        let project = self.project(slug).await.map_err(|_| not_found())?;
        phases.mark("project");
        if self.store.runtime_mode(project.id).await? != Some(RuntimeMode::Http) {
            return Err(not_found());
        }
        phases.mark("mode");
        let Some(code) = self.code_tree(&project).await? else {
            return Err(not_found());
        };
        if !code.path.join(ENTRY_POINT).is_file() {
            return Err(not_found());
        }
        phases.mark("code");
        let options = self.config.warm;
        let pool = self.warm.project(project.id, options.processes);
        let busy = || HookResponse::plain(StatusCode::SERVICE_UNAVAILABLE, "busy", Some(1), None);
        // A free process at once; else a place in the bounded queue.
        let permit = match Arc::clone(&pool.permits).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                let Some(ticket) = pool.admit(options.queue) else {
                    return Ok(busy());
                };
                let waited =
                    tokio::time::timeout(options.request_timeout, Arc::clone(&pool.permits).acquire_owned()).await;
                drop(ticket);
                match waited {
                    Ok(Ok(permit)) => permit,
                    _ => return Ok(busy()),
                }
            }
        };
        let started = Instant::now();
        let started_at = now_millis();
        phases.mark("admit");
        let secrets = self.resolve(&project.slug).await?;
        phases.mark("resolve");
        let print = fingerprint(&code.path, &secrets);
        phases.mark("fingerprint");
        let reused = pool.checkout(print).await;
        phases.mark("checkout");
        let redactor = match &reused {
            Some(bot) => Arc::clone(&bot.redactor),
            None => Arc::new(secrets.redactor()),
        };
        let secret_names = secrets.names();
        let redact = |text: &str| String::from_utf8_lossy(&redactor.redact(text.as_bytes())).into_owned();
        let shown_path = redact(&request.path_and_query);
        let argv = vec!["node".to_owned(), ENTRY_POINT.to_owned()];
        let method = request.method.as_str().to_owned();
        let new = NewExecution {
            project_id: project.id,
            trigger: trigger.as_str(),
            command: &argv,
            secret_names: &secret_names,
            started_at,
            deadline_at: deadline(started_at, options.request_timeout + options.start_timeout),
            request: Some((&method, &shown_path)),
        };
        let actor = by.cloned().unwrap_or_else(|| Actor {
            name: match request.client {
                Some(ip) => format!("webhook:{ip}"),
                None => "webhook".to_owned(),
            },
            user_id: None,
            request_id: None,
        });
        phases.mark("prepare");
        let execution = record::open(self.store.as_ref(), new, &actor).await?;
        let execution_id = execution.id;
        phases.mark("open");

        let bot = match reused {
            Some(bot) => Ok(bot),
            None => match pool.backoff().await {
                Some((wait, crashes)) => Err((
                    format!(
                        "the bot crashed {crashes} times in a row: the next start is in {} s",
                        wait.as_secs().max(1)
                    ),
                    Some(wait.as_secs().max(1)),
                )),
                None => BotProcess::start(self, &project, code, secrets, print, options.start_timeout)
                    .await
                    .map_err(|failure| (failure.error, None)),
            },
        };
        let (served, lines) = match bot {
            Ok(bot) => {
                let remaining = options.request_timeout.saturating_sub(started.elapsed());
                self.serve_on(&pool, bot, &request, execution_id, remaining, &redactor, &mut phases)
                    .await
            }
            Err((error, retry_after)) => {
                if retry_after.is_none() {
                    pool.crashed().await;
                }
                let response = match retry_after {
                    Some(seconds) => HookResponse::plain(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "the bot is restarting",
                        Some(seconds),
                        Some(execution_id),
                    ),
                    None => HookResponse::plain(
                        StatusCode::BAD_GATEWAY,
                        "the bot could not start",
                        None,
                        Some(execution_id),
                    ),
                };
                (Served::Failed(error), (Vec::new(), Output::default(), Some(response)))
            }
        };
        drop(permit);
        let (lines, output, preset) = lines;
        let elapsed = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let (end, response) = match served {
            Served::Answered(mut response) => {
                response.execution_id = Some(execution_id);
                let end = End {
                    status: ExecutionStatus::Succeeded,
                    exit_code: None,
                    signal: None,
                    error: None,
                };
                (end, response)
            }
            Served::TimedOut => (
                End {
                    status: ExecutionStatus::TimedOut,
                    exit_code: None,
                    signal: None,
                    error: Some(format!(
                        "the time limit of {} s was reached: the bot process was stopped",
                        options.request_timeout.as_secs_f32()
                    )),
                },
                HookResponse::plain(
                    StatusCode::GATEWAY_TIMEOUT,
                    "the bot did not answer in time",
                    None,
                    Some(execution_id),
                ),
            ),
            Served::Crashed(error) | Served::Failed(error) => {
                let response = preset.unwrap_or_else(|| {
                    HookResponse::plain(StatusCode::BAD_GATEWAY, "the bot failed", None, Some(execution_id))
                });
                (End::failed(error), response)
            }
        };
        let mut outcome = end.outcome(now_millis(), elapsed, output);
        outcome.error = outcome.error.map(|e| redact(&e));
        outcome.response_status = Some(i32::from(response.status.as_u16()));
        phases.mark("end");
        phases.report(execution_id);
        if trigger == Trigger::Webhook {
            // The closing write is off the answer's path (one fsync'd
            // transaction less per webhook). The record is already durable
            // (`running`, written before forwarding): if the server dies
            // before this write commits, the abandoned-execution sweep
            // fails it at its deadline; only its log lines are lost.
            let store = Arc::clone(&self.store);
            tokio::spawn(async move {
                if let Err(e) = record::close(store.as_ref(), execution, &lines, outcome).await {
                    tracing::error!(error = %e, execution = execution_id, "a webhook's execution could not be finished");
                }
            });
        } else {
            record::close(self.store.as_ref(), execution, &lines, outcome).await?;
        }
        Ok(response)
    }

    /// The exchange on `bot`, its output to the request's capture; the
    /// process is given back (or stopped) afterwards.
    async fn serve_on(
        &self,
        pool: &ProjectPool,
        mut bot: BotProcess,
        request: &HookRequest,
        execution_id: i64,
        time_limit: Duration,
        redactor: &Arc<paige_redact::Redactor>,
        phases: &mut Phases,
    ) -> (Served, (Vec<LogLine>, Output, Option<HookResponse>)) {
        let capture = Capture::new(Arc::clone(redactor), None, DEFAULT_OUTPUT_LIMIT);
        if let Some(router) = bot.output() {
            router.begin(capture);
        }
        let socket = bot.socket_path();
        let served = match exchange::to_bot(request, execution_id) {
            Err(error) => Served::Failed(error),
            Ok(forwarded) => {
                tokio::select! {
                    answer = exchange::exchange(&socket, forwarded, phases) => match answer {
                        Ok(response) => Served::Answered(response),
                        Err(error) => Served::Crashed(error),
                    },
                    status = bot.exited() => Served::Crashed(format!(
                        "the bot exited while handling the request ({})", describe_exit(status)
                    )),
                    () = tokio::time::sleep(time_limit) => Served::TimedOut,
                }
            }
        };
        let taken = match bot.output() {
            Some(router) => router.end().await,
            None => output::Taken {
                request: None,
                start_lines: Vec::new(),
            },
        };
        phases.mark("output");
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
        let served = match served {
            Served::Answered(response) => {
                pool.checkin(bot).await;
                Served::Answered(response)
            }
            Served::TimedOut => {
                bot.stop("stopped: a request reached its time limit").await;
                Served::TimedOut
            }
            Served::Crashed(error) => {
                // The crash output: the request's lines, then the rest.
                let error = with_output(&error, &lines);
                let _ = bot.stop_with(Some(error.clone())).await;
                pool.crashed().await;
                Served::Crashed(error)
            }
            Served::Failed(error) => {
                pool.checkin(bot).await;
                Served::Failed(error)
            }
        };
        for (seq, line) in lines.iter_mut().enumerate() {
            line.seq = i64::try_from(seq).unwrap_or(i64::MAX);
        }
        (served, (lines, output, None))
    }

    /// Stops, every `every`, the warm processes idle for longer than
    /// the idle limit, and renews the others' start records. Runs until
    /// the server stops.
    pub async fn stop_idle_bots(self, every: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.warm.stop_idle(self.config.warm.idle).await;
            self.warm.renew_leases().await;
        }
    }

    /// Stops every idle warm process (the server is stopping).
    pub async fn stop_warm_bots(&self) {
        self.warm.stop_all().await;
    }

    /// The runtime mode of a project.
    pub async fn runtime_mode(&self, slug: &str) -> Result<RuntimeMode> {
        let project = self.project(slug).await?;
        self.store
            .runtime_mode(project.id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("project {slug}")))
    }

    /// Sets a project's runtime mode (audited). Its warm processes stop at
    /// once (one serving a request stops when it has answered).
    pub async fn set_runtime_mode(&self, slug: &str, mode: RuntimeMode, actor: &Actor) -> Result<()> {
        let project = self.project(slug).await?;
        self.store.set_runtime_mode(project.id, mode, actor).await?;
        self.warm.stop_project(project.id).await;
        Ok(())
    }
}
