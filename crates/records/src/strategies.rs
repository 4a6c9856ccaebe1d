//! Property-test strategies for every record the types can hold, shared by this crate's tests
//! and the end-to-end ones (the `strategies` feature).

use std::collections::BTreeMap;

use proptest::prelude::*;

use crate::*;

/// Any text: arbitrary Unicode, empty strings and multi-byte characters included, and long
/// ASCII runs (lengths that take two varint bytes).
pub fn text() -> impl Strategy<Value = String> {
    prop_oneof![".{0,24}", "[a-z]{60,200}"]
}

/// Present or absent text.
pub fn opt_text() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(text())
}

/// Any verdict.
pub fn verdict() -> impl Strategy<Value = Verdict> {
    prop_oneof![
        Just(Verdict::Allow),
        Just(Verdict::Modify),
        Just(Verdict::Redact),
        Just(Verdict::Deny)
    ]
}

prop_compose! {
    /// Any policy action.
    pub fn action()(
        policy_id in text(),
        policy_version in any::<i64>(),
        verdict in verdict(),
        rule_id in opt_text(),
        target in opt_text(),
        reason in opt_text(),
        redacted_count in any::<i32>(),
        entity_types in prop::collection::vec(text(), 0..4),
    ) -> PolicyAction {
        PolicyAction {
            policy_id, policy_version, verdict, rule_id, target, reason, redacted_count,
            entity_types,
        }
    }
}

/// Any policy reference, or none.
pub fn policy() -> impl Strategy<Value = Option<PolicyRef>> {
    let kind = prop_oneof![
        Just(PolicyKind::Guardrail),
        Just(PolicyKind::Redaction),
        Just(PolicyKind::Routing)
    ];
    proptest::option::of((text(), text(), kind, any::<i64>()).prop_map(
        |(id, name, kind, version)| PolicyRef {
            id,
            name,
            kind,
            version,
        },
    ))
}

/// Any decision.
pub fn decision() -> impl Strategy<Value = Decision> {
    let caller = (text(), opt_text(), opt_text(), opt_text()).prop_map(
        |(api_key_id, user, team, source_ip)| Caller {
            api_key_id,
            user,
            team,
            source_ip,
        },
    );
    let model =
        (text(), opt_text(), opt_text()).prop_map(|(requested, routed, provider)| ModelRoute {
            requested,
            routed,
            provider,
        });
    let stage = prop_oneof![Just(Stage::Request), Just(Stage::Response)];
    (
        (text(), text(), any::<i64>(), text(), stage, verdict()),
        (
            policy(),
            any::<i64>(),
            prop::collection::vec(action(), 0..4),
            caller,
            model,
        ),
    )
        .prop_map(
            |(
                (event_id, correlation_id, time, gateway_instance, stage, verdict),
                (policy, policy_set_version, actions, caller, model),
            )| {
                Decision {
                    event_id,
                    correlation_id,
                    time: Micros(time),
                    gateway_instance,
                    stage,
                    verdict,
                    policy,
                    policy_set_version,
                    actions,
                    caller,
                    model,
                }
            },
        )
}

/// Any audit event.
pub fn audit() -> impl Strategy<Value = Audit> {
    let outcome = prop_oneof![
        Just(Outcome::Success),
        Just(Outcome::Denied),
        Just(Outcome::Failed)
    ];
    let actor =
        (text(), text(), text(), opt_text()).prop_map(|(id, kind, role, source_ip)| Actor {
            id,
            kind,
            role,
            source_ip,
        });
    let resource =
        (text(), text(), opt_text()).prop_map(|(kind, id, name)| Resource { kind, id, name });
    (
        (text(), text(), any::<i64>(), actor, text()),
        (
            resource,
            outcome,
            prop::collection::btree_map(text(), text(), 0..4),
            any::<Option<i64>>(),
        ),
    )
        .prop_map(
            |(
                (event_id, request_id, time, actor, action),
                (resource, outcome, details, policy_version),
            )| Audit {
                event_id,
                request_id,
                time: Micros(time),
                actor,
                action,
                resource,
                outcome,
                details: BTreeMap::from_iter(details),
                policy_version,
            },
        )
}

/// Any enriched decision.
pub fn enriched() -> impl Strategy<Value = EnrichedDecision> {
    let status = prop_oneof![
        Just(JoinStatus::Joined),
        Just(JoinStatus::NoRecentEdit),
        Just(JoinStatus::NoPolicy),
        Just(JoinStatus::Late)
    ];
    let change = (
        text(),
        text(),
        text(),
        text(),
        any::<i64>(),
        any::<Option<i64>>(),
        any::<i64>(),
    )
        .prop_map(
            |(audit_event_id, action, actor_id, actor_role, time, policy_version, lag_ms)| {
                PolicyChange {
                    audit_event_id,
                    action,
                    actor_id,
                    actor_role,
                    time: Micros(time),
                    policy_version,
                    lag_ms,
                }
            },
        );
    (decision(), proptest::option::of(change), status).prop_map(
        |(decision, policy_change, join_status)| EnrichedDecision {
            decision,
            policy_change,
            join_status,
        },
    )
}
