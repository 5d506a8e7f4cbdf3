//! The server's metrics, served at `/metrics` in the OpenMetrics text
//! format (which Prometheus scrapes) by the `prometheus-client` crate.
//!
//! One registry per process ([`global`]): the store's group commit, the
//! runtime and the HTTP layer each record into it without being handed it.
//! It imports nothing from the rest of the crate.
//!
//! Labels are closed sets only: route templates (`/api/v1/projects/{slug}`,
//! never the path a client sent), methods, status codes, execution statuses
//! and triggers, pool names. No label is ever built from a key name, a
//! slug, a value, a token or an email, so a scrape cannot leak one.

use std::sync::LazyLock;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The content type of [`encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    /// The route template, or `(no route)`.
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ExecutionLabels {
    pub status: &'static str,
    pub trigger: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PurgeLabels {
    /// `executions`, `log_lines` or `audit_events`.
    pub what: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabels {
    /// `sqlite_writer`, `sqlite_reader` or `postgres`.
    pub pool: &'static str,
    /// `in_use`, `idle` or `max`.
    pub state: &'static str,
}

/// Every metric of the process.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub request_seconds: Family<RouteLabels, Histogram>,
    pub executions: Family<ExecutionLabels, Counter>,
    /// Executions waiting for a slot.
    pub execution_queue: Gauge,
    /// Executions holding a slot (running).
    pub execution_slots_in_use: Gauge,
    /// Write requests per group-commit transaction.
    pub group_commit_batch: Histogram,
    /// Connections per pool and state, set when scraped.
    pub db_pool: Family<PoolLabels, Gauge>,
    /// Bytes of bot output that went through the redactor.
    pub redactor_bytes: Counter<u64, AtomicU64>,
    /// Secret occurrences the redactor masked.
    pub redactor_masks: Counter<u64, AtomicU64>,
    /// Retention sweeps that removed something.
    pub retention_runs: Counter<u64, AtomicU64>,
    /// Records the retention sweep removed, by kind.
    pub retention_purged: Family<PurgeLabels, Counter<u64, AtomicU64>>,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms to about 16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("paige");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by method, route template and status",
            requests.clone(),
        );
        let request_seconds =
            Family::<RouteLabels, Histogram>::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by method and route template",
            request_seconds.clone(),
        );
        let executions = Family::<ExecutionLabels, Counter>::default();
        registry.register(
            "executions",
            "Finished bot executions by status and trigger",
            executions.clone(),
        );
        let execution_queue = Gauge::default();
        registry.register(
            "execution_queue_depth",
            "Executions waiting for a slot",
            execution_queue.clone(),
        );
        let execution_slots_in_use = Gauge::default();
        registry.register(
            "execution_slots_in_use",
            "Execution slots held by running executions",
            execution_slots_in_use.clone(),
        );
        let group_commit_batch = Histogram::new(exponential_buckets(1.0, 2.0, 11));
        registry.register(
            "group_commit_batch_size",
            "Write requests (jobs) committed per group-commit transaction",
            group_commit_batch.clone(),
        );
        let db_pool = Family::<PoolLabels, Gauge>::default();
        registry.register(
            "db_pool_connections",
            "Database connections by pool and state",
            db_pool.clone(),
        );
        let redactor_bytes = Counter::default();
        registry.register(
            "redactor_bytes",
            "Bytes of bot output passed through the redactor",
            redactor_bytes.clone(),
        );
        let redactor_masks = Counter::default();
        registry.register(
            "redactor_masks",
            "Secret occurrences masked in bot output",
            redactor_masks.clone(),
        );
        let retention_runs = Counter::default();
        registry.register(
            "retention_runs",
            "Retention sweeps that purged old records",
            retention_runs.clone(),
        );
        let retention_purged = Family::<PurgeLabels, Counter<u64, AtomicU64>>::default();
        registry.register(
            "retention_purged",
            "Records purged by retention, by kind",
            retention_purged.clone(),
        );
        Self {
            registry,
            requests,
            request_seconds,
            executions,
            execution_queue,
            execution_slots_in_use,
            group_commit_batch,
            db_pool,
            redactor_bytes,
            redactor_masks,
            retention_runs,
            retention_purged,
        }
    }

    /// The whole registry in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// The process's metrics.
pub fn global() -> &'static Metrics {
    static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);
    &METRICS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_is_in_the_text() {
        let metrics = global();
        metrics.group_commit_batch.observe(3.0);
        metrics
            .retention_purged
            .get_or_create(&PurgeLabels { what: "executions" })
            .inc();
        let text = metrics.encode();
        for family in [
            "paige_http_requests",
            "paige_http_request_duration_seconds",
            "paige_executions",
            "paige_execution_queue_depth",
            "paige_execution_slots_in_use",
            "paige_group_commit_batch_size",
            "paige_db_pool_connections",
            "paige_redactor_bytes",
            "paige_redactor_masks",
            "paige_retention_runs",
            "paige_retention_purged",
        ] {
            assert!(text.contains(&format!("# TYPE {family} ")), "{family} missing:\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
