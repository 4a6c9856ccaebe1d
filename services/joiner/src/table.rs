//! The policy-edit table: every successful policy edit from the audit stream, per policy, in
//! time order. Every joiner instance holds the whole table.

use std::collections::HashMap;

use docket_records::{Audit, Micros, Outcome, PolicyChange};

/// Resource type of a policy in audit records.
const POLICY_RESOURCE: &str = "policy";

/// One successful edit of a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    /// `event_id` of the audit record.
    pub audit_event_id: String,
    /// `policy.update`, `policy.enable`, ...
    pub action: String,
    /// Who made it.
    pub actor_id: String,
    /// Their role.
    pub actor_role: String,
    /// When.
    pub time: Micros,
    /// The policy version it produced.
    pub version: Option<i64>,
}

impl Edit {
    /// The edit of `audit` and the policy it edited, if `audit` is a successful policy edit.
    pub fn from_audit(audit: &Audit) -> Option<(String, Edit)> {
        if audit.resource.kind != POLICY_RESOURCE || audit.outcome != Outcome::Success {
            return None;
        }
        let edit = Edit {
            audit_event_id: audit.event_id.clone(),
            action: audit.action.clone(),
            actor_id: audit.actor.id.clone(),
            actor_role: audit.actor.role.clone(),
            time: audit.time,
            version: audit.policy_version,
        };
        Some((audit.resource.id.clone(), edit))
    }

    /// The summary carried by an enriched decision made at `decision_time`.
    pub fn change_for(&self, decision_time: Micros) -> PolicyChange {
        PolicyChange {
            audit_event_id: self.audit_event_id.clone(),
            action: self.action.clone(),
            actor_id: self.actor_id.clone(),
            actor_role: self.actor_role.clone(),
            time: self.time,
            policy_version: self.version,
            lag_ms: decision_time.millis_since(self.time),
        }
    }
}

/// Edits of one policy, in time order.
#[derive(Debug, Default)]
struct History {
    edits: Vec<Edit>,
    max_version: Option<i64>,
}

/// Every known policy edit, by policy id.
#[derive(Debug, Default)]
pub struct PolicyTable {
    policies: HashMap<String, History>,
    len: usize,
}

impl PolicyTable {
    /// Adds an edit; the same audit event twice is kept once.
    pub fn insert(&mut self, policy_id: String, edit: Edit) {
        let history = self.policies.entry(policy_id).or_default();
        if history
            .edits
            .iter()
            .any(|e| e.audit_event_id == edit.audit_event_id)
        {
            return;
        }
        history.max_version = history.max_version.max(edit.version);
        let at = history.edits.partition_point(|e| e.time <= edit.time);
        history.edits.insert(at, edit);
        self.len += 1;
    }

    /// Adds `audit` if it is a successful policy edit; says whether it was one.
    pub fn apply(&mut self, audit: &Audit) -> bool {
        match Edit::from_audit(audit) {
            Some((policy, edit)) => {
                self.insert(policy, edit);
                true
            }
            None => false,
        }
    }

    /// Edits of `policy_id`, oldest first.
    pub fn edits(&self, policy_id: &str) -> &[Edit] {
        self.policies.get(policy_id).map_or(&[], |h| &h.edits)
    }

    /// The highest version any known edit of `policy_id` produced.
    pub fn max_version(&self, policy_id: &str) -> Option<i64> {
        self.policies.get(policy_id).and_then(|h| h.max_version)
    }

    /// Number of edits held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no edit is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}
