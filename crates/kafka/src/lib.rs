//! Docket's Kafka plumbing shared by every service: the topic catalogue (from
//! `config/topics.conf`), consumer-group names, client settings loaded in layers
//! (defaults, then environment) and the producer and consumer builders with Docket's
//! delivery settings.

mod clients;
pub mod header;
mod settings;
mod topics;

pub use clients::{
    ClientError, ConsumerOptions, consumer, consumer_with_context, producer, transactional_producer,
};
pub use settings::{KafkaSettings, SettingsError, VARS, env as settings_env, vars};
pub use topics::{TopicSpec, TopicsError, catalogue, dlq_topic, group, topic};
