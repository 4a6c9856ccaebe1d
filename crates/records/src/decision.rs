//! The decision record: one inline verdict of the gateway (schema `schemas/decision.avsc`).

use serde::{Deserialize, Serialize};

use crate::schema::{self, Record, RecordSchema};
use crate::time::Micros;

/// One verdict of the gateway for one stage of one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Unique id of the record (UUIDv7).
    pub event_id: String,
    /// W3C trace id of the request, 32 lowercase hex digits.
    pub correlation_id: String,
    /// When the verdict was reached.
    pub time: Micros,
    /// The gateway instance that reached it.
    pub gateway_instance: String,
    /// Request or response stage.
    pub stage: Stage,
    /// The strongest action taken.
    pub verdict: Verdict,
    /// The policy that drove the verdict; `None` for a plain allow.
    pub policy: Option<PolicyRef>,
    /// Revision of the whole rule set in force.
    pub policy_set_version: i64,
    /// Every policy that acted, in evaluation order.
    pub actions: Vec<PolicyAction>,
    /// Who the request is attributed to.
    pub caller: Caller,
    /// The target model.
    pub model: ModelRoute,
}

/// Where in a request's life a verdict was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Stage {
    /// Before the upstream call.
    Request,
    /// On the upstream's answer.
    Response,
}

/// The four verdicts, weakest first: `Ord` ranks them, so the strongest of several is `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verdict {
    /// Passed through unchanged.
    Allow,
    /// Request or route altered.
    Modify,
    /// Content masked.
    Redact,
    /// Blocked; no upstream answer was returned.
    Deny,
}

/// What a policy does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PolicyKind {
    /// Denies requests matching its conditions.
    Guardrail,
    /// Masks sensitive content.
    Redaction,
    /// Rewrites the model, provider or request parameters.
    Routing,
}

/// A policy as it stood when it acted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRef {
    /// Stable policy id.
    pub id: String,
    /// Name at the time of the decision.
    pub name: String,
    /// What the policy does.
    pub kind: PolicyKind,
    /// Version in force.
    pub version: i64,
}

/// One policy that acted on a request; never the matched content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyAction {
    /// Id of the policy.
    pub policy_id: String,
    /// Its version in force.
    pub policy_version: i64,
    /// What it did.
    pub verdict: Verdict,
    /// The rule that matched, if the policy has several.
    pub rule_id: Option<String>,
    /// What was acted on, as a path (`messages[2].content`, `model`).
    pub target: Option<String>,
    /// Why, in the policy author's words.
    pub reason: Option<String>,
    /// How many spans were masked.
    pub redacted_count: i32,
    /// Kinds of entity masked.
    pub entity_types: Vec<String>,
}

/// Who a request is attributed to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    /// Id of the API key (never the secret).
    pub api_key_id: String,
    /// User behind the key.
    pub user: Option<String>,
    /// Team owning the key.
    pub team: Option<String>,
    /// Client address.
    pub source_ip: Option<String>,
}

/// The model asked for and where the request went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelRoute {
    /// Model named by the caller.
    pub requested: String,
    /// Model called after routing.
    pub routed: Option<String>,
    /// Provider called.
    pub provider: Option<String>,
}

impl Record for Decision {
    fn schema() -> &'static RecordSchema {
        schema::decision()
    }

    fn read_own(body: &[u8]) -> Option<Result<Self, String>> {
        Some(crate::own::read_decision(body))
    }

    fn write_own(&self, out: &mut Vec<u8>) -> bool {
        crate::own::write_decision(self, out);
        true
    }
}
