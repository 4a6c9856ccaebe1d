//! Property test: any decision, audit event or enriched decision the types can hold survives
//! encode → decode through the real registry unchanged.

mod support;

use docket_records::strategies::{audit, decision, enriched};
use docket_records::*;
use proptest::prelude::*;
use support::*;

/// Encodes and decodes every generated value through one encoder and decoder pair.
fn round_trips<T, S>(strategy: S)
where
    T: Record + PartialEq + std::fmt::Debug + Clone,
    S: Strategy<Value = T>,
{
    let rt = tokio::runtime::Runtime::new().unwrap();
    let registry = registry();
    let topic = rt.block_on(unique_topic("props"));
    let encoder = registry.encoder::<T>(&topic);
    let decoder = registry.decoder::<T>();
    proptest!(ProptestConfig::with_cases(200), |(record in strategy)| {
        let decoded = rt.block_on(async {
            let bytes = encoder.encode(&record).await.expect("encode");
            decoder.decode(&bytes).await.expect("decode")
        });
        prop_assert_eq!(decoded, record);
    });
}

#[test]
fn any_decision_round_trips() {
    round_trips(decision());
}

#[test]
fn any_audit_round_trips() {
    round_trips(audit());
}

#[test]
fn any_enriched_decision_round_trips() {
    round_trips(enriched());
}
