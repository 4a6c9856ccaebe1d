//! The records' enums as the schemas list them, in one table per enum: `ALL`, the symbols in
//! the schema's order (a symbol's index there is what Avro writes), and each value's `name()`
//! as the schema spells it (`DENY`, `NO_RECENT_EDIT`, `SUCCESS`): the one way the hand-written
//! codec, the sinks and the joiner's metrics enumerate and name a verdict, a stage, a policy
//! kind, a join status or an outcome. The tests hold every name to serde's spelling, which the
//! records' JSON uses; the codec's tests hold the order to the schemas'.

use crate::audit::Outcome;
use crate::decision::{PolicyKind, Stage, Verdict};
use crate::enriched::JoinStatus;

/// `ALL` and `name()` for each listed enum, its variants in the schema's order.
macro_rules! names {
    ($($enum:ident { $($variant:ident => $name:literal),+ $(,)? })+) => {$(
        impl $enum {
            /// Every value, in the schema's order of symbols.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

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

    fn same_names<T: Serialize + Copy>(all: &[T], name: fn(T) -> &'static str) {
        for &value in all {
            assert_eq!(serde_json::to_value(value).unwrap(), name(value));
        }
    }

    #[test]
    fn every_name_is_serdes() {
        same_names(Stage::ALL, Stage::name);
        same_names(Verdict::ALL, Verdict::name);
        same_names(PolicyKind::ALL, PolicyKind::name);
        same_names(JoinStatus::ALL, JoinStatus::name);
        same_names(Outcome::ALL, Outcome::name);
    }
}
