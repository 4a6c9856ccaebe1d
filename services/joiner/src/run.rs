//! The joiner's one loop. Each round collects a batch from the decisions and pending topics,
//! joins what it can, defers what waits for an edit, releases what the grace buffer lets
//! go, and writes all of it with the consumed offsets in one Kafka transaction. A failed
//! transaction stops the joiner; a restart resumes from the last committed offsets.

use std::time::{Duration, Instant};

use docket_kafka::TopicPartition;
use docket_records::{
    Decision, Decoder, Encoder, EnrichedDecision, JoinStatus, Micros, Registry, RegistryConfig,
};
use docket_telemetry::{Backoff, Health, Shutdown, wait_out};
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

use crate::audit::{self, AuditView};
use crate::config::JoinerConfig;
use crate::context::RebalanceWatch;
use crate::error::JoinerError;
use crate::metrics::Metrics;
use crate::output::{DEADLINE_HEADER, Outgoing, RoundOutput};
use crate::pending::{GraceBuffer, Held, Pending};
use crate::rule::{Evaluation, enrich, evaluate};

const TXN_TIMEOUT: Duration = Duration::from_secs(30);
const IDLE_TICK: Duration = Duration::from_millis(100);
/// Waits for an unreachable registry: the first ceiling, and the largest.
const RETRY_INITIAL: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(10);

/// Runs the joiner until `shutdown` fires or a transaction fails.
pub async fn run(config: JoinerConfig, mut shutdown: Shutdown) -> Result<(), JoinerError> {
    let metrics = Metrics::new()?;
    let health = Health::default();
    let endpoint = docket_telemetry::serve(
        config.metrics_addr,
        metrics.registry.clone(),
        health.clone(),
    )
    .await?;
    tracing::info!(addr = %endpoint.addr(), "metrics and health endpoint up");
    let registry = Registry::new(&RegistryConfig::new(
        config.kafka.schema_registry_url.clone(),
    ))?;
    let mut view = audit::follow(
        &config.kafka,
        &config.topics.audit,
        config.history,
        registry.decoder(),
        metrics.clone(),
        shutdown.clone(),
    )?;
    tokio::select! {
        _ = view.loaded.wait_for(|loaded| *loaded) => {}
        _ = shutdown.wait() => return Ok(()),
    }
    tracing::info!(
        edits = view.table.read().expect("table lock").len(),
        "policy history loaded"
    );
    let mut joiner = Joiner::start(config, registry, view, metrics, shutdown.clone())?;
    health.set_ready(true);
    while !shutdown.requested() {
        match joiner.round().await {
            Ok(()) | Err(JoinerError::Interrupted) => {}
            Err(e) => return Err(e),
        }
    }
    tracing::info!("joiner stopped after its last committed round");
    Ok(())
}

struct Joiner {
    config: JoinerConfig,
    consumer: StreamConsumer<RebalanceWatch>,
    producer: FutureProducer,
    decisions: Decoder<Decision>,
    enriched: Encoder<EnrichedDecision>,
    view: AuditView,
    buffer: GraceBuffer,
    metrics: Metrics,
    shutdown: Shutdown,
    /// Whether the round's transaction has begun.
    open: bool,
}

impl Joiner {
    fn start(
        config: JoinerConfig,
        registry: Registry,
        view: AuditView,
        metrics: Metrics,
        shutdown: Shutdown,
    ) -> Result<Self, JoinerError> {
        let producer =
            docket_kafka::transactional_producer(&config.kafka, &config.transactional_id())?;
        tokio::task::block_in_place(|| producer.init_transactions(TXN_TIMEOUT)).map_err(
            |source| JoinerError::Transaction {
                stage: "init",
                source,
            },
        )?;
        let options = docket_kafka::ConsumerOptions {
            group_id: config.group.clone(),
            read_committed: true,
        };
        // Static membership: a restarted instance takes its partitions back at once instead of
        // waiting for its predecessor's session to time out. Statistics report the lag.
        let settings = config.kafka.for_member(&config.instance);
        let watch = RebalanceWatch::new(metrics.consumer_lag.clone());
        let consumer = docket_kafka::consumer_with_context(&settings, &options, watch)?;
        consumer.subscribe(&[&config.topics.decisions, &config.topics.pending])?;
        Ok(Self {
            enriched: registry.encoder(&config.topics.enriched),
            decisions: registry.decoder(),
            config,
            consumer,
            producer,
            view,
            buffer: GraceBuffer::default(),
            metrics,
            shutdown,
            open: false,
        })
    }

    async fn round(&mut self) -> Result<(), JoinerError> {
        let batch = self.collect().await;
        let (started, consumed) = (Instant::now(), batch.len());
        let mut out = RoundOutput::default();
        let handled = self.handle_all(batch, &mut out).await;
        if let Err(e) = handled {
            self.abort_open();
            return Err(e);
        }
        self.metrics.grace_buffer.set(self.buffer.len() as i64);
        let joined = started.elapsed();
        if self.open || !out.is_empty() {
            self.commit(out)?;
        }
        tracing::debug!(consumed, ?joined, committed = ?started.elapsed() - joined, "round");
        Ok(())
    }

