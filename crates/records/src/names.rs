//! Each enum value's name as the schemas spell it (`DENY`, `NO_RECENT_EDIT`, `SUCCESS`):
//! the one way the sinks, the joiner's metrics and the tests name a verdict, a stage, a join
//! status or an outcome, without going through a serializer. The tests hold every name to
//! serde's spelling, which the records' JSON uses.

use crate::audit::Outcome;
use crate::decision::{PolicyKind, Stage, Verdict};
use crate::enriched::JoinStatus;

/// `name()` for each listed enum: a match from each variant to its name.
macro_rules! names {
    ($($enum:ident { $($variant:ident => $name:literal),+ $(,)? })+) => {$(
        impl $enum {
            /// The value's name in the records' schema.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)+
                }
            }
        }
    )+};
}

names! {
    Stage { Request => "REQUEST", Response => "RESPONSE" }
    Verdict { Allow => "ALLOW", Modify => "MODIFY", Redact => "REDACT", Deny => "DENY" }
    PolicyKind { Guardrail => "GUARDRAIL", Redaction => "REDACTION", Routing => "ROUTING" }
    JoinStatus {
        Joined => "JOINED",
        NoRecentEdit => "NO_RECENT_EDIT",
        NoPolicy => "NO_POLICY",
        Late => "LATE",
    }
    Outcome { Success => "SUCCESS", Denied => "DENIED", Failed => "FAILED" }
}

#[cfg(test)]
mod tests {
    use serde::Serialize;

    use super::*;

    fn serde_names<T: Serialize>(values: &[T]) -> Vec<String> {
        values
            .iter()
            .map(|v| {
                serde_json::to_value(v)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    }

    #[test]
    fn every_name_is_serdes() {
        use JoinStatus::*;
        let stages = [Stage::Request, Stage::Response];
        assert_eq!(stages.map(Stage::name).to_vec(), serde_names(&stages));
        let verdicts = [
            Verdict::Allow,
            Verdict::Modify,
            Verdict::Redact,
            Verdict::Deny,
        ];
        assert_eq!(verdicts.map(Verdict::name).to_vec(), serde_names(&verdicts));
        let kinds = [
            PolicyKind::Guardrail,
            PolicyKind::Redaction,
            PolicyKind::Routing,
        ];
        assert_eq!(kinds.map(PolicyKind::name).to_vec(), serde_names(&kinds));
        let statuses = [Joined, NoRecentEdit, NoPolicy, Late];
        assert_eq!(
            statuses.map(JoinStatus::name).to_vec(),
            serde_names(&statuses)
        );
        let outcomes = [Outcome::Success, Outcome::Denied, Outcome::Failed];
        assert_eq!(outcomes.map(Outcome::name).to_vec(), serde_names(&outcomes));
    }
}
