//! The local pipeline, shown end to end (run by `dev/demo`, with the joiner and the S3 sink
//! running): an administrator's policy edit and a decision driven by the new version go into
//! Kafka; the joiner's enriched decision comes back naming the edit and its author; the S3
//! sink's object holding it is fetched and the record printed.
//!
//! `pipeline bucket` creates the bucket (`DOCKET_S3_BUCKET`) if it is missing;
//! `pipeline run` does the rest.

use std::collections::BTreeMap;
use std::io::Read;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use docket_kafka::{ConsumerOptions, KafkaSettings, topic};
use docket_records::{
    Audit, Decision, EnrichedDecision, Micros, Record, Registry, RegistryConfig, samples,
};
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use docket_sink_s3::config::Config;

const DEADLINE: Duration = Duration::from_secs(90);
const POLL: Duration = Duration::from_millis(500);

#[tokio::main]
async fn main() -> Result<()> {
    let vars: BTreeMap<String, String> = std::env::vars().collect();
    let config = Config::from_vars(&vars).context("S3 sink settings")?;
    let s3 = docket_sink_s3::client(&config.s3).await?;
    match std::env::args().nth(1).as_deref() {
        Some("bucket") => create_bucket(&s3, &config.s3.bucket).await,
        Some("run") => run(&s3, &config).await,
        _ => bail!("usage: pipeline bucket|run"),
    }
}

async fn create_bucket(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<()> {
    if s3.head_bucket().bucket(bucket).send().await.is_ok() {
        return Ok(());
    }
    s3.create_bucket()
        .bucket(bucket)
        .send()
        .await
        .with_context(|| format!("creating bucket {bucket}"))?;
    println!("created bucket {bucket}");
    Ok(())
}

async fn run(s3: &aws_sdk_s3::Client, config: &Config) -> Result<()> {
    let settings = KafkaSettings::from_env()?;
    let registry = Registry::new(&RegistryConfig::new(settings.schema_registry_url.clone()))?;
    let producer = docket_kafka::producer(&settings)?;
    let (edit, decision) = edit_and_decision();

    send(
        &producer,
        topic::AUDIT,
        &edit.resource.id,
        &registry
            .encoder::<Audit>(topic::AUDIT)
            .encode(&edit)
            .await?,
    )
    .await?;
    println!(
        "1. {} ({}) ran {} on {} -> version {}",
        edit.actor.id,
        edit.actor.role,
        edit.action,
        edit.resource.id,
        edit.policy_version.unwrap_or_default()
    );
    let bytes = registry
        .encoder::<Decision>(topic::DECISIONS)
        .encode(&decision)
        .await?;
    send(
        &producer,
        topic::DECISIONS,
        &decision.correlation_id,
        &bytes,
    )
    .await?;
    println!(
        "2. the gateway decided {:?} for request {} under that version",
        decision.verdict, decision.correlation_id
    );

    let enriched = await_enriched(&settings, &registry, &decision.event_id).await?;
    println!(
        "3. the joiner wrote to {}:\n{}",
        topic::ENRICHED,
        serde_json::to_string_pretty(&enriched)?
    );

    let (key, line) = await_object(s3, config, &decision.event_id).await?;
    println!(
        "4. the S3 sink delivered it to s3://{}/{key}:\n{line}",
        config.s3.bucket
    );
    Ok(())
}

/// A policy edit made just now, and a decision a moment later driven by the version it made.
fn edit_and_decision() -> (Audit, Decision) {
    let now = Micros::now();
    let version = now.0 / 1_000_000; // a fresh version per run: seconds since the epoch
    let mut edit = samples::audit();
    edit.event_id = samples::event_id();
    edit.time = Micros(now.0 - 2_000_000);
    edit.policy_version = Some(version);
    let mut decision = samples::decision();
    decision.event_id = samples::event_id();
    decision.correlation_id = uuid::Uuid::now_v7().simple().to_string();
    decision.time = now;
    if let Some(policy) = decision.policy.as_mut() {
        policy.id = edit.resource.id.clone();
        policy.version = version;
    }
    for action in decision
        .actions
        .iter_mut()
        .filter(|a| a.policy_id == edit.resource.id)
    {
        action.policy_version = version;
    }
    (edit, decision)
}

async fn send(producer: &FutureProducer, topic: &str, key: &str, payload: &[u8]) -> Result<()> {
    producer
        .send(
            FutureRecord::to(topic).key(key).payload(payload),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(e, _)| e)
        .with_context(|| format!("producing to {topic}"))?;
    Ok(())
}

async fn await_enriched(
    settings: &KafkaSettings,
    registry: &Registry,
    event_id: &str,
) -> Result<EnrichedDecision> {
    let group = format!("docket-demo-{}", uuid::Uuid::now_v7().simple());
    let consumer: StreamConsumer = docket_kafka::consumer(
        settings,
        &ConsumerOptions {
            group_id: group,
            read_committed: true,
        },
    )?;
    consumer.subscribe(&[topic::ENRICHED])?;
    let decoder = registry.decoder::<EnrichedDecision>();
    let started = Instant::now();
    while started.elapsed() < DEADLINE {
        let Ok(msg) = tokio::time::timeout(POLL, consumer.recv()).await else {
            continue;
        };
        let msg = msg?;
        let Some(payload) = msg.payload() else {
            continue;
        };
        if let Ok(e) = decoder.decode(payload).await
            && e.decision.event_id == event_id
        {
            return Ok(e);
        }
    }
    bail!(
        "no enriched {} arrived within {DEADLINE:?}; is docket-joiner running?",
        EnrichedDecision::schema().full_name()
    )
}

/// Polls the bucket for the object holding `event_id`; returns its key and the record's line.
async fn await_object(
    s3: &aws_sdk_s3::Client,
    config: &Config,
    event_id: &str,
) -> Result<(String, String)> {
    let started = Instant::now();
    while started.elapsed() < DEADLINE {
        let listed = s3
            .list_objects_v2()
            .bucket(&config.s3.bucket)
            .prefix(&config.s3.prefix)
            .send()
            .await?;
        for object in listed.contents() {
            let Some(key) = object.key() else { continue };
            if let Some(line) = find_line(s3, &config.s3.bucket, key, event_id).await? {
                return Ok((key.to_owned(), line));
            }
        }
        tokio::time::sleep(POLL).await;
    }
    bail!("no object with {event_id} within {DEADLINE:?}; is docket-sink-s3 running?")
}

async fn find_line(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    event_id: &str,
) -> Result<Option<String>> {
    let body = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await?
        .body
        .collect()
        .await?
        .into_bytes();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&body[..]).read_to_string(&mut text)?;
    Ok(text
        .lines()
        .find(|l| l.contains(event_id))
        .map(str::to_owned))
}
