//! The table of Docket's services the local run starts: name, binary, port and environment.
//! Adding a sink is one entry; a sink starts only if its crate exists in the repository.

use std::collections::BTreeMap;

use crate::local::Local;

/// Environment variables by name.
pub type Vars = BTreeMap<String, String>;
/// A service's environment, given the local run, the stack's client settings and its address.
pub type EnvFn = fn(&Local, &Vars, &str) -> Vec<(String, String)>;

/// One service of the local run.
#[derive(Debug)]
pub struct Service {
    /// Short name (pid and log files, tables).
    pub name: &'static str,
    /// Its crate's folder in the repository.
    pub crate_dir: &'static str,
    /// Its binary.
    pub binary: &'static str,
    /// Offset of its HTTP port (`/readyz`, `/metrics`) from the port base.
    pub port_offset: u16,
    /// The sink's name (`s3`, ...) for sinks.
    pub sink: Option<&'static str>,
    /// Its environment, given the local run and the stack's client settings.
    pub env: EnvFn,
}

/// Every service, in start order (`down` stops them in reverse).
pub const SERVICES: &[Service] = &[
    Service {
        name: "gateway",
        crate_dir: "services/gateway",
        binary: "docket-gateway",
        port_offset: 0,
        sink: None,
        env: gateway_env,
    },
    Service {
        name: "joiner",
        crate_dir: "services/joiner",
        binary: "docket-joiner",
        port_offset: 1,
        sink: None,
        env: joiner_env,
    },
    Service {
        name: "sink-s3",
        crate_dir: "services/sink-s3",
        binary: "docket-sink-s3",
        port_offset: 2,
        sink: Some("s3"),
        env: s3_env,
    },
    Service {
        name: "sink-splunk",
        crate_dir: "services/sink-splunk",
        binary: "docket-sink-splunk",
        port_offset: 3,
        sink: Some("splunk"),
        env: splunk_env,
    },
    Service {
        name: "sink-datadog",
        crate_dir: "services/sink-datadog",
        binary: "docket-sink-datadog",
        port_offset: 4,
        sink: Some("datadog"),
        env: datadog_env,
    },
    Service {
        name: "sink-otlp",
        crate_dir: "services/sink-otlp",
        binary: "docket-sink-otlp",
        port_offset: 5,
        sink: Some("otlp"),
        env: otlp_env,
    },
];

impl Service {
    /// Its port on 127.0.0.1.
    pub fn port(&self, local: &Local) -> u16 {
        local.port_base + self.port_offset
    }

    /// Its `host:port`.
    pub fn addr(&self, local: &Local) -> String {
        format!("127.0.0.1:{}", self.port(local))
    }

    /// Whether this checkout has the service (sinks land one by one).
    pub fn exists(&self, local: &Local) -> bool {
        local.root.join(self.crate_dir).join("Cargo.toml").is_file()
    }
}

/// The sink called `name`, if the table has it.
pub fn sink(name: &str) -> Option<&'static Service> {
    SERVICES.iter().find(|s| s.sink == Some(name))
}

/// The names of every sink in the table.
pub fn sink_names() -> Vec<&'static str> {
    SERVICES.iter().filter_map(|s| s.sink).collect()
}

