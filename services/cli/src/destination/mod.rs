//! Where `verify` looks for a record: one reader per enabled destination, each answering the
//! exported records it holds, searched for a decision by correlation id and an audit event
//! by request id.

pub mod s3;

use docket_records::{Audit, EnrichedDecision};
use serde_json::Value;

use crate::error::CliError;
use crate::local::Local;
use crate::process;
use crate::services;

/// A destination `verify` reads back.
pub enum Destination {
    /// The S3 sink's bucket.
    S3(s3::S3Reader),
}

impl Destination {
    /// Every destination whose sink runs in the local run.
    pub fn enabled(local: &Local) -> Result<Vec<Self>, CliError> {
        let mut out = Vec::new();
        for name in services::sink_names() {
            let service = services::sink(name).expect("a sink of the table");
            if process::running(local, service).is_none() {
                continue;
            }
            if name == "s3" {
                out.push(Self::S3(s3::S3Reader::new(local)?));
            }
        }
        Ok(out)
    }

    /// Its name in tables.
    pub fn name(&self) -> &'static str {
        match self {
            Self::S3(_) => "s3",
        }
    }

    /// Reads what arrived since the last call.
    pub async fn refresh(&mut self) -> Result<(), CliError> {
        match self {
            Self::S3(r) => r.refresh().await,
        }
    }

    /// The exported records read so far.
    fn records(&self) -> &[Value] {
        match self {
            Self::S3(r) => r.records(),
        }
    }

    /// The enriched decision with `correlation_id`, if it arrived.
    pub fn decision(&self, correlation_id: &str) -> Option<EnrichedDecision> {
        self.records()
            .iter()
            .filter(|r| r["stream"] == "decision")
            .filter(|r| r["record"]["decision"]["correlation_id"] == correlation_id)
            .find_map(|r| serde_json::from_value(r["record"].clone()).ok())
    }

    /// The audit event with `request_id` and `action`, if it arrived.
    pub fn audit(&self, request_id: &str, action: &str) -> Option<Audit> {
        self.records()
            .iter()
            .filter(|r| r["stream"] == "audit")
            .filter(|r| r["record"]["request_id"] == request_id && r["record"]["action"] == action)
            .find_map(|r| serde_json::from_value(r["record"].clone()).ok())
    }
}
