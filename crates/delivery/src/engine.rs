//! The one consumer loop every sink runs: a single `select!` over finished sends, ownership
//! changes, prepared records, the idle-flush timer, shutdown and new messages. Offsets are
//! committed only up to the first record not yet accepted by the destination, per partition,
//! in order, all partitions together ([`crate::commits`]). Decoding and encoding run off the
//! loop in [`crate::prepare`], a partition's bookkeeping is in [`crate::partition`], sending
//! in [`crate::deliver`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use docket_kafka::{ConsumerOptions, KafkaSettings, TopicPartition};
use docket_records::{Micros, Registry, RegistryConfig};
use docket_telemetry::{Health, Shutdown};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::batch::Record;
use crate::commits::Pending;
use crate::config::EngineConfig;
use crate::context::{EngineContext, Ownership};
use crate::deliver::{Delivery, Done};
use crate::dlq::DeadLetters;
use crate::error::EngineError;
use crate::metrics::Metrics;
use crate::partition::Partition;
use crate::prepare::{Chunk, Pipeline, Prepared, Raw};
use crate::record::{Decoders, Source, Stream};
use crate::sink::{Accepted, SendError, Sink};

/// How often the loop looks for idle batches to flush.
const FLUSH_TICK: Duration = Duration::from_millis(100);

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
        .map_err(EngineError::Registry)?;
    let producer = docket_kafka::producer(settings)?;
    let (events_tx, events) = mpsc::unbounded_channel();
    let pending = Arc::new(Pending::default());
    let consumer = consumer(
        settings,
        &config,
        EngineContext::new(events_tx, metrics.clone(), Arc::clone(&pending)),
    )?;
    consumer
        .subscribe(&config.topics())
        .map_err(|source| EngineError::Kafka {
            what: "cannot subscribe",
            source,
        })?;
    let (done_tx, done) = mpsc::unbounded_channel();
    let dlq = DeadLetters::new(producer, &config.dlq_topic, metrics.clone());
    let decoders = Arc::new(Decoders::new(&registry, &config.decisions_topic));
    let sink = Arc::new(sink);
    let mut state = State {
        pipeline: Pipeline::new(Arc::clone(&decoders), Arc::clone(&sink)),
        decoders,
        delivery: Delivery {
            sink,
            dlq,
            retry: config.retry,
            metrics: metrics.clone(),
            done: done_tx,
        },
        partitions: HashMap::default(),
        topics: Vec::new(),
        pending,
        last_commit: Instant::now(),
        buffered: 0,
        generation: 0,
        last_message: Instant::now(),
        metrics,
        ready,
        config,
    };
    let result = state.drive(&consumer, events, done, shutdown).await;
    state.ready.set_ready(false);
    docket_kafka::close(consumer, docket_kafka::CLOSE_LIMIT).await;
    result
}

/// The sink group's consumer: Docket's consumer settings, `read_committed` so aborted joiner
/// transactions are never exported, a static member (`group.instance.id`) so a restart takes
/// its partitions back at once, with statistics on for lag.
fn consumer(
    settings: &KafkaSettings,
    config: &EngineConfig,
    context: EngineContext,
) -> Result<StreamConsumer<EngineContext>, EngineError> {
    let options = ConsumerOptions {
        group_id: config.group_id.clone(),
        read_committed: true,
    };
    let settings = settings.for_member(&config.instance);
    Ok(docket_kafka::consumer_with_context(
        &settings, &options, context,
    )?)
}

