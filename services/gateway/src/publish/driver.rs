//! The driver task. Every record is already in the write-ahead log ([`Spool`]) when the driver
//! sees it; the driver only moves the log's cursor over what Kafka acknowledged.
//!
//! - Direct: records arrive on the queue and are sent at once; acknowledgements come back in
//!   any order, and the cursor moves over the acknowledged prefix.
//! - Draining: after a failed send (or at start with records left by the previous run), new
//!   records are not sent from the queue; the log is read from the cursor and sent in order
//!   (one probe record after a failure, with backoff, then batches). A round that reached the
//!   end of the log with no failure switches back to direct, sending the records that arrived
//!   meanwhile.
//!
//! The cursor is saved at each tick; a restart resumes from the saved cursor (see [`replay`]
//! for how records acknowledged after it are recognised and not sent twice).

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use docket_kafka::KafkaSettings;
use docket_records::{Audit, Decision, Encoder, Micros, Registry, RegistryConfig};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::replay::{self, Delivered};
use super::spool::{Pos, Spool};
use super::{EVENT_ID_HEADER, FsyncPolicy, Item, PublishError, Publisher};
use crate::config::GatewayConfig;
use crate::metrics::Metrics;

/// Records sent per drain round.
const DRAIN_BATCH: usize = 1_000;
/// How often the driver saves the cursor and looks at the log.
const TICK: Duration = Duration::from_millis(100);
/// First and largest pause after a failed drain round.
const BACKOFF_MIN: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Pause between attempts to register the schemas.
const REGISTRY_RETRY: Duration = Duration::from_secs(1);
/// librdkafka property bounding how long a record may wait for an acknowledgement.
const MESSAGE_TIMEOUT: &str = "message.timeout.ms";
/// librdkafka property: how long a batch waits for more records.
const LINGER: &str = "linger.ms";
/// The gateway's linger. Every record is in the log before its request is answered, so the
/// wait is off the request path; with Docket's 5 ms, keyed decisions over six partitions made
/// small batches, each with a fresh zstd context, and librdkafka's threads took 10.8 µs of CPU
/// per request at 10,000 requests/s (4.0 µs with 50 ms). `DOCKET_KAFKA_PROP_LINGER_MS`
/// overrides it.
const GATEWAY_LINGER_MS: &str = "50";
/// Records taken from the queue while draining and kept to send when direct sending resumes;
/// beyond this they are left to the log alone.
const HELD_MAX: usize = 10_000;

/// The encoders and their registered schema ids.
struct Codec {
    decisions: Encoder<Decision>,
    audit: Encoder<Audit>,
}

/// Where records go.
#[derive(Debug, Clone)]
pub struct Topics {
    /// Decision topic.
    pub decisions: String,
    /// Audit topic.
    pub audit: String,
}

/// How a direct send ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Settled {
    Pending,
    Acked,
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Direct,
    Draining,
}

/// One acknowledgement (or failure) of a direct send.
struct Ack {
    pos: Pos,
    ok: bool,
    stream: &'static str,
    time: Micros,
}

