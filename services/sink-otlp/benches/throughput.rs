//! Throughput of the OTLP sink against the local stack's OpenTelemetry Collector (its
//! OTLP/HTTP receiver): ~1 KB realistic enriched decisions in a fresh four-partition topic, the
//! stock Kafka consumer performance tool on it, then the `docket-sink-otlp` binary until every
//! offset is committed; prints records/s, MB/s, the ratio and peak RSS.
//!
//! `dev/stack up && eval "$(dev/stack env)" && cargo bench -p docket-sink-otlp --bench throughput`
//! (`DOCKET_BENCH_RECORDS` sets the count, default 1,000,000; `DOCKET_OTLP_ENDPOINT` another
//! receiver).

#![allow(missing_docs)]

#[tokio::main]
async fn main() {
    let bench = docket_bench::SinkBench::new("otlp").await;
    let endpoint = std::env::var("DOCKET_OTLP_ENDPOINT")
        .or_else(|_| std::env::var("DOCKET_OTELCOL_OTLP_URL"))
        .unwrap_or_else(|_| "http://127.0.0.1:14318".to_owned());
    let group = bench.group("sink");
    let mut command = bench.command(env!("CARGO_BIN_EXE_docket-sink-otlp"), &group);
    command.env("DOCKET_OTLP_ENDPOINT", &endpoint);
    bench.measure("sink-otlp", command, &group).await;
}
