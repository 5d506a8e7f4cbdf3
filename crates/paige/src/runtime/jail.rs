//! One sandboxed process under its limits: [`bwrap`] plus [`super::limits`].
//!
//! [`launch`] creates the execution's cgroup, starts `bwrap`, puts the
//! sandbox in the group before the bot runs, and watches the group's
//! counters: a limit reached kills the whole sandbox at once (the pid
//! namespace takes everything with it), and [`Ending::finish`] names the
//! limit. It never waits on the bot: the caller supervises the child as
//! any other (output, time limit) and calls `finish` once it has exited.

use std::io;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use rustix::process::{Pid, PidfdFlags, Signal, pidfd_open, pidfd_send_signal};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use super::bwrap::Spec;
use super::exec_group::ExecGroup;
/// The variables [`launch`] takes late: named here, where it is public.
pub use super::launch::LateEnv;
use super::launch::{self, Launch};
use super::limits::{Backend, LimitHit, ResourceLimits};
use crate::poll::poll_once;

/// How often a running sandbox's counters are read.
const WATCH_EVERY: Duration = Duration::from_millis(50);
/// How long the end of a sandbox may take to empty its group.
const EMPTY_WITHIN: Duration = Duration::from_secs(2);

/// A running sandbox.
#[derive(Debug)]
pub struct Jailed {
    pub child: Child,
    group: Arc<ExecGroup>,
    hit: Arc<Mutex<Option<LimitHit>>>,
    watchdog: Watchdog,
}

/// The task reading a sandbox's counters; stopped when dropped, so an
/// execution abandoned half-way (a dropped future) leaves none behind.
#[derive(Debug)]
struct Watchdog(Option<JoinHandle<()>>);

impl Watchdog {
    /// Stops it and waits until it let go of the group.
    async fn stop(mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        if let Some(task) = &self.0 {
            task.abort();
        }
    }
}

/// Starts `spec` in a sandbox under `limits` (see the module docs).
/// `configure` sets the environment and standard streams, as for
/// [`launch::spawn`]; `name` names the cgroup (unique per execution).
/// `late_env` is found while `bwrap` starts (see [`LateEnv`]).
pub async fn launch(
    spec: &Spec<'_>,
    backend: &Backend,
    name: &str,
    limits: ResourceLimits,
    late_env: Option<LateEnv<'_>>,
    configure: impl FnOnce(&mut Command),
) -> io::Result<Jailed> {
    let late = late_env.is_some();
    // Polled once first: its first step (for an execution, a request to
    // the database for its record) is under way while the group is made.
    let mut late_env = late_env;
    let mut found_early = None;
    if let Some(future) = late_env.as_mut()
        && let Poll::Ready(vars) = poll_once(future).await
    {
        found_early = Some(vars);
    }
    let (mut launch, group) = if ExecGroup::starts_inside(backend) {
        // cgroup v1: the group first, and `bwrap` born in it (see
        // `ExecGroup::start_inside`: moving it in would cost ms).
        let group = ExecGroup::create(backend, name, limits)?;
        match group.start_inside(|| launch::spawn(spec, late, configure)) {
            Ok(launch) => (launch, Arc::new(group)),
            Err(e) => {
                remove_later(Arc::new(group));
                return Err(e);
            }
        }
    } else {
        // `bwrap` first: it execs and clones its namespaces while the
        // group is made, and runs nothing of the bot before
        // `Launch::start` lets it.
        let mut launch = launch::spawn(spec, late, configure)?;
        match ExecGroup::create(backend, name, limits) {
            Ok(group) => (launch, Arc::new(group)),
            Err(e) => {
                let _ = launch.child.start_kill();
                let _ = launch.child.wait().await;
                return Err(e);
            }
        }
    };
    if let Some(late_env) = late_env {
        // `bwrap` execs meanwhile, then waits for them.
        let found = match found_early {
            Some(vars) => vars,
            None => late_env.await,
        };
        let sent = match found {
            Some(vars) => launch.send_late_env(&vars),
            None => Err(io::Error::other("the sandbox's start was abandoned")),
        };
        if let Err(e) = sent {
            abandon(launch, group).await;
            return Err(e);
        }
    }
    // cgroup v2: the sandbox's first process only, all the bot's
    // processes descend from it; bwrap's own (outside, waiting) needs no
    // limit. One move, not two: each may cost an RCU grace period.
    let attached = launch.start(|_bwrap_pid, sandbox_pid| group.attach(sandbox_pid)).await;
    if let Err(e) = attached {
        abandon(launch, group).await;
        return Err(e);
    }
    let hit = Arc::new(Mutex::new(None));
    let watchdog = Watchdog(Some(tokio::spawn(watch(
        Arc::clone(&group),
        Arc::clone(&hit),
        launch.child.id(),
    ))));
    Ok(Jailed {
        child: launch.child,
        group,
        hit,
        watchdog,
    })
}