    /// Handles every record of `batch`, then the grace buffer's releases. Records go to the
    /// producer as they are made, inside the round's transaction (opened by the first one), so
    /// librdkafka sends while the rest of the batch is decoded and joined.
    async fn handle_all(
        &mut self,
        batch: Vec<OwnedMessage>,
        out: &mut RoundOutput,
    ) -> Result<(), JoinerError> {
        for msg in batch {
            self.handle(msg, out).await?;
            self.send_made(out)?;
        }
        self.release(out).await?;
        self.send_made(out)
    }

    /// Sends the records `out` holds, opening the round's transaction first if needed.
    fn send_made(&mut self, out: &mut RoundOutput) -> Result<(), JoinerError> {
        if out.records.is_empty() {
            return Ok(());
        }
        self.begin()?;
        for record in out.records.drain(..) {
            send(&self.producer, &record)?;
        }
        Ok(())
    }

    fn begin(&mut self) -> Result<(), JoinerError> {
        if !self.open {
            self.producer
                .begin_transaction()
                .map_err(|source| JoinerError::Transaction {
                    stage: "begin",
                    source,
                })?;
            self.open = true;
        }
        Ok(())
    }

    /// Aborts the round's transaction, if one is open: nothing of it becomes visible.
    fn abort_open(&mut self) {
        if std::mem::take(&mut self.open) {
            let _ = tokio::task::block_in_place(|| self.producer.abort_transaction(TXN_TIMEOUT));
        }
    }

