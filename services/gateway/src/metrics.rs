//! The gateway's Prometheus metrics.

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry};

const NAMESPACE: &str = "docket_gateway";

/// Every metric, registered in one registry.
#[derive(Debug, Clone)]
pub struct Metrics {
    /// The registry `/metrics` serves.
    pub registry: Registry,
    /// Chat requests by final verdict (`allow`, `modify`, `redact`, `deny`).
    pub requests: IntCounterVec,
    /// Chat requests refused before policy evaluation, by reason.
    pub rejected: IntCounterVec,
    /// Records acknowledged by Kafka, by stream.
    pub published: IntCounterVec,
    /// Records written to the spool, by stream.
    pub spooled: IntCounterVec,
    /// Records lost (spool full in fail-open mode, unreadable spool lines), by stream.
    pub dropped: IntCounterVec,
    /// Deliveries Kafka did not acknowledge (the record stays in the log and is sent again
    /// unless found in Kafka).
    pub delivery_failures: IntCounter,
    /// Audit events by action and outcome.
    pub audits: IntCounterVec,
    /// Bytes of undelivered records in the spool.
    pub spool_bytes: IntGauge,
    /// Undelivered records in the spool.
    pub spool_records: IntGauge,
    /// Time from a record's creation to Kafka's acknowledgement.
    pub publish_latency: Histogram,
    /// Time to answer a chat request.
    pub request_latency: Histogram,
    /// Open client connections.
    pub connections: IntGauge,
    /// Connections closed by the server, by reason (`header_timeout`, `idle_timeout`).
    pub connections_closed: IntCounterVec,
    /// Admin calls refused without an audit record, by reason (`invalid_id`,
    /// `unauthenticated_read`, `rate_limited`, `unavailable`).
    pub admin_refused: IntCounterVec,
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Self {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help).namespace(NAMESPACE), labels)
                .expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric");
            c
        };
        let total = |name: &str, help: &str| {
            let c = IntCounter::with_opts(Opts::new(name, help).namespace(NAMESPACE))
                .expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric");
            c
        };
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::with_opts(Opts::new(name, help).namespace(NAMESPACE))
                .expect("valid metric");
            registry
                .register(Box::new(g.clone()))
                .expect("unique metric");
            g
        };
        let histogram = |name: &str, help: &str| {
            let buckets = vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0, 30.0,
            ];
            let h = Histogram::with_opts(
                HistogramOpts::new(name, help)
                    .namespace(NAMESPACE)
                    .buckets(buckets),
            )
            .expect("valid metric");
            registry
                .register(Box::new(h.clone()))
                .expect("unique metric");
            h
        };
        Self {
            requests: counter(
                "requests_total",
                "Chat requests by final verdict.",
                &["verdict"],
            ),
            rejected: counter(
                "rejected_total",
                "Chat requests refused before policy evaluation, by reason.",
                &["reason"],
            ),
            published: counter(
                "records_published_total",
                "Records acknowledged by Kafka.",
                &["stream"],
            ),
            spooled: counter(
                "records_spooled_total",
                "Records written to the on-disk spool.",
                &["stream"],
            ),
            dropped: counter(
                "records_dropped_total",
                "Records lost (spool full in fail-open mode, unreadable spool lines).",
                &["stream"],
            ),
            delivery_failures: total(
                "delivery_failures_total",
                "Deliveries Kafka did not acknowledge (each record stays in the log).",
            ),
            audits: counter(
                "audit_events_total",
                "Audit events by action and outcome.",
                &["action", "outcome"],
            ),
            spool_bytes: gauge("spool_bytes", "Bytes of undelivered records in the spool."),
            spool_records: gauge("spool_records", "Undelivered records in the spool."),
            publish_latency: histogram(
                "publish_latency_seconds",
                "Time from a record's creation to Kafka's acknowledgement.",
            ),
            request_latency: histogram(
                "request_duration_seconds",
                "Time to answer a chat request.",
            ),
            connections: gauge("connections", "Open client connections."),
            connections_closed: counter(
                "connections_closed_total",
                "Connections closed by the server, by reason.",
                &["reason"],
            ),
            admin_refused: counter(
                "admin_refused_total",
                "Admin calls refused without an audit record, by reason.",
                &["reason"],
            ),
            registry,
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
