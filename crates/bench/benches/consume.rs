//! Read limit of Docket's consumer settings: fills a fresh topic with realistic records (~1 KB
//! enriched decisions in four partitions; `DOCKET_BENCH_KIND=decisions` for ~400 B decisions in
//! six), runs the stock Kafka consumer performance tool on it, then this benchmark again as a
//! child that reads the topic with `docket_kafka::consumer` (the settings every Docket service
//! uses, `DOCKET_KAFKA_PROP_*` overrides included), discards every record and commits the
//! end; prints both rates, the ratio and the child's peak RSS.
//!
//! `dev/stack up && cargo bench -p docket-bench --bench consume`

#![allow(missing_docs)]

use std::collections::HashMap;
use std::process::Command;

use docket_bench::{Measured, Report, consumer_performance, create_topics};
use docket_kafka::{ConsumerOptions, KafkaSettings};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::{Message, Offset, TopicPartitionList};

/// Set in the child: the topic to read and the group to read it in.
const CHILD_TOPIC: &str = "DOCKET_BENCH_CHILD_TOPIC";
const CHILD_GROUP: &str = "DOCKET_BENCH_CHILD_GROUP";
const CHILD_RECORDS: &str = "DOCKET_BENCH_CHILD_RECORDS";

#[tokio::main]
async fn main() {
    let settings = KafkaSettings::from_env().expect("valid DOCKET_* settings");
    match std::env::var(CHILD_TOPIC) {
        Ok(topic) => read_all(&settings, &topic).await,
        Err(_) => measure(&settings).await,
    }
}

async fn measure(settings: &KafkaSettings) {
    let run = docket_bench::run_id();
    let topic = format!("bench.consume.{run}");
    let n = docket_bench::record_count();
    let filled = if std::env::var("DOCKET_BENCH_KIND").as_deref() == Ok("decisions") {
        create_topics(settings, &[(&topic, 6)]).await;
        docket_bench::fill_decisions(settings, &topic, n).await
    } else {
        create_topics(settings, &[(&topic, 4)]).await;
        docket_bench::fill_enriched(settings, &topic, n, 1_000).await
    };
    let reference = consumer_performance(settings, &filled);
    let group = format!("bench-consume-{run}");
    let mut command = Command::new(std::env::current_exe().expect("own path"));
    command
        .env(CHILD_TOPIC, &topic)
        .env(CHILD_GROUP, &group)
        .env(CHILD_RECORDS, n.to_string());
    let finished = Measured::spawn("docket consumer", command)
        .until_committed(settings, &group, &topic)
        .await;
    Report::new("docket consumer (discard)", &filled, reference, finished).print();
    docket_bench::delete_created_topics(settings).await;
}

/// The child: reads every record, keeps the next offset per partition, commits them, then
/// waits to be stopped.
async fn read_all(settings: &KafkaSettings, topic: &str) {
    let group = std::env::var(CHILD_GROUP).expect("group");
    let n: usize = std::env::var(CHILD_RECORDS)
        .expect("count")
        .parse()
        .expect("a count");
    let options = ConsumerOptions {
        group_id: group,
        read_committed: true,
    };
    let consumer: StreamConsumer = docket_kafka::consumer(settings, &options).expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let mut next: HashMap<i32, i64> = HashMap::new();
    let mut bytes = 0;
    for _ in 0..n {
        let m = consumer.recv().await.expect("a record");
        bytes += m.payload().map_or(0, <[u8]>::len);
        next.insert(m.partition(), m.offset() + 1);
    }
    std::hint::black_box(bytes);
    let mut tpl = TopicPartitionList::new();
    for (p, o) in next {
        tpl.add_partition_offset(topic, p, Offset::Offset(o))
            .expect("offset");
    }
    consumer.commit(&tpl, CommitMode::Sync).expect("commit");
    std::future::pending::<()>().await;
}
