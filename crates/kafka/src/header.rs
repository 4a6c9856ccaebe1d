//! Names of the Kafka record headers Docket writes, shared by every service.

/// Why a record was dead-lettered.
pub const DLQ_REASON: &str = "docket.dlq.reason";
/// Topic the dead-lettered record was read from.
pub const SOURCE_TOPIC: &str = "docket.source.topic";
/// Partition it was read from.
pub const SOURCE_PARTITION: &str = "docket.source.partition";
/// Offset it was read from.
pub const SOURCE_OFFSET: &str = "docket.source.offset";
