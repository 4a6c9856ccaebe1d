//! Each sink's encoding of one record, on one core: the S3 line, the Splunk HEC event, the
//! Datadog log entry and the OTLP `LogRecord`, each of a thousand of the throughput benchmarks'
//! enriched decisions. The sinks' throughput benchmarks measure whole processes on a machine
//! shared with the broker, whose CPU per record moves by more between runs than a change to
//! one of these steps does; this one isolates the step. Pure CPU work, no stack needed:
//! `cargo bench --bench encode`.

#![allow(missing_docs)] // criterion_group! generates undocumented items.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use docket_delivery::{EncodeError, Exported};
use docket_records::Micros;
use docket_sink_splunk::config::{HecConfig, Target};

const RECORDS: usize = 1_000;

/// Appends one record's encoding, as a sink's `encode` does.
type Encode<'a> = &'a dyn Fn(&Exported, &mut Vec<u8>) -> Result<(), EncodeError>;

fn hec() -> HecConfig {
    let target = |sourcetype: &str| Target {
        index: Some("main".to_owned()),
        sourcetype: sourcetype.to_owned(),
    };
    HecConfig {
        url: "http://127.0.0.1:8088".parse().expect("a valid URL"),
        token: docket_sink_http::Secret::new("token"),
        decisions: target("docket:decision"),
        audit: target("docket:audit"),
        ack: None,
        channel: "bench".to_owned(),
        gzip: true,
        client: Default::default(),
    }
}

fn datadog() -> docket_sink_datadog::encode::EntrySettings {
    docket_sink_datadog::encode::EntrySettings {
        service: "docket".to_owned(),
        hostname: "bench".to_owned(),
        hostname_override: false,
        tags: vec!["env:bench".to_owned()],
    }
}

fn encoders(c: &mut Criterion) {
    let records = docket_bench::exported(RECORDS);
    let (hec, datadog) = (hec(), datadog());
    let observed = Micros::now();
    let encoders: [(&str, Encode); 4] = [
        ("S3 line", &docket_sink_s3::encode::line),
        ("HEC event", &|r, out| {
            docket_sink_splunk::encode::event(r, &hec, out)
        }),
        ("Datadog entry", &|r, out| {
            docket_sink_datadog::encode::entry(r, &datadog, out)
        }),
        ("OTLP LogRecord", &|r, out| {
            docket_sink_otlp::encode::log_record(r, observed, out)
        }),
    ];
    let mut group = c.benchmark_group("sink encoding");
    group.throughput(Throughput::Elements(RECORDS as u64));
    let mut out = Vec::new();
    for (name, encode) in encoders {
        group.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                for r in &records {
                    encode(r, &mut out).expect("encodes");
                }
                out.len()
            })
        });
        println!("{name}: {} bytes per record", out.len() / RECORDS);
    }
    group.finish();
}

criterion_group!(benches, encoders);
criterion_main!(benches);
