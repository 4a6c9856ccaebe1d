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

use docket_bench::{Discard, Reply, SinkBench};

const ACCEPTED: Reply = Reply {
    status: 202,
    content_type: "application/json",
    body: b"{}",
};

#[tokio::main]
async fn main() {
    let bench = SinkBench::new("dd").await;
    let discard = match std::env::var("DOCKET_BENCH_RECEIVER") {
        Ok(r) if r == "discard" => Some(Discard::start(ACCEPTED, entries).await),
        _ => None,
    };
    let url = match &discard {
        Some(d) => d.url.clone(),
        None => std::env::var("DOCKET_DATADOG_URL")
            .or_else(|_| std::env::var("DOCKET_OTELCOL_DATADOG_URL"))
            .unwrap_or_else(|_| "http://127.0.0.1:18126".to_owned()),
    };
    let receiver = if discard.is_some() {
        "discarding intake"
    } else {
        "collector Datadog receiver"
    };
    if let Some(baseline) = SinkBench::baseline() {
        run(
            &bench,
            &format!("baseline sink-datadog ({receiver})"),
            &baseline,
            &url,
        )
        .await;
        discard.iter().for_each(Discard::print);
    }
    let exe = env!("CARGO_BIN_EXE_docket-sink-datadog");
    run(&bench, &format!("sink-datadog ({receiver})"), exe, &url).await;
    discard.iter().for_each(Discard::print);
}

async fn run(bench: &SinkBench, name: &str, exe: &str, url: &str) {
    let group = bench.group(name.split(' ').next().unwrap_or("sink"));
    let mut command = bench.command(exe, &group);
    command
        .env("DOCKET_DATADOG_URL", url)
        .env("DOCKET_DATADOG_API_KEY", "bench");
    bench.measure(name, command, &group).await;
}

/// Log entries in a body: one JSON array.
fn entries(body: &[u8]) -> u64 {
    serde_json::from_slice::<Vec<serde::de::IgnoredAny>>(body).map_or(0, |v| v.len() as u64)
}
