//! Decisions and enriched decisions read from a body written with their own schema
//! (`schemas/decision.avsc`, `schemas/enriched_decision.avsc`) by hand, field by field, instead
//! of through the generic decoder: that one finds each field by its name, zero-fills every
//! string before copying it in, and was a seventh of a sink's CPU per record. Every check of
//! the generic decoding is kept (lengths, UTF-8, enum and union indexes, the `int` range,
//! nothing left over); the tests hold both to the same answer on any byte of a body.
//!
//! Decisions and an enriched decision's fields after its decision are written by hand too
//! (the gateway writes a decision per request, the joiner a tail per decision; apache-avro's
//! serializer looks each field up in the schema by name): the tests hold the bytes to
//! apache-avro's for any record.

use crate::decision::{
    Caller, Decision, ModelRoute, PolicyAction, PolicyKind, PolicyRef, Stage, Verdict,
};
use crate::enriched::{EnrichedDecision, JoinStatus, PolicyChange};
use crate::reader::Reader;
use crate::time::Micros;
use crate::writer::Writer;

/// A decision from a body in its own schema.
pub(crate) fn read_decision(body: &[u8]) -> Result<Decision, String> {
    let mut r = Reader::new(body);
    let decision = decision(&mut r)?;
    r.end()?;
    Ok(decision)
}

/// An enriched decision from a body in its own schema.
pub(crate) fn read_enriched(body: &[u8]) -> Result<EnrichedDecision, String> {
    let mut r = Reader::new(body);
    let enriched = EnrichedDecision {
        decision: decision(&mut r)?,
        policy_change: r.optional("policy_change", policy_change)?,
        join_status: symbol(&mut r, "join_status", JoinStatus::ALL)?,
    };
    r.end()?;
    Ok(enriched)
}

fn decision(r: &mut Reader<'_>) -> Result<Decision, String> {
    Ok(Decision {
        event_id: r.string("event_id")?.to_owned(),
        correlation_id: r.string("correlation_id")?.to_owned(),
        time: Micros(r.long("time")?),
        gateway_instance: r.string("gateway_instance")?.to_owned(),
        stage: symbol(r, "stage", Stage::ALL)?,
        verdict: symbol(r, "verdict", Verdict::ALL)?,
        policy: r.optional("policy", |r| {
            Ok(PolicyRef {
                id: r.string("policy.id")?.to_owned(),
                name: r.string("policy.name")?.to_owned(),
                kind: symbol(r, "policy.kind", PolicyKind::ALL)?,
                version: r.long("policy.version")?,
            })
        })?,
        policy_set_version: r.long("policy_set_version")?,
        actions: r.items("actions", action)?,
        caller: Caller {
            api_key_id: r.string("caller.api_key_id")?.to_owned(),
            user: owned(r.optional_string("caller.user")?),
            team: owned(r.optional_string("caller.team")?),
            source_ip: owned(r.optional_string("caller.source_ip")?),
        },
        model: ModelRoute {
            requested: r.string("model.requested")?.to_owned(),
            routed: owned(r.optional_string("model.routed")?),
            provider: owned(r.optional_string("model.provider")?),
        },
    })
}

fn action(r: &mut Reader<'_>) -> Result<PolicyAction, String> {
    Ok(PolicyAction {
        policy_id: r.string("actions[].policy_id")?.to_owned(),
        policy_version: r.long("actions[].policy_version")?,
        verdict: symbol(r, "actions[].verdict", Verdict::ALL)?,
        rule_id: owned(r.optional_string("actions[].rule_id")?),
        target: owned(r.optional_string("actions[].target")?),
        reason: owned(r.optional_string("actions[].reason")?),
        redacted_count: r.int("actions[].redacted_count")?,
        entity_types: r.items("actions[].entity_types", |r| {
            r.string("actions[].entity_types[]").map(str::to_owned)
        })?,
    })
}

