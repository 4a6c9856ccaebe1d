//! What a join needs of a decision (its correlation id, time and driving policy), read from an
//! Avro body written with the decision schema (`schemas/decision.avsc`) without building the
//! decision: every other field is checked as the full decoding checks it (lengths, UTF-8,
//! enum and union indexes, integer ranges, nothing left over) and skipped. The joiner copies
//! such a body into the enriched record as it is, so it never needs the decision's other
//! fields; decoding them was about a tenth of its CPU per record.

use crate::decision::{PolicyKind, Stage, Verdict};
use crate::reader::Reader;
use crate::time::Micros;

/// The fields of a decision a join reads, borrowed from its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecisionKeys<'a> {
    /// `correlation_id`: the enriched record's key.
    pub correlation_id: &'a str,
    /// `time`.
    pub time: Micros,
    /// `policy.id` and `policy.version`, when a policy drove the verdict.
    pub policy: Option<(&'a str, i64)>,
}

/// Reads the keys of a decision body, checking the whole body; the error says what is wrong
/// and where.
pub fn decision_keys(body: &[u8]) -> Result<DecisionKeys<'_>, String> {
    let mut r = Reader::new(body);
    r.string("event_id")?;
    let correlation_id = r.string("correlation_id")?;
    let time = Micros(r.long("time")?);
    r.string("gateway_instance")?;
    r.enumeration("stage", Stage::ALL.len())?;
    r.enumeration("verdict", Verdict::ALL.len())?;
    let policy = r.optional("policy", |r| {
        let id = r.string("policy.id")?;
        r.string("policy.name")?;
        r.enumeration("policy.kind", PolicyKind::ALL.len())?;
        Ok((id, r.long("policy.version")?))
    })?;
    r.long("policy_set_version")?;
    r.array("actions", skip_action)?;
    r.string("caller.api_key_id")?;
    for field in ["caller.user", "caller.team", "caller.source_ip"] {
        r.optional_string(field)?;
    }
    r.string("model.requested")?;
    r.optional_string("model.routed")?;
    r.optional_string("model.provider")?;
    r.end()?;
    Ok(DecisionKeys {
        correlation_id,
        time,
        policy,
    })
}

/// Skips one policy action, checking it.
fn skip_action(r: &mut Reader<'_>) -> Result<(), String> {
    r.string("actions[].policy_id")?;
    r.long("actions[].policy_version")?;
    r.enumeration("actions[].verdict", Verdict::ALL.len())?;
    for field in ["actions[].rule_id", "actions[].target", "actions[].reason"] {
        r.optional_string(field)?;
    }
    r.int("actions[].redacted_count")?;
    r.array("actions[].entity_types", |r| {
        r.string("actions[].entity_types[]").map(drop)
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::decision::Decision;
    use crate::samples;
    use crate::testing::{body, edited, generic, single_byte_changes};

    /// A decision with no policy, no action and every optional field empty.
    fn minimal() -> Decision {
        crate::testing::minimal().decision
    }

    fn keys_of(d: &Decision) -> DecisionKeys<'_> {
        DecisionKeys {
            correlation_id: &d.correlation_id,
            time: d.time,
            policy: d.policy.as_ref().map(|p| (p.id.as_str(), p.version)),
        }
    }

    #[test]
    fn reads_the_keys_of_every_sample() {
        for d in [samples::decision(), minimal()] {
            let b = body(&d);
            assert_eq!(decision_keys(&b), Ok(keys_of(&d)));
        }
    }

    #[test]
    fn refuses_what_is_left_over_or_cut_short() {
        let mut b = body(&samples::decision());
        for cut in 0..b.len() {
            assert!(decision_keys(&b[..cut]).is_err(), "cut at {cut}");
        }
        b.push(0);
        assert_eq!(
            decision_keys(&b).unwrap_err(),
            "1 bytes left after the record"
        );
    }

    /// Every single-byte change of both samples: the same answer as the full decoding.
    #[test]
    fn agrees_with_the_full_decoding_on_every_single_byte_change() {
        for d in [samples::decision(), minimal()] {
            for (at, v, changed) in single_byte_changes(&body(&d)) {
                let expected = generic::<Decision>(&changed);
                let got = decision_keys(&changed);
                assert_eq!(
                    got.clone().ok(),
                    expected.as_ref().map(keys_of),
                    "byte {at} = {v}: {got:?}"
                );
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3_000))]

        /// Any change of bytes: accepted exactly when the full decoding accepts it, with the
        /// same keys.
        #[test]
        fn agrees_with_the_full_decoding(
            minimal in any::<bool>(),
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
            cut in proptest::option::of(any::<prop::sample::Index>()),
        ) {
            let d = if minimal { self::minimal() } else { samples::decision() };
            let b = edited(body(&d), edits, cut);
            let expected = generic::<Decision>(&b);
            let got = decision_keys(&b);
            prop_assert_eq!(got.clone().ok(), expected.as_ref().map(keys_of), "{:?}", got);
        }
    }
}
