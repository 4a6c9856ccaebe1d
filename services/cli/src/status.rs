//! `docket status`: per consumer group (the joiner and each sink): state and live members,
//! lag per partition, the time of the last committed record, and the size of its
//! dead-letter topic.

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use serde::Serialize;

use crate::error::CliError;
use crate::kafka::{Kafka, Member, Tp};
use crate::local::Local;
use crate::services::{SERVICES, Service};
use crate::ui::{self, Output};

/// One group's view.
#[derive(Debug, Serialize)]
pub struct GroupStatus {
    /// Group id.
    pub group: String,
    /// Broker-side state (`Stable`, `Empty`, ...).
    pub state: String,
    /// Live members.
    pub members: Vec<Member>,
    /// Per partition of the topics it consumes.
    pub partitions: Vec<PartitionStatus>,
    /// Its dead-letter topic.
    pub dlq_topic: String,
    /// Records in it (`null` when the topic does not exist).
    pub dlq_records: Option<i64>,
    /// Topics of the group that do not exist.
    pub missing_topics: Vec<String>,
}

/// One partition of a group.
#[derive(Debug, Serialize)]
pub struct PartitionStatus {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Committed offset (none yet: `null`).
    pub committed: Option<i64>,
    /// High watermark.
    pub end: i64,
    /// Records not yet committed.
    pub lag: i64,
    /// Time of the last committed record (RFC 3339), when there is one.
    pub last_committed_record_time: Option<String>,
}

/// A group `status` reports, its topics and dead-letter topic.
pub struct GroupSpec {
    /// Group id.
    pub group: String,
    /// Topics it consumes.
    pub topics: Vec<String>,
    /// Its dead-letter topic.
    pub dlq: String,
}

/// The joiner's group and each sink's group of this checkout.
pub fn groups(local: &Local) -> Vec<GroupSpec> {
    let n = &local.names;
    let mut out = vec![GroupSpec {
        group: n.joiner_group(),
        topics: vec![n.decisions(), n.pending()],
        dlq: n.dlq("joiner"),
    }];
    let sinks = SERVICES
        .iter()
        .filter(|s| s.exists(local))
        .filter_map(|s: &Service| s.sink);
    out.extend(sinks.map(|sink| GroupSpec {
        group: n.sink_group(sink),
        topics: vec![n.enriched(), n.audit()],
        dlq: n.dlq(&format!("sink-{sink}")),
    }));
    out
}

/// Runs `docket status`.
pub async fn run(local: &Local, output: Output) -> Result<(), CliError> {
    let settings = local.kafka()?;
    let specs = groups(local);
    let statuses = tokio::task::block_in_place(|| {
        let kafka = Kafka::new(&settings)?;
        specs
            .iter()
            .map(|g| group_status(&kafka, g))
            .collect::<Result<Vec<_>, _>>()
    })?;
    match output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&statuses).unwrap_or_default()
        ),
        Output::Text => print!("{}", render(&statuses)),
    }
    Ok(())
}

/// Reads one group's status.
pub fn group_status(kafka: &Kafka, spec: &GroupSpec) -> Result<GroupStatus, CliError> {
    let (state, members) = kafka.members(&spec.group)?;
    let mut tps = Vec::new();
    let mut missing_topics = Vec::new();
    for topic in &spec.topics {
        match kafka.partitions_if_any(topic)? {
            Some(ps) => tps.extend(ps.into_iter().map(|p| (topic.clone(), p))),
            None => missing_topics.push(topic.clone()),
        }
    }
    let committed = kafka.committed(&spec.group, &tps)?;
    let last: BTreeMap<Tp, i64> = committed
        .iter()
        .filter_map(|(tp, c)| Some((tp.clone(), c.filter(|o| *o > 0)? - 1)))
        .collect();
    let times = kafka.record_times(&last)?;
    let behind: BTreeMap<Tp, i64> = committed
        .iter()
        .map(|(tp, c)| (tp.clone(), c.unwrap_or(0)))
        .collect();
    let readable = kafka.readable(&behind)?;
    let mut partitions = Vec::new();
    for tp in &tps {
        let (low, end) = kafka.watermarks(tp)?;
        let c = committed.get(tp).copied().flatten();
        partitions.push(PartitionStatus {
            topic: tp.0.clone(),
            partition: tp.1,
            committed: c,
            end,
            lag: if readable.contains(tp) {
                end - c.unwrap_or(low).max(low)
            } else {
                0
            },
            last_committed_record_time: times.get(tp).map(|ms| rfc3339(*ms)),
        });
    }
    Ok(GroupStatus {
        group: spec.group.clone(),
        state,
        members,
        partitions,
        dlq_records: match kafka.partitions_if_any(&spec.dlq)? {
            Some(_) => Some(kafka.size(&spec.dlq)?),
            None => None,
        },
        missing_topics,
        dlq_topic: spec.dlq.clone(),
    })
}

/// A record timestamp (ms since the epoch) as RFC 3339, to the second.
pub fn rfc3339(millis: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(millis.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// One row per group and topic: lag per partition, total, newest committed record time.
fn render(statuses: &[GroupStatus]) -> String {
    let mut rows = vec![
        [
            "GROUP",
            "STATE",
            "MEMBERS",
            "TOPIC",
            "LAG PER PARTITION",
            "LAG",
            "LAST COMMITTED RECORD",
            "DLQ",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for g in statuses {
        let mut topics: Vec<&str> = g.partitions.iter().map(|p| p.topic.as_str()).collect();
        topics.dedup();
        for (i, topic) in topics.iter().enumerate() {
            let parts: Vec<&PartitionStatus> =
                g.partitions.iter().filter(|p| p.topic == *topic).collect();
            let lags: Vec<String> = parts.iter().map(|p| p.lag.to_string()).collect();
            let newest = parts
                .iter()
                .filter_map(|p| p.last_committed_record_time.clone())
                .max();
            let first = i == 0;
            rows.push(vec![
                if first {
                    g.group.clone()
                } else {
                    String::new()
                },
                if first {
                    g.state.clone()
                } else {
                    String::new()
                },
                if first {
                    g.members.len().to_string()
                } else {
                    String::new()
                },
                (*topic).to_owned(),
                lags.join(" "),
                parts.iter().map(|p| p.lag).sum::<i64>().to_string(),
                newest.unwrap_or_else(|| "-".into()),
                if first {
                    format!(
                        "{} ({})",
                        g.dlq_records.map_or("missing".into(), |n| n.to_string()),
                        g.dlq_topic
                    )
                } else {
                    String::new()
                },
            ]);
        }
    }
    let mut out = ui::table(&rows);
    for g in statuses.iter().filter(|g| !g.missing_topics.is_empty()) {
        out += &format!(
            "{}: missing topics {}\n",
            g.group,
            g.missing_topics.join(", ")
        );
    }
    out
}
