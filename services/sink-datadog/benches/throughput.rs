//! Throughput of the Datadog sink against the local stack's OpenTelemetry Collector (its
//! Datadog receiver): ~1 KB realistic enriched decisions in a fresh four-partition topic, the
//! stock Kafka consumer performance tool on it, then the `docket-sink-datadog` binary until
//! every offset is committed; prints records/s, MB/s, the ratio and peak RSS.
//!
//! `dev/stack up && eval "$(dev/stack env)" && cargo bench -p docket-sink-datadog --bench throughput`
//! (`DOCKET_BENCH_RECORDS` sets the count, default 1,000,000; `DOCKET_DATADOG_URL` another
//! receiver).

#![allow(missing_docs)]

#[tokio::main]
async fn main() {
    let bench = docket_bench::SinkBench::new("dd").await;
    let url = std::env::var("DOCKET_DATADOG_URL")
        .or_else(|_| std::env::var("DOCKET_OTELCOL_DATADOG_URL"))
        .unwrap_or_else(|_| "http://127.0.0.1:18126".to_owned());
    let group = bench.group("sink");
    let mut command = bench.command(env!("CARGO_BIN_EXE_docket-sink-datadog"), &group);
    command
        .env("DOCKET_DATADOG_URL", &url)
        .env("DOCKET_DATADOG_API_KEY", "bench");
    bench.measure("sink-datadog", command, &group).await;
}
