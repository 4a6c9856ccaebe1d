//! The dead-letter topic: a poison record's original bytes, with the reason and its source
//! topic, partition and offset as headers.

use std::time::Duration;

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

use docket_kafka::header;

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
        let partition = source.partition.to_string();
        let offset = source.offset.to_string();
        let headers = OwnedHeaders::new()
            .insert(header_of(header::DLQ_REASON, reason))
            .insert(header_of(header::SOURCE_TOPIC, &source.topic))
            .insert(header_of(header::SOURCE_PARTITION, &partition))
            .insert(header_of(header::SOURCE_OFFSET, &offset));
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
            .map_err(|(e, _)| EngineError::DeadLetter(e.to_string()))
    }
}

fn header_of<'a>(key: &'a str, value: &'a str) -> Header<'a, &'a str> {
    Header {
        key,
        value: Some(value),
    }
}
