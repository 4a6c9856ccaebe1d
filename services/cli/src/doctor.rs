//! `docket doctor <sink>`: checks each hop to a destination separately and names the first
//! failing one: name resolution, TCP reach, transport (does the endpoint answer the expected
//! protocol), credential (S3: a test object written and deleted); also Kafka and the registry.

use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use reqwest::Url;

use crate::destination::s3::s3_error;
use crate::error::CliError;
use crate::local::Local;
use crate::s3::S3Settings;
use crate::{services, ui};

const HOP_TIMEOUT: Duration = Duration::from_secs(5);

/// One hop's result.
pub struct Hop {
    /// `kafka`, `registry` or the sink.
    pub component: String,
    /// Which hop.
    pub name: &'static str,
    /// Detail on success, reason on failure; `None` when skipped.
    pub result: Option<Result<String, String>>,
}

/// Runs `docket doctor`.
pub async fn run(local: &Local, sink: &str) -> Result<(), CliError> {
    if services::sink(sink).is_none() {
        return Err(CliError::Usage(format!(
            "unknown sink {sink:?}; one of: {}",
            services::sink_names().join(", ")
        )));
    }
    let env = local.stack_env()?;
    let mut hops = Vec::new();
    let settings = local.kafka()?;
    hops.extend(kafka_hops(&settings).await);
    hops.extend(registry_hops(&settings.schema_registry_url).await);
    if let Some(target) = crate::doctor_http::target(sink, &env) {
        hops.extend(http_hops(&target).await);
    }
    if sink == "s3" {
        let bucket = env
            .get("DOCKET_S3_BUCKET")
            .cloned()
            .unwrap_or_else(|| local.names.bucket());
        hops.extend(s3_hops(&S3Settings::from_vars(&env), &bucket).await);
    }
    print!("{}", render(&hops));
    match hops.iter().find(|h| matches!(h.result, Some(Err(_)))) {
        Some(Hop {
            component,
            name,
            result: Some(Err(reason)),
        }) => Err(CliError::Unexpected(format!(
            "{component} fails at {name}: {reason}"
        ))),
        _ => Ok(()),
    }
}

