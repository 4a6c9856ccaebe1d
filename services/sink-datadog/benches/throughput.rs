//! Throughput of the Datadog sink against the local stack's OpenTelemetry Collector (its
//! Datadog receiver): produces ~1 KB enriched decisions into a fresh four-partition topic,
//! runs the stock Kafka consumer performance tool on it, then the sink in-process until every
//! offset is committed, and prints records/s, MB/s, peak RSS and the ratio.
//!
//! `dev/stack up && eval "$(dev/stack env)" && cargo bench -p docket-sink-datadog --bench throughput`
//! (`DOCKET_BENCH_RECORDS` sets the count, default 1,000,000; `DOCKET_DATADOG_URL` another
//! receiver).

mod harness;

use harness::{Bench, print_ratio};

#[tokio::main]
async fn main() {
    let bench = Bench::filled("dd").await;
    let reference = bench.consumer_performance();
    let group = bench.group("datadog");
    let url = std::env::var("DOCKET_DATADOG_URL")
        .or_else(|_| std::env::var("DOCKET_OTELCOL_DATADOG_URL"))
        .unwrap_or_else(|_| "http://127.0.0.1:18126".to_owned());
    let vars = bench.vars(
        &group,
        &[
            ("DOCKET_DATADOG_URL", &url),
            ("DOCKET_DATADOG_API_KEY", "bench"),
        ],
    );
    let rate = bench
        .run_sink("sink-datadog", &group, |shutdown| async move {
            docket_sink_datadog::run(&vars, shutdown).await
        })
        .await;
    print_ratio("sink-datadog", rate, reference);
}
