//! The closing lines every throughput benchmark prints: the reference rate, the Docket rate,
//! their ratio and the Docket process's peak RSS.

use std::time::Duration;

use crate::fill::Filled;
use crate::process::Finished;

/// A rate over one filled topic.
#[derive(Debug, Clone, Copy)]
pub struct Rate {
    /// Records per second.
    pub records: f64,
    /// Megabytes (10^6 bytes) of Kafka payload per second.
    pub mb: f64,
}

impl Rate {
    /// `records_per_sec` over `filled`, with the matching payload rate.
    pub fn of(filled: &Filled, records_per_sec: f64) -> Self {
        let bytes_per_record = filled.bytes as f64 / filled.records.max(1) as f64;
        Self {
            records: records_per_sec,
            mb: records_per_sec * bytes_per_record / 1e6,
        }
    }

    /// All of `filled` in `elapsed`.
    pub fn over(filled: &Filled, elapsed: Duration) -> Self {
        Self::of(filled, filled.records as f64 / elapsed.as_secs_f64())
    }
}

/// One measured process against the reference.
#[derive(Debug, Clone)]
pub struct Report {
    /// What ran (`docket-joiner`, `sink-s3`, `kstreams-peer`).
    pub name: String,
    /// The stock tool's rate on the same topic.
    pub reference: Rate,
    /// The measured process's rate.
    pub rate: Rate,
    /// Its run.
    pub finished: Finished,
}

impl Report {
    /// The report of `name` over `filled`.
    pub fn new(name: &str, filled: &Filled, reference: Rate, finished: Finished) -> Self {
        let rate = Rate::over(filled, finished.elapsed);
        Self {
            name: name.to_owned(),
            reference,
            rate,
            finished,
        }
    }

    /// Prints one line: rates, ratio, peak RSS.
    pub fn print(&self) {
        println!(
            "{}: {:.0} records/s, {:.1} MB/s, {:.1}s | ConsumerPerformance {:.0} records/s | ratio {:.3} | peak RSS {} MiB | CPU {:.1} µs/record",
            self.name,
            self.rate.records,
            self.rate.mb,
            self.finished.elapsed.as_secs_f64(),
            self.reference.records,
            self.ratio(),
            self.finished.peak_rss_kib / 1024,
            self.cpu_per_record_us()
        );
    }

    /// CPU time the process used per record, microseconds.
    pub fn cpu_per_record_us(&self) -> f64 {
        let records = self.rate.records * self.finished.elapsed.as_secs_f64();
        self.finished.cpu.as_secs_f64() * 1e6 / records.max(1.0)
    }

    /// Docket's records/s over the tool's.
    pub fn ratio(&self) -> f64 {
        self.rate.records / self.reference.records
    }
}
