//! The enriched decision: a decision joined to the policy edit before it
//! (schema `schemas/enriched_decision.avsc`).

use serde::{Deserialize, Serialize};

use crate::decision::Decision;
use crate::schema::{self, Record, RecordSchema};
use crate::time::Micros;

/// A decision with the policy edit that preceded it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrichedDecision {
    /// The decision as recorded.
    pub decision: Decision,
    /// The joined edit; `None` unless `join_status` is `Joined`.
    pub policy_change: Option<PolicyChange>,
    /// How the join ended.
    pub join_status: JoinStatus,
}

/// Summary of the policy-edit audit event a decision was joined to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyChange {
    /// `event_id` of the audit record.
    pub audit_event_id: String,
    /// The edit's action.
    pub action: String,
    /// Who made it.
    pub actor_id: String,
    /// Their role.
    pub actor_role: String,
    /// When.
    pub time: Micros,
    /// The policy version it produced.
    pub policy_version: Option<i64>,
    /// Milliseconds from the edit to the decision.
    pub lag_ms: i64,
}

/// How a join ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JoinStatus {
    /// An edit was found.
    Joined,
    /// No edit inside the join horizon.
    NoRecentEdit,
    /// A plain allow; nothing to join.
    NoPolicy,
    /// The named version's edit did not arrive within the grace period.
    Late,
}

impl Record for EnrichedDecision {
    fn schema() -> &'static RecordSchema {
        schema::enriched_decision()
    }

    fn read_own(body: &[u8]) -> Option<Result<Self, String>> {
        Some(crate::own::read_enriched(body))
    }

    fn write_own(&self, out: &mut Vec<u8>) -> bool {
        crate::own::write_decision(&self.decision, out);
        crate::own::write_enriched_tail(self.policy_change.as_ref(), self.join_status, out);
        true
    }
}