/// Outcome of one drain round: for each entry, its end position and whether it was delivered.
struct DrainResult {
    results: Vec<(Pos, bool, &'static str, Micros)>,
}

/// The driver's state; owned by its task.
pub struct Driver {
    producer: FutureProducer,
    codec: Arc<Codec>,
    ids: Option<(u32, u32)>,
    topics: Topics,
    wal: Arc<Mutex<Spool>>,
    full: Arc<AtomicBool>,
    metrics: Metrics,
    delivery_timeout: Duration,
    fsync: FsyncPolicy,
    last_sync: Instant,
    acks_tx: mpsc::UnboundedSender<Ack>,
    drain_tx: mpsc::UnboundedSender<DrainResult>,
    mode: Mode,
    /// Direct sends not yet settled, in log order.
    inflight: VecDeque<(Pos, Settled)>,
    /// The last log position handed to Kafka (or known delivered).
    sent_to: Pos,
    /// Records taken from the queue while draining (they are in the log too).
    held: VecDeque<(Pos, Item)>,
    held_overflow: bool,
    round: Option<bool>,
    probe: bool,
    backoff: Duration,
    next_drain: Instant,
    delivered_ahead: HashSet<Pos>,
    /// Records of the previous run already in Kafka, once the replay scan has answered.
    replayed: Option<Delivered>,
    dirty: bool,
}

/// Opens the log, creates the producer and starts the driver task. The task stops when
/// `close` fires, after waiting (bounded) for records in flight and saving the cursor.
pub fn start(
    config: &GatewayConfig,
    metrics: Metrics,
    close: oneshot::Receiver<()>,
) -> Result<(Publisher, JoinHandle<()>), PublishError> {
    let producer = producer(&config.kafka, config.delivery_timeout)?;
    let registry = Registry::new(&RegistryConfig::new(
        config.kafka.schema_registry_url.clone(),
    ))?;
    let codec = Arc::new(Codec {
        decisions: registry.encoder(&config.decisions_topic),
        audit: registry.encoder(&config.audit_topic),
    });
    let spool = Spool::open(
        &config.spool.dir,
        config.spool.max_bytes,
        config.spool.segment_bytes,
    )?;
    let left_over = !spool.is_empty();
    let start_at = if left_over {
        spool.cursor()
    } else {
        spool.end()
    };
    let since = spool
        .read(1)?
        .first()
        .and_then(|e| replay::time_of(&e.line))
        .map(|oldest| replay::since_ms(oldest, spool.checkpoint_time(), config.delivery_timeout));
    let wal = Arc::new(Mutex::new(spool));
    let (tx, rx) = mpsc::unbounded_channel();
    let (acks_tx, acks_rx) = mpsc::unbounded_channel();
    let (drain_tx, drain_rx) = mpsc::unbounded_channel();
    let full = Arc::new(AtomicBool::new(false));
    let publisher = Publisher {
        wal: Arc::clone(&wal),
        tx,
        full: Arc::clone(&full),
        on_full: config.spool.on_full,
        metrics: metrics.clone(),
    };
    let topics = Topics {
        decisions: config.decisions_topic.clone(),
        audit: config.audit_topic.clone(),
    };
    let driver = Driver {
        producer,
        codec,
        ids: None,
        topics: topics.clone(),
        wal,
        full,
        metrics,
        delivery_timeout: config.delivery_timeout,
        fsync: config.spool.fsync,
        last_sync: Instant::now(),
        acks_tx,
        drain_tx,
        mode: if left_over {
            Mode::Draining
        } else {
            Mode::Direct
        },
        inflight: VecDeque::new(),
        sent_to: start_at,
        held: VecDeque::new(),
        held_overflow: false,
        round: None,
        probe: false,
        backoff: BACKOFF_MIN,
        next_drain: Instant::now(),
        delivered_ahead: HashSet::new(),
        replayed: (!left_over).then(Delivered::default),
        dirty: false,
    };
    driver.update_gauges();
    let scan = match (left_over, since) {
        (true, Some(since)) => {
            tracing::info!(
                records = driver.log().records(),
                "the log holds records of a previous run; looking for those already in Kafka"
            );
            Some(replay::scan(
                config.kafka.clone(),
                topics,
                since,
                config.delivery_timeout,
            ))
        }
        _ => None,
    };
    let task = tokio::spawn(driver.run(rx, acks_rx, drain_rx, close, scan));
    Ok((publisher, task))
}

fn producer(
    settings: &KafkaSettings,
    timeout: Duration,
) -> Result<FutureProducer, docket_kafka::ClientError> {
    let mut settings = settings.clone();
    settings
        .properties
        .entry(MESSAGE_TIMEOUT.to_owned())
        .or_insert_with(|| timeout.as_millis().to_string());
    settings
        .properties
        .entry(LINGER.to_owned())
        .or_insert_with(|| GATEWAY_LINGER_MS.to_owned());
    docket_kafka::producer(&settings)
}

impl Driver {
    async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<(Pos, Item)>,
        mut acks_rx: mpsc::UnboundedReceiver<Ack>,
        mut drain_rx: mpsc::UnboundedReceiver<DrainResult>,
        mut close: oneshot::Receiver<()>,
        scan: Option<JoinHandle<Delivered>>,
    ) {
        let (ids_tx, mut ids_rx) = oneshot::channel();
        tokio::spawn(register(Arc::clone(&self.codec), ids_tx));
        let mut scan = scan;
        let mut tick = tokio::time::interval(TICK);
        loop {
            tokio::select! {
                biased;
                _ = &mut close => break,
                Some(ack) = acks_rx.recv() => self.settle(ack),
                Some(done) = drain_rx.recv() => self.finish_drain(done),
                ids = &mut ids_rx, if self.ids.is_none() => self.ids = ids.ok(),
                found = async { scan.as_mut().expect("guarded").await }, if scan.is_some() => {
                    scan = None;
                    self.replayed = Some(found.unwrap_or_default());
                }
                item = rx.recv() => match item {
                    Some((pos, item)) => self.accept(pos, item),
                    None => break,
                },
                _ = tick.tick() => self.on_tick(),
            }
        }
        self.shut_down(acks_rx, drain_rx).await;
    }

