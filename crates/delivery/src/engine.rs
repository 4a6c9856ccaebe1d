//! The one consumer loop every sink runs: a single `select!` over finished sends, ownership
//! changes, the idle-flush timer, shutdown and new messages. Offsets are committed only up to
//! the first record not yet accepted by the destination, per partition, in order.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use docket_kafka::{ConsumerOptions, KafkaSettings};
use docket_records::{Registry, RegistryConfig};
use docket_telemetry::{Health, Shutdown};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::batch::{Batch, Item};
use crate::config::EngineConfig;
use crate::context::{EngineContext, Ownership};
use crate::dlq::DeadLetters;
use crate::error::EngineError;
use crate::metrics::Metrics;
use crate::record::{Decoders, Exported, Source, Stream};
use crate::sink::{Accepted, SendError, Sink};

/// How often the loop looks for idle batches to flush.
const FLUSH_TICK: Duration = Duration::from_millis(100);

type Tp = (String, i32);

/// What the engine shares with the outside while it runs.
#[derive(Clone)]
pub struct Handles {
    /// The sink's metrics.
    pub metrics: Metrics,
    /// Whether the sink is ready.
    pub ready: Health,
}

impl Handles {
    /// Fresh metrics for `sink`, not ready.
    pub fn new(sink: &str) -> Self {
        Self {
            metrics: Metrics::new(sink),
            ready: Health::default(),
        }
    }
}

/// Runs `sink` until `shutdown` fires (returns `Ok`) or a fatal error stops it.
pub async fn run<S: Sink>(
    config: EngineConfig,
    settings: &KafkaSettings,
    sink: S,
    shutdown: Shutdown,
    handles: Handles,
) -> Result<(), EngineError> {
    config.validate()?;
    let Handles { metrics, ready } = handles;
    let _endpoint = match config.http_addr {
        Some(addr) => {
            let endpoint = docket_telemetry::serve(addr, metrics.registry(), ready.clone()).await?;
            tracing::info!(bound = %endpoint.addr(), "serving /metrics, /healthz and /readyz");
            Some(endpoint)
        }
        None => None,
    };
    let registry = Registry::new(&RegistryConfig::new(&settings.schema_registry_url))
        .map_err(|e| EngineError::Registry(e.to_string()))?;
    let producer =
        docket_kafka::producer(settings).map_err(|e| EngineError::Kafka(e.to_string()))?;
    let (events_tx, events) = mpsc::unbounded_channel();
    let consumer = consumer(
        settings,
        &config.group_id,
        EngineContext::new(events_tx, metrics.clone()),
    )?;
    consumer
        .subscribe(&config.topics())
        .map_err(|e| EngineError::Kafka(format!("cannot subscribe: {e}")))?;
    let (done_tx, done) = mpsc::unbounded_channel();
    let mut state = State {
        decoders: Decoders::new(&registry, &config.decisions_topic),
        dlq: DeadLetters::new(producer, &config.dlq_topic),
        sink: Arc::new(sink),
        partitions: HashMap::new(),
        buffered: 0,
        generation: 0,
        last_message: Instant::now(),
        done_tx,
        metrics,
        ready,
        config,
    };
    let result = state.drive(&consumer, events, done, shutdown).await;
    state.ready.set_ready(false);
    result
}

/// How often librdkafka reports statistics (the source of the consumer-lag metric).
const STATISTICS_INTERVAL_MS: &str = "5000";

/// The sink group's consumer: Docket's consumer settings, `read_committed` so aborted joiner
/// transactions are never exported, with statistics on for lag.
fn consumer(
    settings: &KafkaSettings,
    group_id: &str,
    context: EngineContext,
) -> Result<StreamConsumer<EngineContext>, EngineError> {
    let mut settings = settings.clone();
    settings
        .properties
        .entry("statistics.interval.ms".to_owned())
        .or_insert_with(|| STATISTICS_INTERVAL_MS.to_owned());
    let options = ConsumerOptions {
        group_id: group_id.to_owned(),
        read_committed: true,
    };
    docket_kafka::consumer_with_context(&settings, &options, context)
        .map_err(|e| EngineError::Kafka(e.to_string()))
}

