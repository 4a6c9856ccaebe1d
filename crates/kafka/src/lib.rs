//! Docket's Kafka plumbing shared by every service: the topic catalogue (from
//! `config/topics.conf`), consumer-group names, client settings loaded in layers
//! (defaults, then environment) and the producer and consumer builders with Docket's
//! delivery settings.

mod clients;
pub mod header;
pub mod member;
mod partition;
mod settings;
mod topics;

pub use clients::{
    CLOSE_LIMIT, ClientError, ConsumerOptions, close, consumer, consumer_with_context, producer,
    producer_with_context, transactional_producer,
};
pub use member::{consumer_lag, instance_name};
pub use partition::TopicPartition;
pub use settings::{KafkaSettings, SettingsError, VARS, env as settings_env, vars};
pub use topics::{TopicSpec, TopicsError, catalogue, dlq_topic, group, topic};
