//! What each consumed record becomes in its round's output: an enriched decision, a pending
//! record that waits for its policy edit, or a dead letter; and what the grace buffer lets go.
//! Records are read where the consumer holds them: only what is deferred or dead-lettered
//! is copied.

use std::sync::Arc;

use docket_kafka::TopicPartition;
use docket_records::{
    CodecError, Decision, DecisionKeys, Decoder, Encoder, EnrichedDecision, JoinStatus, Micros,
    Registry,
};
use docket_telemetry::{Backoff, Shutdown, wait_out};
use prometheus::IntCounter;
use rdkafka::Message;
use rdkafka::message::Headers;

use crate::audit::AuditView;
use crate::config::JoinerConfig;
use crate::error::JoinerError;
use crate::metrics::Metrics;
use crate::output::{DEADLINE_HEADER, RoundOutput};
use crate::pending::{GraceBuffer, Held, Pending};
use crate::rule::{Evaluation, enrich, evaluate, evaluate_keys, outcome};

/// Waits for an unreachable registry: the first ceiling, and the largest.
const RETRY_INITIAL: std::time::Duration = std::time::Duration::from_millis(200);
const RETRY_MAX: std::time::Duration = std::time::Duration::from_secs(10);

/// Joins records into a round's output; holds the grace buffer.
pub struct Handler {
    config: JoinerConfig,
    out: OutTopics,
    /// `metrics.joined` by join status, looked up once.
    joined: [IntCounter; 4],
    decisions: Decoder<Decision>,
    enriched: Encoder<EnrichedDecision>,
    view: AuditView,
    buffer: GraceBuffer,
    metrics: Metrics,
    shutdown: Shutdown,
}

impl Handler {
    pub fn new(
        config: JoinerConfig,
        registry: &Registry,
        view: AuditView,
        metrics: Metrics,
        shutdown: Shutdown,
    ) -> Self {
        let out = OutTopics {
            enriched: config.topics.enriched.as_str().into(),
            pending: config.topics.pending.as_str().into(),
            dlq: config.topics.dlq.as_str().into(),
        };
        let joined = STATUSES.map(|s| metrics.joined.with_label_values(&[s.name()]));
        Self {
            enriched: registry.encoder(&config.topics.enriched),
            decisions: registry.decoder(),
            config,
            out,
            joined,
            view,
            buffer: GraceBuffer::default(),
            metrics,
            shutdown,
        }
    }

    /// Forgets the grace buffer: its partitions were revoked, or are read again from their
    /// committed offsets.
    pub fn clear(&mut self) {
        self.buffer.clear();
    }

    /// Decisions held in the grace buffer.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// Adds what `msg` becomes to `out`.
    pub async fn handle(
        &mut self,
        msg: &impl Message,
        out: &mut RoundOutput,
    ) -> Result<(), JoinerError> {
        if msg.topic() != self.config.topics.pending
            && let Some(read) = self.keys(msg.payload())
        {
            match read {
                Ok((keys, body)) => self.join_body_or_defer(msg, keys, body, out).await?,
                Err(e) => self.dead_letter(msg, e.to_string(), out),
            }
            out.consumed(msg);
            return Ok(());
        }
        let decoded = match msg.payload() {
            None => Err("record has no value".to_owned()),
            Some(bytes) => self.decode(bytes).await?.map_err(|e| e.to_string()),
        };
        if msg.topic() == self.config.topics.pending {
            self.hold(msg, decoded);
            return Ok(());
        }
        match decoded {
            Ok(decision) => self.join_or_defer(msg, decision, out).await?,
            Err(reason) => self.dead_letter(msg, reason, out),
        }
        out.consumed(msg);
        Ok(())
    }

    /// Decodes a decision, waiting out an unreachable registry; a shutdown during the wait
    /// abandons the round uncommitted.
    async fn decode(&self, bytes: &[u8]) -> Result<Result<Decision, CodecError>, JoinerError> {
        let mut backoff = Backoff::new(RETRY_INITIAL, RETRY_MAX);
        wait_out(
            "schema registry",
            &mut backoff,
            &self.shutdown,
            || self.decisions.decode(bytes),
            CodecError::is_retryable,
            |_| {},
        )
        .await
        .map_err(|_| JoinerError::Interrupted)
    }