fn policy_change(r: &mut Reader<'_>) -> Result<PolicyChange, String> {
    Ok(PolicyChange {
        audit_event_id: r.string("policy_change.audit_event_id")?.to_owned(),
        action: r.string("policy_change.action")?.to_owned(),
        actor_id: r.string("policy_change.actor_id")?.to_owned(),
        actor_role: r.string("policy_change.actor_role")?.to_owned(),
        time: Micros(r.long("policy_change.time")?),
        policy_version: r.optional("policy_change.policy_version", |r| {
            r.long("policy_change.policy_version")
        })?,
        lag_ms: r.long("policy_change.lag_ms")?,
    })
}

/// Appends the body of `d` in its own schema to `out`.
pub(crate) fn write_decision(d: &Decision, out: &mut Vec<u8>) {
    let mut w = Writer::new(out);
    w.string(&d.event_id);
    w.string(&d.correlation_id);
    w.long(d.time.0);
    w.string(&d.gateway_instance);
    w.symbol(&d.stage, Stage::ALL);
    w.symbol(&d.verdict, Verdict::ALL);
    w.optional(d.policy.as_ref(), |w, p| {
        w.string(&p.id);
        w.string(&p.name);
        w.symbol(&p.kind, PolicyKind::ALL);
        w.long(p.version);
    });
    w.long(d.policy_set_version);
    w.items(&d.actions, write_action);
    w.string(&d.caller.api_key_id);
    w.optional_string(d.caller.user.as_ref());
    w.optional_string(d.caller.team.as_ref());
    w.optional_string(d.caller.source_ip.as_ref());
    w.string(&d.model.requested);
    w.optional_string(d.model.routed.as_ref());
    w.optional_string(d.model.provider.as_ref());
}

/// Appends an enriched decision's fields after its decision to `out`.
pub(crate) fn write_enriched_tail(
    change: Option<&PolicyChange>,
    join_status: JoinStatus,
    out: &mut Vec<u8>,
) {
    let mut w = Writer::new(out);
    w.optional(change, |w, c| {
        w.string(&c.audit_event_id);
        w.string(&c.action);
        w.string(&c.actor_id);
        w.string(&c.actor_role);
        w.long(c.time.0);
        w.optional(c.policy_version.as_ref(), |w, v| w.long(*v));
        w.long(c.lag_ms);
    });
    w.symbol(&join_status, JoinStatus::ALL);
}

fn write_action(w: &mut Writer<'_>, a: &PolicyAction) {
    w.string(&a.policy_id);
    w.long(a.policy_version);
    w.symbol(&a.verdict, Verdict::ALL);
    w.optional_string(a.rule_id.as_ref());
    w.optional_string(a.target.as_ref());
    w.optional_string(a.reason.as_ref());
    w.int(a.redacted_count);
    w.items(&a.entity_types, |w, t| w.string(t));
}

fn symbol<T: Copy>(r: &mut Reader<'_>, field: &str, symbols: &[T]) -> Result<T, String> {
    r.enumeration(field, symbols.len()).map(|i| symbols[i])
}

