//! What `status`, `replay` and `find` ask Kafka, through rdkafka's consumer APIs (blocking
//! calls; callers run them off the async workers): partitions, watermarks, a group's members
//! and committed offsets, offsets for a time, the time of the record at an offset, and
//! committing a group's offsets while it has no members.

use std::collections::BTreeMap;
use std::time::Duration;

use docket_kafka::KafkaSettings;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use serde::Serialize;

use crate::error::CliError;

/// How long one Kafka request may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A topic partition.
pub type Tp = (String, i32);

/// A live member of a group.
#[derive(Debug, Clone, Serialize)]
pub struct Member {
    /// `client.id`.
    pub client_id: String,
    /// Client host as the broker saw it.
    pub host: String,
}

/// A Kafka connection for inspection, outside every group.
pub struct Kafka {
    settings: KafkaSettings,
    consumer: BaseConsumer,
}

impl Kafka {
    /// Connects (lazily) with `settings`.
    pub fn new(settings: &KafkaSettings) -> Result<Self, CliError> {
        let consumer = config(settings, "docket-cli-inspect")
            .create()
            .map_err(CliError::kafka("creating a consumer"))?;
        Ok(Self {
            settings: settings.clone(),
            consumer,
        })
    }

    /// Partition ids of `topic` (an error when it does not exist).
    pub fn partitions(&self, topic: &str) -> Result<Vec<i32>, CliError> {
        self.partitions_if_any(topic)?
            .ok_or_else(|| CliError::Unexpected(format!("topic {topic} does not exist")))
    }

    /// Partition ids of `topic`, `None` when it does not exist.
    pub fn partitions_if_any(&self, topic: &str) -> Result<Option<Vec<i32>>, CliError> {
        let md = self
            .consumer
            .fetch_metadata(Some(topic), TIMEOUT)
            .map_err(CliError::kafka(format!("reading the metadata of {topic}")))?;
        Ok(md
            .topics()
            .first()
            .filter(|t| t.error().is_none() && !t.partitions().is_empty())
            .map(|t| t.partitions().iter().map(|p| p.id()).collect()))
    }

    /// Every partition of `topics`.
    pub fn topic_partitions(&self, topics: &[String]) -> Result<Vec<Tp>, CliError> {
        let mut out = Vec::new();
        for t in topics {
            out.extend(self.partitions(t)?.into_iter().map(|p| (t.clone(), p)));
        }
        Ok(out)
    }

    /// Low and high watermark of a partition.
    pub fn watermarks(&self, tp: &Tp) -> Result<(i64, i64), CliError> {
        self.consumer
            .fetch_watermarks(&tp.0, tp.1, TIMEOUT)
            .map_err(CliError::kafka(format!(
                "reading the offsets of {}[{}]",
                tp.0, tp.1
            )))
    }

    /// Records held by `topic` (sum of high minus low watermarks).
    pub fn size(&self, topic: &str) -> Result<i64, CliError> {
        let mut total = 0;
        for p in self.partitions(topic)? {
            let (low, high) = self.watermarks(&(topic.to_owned(), p))?;
            total += high - low;
        }
        Ok(total)
    }

    /// The group's state and live members (asked up to five times, half a second apart: a
    /// dropped broker connection fails requests while it reconnects).
    pub fn members(&self, group: &str) -> Result<(String, Vec<Member>), CliError> {
        let mut attempt = 0;
        let list = loop {
            match self.consumer.fetch_group_list(Some(group), TIMEOUT) {
                Ok(list) => break list,
                Err(_) if attempt < 4 => {
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(e) => return Err(CliError::kafka(format!("describing group {group}"))(e)),
            }
        };
        let Some(g) = list.groups().iter().find(|g| g.name() == group) else {
            return Ok(("Dead".into(), Vec::new()));
        };
        let members = g
            .members()
            .iter()
            .map(|m| Member {
                client_id: m.client_id().to_owned(),
                host: m.client_host().to_owned(),
            })
            .collect();
        Ok((g.state().to_owned(), members))
    }

    /// The group's committed offsets of `tps` (`None`: nothing committed).
    pub fn committed(
        &self,
        group: &str,
        tps: &[Tp],
    ) -> Result<BTreeMap<Tp, Option<i64>>, CliError> {
        let consumer: BaseConsumer = config(&self.settings, group)
            .create()
            .map_err(CliError::kafka("creating a consumer"))?;
        let list = consumer
            .committed_offsets(tpl(tps, |_| Offset::Invalid)?, TIMEOUT)
            .map_err(CliError::kafka(format!(
                "reading the committed offsets of {group}"
            )))?;
        Ok(list
            .elements()
            .iter()
            .map(|e| {
                (
                    (e.topic().to_owned(), e.partition()),
                    e.offset().to_raw().filter(|o| *o >= 0),
                )
            })
            .collect())
    }

    /// The first offset at or after `millis` per partition (the high watermark when none).
    pub fn offsets_for_time(&self, tps: &[Tp], millis: i64) -> Result<BTreeMap<Tp, i64>, CliError> {
        let list = self
            .consumer
            .offsets_for_times(tpl(tps, |_| Offset::Offset(millis))?, TIMEOUT)
            .map_err(CliError::kafka("looking up offsets for a time"))?;
        let mut out = BTreeMap::new();
        for e in list.elements() {
            let tp = (e.topic().to_owned(), e.partition());
            let offset = match e.offset().to_raw() {
                Some(o) if o >= 0 => o,
                _ => self.watermarks(&tp)?.1,
            };
            out.insert(tp, offset);
        }
        Ok(out)
    }

    /// The timestamp (ms) of the record at each given offset, when it can be read.
    pub fn record_times(&self, at: &BTreeMap<Tp, i64>) -> Result<BTreeMap<Tp, i64>, CliError> {
        let mut out = BTreeMap::new();
        if at.is_empty() {
            return Ok(out);
        }
        let consumer: BaseConsumer = config(&self.settings, "docket-cli-inspect")
            .create()
            .map_err(CliError::kafka("creating a consumer"))?;
        let list = tpl(&at.keys().cloned().collect::<Vec<_>>(), |tp| {
            Offset::Offset(at[tp])
        })?;
        consumer
            .assign(&list)
            .map_err(CliError::kafka("assigning partitions"))?;
        let deadline = std::time::Instant::now() + TIMEOUT;
        while out.len() < at.len() && std::time::Instant::now() < deadline {
            let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) else {
                continue;
            };
            let tp = (m.topic().to_owned(), m.partition());
            if at.get(&tp) == Some(&m.offset())
                && let Some(ms) = m.timestamp().to_millis()
            {
                out.insert(tp, ms);
            }
        }
        Ok(out)
    }