/// Kills a `bwrap` that never let its bot run, and removes its group.
async fn abandon(mut launch: Launch, group: Arc<ExecGroup>) {
    let _ = launch.child.start_kill();
    let _ = launch.child.wait().await;
    remove_later(group);
}

/// Finds this machine's [`Backend`] on a thread of its own, so the
/// first time (probing, and removing groups a dead paige left) does not
/// wait on the way to the bot.
pub fn prepare_limits() {
    // Found already (every execution but a process's first): no thread.
    if Backend::detected() {
        return;
    }
    let spawned = std::thread::Builder::new().name("paige-limits".into()).spawn(|| {
        Backend::detect();
    });
    // No thread: the execution finds it on its way, as before.
    drop(spawned);
}

/// Reads the group's counters until a limit is reached, then kills the
/// sandbox: `bwrap` first (its sandbox dies with it), then all in the group.
async fn watch(group: Arc<ExecGroup>, hit: Arc<Mutex<Option<LimitHit>>>, bwrap_pid: Option<u32>) {
    // Pinned now, so a reused pid is never signalled later.
    let pidfd = bwrap_pid
        .and_then(|p| i32::try_from(p).ok())
        .and_then(Pid::from_raw)
        .and_then(|p| pidfd_open(p, PidfdFlags::empty()).ok());
    let mut tick = tokio::time::interval(WATCH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Some(limit) = group.limit_hit() {
            *hit.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(limit);
            if let Some(fd) = &pidfd {
                let _ = pidfd_send_signal(fd, Signal::KILL);
            }
            group.kill_all();
            return;
        }
    }
}

/// Removes a group off the async threads (it may wait for processes to go).
fn remove_later(group: Arc<ExecGroup>) {
    tokio::task::spawn_blocking(move || {
        if let Ok(group) = Arc::try_unwrap(group) {
            let _ = group.remove(EMPTY_WITHIN);
        }
    });
}

impl Jailed {
    /// The limits it runs under.
    pub fn limits(&self) -> ResourceLimits {
        self.group.limits()
    }

    /// The limit reached so far, if any.
    pub fn limit_hit(&self) -> Option<LimitHit> {
        *self.hit.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The directories of its cgroup(s), if it has any.
    pub fn group_dirs(&self) -> Vec<std::path::PathBuf> {
        self.group.dirs()
    }

    /// Waits for the sandbox to end, with its whole output (for callers
    /// that need no streaming), then [`Ending::finish_and_remove`].
    pub async fn output(self) -> io::Result<(std::process::Output, Option<LimitHit>)> {
        let (child, ending) = self.into_parts();
        let output = child.wait_with_output().await;
        let hit = ending.finish_and_remove().await;
        Ok((output?, hit))
    }

    /// Kills the sandbox, waits for `bwrap`, and removes its group.
    pub async fn discard(self) {
        let (mut child, ending) = self.into_parts();
        let _ = child.start_kill();
        let _ = child.wait().await;
        ending.finish_and_remove().await;
    }

    /// Splits off the child for supervision; the rest ends with [`Ending::finish`].
    pub fn into_parts(self) -> (Child, Ending) {
        (
            self.child,
            Ending {
                group: self.group,
                hit: self.hit,
                watchdog: self.watchdog,
            },
        )
    }
}

/// What is left to do once the sandbox's child has exited.
#[derive(Debug)]
pub struct Ending {
    group: Arc<ExecGroup>,
    hit: Arc<Mutex<Option<LimitHit>>>,
    watchdog: Watchdog,
}

impl Ending {
    /// The limit reached so far, if any.
    pub fn limit_hit(&self) -> Option<LimitHit> {
        *self.hit.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// After the child exited: stops watching, reads the counters a last
    /// time (an OOM kill just before the end), and has what is left in the
    /// group killed and the group removed off the async threads, without
    /// waiting for it. Returns the limit reached, if any.
    pub async fn finish(self) -> Option<LimitHit> {
        let (hit, group) = self.stop().await;
        remove_later(group);
        hit
    }

    /// [`Ending::finish`], waiting until the group is removed.
    pub async fn finish_and_remove(self) -> Option<LimitHit> {
        let (hit, group) = self.stop().await;
        let _ = tokio::task::spawn_blocking(move || {
            if let Ok(group) = Arc::try_unwrap(group) {
                let _ = group.remove(EMPTY_WITHIN);
            }
        })
        .await;
        hit
    }

    async fn stop(self) -> (Option<LimitHit>, Arc<ExecGroup>) {
        self.watchdog.stop().await;
        let hit =
            (*self.hit.lock().unwrap_or_else(std::sync::PoisonError::into_inner)).or_else(|| self.group.limit_hit());
        (hit, self.group)
    }
}
