//! Docket's delivery engine, shared by every sink: one consumer group per sink, decode,
//! batch by count, bytes and record time, send with retries (exponential backoff, jitter,
//! `Retry-After`), commit offsets only after the destination accepted a batch, dead-letter
//! poison records with their reason, and expose metrics, `/healthz` and `/readyz`.
//!
//! A sink implements [`Sink`] (encode one record, send one batch, classify failures) and
//! calls [`run`].

mod batch;
pub mod buffers;
mod commits;
mod config;
mod context;
mod deliver;
pub mod dlq;
mod engine;
mod error;
mod gzip;
pub mod json;
mod metrics;
mod partition;
mod prepare;
mod record;
mod sink;
mod split;

pub use batch::{Batch, Item, Record};
pub use config::{BatchLimits, ConfigError, EngineConfig, RetryPolicy, Streams, VARS, env, vars};
pub use docket_kafka::TopicPartition;
pub use docket_telemetry::Backoff;
pub use docket_telemetry::{Health, Shutdown, Trigger};
pub use engine::{Handles, run};
pub use error::EngineError;
pub use gzip::gzip;
pub use metrics::Metrics;
pub use record::{Body, Exported, Source, Stream};
pub use sink::{Accepted, EncodeError, SendError, Sink};
pub use split::{Answer, Delivered, send_splitting};
