//! The Kafka record headers Docket writes, shared by every service, and the one builder of
//! a dead-lettered record's headers.

use rdkafka::message::{Header, OwnedHeaders};

use crate::partition::TopicPartition;

/// Why a record was dead-lettered.
pub const DLQ_REASON: &str = "docket.dlq.reason";
/// Topic the dead-lettered record was read from.
pub const SOURCE_TOPIC: &str = "docket.source.topic";
/// Partition it was read from.
pub const SOURCE_PARTITION: &str = "docket.source.partition";
/// Offset it was read from.
pub const SOURCE_OFFSET: &str = "docket.source.offset";

/// The headers of a record dead-lettered for `reason`, read at `offset` of `source`.
pub fn dead_letter(
    reason: &str,
    source: &TopicPartition,
    offset: i64,
) -> [(&'static str, String); 4] {
    [
        (DLQ_REASON, reason.to_owned()),
        (SOURCE_TOPIC, source.topic.to_string()),
        (SOURCE_PARTITION, source.partition.to_string()),
        (SOURCE_OFFSET, offset.to_string()),
    ]
}

/// `pairs` as a Kafka record's headers.
pub fn owned(pairs: &[(&str, String)]) -> OwnedHeaders {
    pairs
        .iter()
        .fold(OwnedHeaders::new(), |headers, (key, value)| {
            headers.insert(Header {
                key,
                value: Some(value.as_str()),
            })
        })
}

#[cfg(test)]
mod tests {
    use rdkafka::message::Headers;

    use super::*;

    #[test]
    fn dead_letter_headers_name_the_reason_and_the_source() {
        let pairs = dead_letter("bad", &TopicPartition::new("t", 3), 42);
        let headers = owned(&pairs);
        let read: Vec<(String, String)> = headers
            .iter()
            .map(|h| {
                (
                    h.key.to_owned(),
                    String::from_utf8_lossy(h.value.unwrap()).into_owned(),
                )
            })
            .collect();
        assert_eq!(
            read,
            vec![
                (DLQ_REASON.to_owned(), "bad".to_owned()),
                (SOURCE_TOPIC.to_owned(), "t".to_owned()),
                (SOURCE_PARTITION.to_owned(), "3".to_owned()),
                (SOURCE_OFFSET.to_owned(), "42".to_owned()),
            ]
        );
    }
}
