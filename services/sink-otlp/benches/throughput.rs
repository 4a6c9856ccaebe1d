//! Throughput of the OTLP sink: ~1 KB realistic enriched decisions in a fresh four-partition
//! topic, the stock Kafka consumer performance tool on it, then the `docket-sink-otlp` binary
//! until every offset is committed; prints records/s, MB/s, the ratio, peak RSS and CPU time.
//!
//! The receiver is the local stack's OpenTelemetry Collector (its OTLP/HTTP receiver), or, with
//! `DOCKET_BENCH_RECEIVER=discard`, the benchmarks' discarding receiver answering an empty
//! protobuf success and counting the log records of each request, so the sink's own rate shows.
//! `DOCKET_BENCH_BASELINE=<another docket-sink-otlp build>` runs that build first on the same
//! topic.
//!
//! `dev/stack up && eval "$(dev/stack env)" && cargo bench -p docket-sink-otlp --bench throughput`
//! (`DOCKET_BENCH_RECORDS` sets the count, default 1,000,000; `DOCKET_OTLP_ENDPOINT` another
//! receiver).

#![allow(missing_docs)]

use docket_bench::{HttpSinkBench, Reply};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use prost::Message;

const SUCCESS: Reply = Reply {
    status: 200,
    content_type: "application/x-protobuf",
    body: b"",
};

#[tokio::main]
async fn main() {
    HttpSinkBench {
        name: "otlp",
        exe: env!("CARGO_BIN_EXE_docket-sink-otlp"),
        url_var: "DOCKET_OTLP_ENDPOINT",
        collector: (
            "DOCKET_OTELCOL_OTLP_URL",
            "http://127.0.0.1:14318",
            "collector OTLP/HTTP",
        ),
        reply: SUCCESS,
        count: log_records,
        env: &[],
    }
    .run()
    .await;
}

/// Log records in an export request.
fn log_records(body: &[u8]) -> u64 {
    ExportLogsServiceRequest::decode(body).map_or(0, |r| {
        r.resource_logs
            .iter()
            .flat_map(|rl| &rl.scope_logs)
            .map(|sl| sl.log_records.len() as u64)
            .sum()
    })
}
