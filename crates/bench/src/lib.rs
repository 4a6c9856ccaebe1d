//! What Docket's throughput benchmarks share: fresh topics filled with realistic records, the
//! stock Kafka consumer performance tool on the same topic as the reference rate, the Docket
//! process run as a child and watched until its group committed the topic's end, its peak RSS,
//! and one printed report (reference rate, Docket rate, ratio, peak RSS).
//!
//! Every benchmark needs the local stack (`dev/stack up`); none runs in CI.

mod committed;
mod discard;
mod fake;
mod fill;
mod http_sink;
mod process;
mod reference;
mod report;
mod sink;
mod topics;

pub use committed::{committed_total, wait_committed};
pub use discard::{Counter, Discard, Reply};
pub use fake::{Faker, exported};
pub use fill::{Filled, fill_decisions, fill_enriched, put_audit};
pub use http_sink::HttpSinkBench;
pub use process::{Finished, Measured, peak_rss_kib};
pub use reference::consumer_performance;
pub use report::{Rate, Report};
pub use sink::SinkBench;
pub use topics::{create_topics, delete_created_topics};

/// Records per benchmark: `DOCKET_BENCH_RECORDS`, default one million.
pub fn record_count() -> usize {
    std::env::var("DOCKET_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

/// A short id unique to this run, for topic, group and bucket names.
pub fn run_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()[16..].to_owned()
}