/// A finished send.
struct Done {
    tp: Tp,
    generation: u64,
    batch: Batch,
    outcome: Result<Accepted, SendError>,
}

/// One owned partition's work.
struct Partition {
    generation: u64,
    stream: Stream,
    open: Option<Batch>,
    queued: VecDeque<Batch>,
    in_flight: Option<(i64, JoinHandle<()>)>,
    /// The offset after the last record handled (batched, skipped or dead-lettered).
    next_offset: i64,
    /// Records up to this offset are already at the destination (an earlier run wrote them).
    skip_through: i64,
    committed: i64,
}

impl Partition {
    /// The first offset not yet accepted: everything before it may be committed.
    fn committable(&self) -> i64 {
        self.in_flight
            .as_ref()
            .map(|(first, _)| *first)
            .or_else(|| self.queued.front().and_then(Batch::first_offset))
            .or_else(|| self.open.as_ref().and_then(Batch::first_offset))
            .unwrap_or(self.next_offset)
    }

    /// Bytes held in batches not yet accepted.
    fn held_bytes(&self) -> usize {
        self.queued.iter().map(Batch::bytes).sum::<usize>()
            + self.open.as_ref().map_or(0, Batch::bytes)
    }
}

struct State<S: Sink> {
    config: EngineConfig,
    decoders: Decoders,
    dlq: DeadLetters,
    sink: Arc<S>,
    partitions: HashMap<Tp, Partition>,
    buffered: usize,
    generation: u64,
    last_message: Instant,
    done_tx: mpsc::UnboundedSender<Done>,
    metrics: Metrics,
    ready: Health,
}

impl<S: Sink> State<S> {
    async fn drive(
        &mut self,
        consumer: &StreamConsumer<EngineContext>,
        mut events: mpsc::UnboundedReceiver<Ownership>,
        mut done: mpsc::UnboundedReceiver<Done>,
        mut shutdown: Shutdown,
    ) -> Result<(), EngineError> {
        let mut tick = tokio::time::interval(FLUSH_TICK);
        loop {
            let has_room = self.buffered < self.config.max_buffered_bytes;
            tokio::select! {
                biased;
                _ = shutdown.wait() => break,
                Some(d) = done.recv() => self.on_done(consumer, d)?,
                Some(e) = events.recv() => self.on_ownership(e),
                _ = tick.tick() => self.flush_idle(has_room),
                msg = consumer.recv(), if has_room => {
                    while let Ok(e) = events.try_recv() {
                        self.on_ownership(e);
                    }
                    match msg {
                        Ok(m) => self.on_message(consumer, &m, &shutdown).await?,
                        Err(e) => tracing::warn!(error = %e, "kafka consumer error"),
                    }
                }
            }
        }
        self.finish(consumer, &mut done).await
    }

    fn on_ownership(&mut self, event: Ownership) {
        match event {
            Ownership::Revoked(tps) => {
                for tp in tps {
                    if let Some(p) = self.partitions.remove(&tp) {
                        self.drop_partition(p);
                        tracing::info!(topic = %tp.0, partition = tp.1, "revoked; in-flight work dropped uncommitted");
                    }
                }
            }
            Ownership::Assigned(tps) => {
                tracing::info!(partitions = tps.len(), "assigned");
                self.ready.set_ready(true);
            }
        }
    }

    fn drop_partition(&mut self, p: Partition) {
        self.buffered = self.buffered.saturating_sub(p.held_bytes());
        if let Some((_, task)) = p.in_flight {
            task.abort();
        }
        self.metrics.buffered_bytes.set(self.buffered as i64);
    }

