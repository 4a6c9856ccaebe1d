//! Throughput of the S3 sink against the local stack: ~1 KB realistic enriched decisions in a
//! fresh four-partition topic, the stock Kafka consumer performance tool on it, then the
//! `docket-sink-s3` binary into a fresh bucket until every offset is committed; prints
//! records/s, MB/s, the ratio, peak RSS and how well the objects compressed; then deletes
//! the bucket and the topics.
//!
//! `dev/stack up && eval "$(dev/stack env)" && cargo bench -p docket-sink-s3 --bench throughput`
//! (`DOCKET_BENCH_RECORDS` sets the count, default 1,000,000).

#![allow(missing_docs)]

use std::collections::BTreeMap;

use docket_bench::SinkBench;

#[tokio::main]
async fn main() {
    let bench = SinkBench::new("s3").await;
    if let Some(baseline) = SinkBench::baseline() {
        run(&bench, "baseline sink-s3", &baseline).await;
    }
    run(&bench, "sink-s3", env!("CARGO_BIN_EXE_docket-sink-s3")).await;
    docket_bench::delete_created_topics(&bench.settings).await;
}

/// Runs the sink binary `exe` into a fresh bucket and prints its report and what it wrote.
async fn run(bench: &SinkBench, name: &str, exe: &str) {
    let group = bench.group(&name.replace(' ', "-"));
    let bucket = group.clone();
    let s3 = bucket_client(&bucket).await;
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("bucket");
    let mut command = bench.command(exe, &group);
    command.env("DOCKET_S3_BUCKET", &bucket);
    let report = bench.measure(name, command, &group).await;
    let written = bucket_bytes(&s3, &bucket).await as f64;
    println!(
        "{name} wrote {:.1} MB of gzip NDJSON ({:.1} MB/s; Avro payload / gzip objects {:.1}:1)",
        written / 1e6,
        written / 1e6 / report.finished.elapsed.as_secs_f64(),
        bench.filled.bytes as f64 / written.max(1.0)
    );
    delete_bucket(&s3, &bucket).await;
}

/// A client built from the sink's own configuration (the stack's `DOCKET_S3_*` variables).
async fn bucket_client(bucket: &str) -> aws_sdk_s3::Client {
    let mut vars: BTreeMap<String, String> = std::env::vars().collect();
    vars.insert("DOCKET_S3_BUCKET".to_owned(), bucket.to_owned());
    vars.insert("DOCKET_SINK_GROUP".to_owned(), "bench".to_owned());
    let config = docket_sink_s3::config::Config::from_vars(&vars).expect("S3 sink configuration");
    docket_sink_s3::client(&config.s3).await.expect("S3 client")
}

async fn bucket_bytes(s3: &aws_sdk_s3::Client, bucket: &str) -> i64 {
    objects(s3, bucket).await.iter().map(|(_, size)| size).sum()
}

/// Deletes `bucket` and its objects (a run writes a few hundred megabytes).
async fn delete_bucket(s3: &aws_sdk_s3::Client, bucket: &str) {
    for (key, _) in objects(s3, bucket).await {
        s3.delete_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .expect("delete object");
    }
    s3.delete_bucket()
        .bucket(bucket)
        .send()
        .await
        .expect("delete bucket");
}

/// Every object of `bucket`: its key and size.
async fn objects(s3: &aws_sdk_s3::Client, bucket: &str) -> Vec<(String, i64)> {
    let mut objects = Vec::new();
    let mut token = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket(bucket)
            .set_continuation_token(token)
            .send()
            .await
            .expect("list");
        objects.extend(
            page.contents()
                .iter()
                .filter_map(|o| Some((o.key()?.to_owned(), o.size().unwrap_or(0)))),
        );
        token = page.next_continuation_token().map(str::to_owned);
        if token.is_none() {
            return objects;
        }
    }
}