    fn log(&self) -> MutexGuard<'_, Spool> {
        self.wal.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn on_tick(&mut self) {
        self.maybe_drain();
        self.checkpoint();
        self.maybe_sync();
        self.update_gauges();
    }

    /// A new record (already in the log): sent now in direct mode, else held for later.
    fn accept(&mut self, pos: Pos, item: Item) {
        if pos <= self.sent_to {
            return;
        }
        if self.mode == Mode::Direct && self.ids.is_none() {
            self.mode = Mode::Draining;
        }
        match self.mode {
            Mode::Direct => self.send_direct(pos, item),
            Mode::Draining if self.held.len() < HELD_MAX => self.held.push_back((pos, item)),
            Mode::Draining => {
                self.held.clear();
                self.held_overflow = true;
            }
        }
    }

    fn send_direct(&mut self, pos: Pos, item: Item) {
        self.sent_to = pos;
        let Some(payload) = self.encode(&item) else {
            self.inflight.push_back((pos, Settled::Acked));
            return self.advance_prefix();
        };
        let headers = OwnedHeaders::new().insert(Header {
            key: EVENT_ID_HEADER,
            value: Some(item.event_id()),
        });
        let record = FutureRecord::to(self.topic(&item))
            .key(item.key())
            .payload(&payload)
            .headers(headers);
        match self.producer.send_result(record) {
            Ok(delivery) => {
                self.inflight.push_back((pos, Settled::Pending));
                self.watch(pos, &item, delivery);
            }
            Err(_) => {
                self.inflight.push_back((pos, Settled::Failed));
                self.start_draining();
            }
        }
    }

    /// Awaits one direct delivery off the driver task and reports it.
    fn watch(&self, pos: Pos, item: &Item, delivery: DeliveryFuture) {
        let acks = self.acks_tx.clone();
        let (stream, time) = (item.stream(), item.time());
        tokio::spawn(async move {
            let ok = matches!(delivery.await, Ok(Ok(_)));
            let _ = acks.send(Ack {
                pos,
                ok,
                stream,
                time,
            });
        });
    }

    fn settle(&mut self, ack: Ack) {
        if let Ok(i) = self.inflight.binary_search_by_key(&ack.pos, |(p, _)| *p) {
            self.inflight[i].1 = if ack.ok {
                Settled::Acked
            } else {
                Settled::Failed
            };
        }
        if !ack.ok {
            self.start_draining();
        }
        self.advance_prefix();
        // Counted after the cursor and gauges moved, so a reader of the metrics who sees the
        // record published also sees it gone from the log.
        if ack.ok {
            delivered(&self.metrics, ack.stream, ack.time);
        }
    }

    fn start_draining(&mut self) {
        if self.mode == Mode::Direct {
            tracing::warn!(
                "Kafka is not acknowledging records; keeping them in the log and retrying"
            );
            self.mode = Mode::Draining;
            self.probe = true;
            self.next_drain = Instant::now() + self.backoff;
        }
    }

    /// Moves the log cursor over the acknowledged prefix of the direct sends.
    fn advance_prefix(&mut self) {
        let mut to = None;
        let mut count = 0;
        while let Some(&(pos, Settled::Acked)) = self.inflight.front() {
            self.inflight.pop_front();
            to = Some(pos);
            count += 1;
        }
        if let Some(to) = to {
            self.advance(to, count);
        }
    }

    fn advance(&mut self, to: Pos, count: u64) {
        if let Err(e) = self.log().advance(to, count) {
            tracing::error!(error = %e, "cannot move the log cursor");
        }
        self.dirty = true;
        self.update_gauges();
    }