    /// The partitions holding a readable (committed, non-marker) record at or after the given
    /// offset: a transactional topic's last offsets may hold only commit markers.
    pub fn readable(&self, at: &BTreeMap<Tp, i64>) -> Result<Vec<Tp>, CliError> {
        let mut topics: Vec<&String> = at.keys().map(|tp| &tp.0).collect();
        topics.dedup();
        let mut out = Vec::new();
        for topic in topics {
            let of_topic: BTreeMap<Tp, i64> = at
                .iter()
                .filter(|(tp, _)| tp.0 == *topic)
                .map(|(k, v)| (k.clone(), *v))
                .collect();
            out.extend(self.readable_in_topic(&of_topic)?);
        }
        Ok(out)
    }

    /// [`Self::readable`] for partitions of one topic (end-of-partition events name only the
    /// partition).
    fn readable_in_topic(&self, at: &BTreeMap<Tp, i64>) -> Result<Vec<Tp>, CliError> {
        let consumer: BaseConsumer = config(&self.settings, "docket-cli-inspect")
            .set("enable.partition.eof", "true")
            .create()
            .map_err(CliError::kafka("creating a consumer"))?;
        let list = tpl(&at.keys().cloned().collect::<Vec<_>>(), |tp| {
            Offset::Offset(at[tp])
        })?;
        consumer
            .assign(&list)
            .map_err(CliError::kafka("assigning partitions"))?;
        let mut open: Vec<Tp> = at.keys().cloned().collect();
        let mut out = Vec::new();
        let deadline = std::time::Instant::now() + TIMEOUT;
        while !open.is_empty() && std::time::Instant::now() < deadline {
            match consumer.poll(Duration::from_millis(200)) {
                Some(Ok(m)) => {
                    let tp = (m.topic().to_owned(), m.partition());
                    if open.contains(&tp) {
                        open.retain(|t| *t != tp);
                        out.push(tp);
                    }
                }
                Some(Err(KafkaError::PartitionEOF(p))) => open.retain(|t| t.1 != p),
                _ => {}
            }
        }
        out.extend(open);
        Ok(out)
    }

    /// Commits `offsets` for `group`, which must have no live members.
    pub fn commit(&self, group: &str, offsets: &BTreeMap<Tp, i64>) -> Result<(), CliError> {
        let consumer: BaseConsumer = config(&self.settings, group)
            .create()
            .map_err(CliError::kafka("creating a consumer"))?;
        let list = tpl(&offsets.keys().cloned().collect::<Vec<_>>(), |tp| {
            Offset::Offset(offsets[tp])
        })?;
        consumer
            .commit(&list, CommitMode::Sync)
            .map_err(CliError::kafka(format!("committing offsets for {group}")))
    }
}

/// A consumer configuration in `group` that never commits by itself.
fn config(settings: &KafkaSettings, group: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &settings.bootstrap_servers)
        .set("client.id", &settings.client_id)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed");
    for (k, v) in &settings.properties {
        c.set(k, v);
    }
    c
}

/// A partition list with an offset per partition.
fn tpl(tps: &[Tp], offset: impl Fn(&Tp) -> Offset) -> Result<TopicPartitionList, CliError> {
    let mut list = TopicPartitionList::new();
    for tp in tps {
        list.add_partition_offset(&tp.0, tp.1, offset(tp))
            .map_err(CliError::kafka("building a partition list"))?;
    }
    Ok(list)
}
