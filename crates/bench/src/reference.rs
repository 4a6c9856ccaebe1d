//! The reference rate: the stock Kafka consumer performance tool
//! (`org.apache.kafka.tools.ConsumerPerformance`, from the jars the stack installs, through
//! `dev/stack kafka-tool consumer-perf`) reading the same topic.

use std::path::Path;
use std::process::Command;

use docket_kafka::KafkaSettings;

use crate::fill::Filled;
use crate::report::Rate;

/// Runs the tool over every record of `filled` in a fresh group and returns its rate.
pub fn consumer_performance(settings: &KafkaSettings, filled: &Filled) -> Rate {
    let stack = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dev/stack");
    let group = format!("bench-perf-{}", crate::run_id());
    let out = Command::new(stack)
        .args(["kafka-tool", "consumer-perf", "--bootstrap-server"])
        .arg(&settings.bootstrap_servers)
        .args(["--topic", &filled.topic, "--group", &group])
        .args([
            "--messages",
            &filled.records.to_string(),
            "--timeout",
            "120000",
        ])
        .output()
        .expect("dev/stack kafka-tool consumer-perf");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "consumer-perf failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = Summary::parse(&text);
    let rate = Rate::of(filled, summary.records as f64 / summary.seconds);
    println!(
        "ConsumerPerformance: {:.0} records/s, {:.1} MB/s ({} records in {:.2}s, group join {:.2}s not counted)",
        rate.records, rate.mb, summary.records, summary.seconds, summary.rebalance_secs
    );
    rate
}

/// The tool's summary line.
#[derive(Debug, PartialEq)]
struct Summary {
    records: u64,
    /// Fetch time: the whole run minus the group join.
    seconds: f64,
    rebalance_secs: f64,
}

impl Summary {
    /// Reads the columns `data.consumed.in.nMsg`, `fetch.time.ms` and `rebalance.time.ms`.
    fn parse(text: &str) -> Self {
        let mut lines = text.lines().filter(|l| l.contains(','));
        let header: Vec<&str> = lines
            .next()
            .expect("header")
            .split(',')
            .map(str::trim)
            .collect();
        let data: Vec<&str> = lines
            .next()
            .expect("data line")
            .split(',')
            .map(str::trim)
            .collect();
        let column = |name: &str| -> f64 {
            let i = header
                .iter()
                .position(|h| *h == name)
                .unwrap_or_else(|| panic!("no {name} in {text}"));
            data[i].parse().expect("a number")
        };
        Self {
            records: column("data.consumed.in.nMsg") as u64,
            seconds: column("fetch.time.ms") / 1000.0,
            rebalance_secs: column("rebalance.time.ms") / 1000.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_summary_line() {
        let text = "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec\n\
            2026-11-27 10:00:00:000, 2026-11-27 10:00:04:000, 954.0, 238.5, 1000000, 250000.0, 3000, 1000, 954.0, 1000000.0\n";
        assert_eq!(
            Summary::parse(text),
            Summary {
                records: 1_000_000,
                seconds: 1.0,
                rebalance_secs: 3.0
            }
        );
    }
}