    /// A decision's keys and body, read without decoding the rest when both its schema and
    /// the enriched record's allow it (see [`Decoder::keys_cached`]).
    fn keys<'a>(
        &self,
        payload: Option<&'a [u8]>,
    ) -> Option<Result<(DecisionKeys<'a>, &'a [u8]), CodecError>> {
        if !self.enriched.embeds_decision_body() {
            return None;
        }
        self.decisions.keys_cached(payload?)
    }

    /// [`Self::join_or_defer`] for a decision read as its keys and Avro body: the enriched
    /// record copies the body.
    async fn join_body_or_defer(
        &self,
        msg: &impl Message,
        keys: DecisionKeys<'_>,
        body: &[u8],
        out: &mut RoundOutput,
    ) -> Result<(), JoinerError> {
        let joined = {
            let table = self.view.table.read().expect("table lock");
            match evaluate_keys(&table, keys.policy, keys.time, self.config.horizon) {
                Evaluation::VersionUnseen => None,
                evaluation => Some(outcome(keys.time, &evaluation)),
            }
        };
        let Some((change, status)) = joined else {
            self.defer(msg, out);
            return Ok(());
        };
        let id = self.enriched.schema_id().await?;
        out.push_with(
            &self.out.enriched,
            Some(keys.correlation_id.as_bytes()),
            Vec::new(),
            |bytes| {
                self.enriched
                    .encode_tail_into(id, body, &change, status, bytes)
            },
        )?;
        self.count_joined(status);
        Ok(())
    }

    async fn join_or_defer(
        &self,
        msg: &impl Message,
        decision: Decision,
        out: &mut RoundOutput,
    ) -> Result<(), JoinerError> {
        let enriched = {
            let table = self.view.table.read().expect("table lock");
            match evaluate(&table, &decision, self.config.horizon) {
                Evaluation::VersionUnseen => None,
                evaluation => Some(enrich(decision, &evaluation)),
            }
        };
        match enriched {
            Some(e) => self.emit(e, msg.payload(), out).await,
            None => {
                self.defer(msg, out);
                Ok(())
            }
        }
    }

    fn defer(&self, msg: &impl Message, out: &mut RoundOutput) {
        let grace = i64::try_from(self.config.grace.as_micros()).unwrap_or(i64::MAX);
        let deadline = Micros::now().0.saturating_add(grace);
        out.push(
            &self.out.pending,
            msg.key(),
            msg.payload().unwrap_or_default(),
            vec![(DEADLINE_HEADER, deadline.to_string())],
        );
        self.metrics.deferred.inc();
    }

    /// Adds the enriched record to `out`. With the decision's own bytes (`source`, when it
    /// was read with the decision schema the enriched one embeds) they are copied instead of
    /// encoded again.
    async fn emit(
        &self,
        enriched: EnrichedDecision,
        source: Option<&[u8]>,
        out: &mut RoundOutput,
    ) -> Result<(), JoinerError> {
        let body = source.and_then(|bytes| self.decisions.own_schema_body(bytes));
        let id = self.enriched.schema_id().await?;
        let key = enriched.decision.correlation_id.as_bytes();
        out.push_with(
            &self.out.enriched,
            Some(key),
            Vec::new(),
            |bytes| match body {
                Some(body) => self.enriched.encode_around_into(id, body, &enriched, bytes),
                None => self.enriched.encode_into(id, &enriched, bytes),
            },
        )?;
        self.count_joined(enriched.join_status);
        Ok(())
    }

    fn count_joined(&self, status: JoinStatus) {
        let index = STATUSES.iter().position(|s| *s == status);
        self.joined[index.expect("every status is listed")].inc();
    }

    fn dead_letter(&self, msg: &impl Message, reason: String, out: &mut RoundOutput) {
        tracing::warn!(topic = msg.topic(), partition = msg.partition(), offset = msg.offset(), %reason, "dead-lettering record");
        self.metrics.dead_lettered.inc();
        let source = TopicPartition::new(msg.topic(), msg.partition());
        out.dead_letter(
            &self.out.dlq,
            (&source, msg.offset()),
            msg.key(),
            msg.payload().unwrap_or_default(),
            &reason,
        );
    }

    fn hold(&mut self, msg: &impl Message, decoded: Result<Decision, String>) {
        let held = match decoded {
            Ok(decision) => Held::Decision(Box::new(decision)),
            Err(reason) => Held::Undecodable {
                key: msg.key().map(<[u8]>::to_vec),
                payload: msg.payload().unwrap_or_default().to_vec(),
                reason,
            },
        };
        let deadline = deadline_of(msg).unwrap_or_else(Micros::now);
        self.buffer.push(
            msg.partition(),
            Pending {
                offset: msg.offset(),
                deadline,
                held,
            },
        );
    }

    /// Adds what the grace buffer releases now to `out`.
    pub async fn release(&mut self, out: &mut RoundOutput) -> Result<(), JoinerError> {
        let released = {
            let table = self.view.table.read().expect("table lock");
            self.buffer
                .release(&table, self.config.horizon, Micros::now())
        };
        for enriched in released.records {
            self.emit(enriched, None, out).await?;
        }
        let pending = self.config.topics.pending.as_str();
        for dead in released.dead {
            self.metrics.dead_lettered.inc();
            out.dead_letter(
                &self.out.dlq,
                (&TopicPartition::new(pending, dead.partition), dead.offset),
                dead.key.as_deref(),
                &dead.payload,
                &dead.reason,
            );
        }
        for (partition, next) in released.commits {
            out.consume_to(pending, partition, next);
        }
        Ok(())
    }
}

/// Where the records a round writes go, each name shared by its records.
struct OutTopics {
    enriched: Arc<str>,
    pending: Arc<str>,
    dlq: Arc<str>,
}

/// Every join status, in the order of `Handler::joined`.
const STATUSES: [JoinStatus; 4] = [
    JoinStatus::Joined,
    JoinStatus::NoRecentEdit,
    JoinStatus::NoPolicy,
    JoinStatus::Late,
];

fn deadline_of(msg: &impl Message) -> Option<Micros> {
    let headers = msg.headers()?;
    let value = headers.iter().find(|h| h.key == DEADLINE_HEADER)?.value?;
    std::str::from_utf8(value).ok()?.parse().ok().map(Micros)
}