fn pairs(items: &[(&str, String)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

fn kafka_env(stack: &BTreeMap<String, String>) -> Vec<(String, String)> {
    ["DOCKET_KAFKA_BOOTSTRAP", "DOCKET_SCHEMA_REGISTRY_URL"]
        .iter()
        .filter_map(|k| Some(((*k).to_owned(), stack.get(*k)?.clone())))
        .collect()
}

fn gateway_env(
    local: &Local,
    stack: &BTreeMap<String, String>,
    addr: &str,
) -> Vec<(String, String)> {
    let n = &local.names;
    let config = local.root.join("config/gateway.local.json");
    let state = local
        .state
        .join("docket")
        .join(namespaced("gateway", n.namespace()));
    let mut env = pairs(&[
        ("DOCKET_GATEWAY_CONFIG", config.display().to_string()),
        ("DOCKET_GATEWAY_STATE_DIR", state.display().to_string()),
        ("DOCKET_GATEWAY_LISTEN", addr.to_owned()),
        ("DOCKET_GATEWAY_DECISIONS_TOPIC", n.decisions()),
        ("DOCKET_GATEWAY_AUDIT_TOPIC", n.audit()),
    ]);
    env.extend(kafka_env(stack));
    env
}

fn joiner_env(
    local: &Local,
    stack: &BTreeMap<String, String>,
    addr: &str,
) -> Vec<(String, String)> {
    let n = &local.names;
    let mut env = pairs(&[
        ("DOCKET_JOINER_METRICS_ADDR", addr.to_owned()),
        (
            "DOCKET_JOINER_INSTANCE",
            namespaced("joiner-local", n.namespace()),
        ),
        ("DOCKET_JOINER_GROUP", n.joiner_group()),
        ("DOCKET_JOINER_DECISIONS_TOPIC", n.decisions()),
        ("DOCKET_JOINER_AUDIT_TOPIC", n.audit()),
        ("DOCKET_JOINER_ENRICHED_TOPIC", n.enriched()),
        ("DOCKET_JOINER_PENDING_TOPIC", n.pending()),
        ("DOCKET_JOINER_DLQ_TOPIC", n.dlq("joiner")),
    ]);
    env.extend(kafka_env(stack));
    env
}

/// What every sink reads: its group, topics, both streams, a short idle flush.
fn sink_env(
    local: &Local,
    stack: &BTreeMap<String, String>,
    addr: &str,
    sink: &str,
) -> Vec<(String, String)> {
    let n = &local.names;
    let mut env = pairs(&[
        ("DOCKET_SINK_HTTP_ADDR", addr.to_owned()),
        ("DOCKET_SINK_GROUP", n.sink_group(sink)),
        ("DOCKET_SINK_DLQ_TOPIC", n.dlq(&format!("sink-{sink}"))),
        ("DOCKET_SINK_DECISIONS_TOPIC", n.enriched()),
        ("DOCKET_SINK_AUDIT_TOPIC", n.audit()),
        ("DOCKET_SINK_STREAMS", "both".to_owned()),
        ("DOCKET_SINK_IDLE_FLUSH", "1s".to_owned()),
    ]);
    env.extend(kafka_env(stack));
    env
}

fn s3_env(local: &Local, stack: &BTreeMap<String, String>, addr: &str) -> Vec<(String, String)> {
    let mut env = sink_env(local, stack, addr, "s3");
    env.push(("DOCKET_S3_BUCKET".to_owned(), local.names.bucket()));
    for k in [
        "DOCKET_S3_ENDPOINT",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_REGION",
    ] {
        if let Some(v) = stack.get(k) {
            env.push((k.to_owned(), v.clone()));
        }
    }
    env
}

/// The local collector's receiver URL `name` (from `dev/stack env`).
fn collector(stack: &Vars, name: &str) -> String {
    stack.get(name).cloned().unwrap_or_default()
}

/// Splunk HEC: the collector's HEC receiver, which takes any token.
fn splunk_env(local: &Local, stack: &Vars, addr: &str) -> Vec<(String, String)> {
    let mut env = sink_env(local, stack, addr, "splunk");
    env.extend(pairs(&[
        (
            "DOCKET_SPLUNK_URL",
            collector(stack, "DOCKET_OTELCOL_HEC_URL"),
        ),
        ("DOCKET_SPLUNK_TOKEN", LOCAL_RECEIVER_SECRET.to_owned()),
    ]));
    env
}

/// Datadog: the collector's Datadog receiver (which has no key validation endpoint).
fn datadog_env(local: &Local, stack: &Vars, addr: &str) -> Vec<(String, String)> {
    let mut env = sink_env(local, stack, addr, "datadog");
    env.extend(pairs(&[
        (
            "DOCKET_DATADOG_URL",
            collector(stack, "DOCKET_OTELCOL_DATADOG_URL"),
        ),
        ("DOCKET_DATADOG_API_KEY", LOCAL_RECEIVER_SECRET.to_owned()),
        ("DOCKET_DATADOG_VALIDATE", "false".to_owned()),
    ]));
    env
}

/// OTLP: the collector's OTLP/HTTP receiver.
fn otlp_env(local: &Local, stack: &Vars, addr: &str) -> Vec<(String, String)> {
    let mut env = sink_env(local, stack, addr, "otlp");
    env.push((
        "DOCKET_OTLP_ENDPOINT".to_owned(),
        collector(stack, "DOCKET_OTELCOL_OTLP_URL"),
    ));
    env
}

/// The credential the local collector's receivers are given (they check none).
const LOCAL_RECEIVER_SECRET: &str = "docket-local";

/// `base` in `namespace` (`base-namespace`, or `base` when there is none).
fn namespaced(base: &str, namespace: &str) -> String {
    if namespace.is_empty() {
        base.to_owned()
    } else {
        format!("{base}-{namespace}")
    }
}
