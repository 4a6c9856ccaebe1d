//! Shared pieces of the end-to-end tests: the running local stack (`dev/stack up`), unique
//! topics per test, complete sample records, and consuming with a deadline.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use docket_kafka::{ConsumerOptions, KafkaSettings};
use docket_records::{
    Actor, Audit, Caller, Decision, EnrichedDecision, JoinStatus, Micros, ModelRoute, Outcome,
    PolicyAction, PolicyChange, PolicyKind, PolicyRef, Registry, RegistryConfig, Resource, Stage,
    Verdict,
};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::OwnedMessage;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

/// How long a test waits for the stack to deliver what it awaits.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Settings of the running stack: the local defaults, or the environment's overrides.
pub fn settings() -> KafkaSettings {
    KafkaSettings::from_env().expect("DOCKET_* settings in the environment are valid")
}

/// A registry client for the running stack.
pub fn registry() -> Registry {
    Registry::new(&RegistryConfig::new(settings().schema_registry_url)).expect("registry client")
}

/// A fresh topic (one partition) that no other test or run uses.
pub async fn unique_topic(prefix: &str) -> String {
    let name = format!("test.{prefix}.{}", uuid::Uuid::now_v7().simple());
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", settings().bootstrap_servers)
        .create()
        .expect("admin client");
    let topic = NewTopic::new(&name, 1, TopicReplication::Fixed(1));
    let opts = AdminOptions::new().operation_timeout(Some(DEADLINE));
    let results = admin
        .create_topics([&topic], &opts)
        .await
        .unwrap_or_else(|e| panic!("cannot reach Kafka at {} (is `dev/stack up` running?): {e}", settings().bootstrap_servers));
    for r in results {
        r.unwrap_or_else(|(t, e)| panic!("creating topic {t}: {e}"));
    }
    name
}

/// Reads `count` messages of partition 0 of `topic` from the beginning, failing after [`DEADLINE`].
pub async fn consume(topic: &str, count: usize) -> Vec<OwnedMessage> {
    let options = ConsumerOptions {
        group_id: format!("test-{}", uuid::Uuid::now_v7().simple()),
        read_committed: true,
    };
    let consumer: StreamConsumer = docket_kafka::consumer(&settings(), &options).expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning).expect("partition");
    consumer.assign(&tpl).expect("assign");
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let next = tokio::time::timeout(DEADLINE, consumer.recv()).await;
        let msg = next
            .unwrap_or_else(|_| panic!("only {} of {count} messages arrived on {topic}", out.len()))
            .expect("consumer error");
        out.push(msg.detach());
    }
    out
}

/// The payload of a message, which must have one.
pub fn payload(msg: &OwnedMessage) -> &[u8] {
    msg.payload().expect("message has a payload")
}

/// A decision with every field, optional ones included, set.
pub fn sample_decision() -> Decision {
    Decision {
        event_id: uuid::Uuid::now_v7().to_string(),
        correlation_id: "4bf92f3577b34da6a3ce929d0e0e4736".to_owned(),
        time: Micros(1_795_000_000_123_456),
        gateway_instance: "gateway-7f9c-0".to_owned(),
        stage: Stage::Request,
        verdict: Verdict::Redact,
        policy: Some(PolicyRef {
            id: "pol-pii".to_owned(),
            name: "Mask personal data".to_owned(),
            kind: PolicyKind::Redaction,
            version: 7,
        }),
        policy_set_version: 42,
        actions: vec![
            PolicyAction {
                policy_id: "pol-pii".to_owned(),
                policy_version: 7,
                verdict: Verdict::Redact,
                rule_id: Some("email".to_owned()),
                target: Some("messages[1].content".to_owned()),
                reason: Some("personal data is masked before leaving".to_owned()),
                redacted_count: 2,
                entity_types: vec!["EMAIL".to_owned(), "CARD_NUMBER".to_owned()],
            },
            PolicyAction {
                policy_id: "pol-route".to_owned(),
                policy_version: 3,
                verdict: Verdict::Modify,
                rule_id: None,
                target: Some("max_tokens".to_owned()),
                reason: None,
                redacted_count: 0,
                entity_types: vec![],
            },
        ],
        caller: Caller {
            api_key_id: "key-01".to_owned(),
            user: Some("alice@example.com".to_owned()),
            team: Some("research".to_owned()),
            source_ip: Some("10.1.2.3".to_owned()),
        },
        model: ModelRoute {
            requested: "gpt-4o".to_owned(),
            routed: Some("gpt-4o-mini".to_owned()),
            provider: Some("openai".to_owned()),
        },
    }
}

/// An audit event with every field set.
pub fn sample_audit() -> Audit {
    Audit {
        event_id: uuid::Uuid::now_v7().to_string(),
        request_id: "req-5d1e".to_owned(),
        time: Micros(1_794_999_000_000_001),
        actor: Actor {
            id: "admin-bob".to_owned(),
            kind: "user".to_owned(),
            role: "policy_admin".to_owned(),
            source_ip: Some("192.0.2.10".to_owned()),
        },
        action: "policy.update".to_owned(),
        resource: Resource {
            kind: "policy".to_owned(),
            id: "pol-pii".to_owned(),
            name: Some("Mask personal data".to_owned()),
        },
        outcome: Outcome::Success,
        details: BTreeMap::from([
            ("changed".to_owned(), "patterns".to_owned()),
            ("previous_version".to_owned(), "6".to_owned()),
        ]),
        policy_version: Some(7),
    }
}

/// An enriched decision joined to [`sample_audit`].
pub fn sample_enriched() -> EnrichedDecision {
    let decision = sample_decision();
    let audit = sample_audit();
    EnrichedDecision {
        policy_change: Some(PolicyChange {
            audit_event_id: audit.event_id,
            action: audit.action,
            actor_id: audit.actor.id,
            actor_role: audit.actor.role,
            time: audit.time,
            policy_version: audit.policy_version,
            lag_ms: decision.time.millis_since(audit.time),
        }),
        decision,
        join_status: JoinStatus::Joined,
    }
}
