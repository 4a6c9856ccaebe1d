//! Docket's Kafka plumbing shared by every service: the topic catalogue (from
//! `config/topics.conf`), consumer-group names, client settings loaded in layers
//! (defaults, then environment) and the producer and consumer builders with Docket's
//! delivery settings.

mod clients;
mod settings;
mod topics;

pub use clients::{ClientError, ConsumerOptions, consumer, producer};
pub use settings::{KafkaSettings, SettingsError, env as settings_env};
pub use topics::{TopicSpec, TopicsError, catalogue, dlq_topic, group, topic};
