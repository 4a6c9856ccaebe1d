//! The dead-letter topic: a poison record's original bytes, with the reason and its source
//! topic, partition and offset as headers (built by `docket_kafka::header::dead_letter`).

use std::time::Duration;

use docket_kafka::header;
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::error::EngineError;
use crate::record::Source;

/// How long one dead-letter write may wait in the producer's queue.
const QUEUE_TIMEOUT: Duration = Duration::from_secs(30);

/// Writes poison records to the sink's dead-letter topic.
#[derive(Clone)]
pub struct DeadLetters {
    producer: FutureProducer,
    topic: String,
}

impl DeadLetters {
    /// A writer into `topic`.
    pub fn new(producer: FutureProducer, topic: &str) -> Self {
        Self {
            producer,
            topic: topic.to_owned(),
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
            .map(|_| ())
            .map_err(|(e, _)| EngineError::DeadLetter(e))
    }
}