struct State<S: Sink> {
    config: EngineConfig,
    decoders: Arc<Decoders>,
    pipeline: Pipeline<S>,
    delivery: Delivery<S>,
    /// Looked up several times per record: foldhash, not the default SipHash (which was 3 % of
    /// a sink's CPU); the keys come from the group's assignment, not from strangers.
    partitions: HashMap<TopicPartition, Partition<JoinHandle<()>>, foldhash::fast::RandomState>,
    /// The names of the topics read so far (the subscription's few), each shared by every
    /// record read from it instead of copied per record.
    topics: Vec<Arc<str>>,
    pending: Arc<Pending>,
    last_commit: Instant,
    buffered: usize,
    generation: u64,
    last_message: Instant,
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
            self.pipeline.dispatch();
            let has_room = self.buffered < self.config.max_buffered_bytes;
            let can_read = has_room && self.pipeline.has_room();
            tokio::select! {
                biased;
                _ = shutdown.wait() => break,
                Some(d) = done.recv() => self.on_done(consumer, d)?,
                Some(e) = events.recv() => self.on_ownership(e),
                Some(chunk) = self.pipeline.next() => {
                    self.on_chunk(consumer, chunk, &shutdown).await?;
                }
                _ = tick.tick() => {
                    self.pipeline.flush();
                    self.flush_idle(has_room);
                    self.commit_due(consumer);
                }
                msg = consumer.recv(), if can_read => {
                    while let Ok(e) = events.try_recv() {
                        self.on_ownership(e);
                    }
                    match msg {
                        Ok(m) => self.on_message(&m),
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
                        tracing::info!(%tp, "revoked; in-flight work dropped uncommitted");
                    }
                }
            }
            Ownership::Assigned(tps) => {
                tracing::info!(partitions = tps.len(), "assigned");
                self.ready.set_ready(true);
            }
        }
    }

    fn drop_partition(&mut self, mut p: Partition<JoinHandle<()>>) {
        self.release(p.held_bytes());
        if let Some(task) = p.take_in_flight() {
            task.abort();
        }
    }

    /// `bytes` are no longer held.
    fn release(&mut self, bytes: usize) {
        self.buffered = self.buffered.saturating_sub(bytes);
        self.metrics.buffered_bytes.set(self.buffered as i64);
    }

    /// Takes a message: its partition's state exists from here on, its payload goes to be
    /// prepared off the loop.
    fn on_message(&mut self, msg: &BorrowedMessage<'_>) {
        self.metrics.records_in.inc();
        self.last_message = Instant::now();
        let source = Source {
            topic: self.topic(msg.topic()),
            partition: msg.partition(),
            offset: msg.offset(),
        };
        let tp = source.topic_partition();
        if !self.partitions.contains_key(&tp) {
            let p = self.new_partition(&tp, source.offset);
            self.partitions.insert(tp.clone(), p);
        }
        self.pipeline.push(Raw {
            generation: self.partitions[&tp].generation,
            payload: msg.payload().unwrap_or_default().to_vec(),
            key: msg.key().map(<[u8]>::to_vec),
            source,
        });
    }

    /// The shared name of `topic`.
    fn topic(&mut self, topic: &str) -> Arc<str> {
        if let Some(known) = self.topics.iter().find(|t| t.as_ref() == topic) {
            return Arc::clone(known);
        }
        let new: Arc<str> = topic.into();
        self.topics.push(Arc::clone(&new));
        new
    }

    /// Handles a prepared chunk's records in offset order, as they were read.
    async fn on_chunk(
        &mut self,
        consumer: &StreamConsumer<EngineContext>,
        chunk: Chunk,
        shutdown: &Shutdown,
    ) -> Result<(), EngineError> {
        for (raw, prepared) in chunk.records {
            let encoded = &chunk.encoded[..];
            if !self
                .on_prepared(consumer, raw, prepared, encoded, shutdown)
                .await?
            {
                // Shutdown interrupted a wait for the registry: nothing after it is handled.
                break;
            }
        }
        crate::buffers::give(chunk.encoded);
        Ok(())
    }

    /// Batches or dead-letters one prepared record (dropped if its partition was revoked
    /// since it was read); `false` when shutdown interrupted a wait for the registry.
    async fn on_prepared(
        &mut self,
        consumer: &StreamConsumer<EngineContext>,
        raw: Raw,
        prepared: Prepared,
        encoded: &[u8],
        shutdown: &Shutdown,
    ) -> Result<bool, EngineError> {
        let tp = raw.source.topic_partition();
        match self.partitions.get(&tp) {
            Some(p) if p.generation == raw.generation => {}
            _ => return Ok(true), // revoked since it was read
        }
        if self.partitions[&tp].wants(raw.source.offset) {
            let mut own = Vec::new();
            let outcome = match prepared {
                Prepared::Ready(time, range) => Ok((time, &encoded[range])),
                Prepared::Poison(reason) => Err(reason),
                Prepared::Unknown => {
                    let decoded = self.decode(&raw.payload, raw.source.clone(), &mut own, shutdown);
                    match decoded.await {
                        Some(outcome) => outcome.map(|time| (time, &own[..])),
                        None => return Ok(false),
                    }
                }
            };
            match outcome {
                Ok((time, bytes)) => {
                    let offset = raw.source.offset;
                    self.add(
                        &tp,
                        Record {
                            offset,
                            time,
                            bytes,
                        },
                    )
                }
                Err(reason) => {
                    let (dlq, key) = (&self.delivery.dlq, raw.key.as_deref());
                    dlq.send(&raw.payload, key, &reason, &raw.source).await?
                }
            }
        }
        if let Some(p) = self.partitions.get_mut(&tp) {
            p.handled(raw.source.offset);
        }
        self.pump(&tp);
        self.commit(consumer, &tp);
        Ok(true)
    }

    fn new_partition(&mut self, tp: &TopicPartition, offset: i64) -> Partition<JoinHandle<()>> {
        self.generation += 1;
        let stream = if *tp.topic == *self.config.decisions_topic {
            Stream::Decision
        } else {
            Stream::Audit
        };
        Partition::new(tp.clone(), self.generation, stream, offset)
    }

    /// Decodes one record and encodes it into `out`: `Some(Ok(time))` to batch it,
    /// `Some(Err(reason))` for a poison record, `None` when shutdown interrupted a wait for
    /// the registry.
    async fn decode(
        &self,
        payload: &[u8],
        source: Source,
        out: &mut Vec<u8>,
        shutdown: &Shutdown,
    ) -> Option<Result<Micros, String>> {
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
        Some(decoded.map_err(|e| e.to_string()).and_then(|exported| {
            crate::prepare::encode(&*self.delivery.sink, &exported, out)
                .map(|_| exported.time)
                .map_err(|e| e.to_string())
        }))
    }

    fn add(&mut self, tp: &TopicPartition, record: Record<'_>) {
        self.buffered += record.bytes.len();
        self.metrics.buffered_bytes.set(self.buffered as i64);
        let p = self.partitions.get_mut(tp).expect("partition state exists");
        p.add(record, &self.config.limits);
    }

    /// Sends the partition's next queued batch unless one is in flight.
    fn pump(&mut self, tp: &TopicPartition) {
        let Some(p) = self.partitions.get_mut(tp) else {
            return;
        };
        let Some(batch) = p.next_to_send() else {
            return;
        };
        let first = batch.first_offset();
        let handle = self.delivery.spawn(batch, tp.clone(), p.generation);
        p.sending(first, handle);
    }

    fn flush_idle(&mut self, has_room: bool) {
        if !has_room {
            // Paused by back-pressure: not idle, the records are waiting in Kafka.
            self.last_message = Instant::now();
            self.relieve_pressure();
            return;
        }
        if self.last_message.elapsed() < self.config.limits.idle_flush {
            return;
        }
        let closed: Vec<TopicPartition> = self
            .partitions
            .iter_mut()
            .filter_map(|(tp, p)| p.close_open().then(|| tp.clone()))
            .collect();
        for tp in closed {
            self.pump(&tp);
        }
    }

    /// Paused with nothing in flight, no send can free room: open batches, none full, hold
    /// the whole allowance (many partitions each below the byte limit). Sends the largest.
    fn relieve_pressure(&mut self) {
        if self.partitions.values().any(Partition::is_sending) {
            return;
        }
        let largest = self
            .partitions
            .iter()
            .filter(|(_, p)| p.open_bytes() > 0)
            .max_by_key(|(_, p)| p.open_bytes())
            .map(|(tp, _)| tp.clone());
        if let Some(tp) = largest {
            tracing::debug!(%tp, "buffer full with nothing in flight; sending the largest open batch");
            if let Some(p) = self.partitions.get_mut(&tp) {
                p.close_open();
            }
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
        self.release(d.batch.bytes());
        match d.outcome {
            Ok(accepted) => {
                self.accepted(consumer, &d.tp, &d.batch, accepted);
                Ok(())
            }
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
        tp: &TopicPartition,
        batch: &crate::batch::Batch,
        accepted: Accepted,
    ) {
        self.observe(batch);
        let p = self.partitions.get_mut(tp).expect("checked by caller");
        let released = p.accepted(accepted.through);
        self.release(released);
        self.pump(tp);
        self.commit(consumer, tp);
    }

    fn observe(&self, batch: &crate::batch::Batch) {
        let now = docket_records::Micros::now();
        self.metrics.delivered.inc_by(batch.len() as u64);
        self.metrics.batch_records.observe(batch.len() as f64);
        self.metrics.batch_bytes.observe(batch.bytes() as f64);
        for item in batch.items() {
            let secs = (now.0 - item.time.0) as f64 / 1e6;
            self.metrics.delivery_latency.observe(secs.max(0.0));
        }
    }

    /// Marks the partition for commit up to its first unaccepted record, if that moved, and
    /// commits every marked partition when they are due.
    fn commit(&mut self, consumer: &StreamConsumer<EngineContext>, tp: &TopicPartition) {
        if let Some(p) = self.partitions.get_mut(tp)
            && let Some(next) = p.to_commit()
        {
            self.pending.set(tp, next);
            p.committed(next);
        }
        self.commit_due(consumer);
    }

    /// Commits every marked partition in one request once the commit interval has passed
    /// since the last time.
    fn commit_due(&mut self, consumer: &StreamConsumer<EngineContext>) {
        if self.last_commit.elapsed() < self.config.commit_interval {
            return;
        }
        self.last_commit = Instant::now();
        if let Some(tpl) = self.pending.take_all()
            && let Err(e) = consumer.commit(&tpl, CommitMode::Async)
        {
            tracing::warn!(error = %e, "commit failed");
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
            p.abandon_unsent();
        }
        let deadline = tokio::time::Instant::now() + self.config.shutdown_grace;
        while self.partitions.values().any(Partition::is_sending) {
            tokio::select! {
                Some(d) = done.recv() => self.on_done(consumer, d)?,
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        self.final_commit(consumer);
        for (_, mut p) in self.partitions.drain() {
            if let Some(task) = p.take_in_flight() {
                task.abort();
            }
        }
        tracing::info!("stopped");
        Ok(())
    }

    /// Makes sure the last accepted offsets reached the group coordinator (the pending ones
    /// among them).
    fn final_commit(&self, consumer: &StreamConsumer<EngineContext>) {
        let _ = self.pending.take_all();
        let mut tpl = TopicPartitionList::new();
        for (tp, p) in &self.partitions {
            let _ = tpl.add_partition_offset(
                &tp.topic,
                tp.partition,
                Offset::Offset(p.last_committed()),
            );
        }
        if tpl.count() > 0
            && let Err(e) = consumer.commit(&tpl, CommitMode::Sync)
        {
            tracing::warn!(error = %e, "final commit failed");
        }
    }
}