fn owned(text: Option<&str>) -> Option<String> {
    text.map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::samples;
    use crate::strategies::{decision, enriched};
    use crate::testing::{body, edited, generic, minimal, single_byte_changes};

    /// The sample with every enum at its last symbol, two actions (one with no entity types)
    /// and a change without a policy version.
    fn varied() -> EnrichedDecision {
        let mut e = samples::enriched();
        let d = &mut e.decision;
        d.stage = Stage::Response;
        d.verdict = Verdict::Deny;
        if let Some(p) = d.policy.as_mut() {
            p.kind = PolicyKind::Routing;
        }
        let mut second = d.actions[0].clone();
        second.entity_types.clear();
        second.verdict = Verdict::Allow;
        second.rule_id = None;
        d.actions.push(second);
        if let Some(c) = e.policy_change.as_mut() {
            c.policy_version = None;
        }
        e.join_status = JoinStatus::Late;
        e
    }

    fn samples() -> [EnrichedDecision; 3] {
        [samples::enriched(), minimal(), varied()]
    }

    #[test]
    fn reads_every_sample_as_written() {
        for e in samples() {
            assert_eq!(read_enriched(&body(&e)), Ok(e.clone()));
            assert_eq!(read_decision(&body(&e.decision)), Ok(e.decision));
        }
    }

    #[test]
    fn refuses_what_is_left_over_or_cut_short() {
        let mut b = body(&samples::enriched());
        for cut in 0..b.len() {
            assert!(read_enriched(&b[..cut]).is_err(), "cut at {cut}");
        }
        b.push(0);
        assert_eq!(
            read_enriched(&b).unwrap_err(),
            "1 bytes left after the record"
        );
    }

    /// An `int` written as a long beyond its range (the action's redacted count): refused by
    /// both.
    #[test]
    fn refuses_an_int_beyond_its_range() {
        let e = samples::enriched();
        let mut a = e.decision.actions[0].clone();
        a.redacted_count = 0x2a2a_2a2a;
        let mut changed = e.clone();
        changed.decision.actions = vec![a];
        let b = body(&changed);
        // 0x2a2a2a2a zigzagged is 0x54545454: five varint bytes, the last 0x05.
        let at = b
            .windows(5)
            .position(|w| w == [0xd4, 0xa8, 0xd1, 0xa2, 0x05])
            .expect("the count's varint");
        let mut beyond = b.clone();
        beyond[at + 4] = 0x45; // the same low bits, and bit 34 of the zigzag: beyond an int
        assert_eq!(generic::<EnrichedDecision>(&beyond), None);
        let err = read_enriched(&beyond).unwrap_err();
        assert!(err.contains("is not an int"), "{err}");
    }

    /// Every single-byte change of each sample: the same answer as the generic decoding,
    /// for both record types.
    #[test]
    fn agrees_with_the_generic_decoding_on_every_single_byte_change() {
        for e in samples() {
            for (at, v, changed) in single_byte_changes(&body(&e)) {
                let got = read_enriched(&changed);
                assert_eq!(
                    got.clone().ok(),
                    generic(&changed),
                    "byte {at} = {v}: {got:?}"
                );
            }
            for (at, v, changed) in single_byte_changes(&body(&e.decision)) {
                let got = read_decision(&changed);
                assert_eq!(
                    got.clone().ok(),
                    generic(&changed),
                    "decision byte {at} = {v}"
                );
            }
        }
    }

    #[test]
    fn writes_every_sample_as_apache_avro_does() {
        for e in samples() {
            let mut out = Vec::new();
            write_decision(&e.decision, &mut out);
            assert_eq!(out, body(&e.decision));
            write_enriched_tail(e.policy_change.as_ref(), e.join_status, &mut out);
            assert_eq!(out, body(&e));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3_000))]

        /// Any decision: written byte for byte as apache-avro writes it, and read back.
        #[test]
        fn writes_any_decision_as_apache_avro_does(d in decision()) {
            let mut out = Vec::new();
            write_decision(&d, &mut out);
            prop_assert_eq!(&out, &body(&d));
            prop_assert_eq!(read_decision(&out), Ok(d));
        }

        /// Any enriched decision: its decision and its tail written as apache-avro writes the
        /// whole record, and read back.
        #[test]
        fn writes_any_enriched_decision_as_apache_avro_does(e in enriched()) {
            let mut out = Vec::new();
            write_decision(&e.decision, &mut out);
            write_enriched_tail(e.policy_change.as_ref(), e.join_status, &mut out);
            prop_assert_eq!(&out, &body(&e));
            prop_assert_eq!(read_enriched(&out), Ok(e));
        }

        /// Any change of bytes: accepted exactly when the generic decoding accepts it, with
        /// the same record.
        #[test]
        fn agrees_with_the_generic_decoding(
            sample in 0..3usize,
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
            cut in proptest::option::of(any::<prop::sample::Index>()),
        ) {
            let b = edited(body(&samples()[sample]), edits, cut);
            let got = read_enriched(&b);
            prop_assert_eq!(got.clone().ok(), generic::<EnrichedDecision>(&b), "{:?}", got);
        }
    }
}