    async fn on_message(
        &mut self,
        consumer: &StreamConsumer<EngineContext>,
        msg: &BorrowedMessage<'_>,
        shutdown: &Shutdown,
    ) -> Result<(), EngineError> {
        self.metrics.records_in.inc();
        self.last_message = Instant::now();
        let source = Source {
            topic: msg.topic().to_owned(),
            partition: msg.partition(),
            offset: msg.offset(),
        };
        let tp = (source.topic.clone(), source.partition);
        if !self.partitions.contains_key(&tp) {
            let p = self.new_partition(&source);
            self.partitions.insert(tp.clone(), p);
        }
        let skip = self.partitions[&tp].skip_through;
        if source.offset > skip {
            let payload = msg.payload().unwrap_or_default();
            let encoded = match self.decode(payload, source.clone(), shutdown).await {
                Some(Ok(exported)) => self
                    .sink
                    .encode(&exported)
                    .map(|bytes| (exported, bytes))
                    .map_err(|e| e.to_string()),
                Some(Err(reason)) => Err(reason),
                None => return Ok(()),
            };
            match encoded {
                Ok((exported, bytes)) => self.add(&tp, &exported, bytes),
                Err(reason) => {
                    self.dead_letter(payload, msg.key(), &reason, &source)
                        .await?
                }
            }
        }
        if let Some(p) = self.partitions.get_mut(&tp) {
            p.next_offset = source.offset + 1;
        }
        self.pump(&tp);
        self.commit(consumer, &tp, CommitMode::Async);
        Ok(())
    }

    fn new_partition(&mut self, source: &Source) -> Partition {
        self.generation += 1;
        let stream = if source.topic == self.config.decisions_topic {
            Stream::Decision
        } else {
            Stream::Audit
        };
        Partition {
            generation: self.generation,
            stream,
            open: None,
            queued: VecDeque::new(),
            in_flight: None,
            next_offset: source.offset,
            skip_through: -1,
            committed: source.offset,
        }
    }

    /// Decodes and encodes one record: `Some(Ok)` to batch it, `Some(Err(reason))` for a
    /// poison record, `None` when shutdown interrupted a wait for the registry.
    async fn decode(
        &self,
        payload: &[u8],
        source: Source,
        shutdown: &Shutdown,
    ) -> Option<Result<Exported, String>> {
        let mut backoff = self.config.retry.backoff();
        let decoded = docket_telemetry::wait_out(
            "schema registry",
            &mut backoff,
            shutdown,
            || self.decoders.decode(payload, source.clone()),
            docket_records::CodecError::is_retryable,
            |_| self.metrics.retries.inc(),
        )
        .await
        .ok()?;
        Some(decoded.map_err(|e| e.to_string()))
    }

    fn add(&mut self, tp: &Tp, exported: &Exported, bytes: Vec<u8>) {
        let limits = self.config.limits;
        let item = Item {
            offset: exported.source.offset,
            time: exported.time,
            event_id: exported.event_id.clone(),
            bytes,
        };
        self.buffered += item.bytes.len();
        self.metrics.buffered_bytes.set(self.buffered as i64);
        let p = self.partitions.get_mut(tp).expect("partition state exists");
        if p.open.as_ref().is_some_and(|b| !b.fits(&item, &limits)) {
            p.queued.extend(p.open.take());
        }
        let batch = p
            .open
            .get_or_insert_with(|| Batch::new(&tp.0, tp.1, p.stream));
        batch.push(item);
        if batch.len() >= limits.max_records || batch.bytes() >= limits.max_bytes {
            p.queued.extend(p.open.take());
        }
    }

    async fn dead_letter(
        &self,
        payload: &[u8],
        key: Option<&[u8]>,
        reason: &str,
        source: &Source,
    ) -> Result<(), EngineError> {
        tracing::warn!(topic = %source.topic, partition = source.partition, offset = source.offset, reason, "poison record to the dead-letter topic");
        self.dlq.send(payload, key, reason, source).await?;
        self.metrics.dead_lettered.inc();
        Ok(())
    }

