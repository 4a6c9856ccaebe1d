//! Creates a benchmark's fresh topics and deletes them when it is done. Each run fills new
//! topics of about a gigabyte: [`delete_created_topics`] removes every topic this process
//! created at the end of a run, and the topics keep their records for an hour only
//! ([`RETENTION_MS`]), so that interrupted runs do not fill the broker's disk either.

use std::sync::Mutex;

use docket_kafka::KafkaSettings;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;

/// How long a benchmark topic keeps its records (milliseconds): longer than any run.
pub const RETENTION_MS: &str = "3600000";
/// How often its segments roll, so that they can be deleted (milliseconds).
pub const SEGMENT_MS: &str = "600000";

/// The topics this process created, for [`delete_created_topics`].
static CREATED: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn admin(settings: &KafkaSettings) -> AdminClient<DefaultClientContext> {
    ClientConfig::new()
        .set("bootstrap.servers", &settings.bootstrap_servers)
        .create()
        .expect("admin client")
}

/// Creates each `(name, partitions)` topic with one replica and [`RETENTION_MS`]; panics when
/// one cannot be made.
pub async fn create_topics(settings: &KafkaSettings, topics: &[(&str, i32)]) {
    let admin = admin(settings);
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
        let name = result.expect("topic created");
        CREATED.lock().expect("topic list").push(name);
    }
}

/// Deletes every topic [`create_topics`] made in this process; a topic that cannot be deleted
/// is reported and left to its retention.
pub async fn delete_created_topics(settings: &KafkaSettings) {
    let names = std::mem::take(&mut *CREATED.lock().expect("topic list"));
    if names.is_empty() {
        return;
    }
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    match admin(settings)
        .delete_topics(&refs, &AdminOptions::new())
        .await
    {
        Ok(results) => {
            for (name, error) in results.into_iter().filter_map(Result::err) {
                eprintln!("benchmark topic {name} not deleted: {error}");
            }
        }
        Err(e) => eprintln!("benchmark topics not deleted: {e}"),
    }
}
