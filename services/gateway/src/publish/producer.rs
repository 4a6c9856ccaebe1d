//! The gateway's producer and how its delivery reports reach the driver task: each record
//! carries a [`Sent`] (its place in the log, and its drain round if any), and librdkafka's
//! polling thread hands every report back as a [`Report`] on one channel: no future, task or
//! channel of its own per record.

use std::time::Duration;

use docket_kafka::KafkaSettings;
use docket_records::Micros;
use rdkafka::ClientContext;
use rdkafka::producer::{DeliveryResult, ProducerContext, ThreadedProducer};
use tokio::sync::mpsc;

use super::spool::Pos;

/// librdkafka property bounding how long a record may wait for an acknowledgement.
const MESSAGE_TIMEOUT: &str = "message.timeout.ms";
/// librdkafka property: how long a batch waits for more records.
const LINGER: &str = "linger.ms";
/// The gateway's linger. Every record is in the log before its request is answered, so the
/// wait is off the request path; with Docket's 5 ms, keyed decisions over six partitions made
/// small batches, each with a fresh zstd context, and librdkafka's threads took 10.8 µs of CPU
/// per request at 10,000 requests/s (4.0 µs with 50 ms). `DOCKET_KAFKA_PROP_LINGER_MS`
/// overrides it.
const GATEWAY_LINGER_MS: &str = "50";

/// The producer the driver sends with.
pub type Producer = ThreadedProducer<Reports>;

/// A record handed to the producer.
#[derive(Debug, Clone, Copy)]
pub struct Sent {
    /// Where its log entry ends.
    pub pos: Pos,
    /// `decisions` or `audit`.
    pub stream: &'static str,
    /// When the record was made.
    pub time: Micros,
    /// The drain round it belongs to; `None` when sent directly.
    pub round: Option<u64>,
}

/// What became of a [`Sent`] record.
#[derive(Debug, Clone, Copy)]
pub struct Report {
    /// The record.
    pub sent: Sent,
    /// Whether Kafka acknowledged it. A record that was not may still have been written:
    /// librdkafka's own status cannot tell (it reports a batch whose broker closed the
    /// connection after writing it, then timed out in the queue, as *not persisted*).
    pub delivered: bool,
}

/// The producer's context: passes every delivery report to the driver.
pub struct Reports(mpsc::UnboundedSender<Report>);

impl ClientContext for Reports {}

impl ProducerContext for Reports {
    type DeliveryOpaque = Box<Sent>;

    fn delivery(&self, result: &DeliveryResult<'_>, sent: Box<Sent>) {
        let _ = self.0.send(Report {
            sent: *sent,
            delivered: result.is_ok(),
        });
    }
}

/// Creates the producer (the delivery timeout as librdkafka's message timeout, the gateway's
/// linger, unless set explicitly) and the channel its reports arrive on.
pub fn producer(
    settings: &KafkaSettings,
    timeout: Duration,
) -> Result<(Producer, mpsc::UnboundedReceiver<Report>), docket_kafka::ClientError> {
    let mut settings = settings.clone();
    settings
        .properties
        .entry(MESSAGE_TIMEOUT.to_owned())
        .or_insert_with(|| timeout.as_millis().to_string());
    settings
        .properties
        .entry(LINGER.to_owned())
        .or_insert_with(|| GATEWAY_LINGER_MS.to_owned());
    let (tx, rx) = mpsc::unbounded_channel();
    Ok((
        docket_kafka::producer_with_context(&settings, Reports(tx))?,
        rx,
    ))
}
