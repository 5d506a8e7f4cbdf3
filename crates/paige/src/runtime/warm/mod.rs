//! Warm bot processes for `http` projects: a Paige bot is an Express app,
//! kept running and reached through `/hooks/{slug}/{*path}`.
//!
//! [`Paige::forward_webhook`] takes one request through its steps: one
//! read of the project with its mode, code revision and secrets generation
//! (`Store::hook_target`); admission (at most `--bot-processes` serve at
//! once per project, a bounded queue waits, the rest get 503); the
//! project's environment, cached until its code or secrets change
//! (`environment`); a process started with exactly that (`pool`: an idle
//! one, or a fresh one, `bot`); the execution opened `running`; the
//! exchange over the process's private Unix socket, on a kept-alive
//! connection (`exchange`, `socket`), with the answer streamed back and the
//! request's output routed to its execution (`serve`, `output`).
//!
//! Rotation: an overwrite, a delete or a code push changes the
//! fingerprint, so the next request starts a fresh process; a process of
//! the old one finishes its request and stops when given back. No request
//! sees a mix.

mod bot;
mod closer;
mod environment;
mod exchange;
mod output;
mod pool;
mod serve;
mod socket;
mod test_event;

use std::sync::Arc;
use std::time::Duration;

use hyper::StatusCode;
use tokio::time::Instant;

use self::bot::BotProcess;
use self::serve::{Ended, Handling};
use crate::Paige;
use crate::error::{Error, Result};
use crate::model::{Actor, RuntimeMode};
use crate::runtime::record;
use crate::runtime::timing::Phases;
use crate::runtime::{ENTRY_POINT, Trigger, deadline};
use crate::store::executions::NewExecution;

pub use exchange::{BotBody, Cut, HookBody, HookRequest, HookResponse, RESPONSE_LIMIT};
pub use pool::Pools;
pub use test_event::{hmac_sha256, whatsapp_message};

impl Paige {
    /// Forwards one webhook to the project's warm bot and returns its
    /// answer (or paige's 502/503/504): the head as soon as the bot sends
    /// it, the body streaming. `Err(NotFound)` for an unknown project, one
    /// in `event` mode, or one without an entry point: the HTTP layer
    /// answers all of them with the same bare 404.
    pub async fn forward_webhook(&self, slug: &str, request: HookRequest) -> Result<HookResponse> {
        let (response, _streaming) = self.forward_as(slug, request, Trigger::Webhook, None).await?;
        Ok(response)
    }

    /// [`Paige::forward_webhook`], recorded with `trigger`; with the task
    /// streaming the body, which ends once the execution is closed.
    async fn forward_as(
        &self,
        slug: &str,
        request: HookRequest,
        trigger: Trigger,
        by: Option<&Actor>,
    ) -> Result<(HookResponse, Option<tokio::task::JoinHandle<()>>)> {
        let not_found = || Error::NotFound("hook".to_owned());
        let mut phases = Phases::start();
        let target = self.store.hook_target(slug).await?.ok_or_else(not_found)?;
        if target.mode != RuntimeMode::Http {
            return Err(not_found());
        }
        phases.mark("target");
        let options = self.config.warm;
        let pool = self.warm.project(target.project.id, options.processes);
        let busy = || HookResponse::plain(StatusCode::SERVICE_UNAVAILABLE, "busy", Some(1), None);
        // A free process at once; else a place in the bounded queue.
        let permit = match Arc::clone(&pool.permits).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                let Some(ticket) = pool.admit(options.queue) else {
                    return Ok((busy(), None));
                };
                let waited =
                    tokio::time::timeout(options.request_timeout, Arc::clone(&pool.permits).acquire_owned()).await;
                drop(ticket);
                match waited {
                    Ok(Ok(permit)) => permit,
                    _ => return Ok((busy(), None)),
                }
            }
        };
        let started_at = phases.started_at();
        phases.mark("admit");
        // Read after admission: a request that waited in the queue runs
        // with what is current when it gets its turn.
        let Some(env) = self.environment(&pool, &target).await? else {
            return Err(not_found());
        };
        // The time limit counts from here: the first build of this node's
        // copy of the code (once per revision) is not the bot's time.
        let started = Instant::now();
        phases.mark("environment");
        let reused = pool.checkout(env.fingerprint).await;
        phases.mark("checkout");
        let redactor = Arc::clone(&env.redactor);
        let shown_path = String::from_utf8_lossy(&redactor.redact(request.path_and_query.as_bytes())).into_owned();
        let argv = vec!["node".to_owned(), ENTRY_POINT.to_owned()];
        let method = request.method.as_str().to_owned();
        let new = NewExecution {
            project_id: target.project.id,
            trigger: trigger.as_str(),
            command: &argv,
            secret_names: &env.secret_names,
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
        let execution = record::open(self.store.as_ref(), new, &actor).await?;
        phases.mark("open");
        let execution_id = execution.id;

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
                None => BotProcess::start(self, &target.project, &env, options.start_timeout)
                    .await
                    .map_err(|failure| (failure.error, None)),
            },
        };
        drop(env);
        phases.mark("process");
        let handling = Handling {
            paige: self.clone(),
            pool: Arc::clone(&pool),
            permit,
            execution,
            started,
            deadline: started + options.request_timeout,
            redactor,
            phases,
        };
        match bot {
            Ok(bot) => Ok(handling.serve(bot, &request).await),
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
                let response = handling
                    .finish(None, Ended::NotStarted(error, response), None, None)
                    .await;
                Ok((response, None))
            }
        }
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
        self.warm.closer.flush().await;
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
