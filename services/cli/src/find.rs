//! `docket find <correlation-id>`: the decisions of one request and their joined policy
//! change, read from the enriched topic (every partition, from `--since` ago to its end at
//! the start of the search), as a readable block or JSON.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use docket_records::{EnrichedDecision, Registry, RegistryConfig};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::{Message, Offset, TopicPartitionList};
use serde::Serialize;

use crate::error::CliError;
use crate::kafka::{Kafka, Tp};
use crate::local::Local;
use crate::status::rfc3339;
use crate::ui::{self, Output};

/// `docket find`'s arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct FindArgs {
    /// The request's correlation id (32 hex digits, the `x-correlation-id` answer header).
    pub correlation_id: String,
    /// How far back to look.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    pub since: Duration,
    /// Text or JSON.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

/// One decision found, with where it was read.
#[derive(Debug, Serialize)]
pub struct Found {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// The enriched decision.
    pub record: EnrichedDecision,
}

/// Runs `docket find`.
pub async fn run(local: &Local, args: FindArgs) -> Result<(), CliError> {
    let cid = args.correlation_id.to_ascii_lowercase();
    if cid.len() != 32 || !cid.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(CliError::Usage(format!(
            "{:?} is not a correlation id (32 hex digits)",
            args.correlation_id
        )));
    }
    let topic = local.names.enriched();
    let found = search(local, &topic, &cid, args.since).await?;
    if found.is_empty() {
        return Err(CliError::Unexpected(format!(
            "no decision of {cid} in {topic} in the last {}",
            humantime::format_duration(args.since)
        )));
    }
    match args.output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&found).unwrap_or_default()
        ),
        Output::Text => found.iter().for_each(|f| print!("{}", block(f))),
    }
    Ok(())
}

/// Every enriched decision of `cid` in `topic` since `since` ago.
async fn search(
    local: &Local,
    topic: &str,
    cid: &str,
    since: Duration,
) -> Result<Vec<Found>, CliError> {
    let settings = local.kafka()?;
    let from_ms = SystemTime::now().checked_sub(since).unwrap_or(UNIX_EPOCH);
    let from_ms = from_ms
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as i64;
    let starts = tokio::task::block_in_place(|| {
        let kafka = Kafka::new(&settings)?;
        let tps = kafka.topic_partitions(&[topic.to_owned()])?;
        kafka.offsets_for_time(&tps, from_ms)
    })?;
    let mut pending: Vec<Tp> = starts.keys().cloned().collect();
    let mut eof_settings = settings.clone();
    eof_settings
        .properties
        .insert("enable.partition.eof".into(), "true".into());
    let consumer: StreamConsumer = docket_kafka::consumer(
        &eof_settings,
        &docket_kafka::ConsumerOptions {
            group_id: "docket-cli-find".into(),
            read_committed: true,
        },
    )?;
    let mut list = TopicPartitionList::new();
    for (tp, offset) in &starts {
        list.add_partition_offset(&tp.0, tp.1, Offset::Offset(*offset))
            .map_err(CliError::kafka("building a partition list"))?;
    }
    consumer
        .assign(&list)
        .map_err(CliError::kafka("assigning partitions"))?;
    let decoder = Registry::new(&RegistryConfig::new(settings.schema_registry_url.clone()))?
        .decoder::<EnrichedDecision>();
    let spinner = ui::spinner(&format!("reading {topic}"));
    let mut found = Vec::new();
    while !pending.is_empty() {
        let next = tokio::time::timeout(crate::kafka::TIMEOUT, consumer.recv())
            .await
            .map_err(|_| {
                CliError::Unexpected(format!("{topic} stopped answering before its end"))
            })?;
        let m = match next {
            Err(KafkaError::PartitionEOF(p)) => {
                pending.retain(|tp| tp.1 != p);
                continue;
            }
            other => other.map_err(CliError::kafka(format!("reading {topic}")))?,
        };
        if !payload_mentions(m.payload(), cid) {
            continue;
        }
        if let Ok(record) = decoder.decode(m.payload().unwrap_or_default()).await
            && record.decision.correlation_id == cid
        {
            found.push(Found {
                topic: m.topic().to_owned(),
                partition: m.partition(),
                offset: m.offset(),
                record,
            });
        }
    }
    spinner.finish_and_clear();
    Ok(found)
}

/// Whether the Avro body holds the id's bytes (strings are stored verbatim), a cheap filter
/// before decoding.
fn payload_mentions(payload: Option<&[u8]>, cid: &str) -> bool {
    payload.is_some_and(|p| p.windows(cid.len()).any(|w| w == cid.as_bytes()))
}

/// A decision as a readable block.
fn block(f: &Found) -> String {
    let d = &f.record.decision;
    let mut out = format!(
        "decision {} at {} ({:?} stage)\n  verdict   {:?}\n",
        d.event_id,
        rfc3339(d.time.0 / 1000),
        d.stage,
        d.verdict
    );
    match &d.policy {
        Some(p) => {
            out += &format!(
                "  policy    {} ({}, {:?}) version {}, policy set {}\n",
                p.id, p.name, p.kind, p.version, d.policy_set_version
            )
        }
        None => out += &format!("  policy    none (policy set {})\n", d.policy_set_version),
    }
    let c = &d.caller;
    out += &format!(
        "  caller    {} user {} team {} from {}\n",
        c.api_key_id,
        c.user.as_deref().unwrap_or("-"),
        c.team.as_deref().unwrap_or("-"),
        c.source_ip.as_deref().unwrap_or("-")
    );
    let m = &d.model;
    out += &format!(
        "  model     {} -> {} ({})\n",
        m.requested,
        m.routed.as_deref().unwrap_or(&m.requested),
        m.provider.as_deref().unwrap_or("-")
    );
    for a in &d.actions {
        out += &format!(
            "  action    {} v{} {:?} {}\n",
            a.policy_id,
            a.policy_version,
            a.verdict,
            a.entity_types.join(",")
        );
    }
    out += &match &f.record.policy_change {
        Some(p) => format!(
            "  join      {:?}: {} by {} ({}) at {}, produced version {}, {} ms before\n",
            f.record.join_status,
            p.action,
            p.actor_id,
            p.actor_role,
            rfc3339(p.time.0 / 1000),
            p.policy_version.map_or("-".into(), |v| v.to_string()),
            p.lag_ms
        ),
        None => format!("  join      {:?}\n", f.record.join_status),
    };
    out + &format!(
        "  kafka     {}[{}] offset {}\n\n",
        f.topic, f.partition, f.offset
    )
}
