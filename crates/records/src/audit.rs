//! The audit record: one state-changing admin action (schema `schemas/audit.avsc`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::schema::{self, Record, RecordSchema};
use crate::time::Micros;

/// One administrative action, whether it succeeded or was refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Audit {
    /// Unique id of the record (UUIDv7).
    pub event_id: String,
    /// Id of the admin API request.
    pub request_id: String,
    /// When the action was decided.
    pub time: Micros,
    /// Who performed it.
    pub actor: Actor,
    /// `<resource>.<verb>`, e.g. `policy.update`.
    pub action: String,
    /// What it was performed on.
    pub resource: Resource,
    /// How it ended.
    pub outcome: Outcome,
    /// Action-specific details; never secrets.
    pub details: BTreeMap<String, String>,
    /// The policy version the edit produced, if any.
    pub policy_version: Option<i64>,
}

/// Who performed an action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// Administrator or service-account id.
    pub id: String,
    /// Kind of actor: `user`, `service_account`, `system`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Role held: `super_admin`, `policy_admin`, `viewer`.
    pub role: String,
    /// Client address.
    pub source_ip: Option<String>,
}

/// What an action was performed on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    /// Resource kind: `policy`, `model`, `provider`, `key`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Resource id.
    pub id: String,
    /// Human-readable name.
    pub name: Option<String>,
}

/// How an administrative action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Outcome {
    /// Applied.
    Success,
    /// Refused for lack of permission.
    Denied,
    /// Invalid, or failed to apply.
    Failed,
}

impl Record for Audit {
    fn schema() -> &'static RecordSchema {
        schema::audit()
    }
}
