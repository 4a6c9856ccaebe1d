//! The gateway state record: one resource of the administrative state as of one edit, on the
//! compacted state topic (schema `schemas/gateway_state.avsc`).

use serde::{Deserialize, Serialize};

use crate::schema::{self, Record, RecordSchema};

/// One resource as of one edit; its Kafka key is `<kind>/<id>`, a deletion a tombstone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayState {
    /// `policy`, `model`, `provider` or `key`.
    pub kind: String,
    /// Resource id.
    pub id: String,
    /// Version of the resource, one more than the one it replaced.
    pub version: i64,
    /// The resource in JSON (secrets only as digests).
    pub body: String,
    /// Id of the admin request that wrote it (its audit record's `request_id`), or a fresh
    /// id for the seeding.
    pub request_id: String,
}

impl GatewayState {
    /// The Kafka key of a resource.
    pub fn key_of(kind: &str, id: &str) -> String {
        format!("{kind}/{id}")
    }
}

impl Record for GatewayState {
    fn schema() -> &'static RecordSchema {
        schema::gateway_state()
    }
}
