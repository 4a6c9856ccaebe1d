//! Throughput of the Datadog sink: ~1 KB realistic enriched decisions in a fresh four-partition
//! topic, the stock Kafka consumer performance tool on it, then the `docket-sink-datadog`
//! binary until every offset is committed; prints records/s, MB/s, the ratio, peak RSS and CPU
//! time.
//!
//! The receiver is the local stack's OpenTelemetry Collector (its Datadog receiver), or, with
//! `DOCKET_BENCH_RECEIVER=discard`, the benchmarks' discarding receiver answering 202 and
//! counting the entries of each body, so the sink's own rate shows.
//! `DOCKET_BENCH_BASELINE=<another docket-sink-datadog build>` runs that build first on the
//! same topic.
//!
//! `dev/stack up && eval "$(dev/stack env)" && cargo bench -p docket-sink-datadog --bench throughput`
//! (`DOCKET_BENCH_RECORDS` sets the count, default 1,000,000; `DOCKET_DATADOG_URL` another
//! receiver).

#![allow(missing_docs)]

use docket_bench::{HttpSinkBench, Reply};

const ACCEPTED: Reply = Reply {
    status: 202,
    content_type: "application/json",
    body: b"{}",
};

#[tokio::main]
async fn main() {
    HttpSinkBench {
        name: "datadog",
        exe: env!("CARGO_BIN_EXE_docket-sink-datadog"),
        url_var: "DOCKET_DATADOG_URL",
        collector: (
            "DOCKET_OTELCOL_DATADOG_URL",
            "http://127.0.0.1:18126",
            "collector Datadog receiver",
        ),
        reply: ACCEPTED,
        count: entries,
        env: &[("DOCKET_DATADOG_API_KEY", "bench")],
    }
    .run()
    .await;
}

/// Log entries in a body: one JSON array.
fn entries(body: &[u8]) -> u64 {
    serde_json::from_slice::<Vec<serde::de::IgnoredAny>>(body).map_or(0, |v| v.len() as u64)
}
