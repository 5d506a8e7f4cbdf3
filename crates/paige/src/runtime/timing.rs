//! Where an execution's time went.

use std::time::{Duration, Instant};

use crate::model::{Millis, now_millis};

/// Where an execution's time went, as a `debug` event of target
/// `paige::runtime::timing` (`PAIGE_LOG=paige::runtime::timing=debug paige run …`).
#[derive(Debug)]
pub(super) struct Phases {
    started_at: Millis,
    started: Instant,
    last: Instant,
    marks: Vec<(&'static str, Duration)>,
}

impl Phases {
    /// Starts the clock.
    pub(super) fn start() -> Self {
        let started = Instant::now();
        Self {
            started_at: now_millis(),
            started,
            last: started,
            marks: Vec::with_capacity(8),
        }
    }

    /// When the clock started, as recorded.
    pub(super) fn started_at(&self) -> Millis {
        self.started_at
    }

    /// The time since the start.
    pub(super) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Ends a phase named `name`.
    pub(super) fn mark(&mut self, name: &'static str) {
        let now = Instant::now();
        self.marks.push((name, now - self.last));
        self.last = now;
    }

    /// Logs the phases of execution `execution_id`.
    pub(super) fn report(&self, execution_id: i64) {
        if tracing::enabled!(target: "paige::runtime::timing", tracing::Level::DEBUG) {
            let phases: Vec<String> = self
                .marks
                .iter()
                .map(|(name, d)| format!("{name}={}us", d.as_micros()))
                .collect();
            tracing::debug!(target: "paige::runtime::timing", execution_id, phases = %phases.join(" "));
        }
    }
}
