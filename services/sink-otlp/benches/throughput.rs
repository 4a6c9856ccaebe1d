//! Throughput of the OTLP sink against the local stack's OpenTelemetry Collector (its OTLP/HTTP
//! receiver): produces ~1 KB enriched decisions into a fresh four-partition topic, runs the
//! stock Kafka consumer performance tool on it, then the sink in-process until every offset
//! is committed, and prints records/s, MB/s, peak RSS and the ratio.
//!
//! `dev/stack up && eval "$(dev/stack env)" && cargo bench -p docket-sink-otlp --bench throughput`
//! (`DOCKET_BENCH_RECORDS` sets the count, default 1,000,000; `DOCKET_OTLP_ENDPOINT` another
//! receiver).

#[path = "../../sink-datadog/benches/harness.rs"]
mod harness;

use harness::{Bench, print_ratio};

#[tokio::main]
async fn main() {
    let bench = Bench::filled("otlp").await;
    let reference = bench.consumer_performance();
    let group = bench.group("otlp");
    let endpoint = std::env::var("DOCKET_OTLP_ENDPOINT")
        .or_else(|_| std::env::var("DOCKET_OTELCOL_OTLP_URL"))
        .unwrap_or_else(|_| "http://127.0.0.1:14318".to_owned());
    let vars = bench.vars(&group, &[("DOCKET_OTLP_ENDPOINT", &endpoint)]);
    let rate = bench
        .run_sink("sink-otlp", &group, |shutdown| async move {
            docket_sink_otlp::run(&vars, shutdown).await
        })
        .await;
    print_ratio("sink-otlp", rate, reference);
}
