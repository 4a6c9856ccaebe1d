//! How far a consumer group has committed a topic.

use std::sync::Arc;
use std::time::Duration;

use docket_kafka::KafkaSettings;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::fill::ends;

/// The sum over `partitions` of `group`'s committed offsets in their topic (none counts as 0).
pub fn committed_total(consumer: &BaseConsumer, partitions: &TopicPartitionList) -> i64 {
    let Ok(got) = consumer.committed_offsets(partitions.clone(), Duration::from_secs(10)) else {
        return 0;
    };
    got.elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some(o),
            _ => None,
        })
        .sum()
}

/// Polls every 100 ms until `group` committed every partition of `topic` to its end; panics
/// when `alive` says the process doing the work stopped, or when `deadline` passes.
pub async fn wait_committed(
    settings: &KafkaSettings,
    group: &str,
    topic: &str,
    deadline: Duration,
    mut alive: impl FnMut() -> bool,
) {
    let ends = ends(settings, topic);
    let end: i64 = ends.iter().sum();
    let consumer: Arc<BaseConsumer> = Arc::new(
        ClientConfig::new()
            .set("bootstrap.servers", &settings.bootstrap_servers)
            .set("group.id", group)
            .create()
            .expect("offsets consumer"),
    );
    let mut tpl = TopicPartitionList::new();
    for p in 0..ends.len() as i32 {
        tpl.add_partition(topic, p);
    }
    let tpl = Arc::new(tpl);
    let started = tokio::time::Instant::now();
    loop {
        let (c, t) = (consumer.clone(), tpl.clone());
        let done = tokio::task::spawn_blocking(move || committed_total(&c, &t))
            .await
            .expect("committed offsets");
        if done >= end {
            return;
        }
        assert!(
            alive(),
            "the measured process stopped at {done} of {end} records"
        );
        assert!(
            started.elapsed() < deadline,
            "{group} committed {done} of {end} within {deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
