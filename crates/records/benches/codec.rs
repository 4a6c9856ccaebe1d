//! Codec throughput on one core: encode and decode rate of a typical decision record.
//!
//! Needs the schema registry of the local stack (`dev/stack up`) once, to register the schema
//! and look it up by id; every measured iteration after that is pure CPU work on cached
//! schemas. Decoding runs 1,000 records per `block_on` of a current-thread runtime, so the
//! runtime's cost is spread over the batch.

#![allow(missing_docs)] // criterion_group! generates undocumented items.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use docket_kafka::KafkaSettings;
use docket_records::{Decision, Registry, RegistryConfig, samples};

/// Subject prefix (topic-name strategy) the benchmark registers its schema under.
const BENCH_TOPIC: &str = "docket.bench.codec";
const BATCH: usize = 1_000;

fn codec(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let settings = KafkaSettings::from_env().expect("valid DOCKET_* settings");
    let registry =
        Registry::new(&RegistryConfig::new(settings.schema_registry_url.clone())).unwrap();
    let encoder = registry.encoder::<Decision>(BENCH_TOPIC);
    let id = rt.block_on(encoder.schema_id()).unwrap_or_else(|e| {
        panic!(
            "the codec benchmark needs the registry at {} (dev/stack up): {e}",
            settings.schema_registry_url
        )
    });
    let decoder = registry.decoder::<Decision>();

    let record = samples::decision();
    let bytes = encoder.encode_with_id(id, &record).unwrap();
    let batch = vec![bytes.clone(); BATCH];
    rt.block_on(decoder.decode(&bytes))
        .expect("warm the decoder's schema cache");
    println!("typical decision: {} bytes framed", bytes.len());

    let mut group = c.benchmark_group("decision");
    group.throughput(Throughput::Elements(1));
    group.bench_function("encode", |b| {
        b.iter(|| {
            encoder
                .encode_with_id(id, std::hint::black_box(&record))
                .unwrap()
        })
    });
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("decode_x1000", |b| {
        b.iter(|| {
            rt.block_on(async {
                for bytes in &batch {
                    std::hint::black_box(decoder.decode(bytes).await.unwrap());
                }
            })
        })
    });
    group.bench_function("keys_x1000", |b| {
        b.iter(|| {
            for bytes in &batch {
                std::hint::black_box(decoder.keys_cached(bytes).unwrap().unwrap());
            }
        })
    });
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