/// Runs `checks` in order; after the first failure the rest are skipped.
fn chain(
    component: &str,
    results: Vec<(&'static str, Option<Result<String, String>>)>,
) -> Vec<Hop> {
    let mut failed = false;
    results
        .into_iter()
        .map(|(name, result)| {
            let result = if failed { None } else { result };
            failed |= matches!(result, Some(Err(_)));
            Hop {
                component: component.to_owned(),
                name,
                result,
            }
        })
        .collect()
}

/// Name resolution and TCP reach of `host:port`.
async fn reach(addr: &str) -> [(&'static str, Option<Result<String, String>>); 2] {
    let resolved = match tokio::time::timeout(HOP_TIMEOUT, tokio::net::lookup_host(addr)).await {
        Ok(Ok(mut a)) => a
            .next()
            .ok_or_else(|| format!("{addr} resolves to no address")),
        Ok(Err(e)) => Err(format!("{addr} does not resolve: {e}")),
        Err(_) => Err(format!(
            "resolving {addr} took longer than {}",
            ui::human(HOP_TIMEOUT)
        )),
    };
    let tcp = match &resolved {
        Err(_) => None,
        Ok(sock) => {
            let start = Instant::now();
            Some(
                match tokio::time::timeout(HOP_TIMEOUT, tokio::net::TcpStream::connect(sock)).await
                {
                    Ok(Ok(_)) => Ok(format!(
                        "{sock} connected in {}",
                        ui::human(start.elapsed())
                    )),
                    Ok(Err(e)) => Err(format!("nothing accepts connections at {sock}: {e}")),
                    Err(_) => Err(format!(
                        "no TCP answer from {sock} within {}",
                        ui::human(HOP_TIMEOUT)
                    )),
                },
            )
        }
    };
    [
        (
            "name resolution",
            Some(resolved.map(|a| format!("{addr} -> {}", a.ip()))),
        ),
        ("TCP", tcp),
    ]
}

async fn kafka_hops(settings: &docket_kafka::KafkaSettings) -> Vec<Hop> {
    let first = settings
        .bootstrap_servers
        .split(',')
        .next()
        .unwrap_or_default()
        .to_owned();
    let mut results = reach(&first).await.to_vec();
    let metadata = tokio::task::block_in_place(|| {
        let kafka = crate::kafka::Kafka::new(settings)?;
        kafka
            .partitions(docket_kafka::topic::DECISIONS)
            .map(|p| p.len())
    });
    results.push((
        "Kafka protocol",
        Some(
            metadata
                .map(|n| format!("metadata answered ({n} decision partitions)"))
                .map_err(|e| e.to_string()),
        ),
    ));
    chain("kafka", results)
}

async fn registry_hops(url: &str) -> Vec<Hop> {
    let Ok(parsed) = Url::parse(url) else {
        return chain(
            "registry",
            vec![("URL", Some(Err(format!("{url} is not a URL"))))],
        );
    };
    let addr = format!(
        "{}:{}",
        parsed.host_str().unwrap_or_default(),
        parsed.port_or_known_default().unwrap_or(80)
    );
    let mut results = reach(&addr).await.to_vec();
    let answer = http_get(&format!("{url}/subjects")).await.and_then(|(status, body)| {
        (status == 200 && body.trim_start().starts_with('['))
            .then(|| format!("GET /subjects answered {status}"))
            .ok_or(format!("GET /subjects answered {status}, not a subject list: is this the registry's API?"))
    });
    results.push(("transport (HTTP API)", Some(answer)));
    chain("registry", results)
}

async fn s3_hops(s3: &S3Settings, bucket: &str) -> Vec<Hop> {
    let endpoint = s3
        .endpoint
        .clone()
        .unwrap_or_else(|| format!("https://s3.{}.amazonaws.com", s3.region));
    let Ok(parsed) = Url::parse(&endpoint) else {
        return chain(
            "s3",
            vec![("endpoint", Some(Err(format!("{endpoint} is not a URL"))))],
        );
    };
    let addr = format!(
        "{}:{}",
        parsed.host_str().unwrap_or_default(),
        parsed.port_or_known_default().unwrap_or(443)
    );
    let mut results = reach(&addr).await.to_vec();
    let transport = http_get(&endpoint).await.and_then(|(status, body)| {
        body.contains("<Error>")
            .then(|| {
                format!(
                    "{endpoint} answered the S3 protocol (HTTP {status} to an unsigned request)"
                )
            })
            .ok_or(format!(
                "{endpoint} answered HTTP {status} but not the S3 protocol: is this the S3 port?"
            ))
    });
    results.push(("transport (HTTP, S3)", Some(transport)));
    results.push((
        "credential (test object)",
        Some(test_object(s3, bucket).await),
    ));
    chain("s3", results)
}

async fn http_hops(target: &crate::doctor_http::HttpTarget) -> Vec<Hop> {
    let mut results = match target.addr() {
        Ok(addr) => reach(&addr).await.to_vec(),
        Err(e) => vec![("endpoint", Some(Err(e)))],
    };
    results.push(("transport (HTTP, TLS, API)", Some(target.transport().await)));
    results.push(("credential", Some(target.credential().await)));
    chain(target.component, results)
}

/// Writes and deletes a small object in `bucket`.
async fn test_object(s3: &S3Settings, bucket: &str) -> Result<String, String> {
    let client = s3.client();
    let key = format!("docket/doctor/{}", std::process::id());
    client
        .put_object()
        .bucket(bucket)
        .key(&key)
        .body(ByteStream::from_static(b"docket doctor"))
        .send()
        .await
        .map_err(|e| {
            s3_error(
                &format!("writing s3://{bucket}/{key} with key id {}", s3.access_key),
                &e,
            )
            .to_string()
        })?;
    client
        .delete_object()
        .bucket(bucket)
        .key(&key)
        .send()
        .await
        .map_err(|e| s3_error(&format!("deleting s3://{bucket}/{key}"), &e).to_string())?;
    Ok(format!("wrote and deleted s3://{bucket}/{key}"))
}

/// A GET: status and body, or why no HTTP answer came.
async fn http_get(url: &str) -> Result<(u16, String), String> {
    let client = reqwest::Client::builder()
        .timeout(HOP_TIMEOUT)
        .build()
        .map_err(|e| e.to_string())?;
    let r = client.get(url).send().await.map_err(|e| {
        let kind = if e.is_timeout() {
            "no answer in time"
        } else {
            "no HTTP answer"
        };
        format!(
            "{kind} from {url} (wrong port, or TLS expected?): {}",
            source_chain(&e)
        )
    })?;
    let status = r.status().as_u16();
    Ok((status, r.text().await.unwrap_or_default()))
}

fn source_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut s = e.source();
    while let Some(inner) = s {
        text = format!("{text}: {inner}");
        s = inner.source();
    }
    text
}

fn render(hops: &[Hop]) -> String {
    let mut rows = vec![
        ["COMPONENT", "HOP", "RESULT", "DETAIL"]
            .map(String::from)
            .to_vec(),
    ];
    for h in hops {
        let (result, detail) = match &h.result {
            Some(Ok(d)) => ("ok", d.clone()),
            Some(Err(d)) => ("FAILED", d.clone()),
            None => ("skipped", "an earlier hop failed".to_owned()),
        };
        rows.push(vec![
            h.component.clone(),
            h.name.into(),
            result.into(),
            detail,
        ]);
    }
    ui::table(&rows)
}
