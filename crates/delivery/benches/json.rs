//! The sinks' JSON on one core: a thousand realistic enriched decisions (~2 KB of JSON each,
//! the throughput benchmarks' records) written by [`docket_delivery::json::write`] and, as the
//! reference, by `serde_json`, then the gzip of those lines at the sinks' level. Pure CPU
//! work, no stack needed: `cargo bench -p docket-delivery --bench json`.

#![allow(missing_docs)] // criterion_group! generates undocumented items.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use docket_delivery::{Exported, gzip, json};

const RECORDS: usize = 1_000;

/// Appends one record's JSON.
type Writer = fn(&mut Vec<u8>, &Exported);
/// The sinks' default gzip level.
const LEVEL: u32 = 1;

fn writers(c: &mut Criterion) {
    let records = docket_bench::exported(RECORDS);
    let mut lines = Vec::new();
    for r in &records {
        json::write(&mut lines, r).unwrap();
    }
    println!(
        "{RECORDS} records, {} bytes of JSON ({} per record)",
        lines.len(),
        lines.len() / RECORDS
    );
    let mut group = c.benchmark_group("sink JSON");
    group.throughput(Throughput::Elements(RECORDS as u64));
    let mut out = Vec::with_capacity(lines.len());
    let writers: [(&str, Writer); 2] = [
        ("json::write", |out, r| json::write(out, r).unwrap()),
        ("serde_json (reference)", |out, r| {
            serde_json::to_writer(out, r).unwrap()
        }),
    ];
    for (name, write) in writers {
        group.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                records.iter().for_each(|r| write(&mut out, r));
                out.len()
            })
        });
    }
    group.bench_function("gzip of the lines", |b| {
        b.iter(|| gzip(&lines, LEVEL).len())
    });
    group.finish();
}

criterion_group!(benches, writers);
criterion_main!(benches);
