//! The join rule: for a decision driven by policy P at version v and time t, the latest edit
//! of P at or before t, preferring the edit that produced v.

use std::time::Duration;

use docket_records::{Decision, EnrichedDecision, JoinStatus, Micros, PolicyChange};

use crate::table::{Edit, PolicyTable};

/// What the table says about one decision right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Evaluation<'a> {
    /// The edit to attach.
    Joined(&'a Edit),
    /// The policy has known edits but none inside the horizon before the decision.
    NoRecentEdit,
    /// A plain allow: no policy drove the verdict.
    NoPolicy,
    /// The decision names a version newer than any known edit of its policy: its edit may
    /// still be on its way.
    VersionUnseen,
}

/// Evaluates `decision` against `table`; edits older than `horizon` before it do not count.
pub fn evaluate<'a>(
    table: &'a PolicyTable,
    decision: &Decision,
    horizon: Duration,
) -> Evaluation<'a> {
    let policy = decision.policy.as_ref().map(|p| (p.id.as_str(), p.version));
    evaluate_keys(table, policy, decision.time, horizon)
}

/// [`evaluate`] for a decision at time `t` driven by `policy` (id and version), read from its
/// body without decoding the rest ([`docket_records::decision_keys`]).
pub fn evaluate_keys<'a>(
    table: &'a PolicyTable,
    policy: Option<(&str, i64)>,
    t: Micros,
    horizon: Duration,
) -> Evaluation<'a> {
    let Some((id, version)) = policy else {
        return Evaluation::NoPolicy;
    };
    let edits = table.edits(id);
    if edits.is_empty() {
        return Evaluation::NoRecentEdit;
    }
    let within = |e: &Edit| t.0.saturating_sub(e.time.0) <= horizon_micros(horizon);
    if let Some(producer) = edits.iter().rev().find(|e| e.version == Some(version)) {
        return if within(producer) {
            Evaluation::Joined(producer)
        } else {
            Evaluation::NoRecentEdit
        };
    }
    if table.max_version(id).is_none_or(|max| version > max) {
        return Evaluation::VersionUnseen;
    }
    match edits.iter().rev().find(|e| e.time <= t) {
        Some(latest) if within(latest) => Evaluation::Joined(latest),
        _ => Evaluation::NoRecentEdit,
    }
}

fn horizon_micros(horizon: Duration) -> i64 {
    i64::try_from(horizon.as_micros()).unwrap_or(i64::MAX)
}

/// The enriched record for a final evaluation; `VersionUnseen` becomes `LATE` (the caller
/// decides when waiting is over).
pub fn enrich(decision: Decision, evaluation: &Evaluation<'_>) -> EnrichedDecision {
    let (policy_change, join_status) = outcome(decision.time, evaluation);
    EnrichedDecision {
        decision,
        policy_change,
        join_status,
    }
}

/// What an enriched record adds to a decision at time `t`: the edit joined, if any, and how
/// the join ended.
pub fn outcome(t: Micros, evaluation: &Evaluation<'_>) -> (Option<PolicyChange>, JoinStatus) {
    match evaluation {
        Evaluation::Joined(edit) => (Some(edit.change_for(t)), JoinStatus::Joined),
        Evaluation::NoRecentEdit => (None, JoinStatus::NoRecentEdit),
        Evaluation::NoPolicy => (None, JoinStatus::NoPolicy),
        Evaluation::VersionUnseen => (None, JoinStatus::Late),
    }
}

#[cfg(test)]
mod tests {
    use docket_records::{Micros, samples};

    use super::*;

    const SECOND: i64 = 1_000_000;
    const T: i64 = 1_800_000_000 * SECOND;
    const HORIZON: Duration = Duration::from_secs(3600);

    fn edit(id: &str, at: i64, version: i64) -> Edit {
        Edit {
            audit_event_id: id.to_owned(),
            action: "policy.update".to_owned(),
            actor_id: "admin".to_owned(),
            actor_role: "policy_admin".to_owned(),
            time: Micros(at),
            version: Some(version),
        }
    }

    fn table(edits: &[Edit]) -> PolicyTable {
        let mut t = PolicyTable::default();
        for e in edits {
            t.insert("pol-pii".to_owned(), e.clone());
        }
        t
    }

    /// A decision at time `T` driven by `pol-pii` at `version`.
    fn decision(version: i64) -> Decision {
        let mut d = samples::decision();
        d.time = Micros(T);
        d.policy.as_mut().expect("sample has a policy").version = version;
        d
    }