    /// Collects up to a batch. A rebalance while collecting (it happens inside `recv`) ends
    /// the old assignment: what was collected before it, and the grace buffer, are dropped
    /// uncommitted (their partitions restart from the committed offsets), while what arrives
    /// after it belongs to the new assignment and is kept.
    async fn collect(&mut self) -> Vec<OwnedMessage> {
        let mut batch = Vec::new();
        let mut generation = self.consumer.context().generation();
        let first = tokio::time::timeout(IDLE_TICK, self.consumer.recv()).await;
        let first = match first {
            Ok(Ok(m)) => Some(m.detach()),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "consume failed");
                None
            }
            Err(_) => None,
        };
        if let Some(m) = first {
            self.keep(&mut batch, &mut generation, m);
            let until = tokio::time::Instant::now() + self.config.batch_wait;
            while batch.len() < self.config.batch_max {
                match tokio::time::timeout_at(until, self.consumer.recv()).await {
                    Ok(Ok(m)) => self.keep(&mut batch, &mut generation, m.detach()),
                    _ => break,
                }
            }
        }
        self.drop_if_rebalanced(&mut batch, &mut generation);
        batch
    }

    fn keep(&mut self, batch: &mut Vec<OwnedMessage>, generation: &mut u64, msg: OwnedMessage) {
        self.drop_if_rebalanced(batch, generation);
        batch.push(msg);
    }

    fn drop_if_rebalanced(&mut self, batch: &mut Vec<OwnedMessage>, generation: &mut u64) {
        let now = self.consumer.context().generation();
        if now != *generation {
            batch.clear();
            self.buffer.clear();
            self.note_assignment();
            *generation = now;
        }
    }

    async fn handle(
        &mut self,
        msg: OwnedMessage,
        out: &mut RoundOutput,
    ) -> Result<(), JoinerError> {
        let decoded = match msg.payload() {
            None => Err("record has no value".to_owned()),
            Some(bytes) => self.decode(bytes).await?.map_err(|e| e.to_string()),
        };
        if msg.topic() == self.config.topics.pending {
            self.hold(&msg, decoded);
            return Ok(());
        }
        match decoded {
            Ok(decision) => self.join_or_defer(&msg, decision, out).await?,
            Err(reason) => self.dead_letter(&msg, reason, out),
        }
        out.consumed(&msg);
        Ok(())
    }

    /// Decodes a decision, waiting out an unreachable registry; a shutdown during the wait
    /// abandons the round uncommitted.
    async fn decode(
        &self,
        bytes: &[u8],
    ) -> Result<Result<Decision, docket_records::CodecError>, JoinerError> {
        let mut backoff = Backoff::new(RETRY_INITIAL, RETRY_MAX);
        wait_out(
            "schema registry",
            &mut backoff,
            &self.shutdown,
            || self.decisions.decode(bytes),
            docket_records::CodecError::is_retryable,
            |_| {},
        )
        .await
        .map_err(|_| JoinerError::Interrupted)
    }

    async fn join_or_defer(
        &self,
        msg: &OwnedMessage,
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
            Some(e) => self.emit(e, out).await,
            None => {
                self.defer(msg, out);
                Ok(())
            }
        }
    }

    fn defer(&self, msg: &OwnedMessage, out: &mut RoundOutput) {
        let grace = i64::try_from(self.config.grace.as_micros()).unwrap_or(i64::MAX);
        let deadline = Micros::now().0.saturating_add(grace);
        out.records.push(Outgoing {
            topic: self.config.topics.pending.clone(),
            key: msg.key().map(<[u8]>::to_vec),
            payload: msg.payload().unwrap_or_default().to_vec(),
            headers: vec![(DEADLINE_HEADER, deadline.to_string())],
        });
        self.metrics.deferred.inc();
    }

    async fn emit(
        &self,
        enriched: EnrichedDecision,
        out: &mut RoundOutput,
    ) -> Result<(), JoinerError> {
        let payload = self.enriched.encode(&enriched).await?;
        self.metrics
            .joined
            .with_label_values(&[status_label(enriched.join_status)])
            .inc();
        out.records.push(Outgoing {
            topic: self.config.topics.enriched.clone(),
            key: Some(enriched.decision.correlation_id.into_bytes()),
            payload,
            headers: Vec::new(),
        });
        Ok(())
    }

    fn dead_letter(&self, msg: &OwnedMessage, reason: String, out: &mut RoundOutput) {
        tracing::warn!(topic = msg.topic(), partition = msg.partition(), offset = msg.offset(), %reason, "dead-lettering record");
        self.metrics.dead_lettered.inc();
        let source = TopicPartition::new(msg.topic(), msg.partition());
        let payload = msg.payload().unwrap_or_default().to_vec();
        out.dead_letter(
            &self.config.topics.dlq,
            (&source, msg.offset()),
            msg.key().map(<[u8]>::to_vec),
            payload,
            &reason,
        );
    }

    fn hold(&mut self, msg: &OwnedMessage, decoded: Result<Decision, String>) {
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

    async fn release(&mut self, out: &mut RoundOutput) -> Result<(), JoinerError> {
        let released = {
            let table = self.view.table.read().expect("table lock");
            self.buffer
                .release(&table, self.config.horizon, Micros::now())
        };
        for enriched in released.records {
            self.emit(enriched, out).await?;
        }
        let pending = self.config.topics.pending.clone();
        for dead in released.dead {
            self.metrics.dead_lettered.inc();
            out.dead_letter(
                &self.config.topics.dlq,
                (
                    &TopicPartition::new(pending.as_str(), dead.partition),
                    dead.offset,
                ),
                dead.key,
                dead.payload,
                &dead.reason,
            );
        }
        for (partition, next) in released.commits {
            out.consume_to(&pending, partition, next);
        }
        Ok(())
    }

    fn commit(&mut self, out: RoundOutput) -> Result<(), JoinerError> {
        let result = self
            .begin()
            .and_then(|()| tokio::task::block_in_place(|| self.transact(&out)));
        if let Err(e) = &result {
            tracing::error!(error = %e, "transaction failed; aborting");
            self.abort_open();
        } else {
            self.open = false;
            self.metrics.transactions.inc();
        }
        result
    }

    /// Sends what is left of the round, its offsets, and commits the open transaction (which
    /// fails if any send of the round failed).
    fn transact(&self, out: &RoundOutput) -> Result<(), JoinerError> {
        let fail = |stage| move |source| JoinerError::Transaction { stage, source };
        for record in &out.records {
            send(&self.producer, record)?;
        }
        let metadata = self
            .consumer
            .group_metadata()
            .ok_or(JoinerError::Transaction {
                stage: "group metadata",
                source: rdkafka::error::KafkaError::NoMessageReceived,
            })?;
        let offsets = out.offset_list()?;
        self.producer
            .send_offsets_to_transaction(&offsets, &metadata, TXN_TIMEOUT)
            .map_err(fail("send offsets"))?;
        self.producer
            .commit_transaction(TXN_TIMEOUT)
            .map_err(fail("commit"))
    }

    fn note_assignment(&self) {
        let assigned = self
            .consumer
            .assignment()
            .map(|a| a.count())
            .unwrap_or_default();
        self.metrics.assigned_partitions.set(assigned as i64);
    }
}

/// Queues `record` in the open transaction; its delivery is confirmed by the commit, which
/// fails if any send failed.
fn send(producer: &FutureProducer, record: &Outgoing) -> Result<(), JoinerError> {
    let mut r = FutureRecord::to(&record.topic)
        .payload(&record.payload)
        .headers(record.kafka_headers());
    if let Some(key) = &record.key {
        r = r.key(key);
    }
    producer
        .send_result(r)
        .map(drop)
        .map_err(|(source, _)| JoinerError::Transaction {
            stage: "send",
            source,
        })
}

fn deadline_of(msg: &OwnedMessage) -> Option<Micros> {
    let headers = msg.headers()?;
    let value = headers.iter().find(|h| h.key == DEADLINE_HEADER)?.value?;
    std::str::from_utf8(value).ok()?.parse().ok().map(Micros)
}

fn status_label(status: JoinStatus) -> &'static str {
    match status {
        JoinStatus::Joined => "JOINED",
        JoinStatus::NoRecentEdit => "NO_RECENT_EDIT",
        JoinStatus::NoPolicy => "NO_POLICY",
        JoinStatus::Late => "LATE",
    }
}