    /// Sends the partition's next queued batch unless one is in flight.
    fn pump(&mut self, tp: &Tp) {
        let Some(p) = self.partitions.get_mut(tp) else {
            return;
        };
        if p.in_flight.is_some() {
            return;
        }
        let Some(batch) = p.queued.pop_front() else {
            return;
        };
        let first = batch.first_offset().unwrap_or(p.next_offset);
        let task = tokio::spawn(deliver(
            self.sink.clone(),
            batch,
            tp.clone(),
            p.generation,
            self.dlq.clone(),
            self.config.retry,
            self.metrics.clone(),
            self.done_tx.clone(),
        ));
        p.in_flight = Some((first, task));
    }

    fn flush_idle(&mut self, has_room: bool) {
        if !has_room {
            // Paused by back-pressure: not idle, the records are waiting in Kafka.
            self.last_message = Instant::now();
            return;
        }
        if self.last_message.elapsed() < self.config.limits.idle_flush {
            return;
        }
        let mut tps = Vec::new();
        for (tp, p) in &mut self.partitions {
            if let Some(b) = p.open.take() {
                p.queued.push_back(b);
                tps.push(tp.clone());
            }
        }
        for tp in tps {
            self.pump(&tp);
        }
    }

    fn on_done(
        &mut self,
        consumer: &StreamConsumer<EngineContext>,
        d: Done,
    ) -> Result<(), EngineError> {
        let current = self.partitions.get(&d.tp).map(|p| p.generation);
        if current != Some(d.generation) {
            return Ok(()); // revoked meanwhile: its bytes were released then
        }
        self.buffered = self.buffered.saturating_sub(d.batch.bytes());
        self.metrics.buffered_bytes.set(self.buffered as i64);
        match d.outcome {
            Ok(accepted) => self.accepted(consumer, &d.tp, &d.batch, accepted),
            Err(SendError::Credential { reason }) => {
                self.metrics.failed.inc_by(d.batch.len() as u64);
                Err(EngineError::Credential(reason))
            }
            Err(e) => {
                self.metrics.failed.inc_by(d.batch.len() as u64);
                Err(EngineError::Destination(e.to_string()))
            }
        }
    }

    fn accepted(
        &mut self,
        consumer: &StreamConsumer<EngineContext>,
        tp: &Tp,
        batch: &Batch,
        accepted: Accepted,
    ) -> Result<(), EngineError> {
        self.observe(batch);
        let p = self.partitions.get_mut(tp).expect("checked by caller");
        p.in_flight = None;
        if accepted.through > p.skip_through {
            p.skip_through = accepted.through;
            let before = p.held_bytes();
            for b in p.queued.iter_mut().chain(p.open.iter_mut()) {
                b.trim_through(accepted.through);
            }
            p.queued.retain(|b| !b.is_empty());
            if p.open.as_ref().is_some_and(Batch::is_empty) {
                p.open = None;
            }
            self.buffered = self.buffered.saturating_sub(before - p.held_bytes());
        }
        self.pump(tp);
        self.commit(consumer, tp, CommitMode::Async);
        Ok(())
    }

    fn observe(&self, batch: &Batch) {
        let now = docket_records::Micros::now();
        self.metrics.delivered.inc_by(batch.len() as u64);
        self.metrics.batch_records.observe(batch.len() as f64);
        self.metrics.batch_bytes.observe(batch.bytes() as f64);
        for item in batch.items() {
            let secs = (now.0 - item.time.0) as f64 / 1e6;
            self.metrics.delivery_latency.observe(secs.max(0.0));
        }
    }

    /// Commits the partition up to its first unaccepted record, if that moved.
    fn commit(&mut self, consumer: &StreamConsumer<EngineContext>, tp: &Tp, mode: CommitMode) {
        let Some(p) = self.partitions.get_mut(tp) else {
            return;
        };
        let next = p.committable();
        if next <= p.committed {
            return;
        }
        let mut tpl = TopicPartitionList::new();
        if tpl
            .add_partition_offset(&tp.0, tp.1, Offset::Offset(next))
            .is_err()
        {
            return;
        }
        match consumer.commit(&tpl, mode) {
            Ok(()) => p.committed = next,
            Err(e) => tracing::warn!(error = %e, topic = %tp.0, partition = tp.1, "commit failed"),
        }
    }

