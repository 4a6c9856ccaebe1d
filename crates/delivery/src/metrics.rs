//! Prometheus metrics of one sink, every series labelled with the sink's name.

use prometheus::{Histogram, HistogramOpts, IntCounter, IntGauge, IntGaugeVec, Opts, Registry};

/// Metric name prefix.
const PREFIX: &str = "docket_sink";
/// The constant label naming the sink.
const SINK_LABEL: &str = "sink";

/// The sink's counters, gauges and histograms, registered in their own registry.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Records read from Kafka.
    pub records_in: IntCounter,
    /// Records the destination accepted.
    pub delivered: IntCounter,
    /// Records whose delivery failed for good (the sink stopped on them).
    pub failed: IntCounter,
    /// Records sent to the dead-letter topic.
    pub dead_lettered: IntCounter,
    /// Records in each accepted batch.
    pub batch_records: Histogram,
    /// Encoded bytes of each accepted batch.
    pub batch_bytes: Histogram,
    /// Seconds from record time to acceptance by the destination.
    pub delivery_latency: Histogram,
    /// Retried sends.
    pub retries: IntCounter,
    /// Consumer lag per topic and partition (from librdkafka statistics).
    pub consumer_lag: IntGaugeVec,
    /// Bytes held in open, queued and in-flight batches.
    pub buffered_bytes: IntGauge,
}

impl Metrics {
    /// The metrics of sink `sink`.
    pub fn new(sink: &str) -> Self {
        let registry = Registry::new();
        let opts = |name: &str, help: &str| {
            Opts::new(format!("{PREFIX}_{name}"), help).const_label(SINK_LABEL, sink)
        };
        let hist = |name: &str, help: &str, buckets: Vec<f64>| {
            HistogramOpts::new(format!("{PREFIX}_{name}"), help)
                .const_label(SINK_LABEL, sink)
                .buckets(buckets)
        };
        let counter = |name: &str, help: &str| {
            let c = IntCounter::with_opts(opts(name, help)).expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric");
            c
        };
        let histogram = |name: &str, help: &str, buckets: Vec<f64>| {
            let h = Histogram::with_opts(hist(name, help, buckets)).expect("valid metric");
            registry
                .register(Box::new(h.clone()))
                .expect("unique metric");
            h
        };
        let exp = |start, factor, count| {
            prometheus::exponential_buckets(start, factor, count).expect("valid buckets")
        };
        let consumer_lag = IntGaugeVec::new(
            opts("consumer_lag", "Records behind the partition's end"),
            &["topic", "partition"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(consumer_lag.clone()))
            .expect("unique metric");
        let buffered_bytes = IntGauge::with_opts(opts(
            "buffered_bytes",
            "Bytes held in open, queued and in-flight batches",
        ))
        .expect("valid metric");
        registry
            .register(Box::new(buffered_bytes.clone()))
            .expect("unique metric");
        Self {
            records_in: counter("records_in_total", "Records read from Kafka"),
            delivered: counter(
                "records_delivered_total",
                "Records the destination accepted",
            ),
            failed: counter(
                "records_failed_total",
                "Records whose delivery failed for good",
            ),
            dead_lettered: counter(
                "records_dead_lettered_total",
                "Records sent to the dead-letter topic",
            ),
            batch_records: histogram("batch_records", "Records per batch", exp(1.0, 4.0, 10)),
            batch_bytes: histogram(
                "batch_bytes",
                "Encoded bytes per batch",
                exp(256.0, 4.0, 10),
            ),
            delivery_latency: histogram(
                "delivery_latency_seconds",
                "Record time to acceptance",
                exp(0.01, 2.0, 16),
            ),
            retries: counter("retries_total", "Retried sends"),
            consumer_lag,
            buffered_bytes,
            registry,
        }
    }

    /// The registry every metric is registered in (served at `/metrics`).
    pub fn registry(&self) -> Registry {
        self.registry.clone()
    }
}
