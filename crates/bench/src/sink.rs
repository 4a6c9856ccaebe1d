//! A sink throughput benchmark: a fresh four-partition decisions topic (and an empty audit
//! topic) filled with ~1 KB realistic enriched decisions, the stock tool's rate on it, and the
//! sink binary run as a child until its group committed the topic's end.

use std::process::Command;

use docket_kafka::KafkaSettings;

use crate::fill::{Filled, fill_enriched};
use crate::process::Measured;
use crate::reference::consumer_performance;
use crate::report::{Rate, Report};
use crate::topics::create_topics;

const PARTITIONS: i32 = 4;
/// Framed Avro bytes per generated record.
const RECORD_BYTES: usize = 1_000;

/// One sink benchmark's topics and reference rate.
pub struct SinkBench {
    /// Kafka settings of the stack.
    pub settings: KafkaSettings,
    /// The filled decisions topic.
    pub filled: Filled,
    /// The stock tool's rate on it.
    pub reference: Rate,
    audit: String,
    run: String,
}

impl SinkBench {
    /// Creates and fills the topics for sink `name`, then measures the reference rate.
    pub async fn new(name: &str) -> Self {
        let settings = KafkaSettings::from_env().expect("valid DOCKET_* settings");
        let run = crate::run_id();
        let topic = format!("bench.{name}.d.{run}");
        let audit = format!("bench.{name}.a.{run}");
        create_topics(&settings, &[(&topic, PARTITIONS), (&audit, PARTITIONS)]).await;
        let filled = fill_enriched(&settings, &topic, crate::record_count(), RECORD_BYTES).await;
        let reference = consumer_performance(&settings, &filled);
        Self {
            settings,
            filled,
            reference,
            audit,
            run,
        }
    }

    /// The sink binary `exe` in `group` (see [`SinkBench::group`]) with this benchmark's
    /// topics and no HTTP endpoint; the caller adds the destination's variables.
    ///
    /// One setting differs from the defaults: the idle flush is 200 ms instead of the sink's
    /// 1–5 s. It never fires while records flow (it waits for a pause in consumption), so it
    /// changes none of the measured work; it only keeps the last, partial batch of each
    /// partition from waiting seconds at the end of the topic, which would count against a
    /// run of a few seconds as if it were throughput.
    pub fn command(&self, exe: &str, group: &str) -> Command {
        let mut command = Command::new(exe);
        command.envs([
            ("DOCKET_SINK_GROUP", group),
            ("DOCKET_SINK_DECISIONS_TOPIC", self.filled.topic.as_str()),
            ("DOCKET_SINK_AUDIT_TOPIC", self.audit.as_str()),
            ("DOCKET_SINK_HTTP_ADDR", "off"),
            ("DOCKET_SINK_IDLE_FLUSH", "200ms"),
        ]);
        command
    }

    /// The run's unique suffix (for buckets and the like).
    pub fn run_id(&self) -> &str {
        &self.run
    }

    /// Runs `command` until `group` committed the topic; prints and returns the report.
    pub async fn measure(&self, name: &str, command: Command, group: &str) -> Report {
        let finished = Measured::spawn(name, command)
            .until_committed(&self.settings, group, &self.filled.topic)
            .await;
        let report = Report::new(name, &self.filled, self.reference, finished);
        report.print();
        report
    }

    /// A fresh group for the run labelled `label`.
    pub fn group(&self, label: &str) -> String {
        format!("bench-sink-{label}-{}", self.run)
    }

    /// `DOCKET_BENCH_BASELINE`: the path of another build of the sink to run first, on the
    /// same topic, for before/after comparisons.
    pub fn baseline() -> Option<String> {
        std::env::var("DOCKET_BENCH_BASELINE").ok()
    }
}
