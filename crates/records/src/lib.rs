//! Docket's records: the decision and audit streams the gateway publishes, the enriched
//! decisions the joiner writes, their Avro schemas (the `.avsc` files in `schemas/`), and a
//! codec for the Confluent Schema Registry wire format.
//!
//! Writers register their schema under the topic-name strategy (`<topic>-value`) and frame
//! each body as magic byte 0, a 4-byte big-endian schema id, then the Avro body. Readers
//! look the writer schema up by id and resolve it against their own, so data written with
//! an older or newer compatible schema version still decodes.

mod audit;
mod codec;
mod decision;
mod enriched;
mod error;
mod id;
mod keys;
mod names;
mod own;
mod reader;
pub mod samples;
mod schema;
mod state;
#[cfg(any(test, feature = "strategies"))]
pub mod strategies;
#[cfg(test)]
mod testing;
mod time;
mod wire;
mod writer;

pub use audit::{Actor, Audit, Outcome, Resource};
pub use codec::{Decoder, Encoder, Registry, RegistryConfig};
pub use decision::{
    Caller, Decision, ModelRoute, PolicyAction, PolicyKind, PolicyRef, Stage, Verdict,
};
pub use enriched::{EnrichedDecision, JoinStatus, PolicyChange};
pub use error::{CodecError, SchemaError};
pub use id::event_id;
pub use keys::{DecisionKeys, decision_keys};
pub use schema::{Record, RecordSchema};
pub use state::GatewayState;
pub use time::Micros;
pub use wire::{FrameError, MAGIC_BYTE, WIRE_HEADER_LEN, frame, split_frame};
