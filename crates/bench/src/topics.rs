//! Creates a benchmark's fresh topics. Each run fills new topics of about a gigabyte, so
//! they keep their records for an hour only ([`RETENTION_MS`]): runs after that, and runs that
//! were interrupted, do not fill the broker's disk.

use docket_kafka::KafkaSettings;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;

/// How long a benchmark topic keeps its records (milliseconds): longer than any run.
pub const RETENTION_MS: &str = "3600000";
/// How often its segments roll, so that they can be deleted (milliseconds).
pub const SEGMENT_MS: &str = "600000";

/// Creates each `(name, partitions)` topic with one replica and [`RETENTION_MS`]; panics when
/// one cannot be made.
pub async fn create_topics(settings: &KafkaSettings, topics: &[(&str, i32)]) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &settings.bootstrap_servers)
        .create()
        .expect("admin client");
    let new: Vec<NewTopic> = topics
        .iter()
        .map(|(name, partitions)| {
            NewTopic::new(name, *partitions, TopicReplication::Fixed(1))
                .set("retention.ms", RETENTION_MS)
                .set("segment.ms", SEGMENT_MS)
        })
        .collect();
    for result in admin
        .create_topics(&new, &AdminOptions::new())
        .await
        .expect("create topics")
    {
        result.expect("topic created");
    }
}
