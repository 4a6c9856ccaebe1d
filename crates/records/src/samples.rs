//! Complete sample records, every optional field set: for the demo, tests and benchmarks.

use std::collections::BTreeMap;

use crate::{
    Actor, Audit, Caller, Decision, EnrichedDecision, JoinStatus, Micros, ModelRoute, Outcome,
    PolicyAction, PolicyChange, PolicyKind, PolicyRef, Resource, Stage, Verdict,
};

/// A fresh time-ordered event id (UUIDv7).
pub fn event_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A decision with every field, optional ones included, set.
pub fn decision() -> Decision {
    Decision {
        event_id: event_id(),
        correlation_id: "4bf92f3577b34da6a3ce929d0e0e4736".to_owned(),
        time: Micros(1_795_000_000_123_456),
        gateway_instance: "gateway-7f9c-0".to_owned(),
        stage: Stage::Request,
        verdict: Verdict::Redact,
        policy: Some(PolicyRef {
            id: "pol-pii".to_owned(),
            name: "Mask personal data".to_owned(),
            kind: PolicyKind::Redaction,
            version: 7,
        }),
        policy_set_version: 42,
        actions: vec![
            PolicyAction {
                policy_id: "pol-pii".to_owned(),
                policy_version: 7,
                verdict: Verdict::Redact,
                rule_id: Some("email".to_owned()),
                target: Some("messages[1].content".to_owned()),
                reason: Some("personal data is masked before leaving".to_owned()),
                redacted_count: 2,
                entity_types: vec!["EMAIL".to_owned(), "CARD_NUMBER".to_owned()],
            },
            PolicyAction {
                policy_id: "pol-route".to_owned(),
                policy_version: 3,
                verdict: Verdict::Modify,
                rule_id: None,
                target: Some("max_tokens".to_owned()),
                reason: None,
                redacted_count: 0,
                entity_types: vec![],
            },
        ],
        caller: Caller {
            api_key_id: "key-01".to_owned(),
            user: Some("alice@example.com".to_owned()),
            team: Some("research".to_owned()),
            source_ip: Some("10.1.2.3".to_owned()),
        },
        model: ModelRoute {
            requested: "gpt-4o".to_owned(),
            routed: Some("gpt-4o-mini".to_owned()),
            provider: Some("openai".to_owned()),
        },
    }
}

/// An audit event with every field set.
pub fn audit() -> Audit {
    Audit {
        event_id: event_id(),
        request_id: "req-5d1e".to_owned(),
        time: Micros(1_794_999_000_000_001),
        actor: Actor {
            id: "admin-bob".to_owned(),
            kind: "user".to_owned(),
            role: "policy_admin".to_owned(),
            source_ip: Some("192.0.2.10".to_owned()),
        },
        action: "policy.update".to_owned(),
        resource: Resource {
            kind: "policy".to_owned(),
            id: "pol-pii".to_owned(),
            name: Some("Mask personal data".to_owned()),
        },
        outcome: Outcome::Success,
        details: BTreeMap::from([
            ("changed".to_owned(), "patterns".to_owned()),
            ("previous_version".to_owned(), "6".to_owned()),
        ]),
        policy_version: Some(7),
    }
}

/// An enriched decision joined to [`audit`].
pub fn enriched() -> EnrichedDecision {
    let decision = decision();
    let audit = audit();
    EnrichedDecision {
        policy_change: Some(PolicyChange {
            audit_event_id: audit.event_id,
            action: audit.action,
            actor_id: audit.actor.id,
            actor_role: audit.actor.role,
            time: audit.time,
            policy_version: audit.policy_version,
            lag_ms: decision.time.millis_since(audit.time),
        }),
        decision,
        join_status: JoinStatus::Joined,
    }
}
