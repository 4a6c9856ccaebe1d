//! The stack under the local run (Kafka, the registry, the S3 server): probed, started with
//! `dev/stack up` only when something is not serving, and given the run's topics and bucket.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use docket_kafka::catalogue;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

use crate::error::CliError;
use crate::local::Local;
use crate::s3::S3Settings;

const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);

/// One stack service and whether it answers.
#[derive(Debug, Clone)]
pub struct Probe {
    /// `kafka`, `registry` or `s3`.
    pub name: &'static str,
    /// Where it is expected.
    pub address: String,
    /// Whether it answered.
    pub serving: bool,
}

/// Probes Kafka (TCP), the registry (`/subjects`), the S3 server (any HTTP answer) and, when
/// the stack has one, the collector (its HEC health endpoint).
pub async fn probe(stack: &BTreeMap<String, String>) -> Vec<Probe> {
    let get = |k: &str| stack.get(k).cloned().unwrap_or_default();
    let bootstrap = get("DOCKET_KAFKA_BOOTSTRAP");
    let registry = get("DOCKET_SCHEMA_REGISTRY_URL");
    let s3 = get("DOCKET_S3_ENDPOINT");
    let first = bootstrap.split(',').next().unwrap_or_default().to_owned();
    let mut probes = vec![
        Probe {
            name: "kafka",
            serving: tcp(&first).await,
            address: bootstrap,
        },
        Probe {
            name: "registry",
            serving: http(&format!("{registry}/subjects")).await,
            address: registry,
        },
        Probe {
            name: "s3",
            serving: http(&s3).await,
            address: s3,
        },
    ];
    if let Some(hec) = stack.get("DOCKET_OTELCOL_HEC_URL") {
        probes.push(Probe {
            name: "otelcol",
            serving: http(&format!("{hec}/services/collector/health")).await,
            address: hec.clone(),
        });
    }
    probes
}

async fn tcp(addr: &str) -> bool {
    matches!(
        tokio::time::timeout(PROBE_TIMEOUT, tokio::net::TcpStream::connect(addr)).await,
        Ok(Ok(_))
    )
}

async fn http(url: &str) -> bool {
    let client = reqwest::Client::builder().timeout(PROBE_TIMEOUT).build();
    match client {
        Ok(c) => c.get(url).send().await.is_ok(),
        Err(_) => false,
    }
}

/// Leaves a stack whose services all answer alone (it may be shared with other users); runs
/// `dev/stack up` when Kafka, the registry or the S3 server does not answer, and
/// `dev/stack start otelcol` when only the collector is missing.
pub async fn ensure(local: &Local, stack: &BTreeMap<String, String>) -> Result<(), CliError> {
    let missing: Vec<&str> = probe(stack)
        .await
        .iter()
        .filter(|p| !p.serving)
        .map(|p| p.name)
        .collect();
    match missing[..] {
        [] => Ok(()),
        ["otelcol"] => stack_script(local, &["start", "otelcol"]),
        _ => stack_script(local, &["up"]),
    }
}

/// Runs `dev/stack args`, its messages going to stderr.
fn stack_script(local: &Local, args: &[&str]) -> Result<(), CliError> {
    let script = local.stack_script();
    let shown = format!("{} {}", script.display(), args.join(" "));
    let status = Command::new(&script)
        .args(args)
        .stdout(Stdio::from(std::io::stderr()))
        .status()
        .map_err(CliError::io(format!("running {shown}")))?;
    if !status.success() {
        return Err(CliError::Unexpected(format!(
            "{shown} failed (see its message above)"
        )));
    }
    Ok(())
}

/// Creates the catalogue's topics under the run's names when missing.
pub async fn ensure_topics(local: &Local) -> Result<(), CliError> {
    let settings = local.kafka()?;
    let admin: AdminClient<DefaultClientContext> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &settings.bootstrap_servers)
        .create()
        .map_err(CliError::kafka("creating an admin client"))?;
    let specs: Vec<(String, i32, String, String)> = catalogue()
        .iter()
        .map(|s| {
            (
                local.names.topic(&s.name),
                s.partitions,
                s.retention_ms.to_string(),
                s.cleanup_policy.clone(),
            )
        })
        .collect();
    let topics: Vec<NewTopic<'_>> = specs
        .iter()
        .map(|(name, partitions, retention, cleanup)| {
            NewTopic::new(name, *partitions, TopicReplication::Fixed(1))
                .set("retention.ms", retention)
                .set("cleanup.policy", cleanup)
        })
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(ADMIN_TIMEOUT));
    let results = admin
        .create_topics(topics.iter(), &opts)
        .await
        .map_err(CliError::kafka("creating topics"))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(CliError::Unexpected(format!(
                    "Kafka refused to create topic {topic}: {code}"
                )));
            }
        }
    }
    Ok(())
}

/// Creates the run's bucket when missing.
pub async fn ensure_bucket(
    local: &Local,
    stack: &BTreeMap<String, String>,
) -> Result<(), CliError> {
    let s3 = S3Settings::from_vars(stack).client();
    let bucket = local.names.bucket();
    if s3.head_bucket().bucket(&bucket).send().await.is_ok() {
        return Ok(());
    }
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .map_err(|e| {
            CliError::Unexpected(format!(
                "creating bucket {bucket}: {}",
                aws_sdk_s3::error::DisplayErrorContext(&e)
            ))
        })?;
    Ok(())
}
