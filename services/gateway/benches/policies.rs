//! The redaction policy's cost per request on one core: every text of the load benchmark's
//! request and of its `echo` answer (one e-mail address in each), masked by the built-in
//! detectors, as the gateway does for each chat request. Pure CPU work, no stack needed.

#![allow(missing_docs)] // criterion_group! generates undocumented items.

use criterion::{Criterion, criterion_group, criterion_main};
use docket_gateway::policy::redaction::{Redaction, RedactionSpec};
use docket_gateway::policy::walk;
use docket_gateway::upstream::echo;
use serde_json::{Value, json};

fn redact_all(r: &Redaction, body: &mut Value) -> i32 {
    let mut counts = Default::default();
    walk::for_each_text(body, &mut |_, text| r.apply(text, &mut counts));
    counts.values().sum()
}

fn policies(c: &mut Criterion) {
    let spec: RedactionSpec = serde_json::from_value(json!({})).expect("default spec");
    let redaction = Redaction::compile("pii", &spec).expect("compiles");
    let request = json!({"model": "echo-small", "messages": [
        {"role": "user", "content": "summarise the quarterly report for jane.doe@example.com please"}]});
    let answer = echo::answer(&request);
    assert_eq!(redact_all(&redaction, &mut request.clone()), 1);
    assert_eq!(redact_all(&redaction, &mut answer.clone()), 1);
    c.bench_function("redaction of a request and its answer", |b| {
        b.iter_batched_ref(
            || (request.clone(), answer.clone()),
            |(req, ans)| redact_all(&redaction, req) + redact_all(&redaction, ans),
            criterion::BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, policies);
criterion_main!(benches);
