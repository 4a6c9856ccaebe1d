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

use docket_bench::{Discard, Reply, SinkBench};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use prost::Message;

const SUCCESS: Reply = Reply {
    status: 200,
    content_type: "application/x-protobuf",
    body: b"",
};

#[tokio::main]
async fn main() {
    let bench = SinkBench::new("otlp").await;
    let discard = match std::env::var("DOCKET_BENCH_RECEIVER") {
        Ok(r) if r == "discard" => Some(Discard::start(SUCCESS, log_records).await),
        _ => None,
    };
    let endpoint = match &discard {
        Some(d) => d.url.clone(),
        None => std::env::var("DOCKET_OTLP_ENDPOINT")
            .or_else(|_| std::env::var("DOCKET_OTELCOL_OTLP_URL"))
            .unwrap_or_else(|_| "http://127.0.0.1:14318".to_owned()),
    };
    let receiver = if discard.is_some() {
        "discarding receiver"
    } else {
        "collector OTLP/HTTP"
    };
    if let Some(baseline) = SinkBench::baseline() {
        run(
            &bench,
            &format!("baseline sink-otlp ({receiver})"),
            &baseline,
            &endpoint,
        )
        .await;
        discard.iter().for_each(Discard::print);
    }
    let exe = env!("CARGO_BIN_EXE_docket-sink-otlp");
    run(&bench, &format!("sink-otlp ({receiver})"), exe, &endpoint).await;
    discard.iter().for_each(Discard::print);
}

async fn run(bench: &SinkBench, name: &str, exe: &str, endpoint: &str) {
    let group = bench.group(name.split(' ').next().unwrap_or("sink"));
    let mut command = bench.command(exe, &group);
    command.env("DOCKET_OTLP_ENDPOINT", endpoint);
    bench.measure(name, command, &group).await;
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
