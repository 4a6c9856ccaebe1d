//! Throughput of the Splunk sink: ~1 KB realistic enriched decisions in a fresh four-partition
//! topic, the stock Kafka consumer performance tool on it, then the `docket-sink-splunk` binary
//! until every offset is committed; prints records/s, MB/s, the ratio, peak RSS and CPU time.
//!
//! The receiver is the local stack's OpenTelemetry Collector (its HEC receiver, which converts
//! every event to OTLP JSON in a file and is the slower side on a small machine), or, with
//! `DOCKET_BENCH_RECEIVER=discard`, the benchmarks' discarding receiver answering HEC's code 0
//! and counting the events of each gzip body, so the sink's own rate shows.
//! `DOCKET_BENCH_BASELINE=<another docket-sink-splunk build>` runs that build first on the
//! same topic.
//!
//! `dev/stack up && eval "$(dev/stack env)" && cargo bench -p docket-sink-splunk --bench throughput`
//! (`DOCKET_BENCH_RECORDS` sets the count, default 1,000,000; `DOCKET_SPLUNK_URL` another
//! receiver).

#![allow(missing_docs)]

use docket_bench::{HttpSinkBench, Reply};

const SUCCESS: Reply = Reply {
    status: 200,
    content_type: "application/json",
    body: br#"{"text":"Success","code":0}"#,
};

#[tokio::main]
async fn main() {
    HttpSinkBench {
        name: "splunk",
        exe: env!("CARGO_BIN_EXE_docket-sink-splunk"),
        url_var: "DOCKET_SPLUNK_URL",
        collector: (
            "DOCKET_OTELCOL_HEC_URL",
            "http://127.0.0.1:18088",
            "collector HEC",
        ),
        reply: SUCCESS,
        count: events,
        env: &[("DOCKET_SPLUNK_TOKEN", "bench")],
    }
    .run()
    .await;
}

/// HEC events in a body: concatenated JSON objects.
fn events(body: &[u8]) -> u64 {
    serde_json::Deserializer::from_slice(body)
        .into_iter::<serde::de::IgnoredAny>()
        .take_while(Result::is_ok)
        .count() as u64
}