    /// Shutdown: abandon what was not sent, wait a bounded time for what is in flight,
    /// commit what was accepted, never a partial batch.
    async fn finish(
        &mut self,
        consumer: &StreamConsumer<EngineContext>,
        done: &mut mpsc::UnboundedReceiver<Done>,
    ) -> Result<(), EngineError> {
        self.ready.set_ready(false);
        for p in self.partitions.values_mut() {
            p.queued.clear();
            p.open = None;
        }
        let deadline = tokio::time::Instant::now() + self.config.shutdown_grace;
        while self.partitions.values().any(|p| p.in_flight.is_some()) {
            tokio::select! {
                Some(d) = done.recv() => {
                    let tp = d.tp.clone();
                    self.on_done(consumer, d)?;
                    if let Some(p) = self.partitions.get_mut(&tp) {
                        p.queued.clear();
                    }
                }
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        self.final_commit(consumer);
        for (_, p) in self.partitions.drain() {
            if let Some((_, task)) = p.in_flight {
                task.abort();
            }
        }
        tracing::info!("stopped");
        Ok(())
    }

    /// Makes sure the last accepted offsets reached the group coordinator.
    fn final_commit(&self, consumer: &StreamConsumer<EngineContext>) {
        let mut tpl = TopicPartitionList::new();
        for ((topic, partition), p) in &self.partitions {
            let _ = tpl.add_partition_offset(topic, *partition, Offset::Offset(p.committed));
        }
        if tpl.count() > 0
            && let Err(e) = consumer.commit(&tpl, CommitMode::Sync)
        {
            tracing::warn!(error = %e, "final commit failed");
        }
    }
}

/// Sends one batch until the destination accepts it or refuses it for good; refused records
/// go to the dead-letter topic and the rest is sent again.
#[allow(clippy::too_many_arguments)]
async fn deliver<S: Sink>(
    sink: Arc<S>,
    mut batch: Batch,
    tp: Tp,
    generation: u64,
    dlq: DeadLetters,
    retry: crate::config::RetryPolicy,
    metrics: Metrics,
    done: mpsc::UnboundedSender<Done>,
) {
    let last = batch.last_offset().unwrap_or(-1);
    let mut backoff = retry.backoff();
    let outcome = loop {
        if batch.is_empty() {
            break Ok(Accepted { through: last });
        }
        match sink.send(&batch).await {
            Ok(accepted) => break Ok(accepted),
            Err(SendError::Retry { reason, after }) => {
                metrics.retries.inc();
                let delay = backoff.next_delay(after);
                tracing::warn!(%reason, ?delay, topic = %tp.0, partition = tp.1, "send failed; retrying");
                tokio::time::sleep(delay).await;
            }
            Err(SendError::Reject { items, reason }) => {
                let refused = batch.remove(&items);
                if let Err(e) = dead_letter_items(&dlq, &tp, refused, &reason, &metrics).await {
                    break Err(e);
                }
            }
            Err(fatal) => break Err(fatal),
        }
    };
    let _ = done.send(Done {
        tp,
        generation,
        batch,
        outcome,
    });
}

async fn dead_letter_items(
    dlq: &DeadLetters,
    tp: &Tp,
    items: Vec<Item>,
    reason: &str,
    metrics: &Metrics,
) -> Result<(), SendError> {
    for item in items {
        let source = Source {
            topic: tp.0.clone(),
            partition: tp.1,
            offset: item.offset,
        };
        tracing::warn!(topic = %tp.0, partition = tp.1, offset = item.offset, reason, "record refused by the destination; to the dead-letter topic");
        dlq.send(&item.bytes, None, reason, &source)
            .await
            .map_err(|e| SendError::Fatal {
                reason: e.to_string(),
            })?;
        metrics.dead_lettered.inc();
    }
    Ok(())
}
