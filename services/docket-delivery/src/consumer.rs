//! The sink's Kafka consumer: Docket's consumer settings (no auto-commit, no automatic
//! offset store, earliest) with the engine's context and librdkafka statistics for lag.

use docket_kafka::KafkaSettings;
use rdkafka::ClientConfig;
use rdkafka::consumer::StreamConsumer;

use crate::context::EngineContext;
use crate::error::EngineError;

/// How often librdkafka reports statistics (consumer lag).
const STATISTICS_INTERVAL_MS: &str = "5000";

/// The consumer of the sink's group; `read_committed` so aborted joiner transactions are
/// never exported.
pub fn build(
    settings: &KafkaSettings,
    group_id: &str,
    context: EngineContext,
) -> Result<StreamConsumer<EngineContext>, EngineError> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &settings.bootstrap_servers)
        .set("client.id", &settings.client_id)
        .set("group.id", group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed")
        .set("statistics.interval.ms", STATISTICS_INTERVAL_MS);
    for (k, v) in &settings.properties {
        config.set(k, v);
    }
    config
        .create_with_context(context)
        .map_err(|e| EngineError::Kafka(format!("cannot create the consumer: {e}")))
}