    /// Starts a drain round when draining, nothing direct is pending and no backoff runs.
    fn maybe_drain(&mut self) {
        let pending = self.inflight.iter().any(|(_, s)| *s == Settled::Pending);
        if self.mode != Mode::Draining
            || self.round.is_some()
            || pending
            || self.ids.is_none()
            || self.replayed.is_none()
            || Instant::now() < self.next_drain
        {
            return;
        }
        for (pos, s) in self.inflight.drain(..) {
            if s == Settled::Acked {
                self.delivered_ahead.insert(pos);
            }
        }
        let limit = if self.probe { 1 } else { DRAIN_BATCH };
        let (entries, end) = {
            let log = self.log();
            if log.is_empty() {
                drop(log);
                return self.resume_direct();
            }
            match log.read(limit) {
                Ok(e) => (e, log.end()),
                Err(e) => {
                    drop(log);
                    tracing::error!(error = %e, "cannot read the log");
                    return self.back_off();
                }
            }
        };
        self.held.clear();
        self.held_overflow = false;
        let mut pending: Vec<(Pos, &'static str, Micros, Option<DeliveryFuture>)> = Vec::new();
        let mut complete = true;
        for entry in &entries {
            match self.send_logged(entry.end, &entry.line) {
                Some(p) => pending.push(p),
                None => {
                    complete = false;
                    break;
                }
            }
        }
        let Some(&(last, ..)) = pending.last() else {
            return self.back_off();
        };
        self.sent_to = self.sent_to.max(last);
        self.round = Some(complete && last == end);
        let done = self.drain_tx.clone();
        tokio::spawn(async move {
            let mut results = Vec::with_capacity(pending.len());
            for (pos, stream, time, delivery) in pending {
                let ok = match delivery {
                    None => true,
                    Some(d) => matches!(d.await, Ok(Ok(_))),
                };
                results.push((pos, ok, stream, time));
            }
            let _ = done.send(DrainResult { results });
        });
    }

    /// Sends one logged record, or settles it at once (already delivered, unreadable,
    /// unencodable); `None` when the producer refused it.
    fn send_logged(
        &mut self,
        end: Pos,
        line: &[u8],
    ) -> Option<(Pos, &'static str, Micros, Option<DeliveryFuture>)> {
        let settled = Some((end, "", Micros(0), None));
        if self.delivered_ahead.contains(&end) {
            return settled;
        }
        let Ok(item) = serde_json::from_slice::<Item>(line) else {
            tracing::error!(position = ?end, "unreadable log line skipped");
            self.metrics.dropped.with_label_values(&["unknown"]).inc();
            return settled;
        };
        if self
            .replayed
            .as_ref()
            .is_some_and(|d| d.contains(item.event_id()))
        {
            tracing::debug!(
                event_id = item.event_id(),
                "already in Kafka: not sent again"
            );
            return settled;
        }
        let payload = self.encode(&item)?;
        let headers = OwnedHeaders::new().insert(Header {
            key: EVENT_ID_HEADER,
            value: Some(item.event_id()),
        });
        let record = FutureRecord::to(self.topic(&item))
            .key(item.key())
            .payload(&payload)
            .headers(headers);
        let delivery = self.producer.send_result(record).ok()?;
        Some((end, item.stream(), item.time(), Some(delivery)))
    }

    /// After a drain round: settles it, then backs off, continues or resumes direct sending.
    fn finish_drain(&mut self, done: DrainResult) {
        let reached_end = self.round.take().unwrap_or(false);
        if self.settle_round(done) {
            self.back_off();
        } else {
            self.probe = false;
            self.backoff = BACKOFF_MIN;
            self.next_drain = Instant::now();
            if reached_end && !self.held_overflow {
                self.resume_direct();
            } else {
                self.maybe_drain();
            }
        }
        self.update_gauges();
    }

    /// Moves the cursor over the delivered prefix and remembers deliveries past a failure so
    /// they are not sent twice; whether something failed.
    fn settle_round(&mut self, done: DrainResult) -> bool {
        let mut prefix: Option<Pos> = None;
        let mut count = 0;
        let mut failed = false;
        let mut published = Vec::new();
        for (pos, ok, stream, time) in done.results {
            if ok && !stream.is_empty() && !self.delivered_ahead.contains(&pos) {
                published.push((stream, time));
            }
            match (ok, failed) {
                (true, false) => {
                    prefix = Some(pos);
                    count += 1;
                }
                (true, true) => {
                    self.delivered_ahead.insert(pos);
                }
                (false, _) => failed = true,
            }
        }
        if let Some(to) = prefix {
            self.advance(to, count);
            self.delivered_ahead.retain(|p| *p > to);
        }
        for (stream, time) in published {
            delivered(&self.metrics, stream, time);
        }
        failed
    }

    /// Back to direct sending: the log is delivered up to `sent_to`; what arrived meanwhile
    /// is sent now, in order.
    fn resume_direct(&mut self) {
        tracing::info!("log drained; sending directly again");
        self.mode = Mode::Direct;
        self.delivered_ahead.clear();
        let held = std::mem::take(&mut self.held);
        for (pos, item) in held {
            if pos > self.sent_to {
                self.send_direct(pos, item);
            }
        }
    }

    fn back_off(&mut self) {
        if !self.probe {
            tracing::warn!(
                "Kafka is not acknowledging records; keeping them in the log and retrying"
            );
        }
        self.probe = true;
        self.next_drain = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
    }

    fn encode(&mut self, item: &Item) -> Option<Vec<u8>> {
        let (decisions, audit) = self.ids?;
        let encoded = match item {
            Item::Decision(d) => self.codec.decisions.encode_with_id(decisions, d),
            Item::Audit(a) => self.codec.audit.encode_with_id(audit, a),
        };
        match encoded {
            Ok(p) => Some(p),
            Err(e) => {
                self.metrics
                    .dropped
                    .with_label_values(&[item.stream()])
                    .inc();
                tracing::error!(stream = item.stream(), error = %e, "record cannot be encoded: dropped");
                None
            }
        }
    }

    fn topic(&self, item: &Item) -> &str {
        match item {
            Item::Decision(_) => &self.topics.decisions,
            Item::Audit(_) => &self.topics.audit,
        }
    }

    /// Saves the cursor when it moved since the last checkpoint.
    fn checkpoint(&mut self) {
        if !self.dirty {
            return;
        }
        let saved = self.log().checkpoint();
        match saved {
            Ok(()) => self.dirty = false,
            Err(e) => tracing::error!(error = %e, "cannot save the log cursor"),
        }
    }

    /// Syncs the log to the disk when the fsync policy says it is time.
    fn maybe_sync(&mut self) {
        let FsyncPolicy::Every(period) = self.fsync else {
            return;
        };
        if self.last_sync.elapsed() < period {
            return;
        }
        self.last_sync = Instant::now();
        let files = self.log().sync_handles();
        tokio::task::spawn_blocking(move || {
            for file in files {
                if let Err(e) = file.sync_data() {
                    tracing::error!(error = %e, "cannot sync the log");
                }
            }
        });
    }

    fn update_gauges(&self) {
        let (bytes, records, max) = {
            let log = self.log();
            (log.bytes(), log.records(), log.max_bytes())
        };
        self.metrics.spool_bytes.set(bytes as i64);
        self.metrics.spool_records.set(records as i64);
        if bytes + max / 10 <= max {
            self.full.store(false, Ordering::Relaxed);
        }
    }

    /// Waits (bounded by the delivery timeout) for sends in flight, moves and saves the
    /// cursor and syncs the log: whatever is not acknowledged is replayed by the next start.
    async fn shut_down(
        mut self,
        mut acks_rx: mpsc::UnboundedReceiver<Ack>,
        mut drain_rx: mpsc::UnboundedReceiver<DrainResult>,
    ) {
        let deadline = tokio::time::Instant::now() + self.delivery_timeout;
        loop {
            let pending = self.inflight.iter().any(|(_, s)| *s == Settled::Pending);
            if !pending && self.round.is_none() {
                break;
            }
            tokio::select! {
                Some(ack) = acks_rx.recv() => self.settle(ack),
                Some(done) = drain_rx.recv() => {
                    self.round = None;
                    self.settle_round(done);
                }
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        self.checkpoint();
        let mut log = self.log();
        if let Err(e) = log.sync() {
            tracing::error!(error = %e, "cannot sync the log");
        }
        tracing::info!(
            unacknowledged = log.records(),
            "publisher stopped; unacknowledged records stay in the log for the next start"
        );
    }
}

fn delivered(metrics: &Metrics, stream: &str, time: Micros) {
    metrics.published.with_label_values(&[stream]).inc();
    let micros = Micros::now().0.saturating_sub(time.0).max(0);
    metrics.publish_latency.observe(micros as f64 / 1e6);
}

/// Registers both schemas, retrying until the registry answers.
async fn register(codec: Arc<Codec>, ids: oneshot::Sender<(u32, u32)>) {
    loop {
        match (
            codec.decisions.schema_id().await,
            codec.audit.schema_id().await,
        ) {
            (Ok(d), Ok(a)) => {
                let _ = ids.send((d, a));
                return;
            }
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(error = %e, "schema registry unavailable; records wait in the log until it answers");
                tokio::time::sleep(REGISTRY_RETRY).await;
            }
        }
    }
}