    fn joined_id<'a>(e: &Evaluation<'a>) -> &'a str {
        match e {
            Evaluation::Joined(edit) => &edit.audit_event_id,
            other => panic!("expected a join, got {other:?}"),
        }
    }

    #[test]
    fn edit_before_the_decision_is_joined_with_its_lag() {
        let t = table(&[edit("e7", T - 5 * SECOND, 7)]);
        let e = evaluate(&t, &decision(7), HORIZON);
        assert_eq!(joined_id(&e), "e7");
        let enriched = enrich(decision(7), &e);
        assert_eq!(enriched.join_status, JoinStatus::Joined);
        assert_eq!(enriched.policy_change.unwrap().lag_ms, 5_000);
    }

    #[test]
    fn edit_after_the_decision_is_not_joined() {
        let t = table(&[
            edit("e6", T - 10 * SECOND, 6),
            edit("e7", T + 5 * SECOND, 7),
        ]);
        assert_eq!(joined_id(&evaluate(&t, &decision(6), HORIZON)), "e6");
    }

    #[test]
    fn of_two_edits_the_one_that_produced_the_version_wins() {
        let t = table(&[
            edit("e6", T - 10 * SECOND, 6),
            edit("e7", T - 5 * SECOND, 7),
        ]);
        assert_eq!(joined_id(&evaluate(&t, &decision(7), HORIZON)), "e7");
        // A gateway still on version 6 after the edit to 7 joins the edit that produced 6.
        assert_eq!(joined_id(&evaluate(&t, &decision(6), HORIZON)), "e6");
    }

    #[test]
    fn without_the_producing_edit_the_latest_before_the_decision_is_joined() {
        // Version 5's edit fell out of the table; 6 and 7 are known, 7 came later.
        let t = table(&[
            edit("e6", T - 10 * SECOND, 6),
            edit("e7", T + 5 * SECOND, 7),
        ]);
        assert_eq!(joined_id(&evaluate(&t, &decision(5), HORIZON)), "e6");
    }

    #[test]
    fn no_edit_of_the_policy_is_no_recent_edit() {
        let t = table(&[]);
        assert_eq!(
            evaluate(&t, &decision(7), HORIZON),
            Evaluation::NoRecentEdit
        );
        assert_eq!(
            enrich(decision(7), &Evaluation::NoRecentEdit).policy_change,
            None
        );
    }

    #[test]
    fn edit_outside_the_horizon_is_no_recent_edit() {
        let t = table(&[edit("e7", T - 3601 * SECOND, 7)]);
        assert_eq!(
            evaluate(&t, &decision(7), HORIZON),
            Evaluation::NoRecentEdit
        );
        let t = table(&[edit("e7", T - 3600 * SECOND, 7)]);
        assert_eq!(joined_id(&evaluate(&t, &decision(7), HORIZON)), "e7");
    }

    #[test]
    fn no_policy_is_no_policy() {
        let mut d = decision(1);
        d.policy = None;
        let t = table(&[edit("e7", T - SECOND, 7)]);
        assert_eq!(evaluate(&t, &d, HORIZON), Evaluation::NoPolicy);
        assert_eq!(
            enrich(d, &Evaluation::NoPolicy).join_status,
            JoinStatus::NoPolicy
        );
    }

    #[test]
    fn a_version_newer_than_any_edit_is_unseen_until_its_edit_arrives() {
        let mut t = table(&[edit("e6", T - 10 * SECOND, 6)]);
        assert_eq!(
            evaluate(&t, &decision(7), HORIZON),
            Evaluation::VersionUnseen
        );
        t.insert("pol-pii".to_owned(), edit("e7", T - SECOND, 7));
        assert_eq!(joined_id(&evaluate(&t, &decision(7), HORIZON)), "e7");
    }

    #[test]
    fn unseen_after_grace_is_late_without_a_change() {
        let enriched = enrich(decision(7), &Evaluation::VersionUnseen);
        assert_eq!(enriched.join_status, JoinStatus::Late);
        assert_eq!(enriched.policy_change, None);
    }

    #[test]
    fn the_same_audit_event_is_held_once() {
        let t = table(&[edit("e7", T, 7), edit("e7", T, 7)]);
        assert_eq!(t.len(), 1);
    }
}
