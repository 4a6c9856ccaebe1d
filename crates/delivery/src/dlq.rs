//! The dead-letter topic: a poison record's original bytes, with the reason and its source
//! topic, partition and offset as headers (built by `docket_kafka::header::dead_letter`);
//! every record written is logged and counted.

use std::time::Duration;

use docket_kafka::header;
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::error::EngineError;
use crate::metrics::Metrics;
use crate::record::Source;

/// How long one dead-letter write may wait in the producer's queue.
const QUEUE_TIMEOUT: Duration = Duration::from_secs(30);

/// Writes poison records to the sink's dead-letter topic.
#[derive(Clone)]
pub struct DeadLetters {
    producer: FutureProducer,
    topic: String,
    metrics: Metrics,
}

impl DeadLetters {
    /// A writer into `topic` that counts in `metrics`.
    pub fn new(producer: FutureProducer, topic: &str, metrics: Metrics) -> Self {
        Self {
            producer,
            topic: topic.to_owned(),
            metrics,
        }
    }

    /// Writes `payload` with `reason`; returns once Kafka acknowledged it.
    pub async fn send(
        &self,
        payload: &[u8],
        key: Option<&[u8]>,
        reason: &str,
        source: &Source,
    ) -> Result<(), EngineError> {
        let tp = source.topic_partition();
        tracing::warn!(%tp, offset = source.offset, reason, "record to the dead-letter topic");
        let headers = header::owned(&header::dead_letter(reason, &tp, source.offset));
        let mut record = FutureRecord::<[u8], [u8]>::to(&self.topic)
            .payload(payload)
            .headers(headers);
        if let Some(key) = key {
            record = record.key(key);
        }
        self.producer
            .send(record, QUEUE_TIMEOUT)
            .await
            .map_err(|(e, _)| EngineError::DeadLetter(e))?;
        self.metrics.dead_lettered.inc();
        Ok(())
    }
}
