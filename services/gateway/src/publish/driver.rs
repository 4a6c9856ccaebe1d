//! The driver task: sends records straight to Kafka while it acknowledges them, spools what
//! it does not, drains the spool in order (probing with one record after a failure, with
//! backoff), and on shutdown spools whatever is still in memory.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use docket_kafka::KafkaSettings;
use docket_records::{Audit, Decision, Encoder, Micros, Registry, RegistryConfig};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::spool::{Pos, Spool, SpoolError};
use super::{Item, PublishError, Publisher, QUEUE_CAPACITY};
use crate::config::{GatewayConfig, OnSpoolFull};
use crate::metrics::Metrics;

/// Records sent per drain round.
const DRAIN_BATCH: usize = 1_000;
/// How often the driver looks at the spool.
const TICK: Duration = Duration::from_millis(100);
/// First and largest pause after a failed drain round.
const BACKOFF_MIN: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Pause between attempts to register the schemas.
const REGISTRY_RETRY: Duration = Duration::from_secs(1);
/// librdkafka property bounding how long a record may wait for an acknowledgement.
const MESSAGE_TIMEOUT: &str = "message.timeout.ms";

/// The encoders and their registered schema ids.
struct Codec {
    decisions: Encoder<Decision>,
    audit: Encoder<Audit>,
}

/// Where records go.
struct Topics {
    decisions: String,
    audit: String,
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
    spool: Spool,
    full: Arc<AtomicBool>,
    on_full: OnSpoolFull,
    metrics: Metrics,
    delivery_timeout: Duration,
    failed_tx: mpsc::UnboundedSender<Item>,
    drain_tx: mpsc::UnboundedSender<DrainResult>,
    inflight: Arc<AtomicUsize>,
    draining: bool,
    probe: bool,
    backoff: Duration,
    next_drain: Instant,
    delivered_ahead: HashSet<Pos>,
}

/// Opens the spool, creates the producer and starts the driver task. The task stops when
/// `close` fires, after spooling what is still in memory.
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
    let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
    let (failed_tx, failed_rx) = mpsc::unbounded_channel();
    let (drain_tx, drain_rx) = mpsc::unbounded_channel();
    let full = Arc::new(AtomicBool::new(false));
    let publisher = Publisher {
        tx,
        full: Arc::clone(&full),
        on_full: config.spool.on_full,
        metrics: metrics.clone(),
    };
    let driver = Driver {
        producer,
        codec,
        ids: None,
        topics: Topics {
            decisions: config.decisions_topic.clone(),
            audit: config.audit_topic.clone(),
        },
        spool,
        full,
        on_full: config.spool.on_full,
        metrics,
        delivery_timeout: config.delivery_timeout,
        failed_tx,
        drain_tx,
        inflight: Arc::new(AtomicUsize::new(0)),
        draining: false,
        probe: false,
        backoff: BACKOFF_MIN,
        next_drain: Instant::now(),
        delivered_ahead: HashSet::new(),
    };
    driver.update_gauges();
    if !driver.spool.is_empty() {
        tracing::info!(
            records = driver.spool.records(),
            "spool holds records from a previous run; draining"
        );
    }
    let task = tokio::spawn(driver.run(rx, failed_rx, drain_rx, close));
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
    docket_kafka::producer(&settings)
}

impl Driver {
    async fn run(
        mut self,
        mut rx: mpsc::Receiver<Item>,
        mut failed_rx: mpsc::UnboundedReceiver<Item>,
        mut drain_rx: mpsc::UnboundedReceiver<DrainResult>,
        mut close: oneshot::Receiver<()>,
    ) {
        let (ids_tx, mut ids_rx) = oneshot::channel();
        tokio::spawn(register(Arc::clone(&self.codec), ids_tx));
        let mut tick = tokio::time::interval(TICK);
        loop {
            tokio::select! {
                biased;
                _ = &mut close => break,
                Some(item) = failed_rx.recv() => self.spool_item(item),
                Some(done) = drain_rx.recv() => self.finish_drain(done),
                ids = &mut ids_rx, if self.ids.is_none() => self.ids = ids.ok(),
                item = rx.recv() => match item {
                    Some(item) => self.accept(item),
                    None => break,
                },
                _ = tick.tick() => self.maybe_drain(),
            }
        }
        self.shut_down(rx, failed_rx).await;
    }

    /// A new record: straight out when nothing waits in the spool, else behind it.
    fn accept(&mut self, item: Item) {
        if self.spool.is_empty() && !self.draining && self.ids.is_some() {
            self.send_direct(item);
        } else {
            self.spool_item(item);
        }
    }

    fn send_direct(&mut self, item: Item) {
        let Some(payload) = self.encode(&item) else {
            return;
        };
        let topic = self.topic(&item);
        let record = FutureRecord::to(topic).key(item.key()).payload(&payload);
        match self.producer.send_result(record) {
            Ok(delivery) => self.watch(item, delivery),
            Err(_) => self.spool_item(item),
        }
    }

    /// Awaits one direct delivery off the driver task; a failure comes back to be spooled.
    fn watch(&self, item: Item, delivery: DeliveryFuture) {
        let (metrics, failed, inflight) = (
            self.metrics.clone(),
            self.failed_tx.clone(),
            Arc::clone(&self.inflight),
        );
        inflight.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            match delivery.await {
                Ok(Ok(_)) => delivered(&metrics, item.stream(), item.time()),
                _ => {
                    let _ = failed.send(item);
                }
            }
            inflight.fetch_sub(1, Ordering::SeqCst);
        });
    }

    fn spool_item(&mut self, item: Item) {
        let stream = item.stream();
        let line = serde_json::to_vec(&item).expect("records serialize");
        match self.spool.append(&line) {
            Ok(()) => self.metrics.spooled.with_label_values(&[stream]).inc(),
            Err(SpoolError::Full { bytes, max }) => {
                self.full.store(true, Ordering::Relaxed);
                self.metrics.dropped.with_label_values(&[stream]).inc();
                match self.on_full {
                    OnSpoolFull::FailOpen => {
                        tracing::warn!(stream, bytes, max, "spool full (fail_open): record dropped")
                    }
                    OnSpoolFull::FailClosed => tracing::error!(
                        stream,
                        bytes,
                        max,
                        "spool full (fail_closed): record dropped; new requests are refused"
                    ),
                }
            }
            Err(e) => {
                self.metrics.dropped.with_label_values(&[stream]).inc();
                tracing::error!(stream, error = %e, "cannot spool: record dropped");
            }
        }
        self.update_gauges();
    }

    /// Starts a drain round when the spool holds records and no round or backoff is running.
    fn maybe_drain(&mut self) {
        if self.draining
            || self.spool.is_empty()
            || self.ids.is_none()
            || Instant::now() < self.next_drain
        {
            return;
        }
        let limit = if self.probe { 1 } else { DRAIN_BATCH };
        let entries = match self.spool.read(limit) {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the spool");
                return self.back_off();
            }
        };
        let mut pending: Vec<(Pos, &'static str, Micros, Option<DeliveryFuture>)> = Vec::new();
        for entry in entries {
            if self.delivered_ahead.contains(&entry.end) {
                pending.push((entry.end, "", Micros(0), None));
                continue;
            }
            let Ok(item) = serde_json::from_slice::<Item>(&entry.line) else {
                tracing::error!(position = ?entry.end, "unreadable spool line skipped");
                self.metrics.dropped.with_label_values(&["unknown"]).inc();
                pending.push((entry.end, "", Micros(0), None));
                continue;
            };
            let Some(payload) = self.encode(&item) else {
                pending.push((entry.end, "", Micros(0), None));
                continue;
            };
            let record = FutureRecord::to(self.topic(&item))
                .key(item.key())
                .payload(&payload);
            match self.producer.send_result(record) {
                Ok(d) => pending.push((entry.end, item.stream(), item.time(), Some(d))),
                Err(_) => break,
            }
        }
        if pending.is_empty() {
            return self.back_off();
        }
        self.draining = true;
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

    /// Moves the cursor over the delivered prefix; remembers deliveries past a failure so they
    /// are not sent twice.
    fn finish_drain(&mut self, done: DrainResult) {
        self.draining = false;
        let mut prefix: Option<Pos> = None;
        let mut count = 0;
        let mut failed = false;
        for (pos, ok, stream, time) in done.results {
            if ok && !stream.is_empty() && !self.delivered_ahead.contains(&pos) {
                delivered(&self.metrics, stream, time);
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
            if let Err(e) = self.spool.advance(to, count) {
                tracing::error!(error = %e, "cannot move the spool cursor");
            }
            self.delivered_ahead.retain(|p| *p > to);
        }
        if failed {
            self.back_off();
        } else {
            self.probe = false;
            self.backoff = BACKOFF_MIN;
            self.next_drain = Instant::now();
            if self.spool.is_empty() {
                tracing::info!("spool drained");
            }
        }
        if self.spool.bytes() + self.spool.max_bytes() / 10 <= self.spool.max_bytes() {
            self.full.store(false, Ordering::Relaxed);
        }
        self.update_gauges();
    }

    fn back_off(&mut self) {
        if !self.probe {
            tracing::warn!("Kafka is not acknowledging records; spooling and retrying");
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

    fn update_gauges(&self) {
        self.metrics.spool_bytes.set(self.spool.bytes() as i64);
        self.metrics.spool_records.set(self.spool.records() as i64);
    }

    /// Spools what is still queued, waits (bounded) for direct deliveries in flight and spools
    /// those that failed, so a restart finds everything.
    async fn shut_down(
        mut self,
        mut rx: mpsc::Receiver<Item>,
        mut failed_rx: mpsc::UnboundedReceiver<Item>,
    ) {
        rx.close();
        while let Some(item) = rx.recv().await {
            self.spool_item(item);
        }
        let producer = self.producer.clone();
        let timeout = self.delivery_timeout;
        let _ = tokio::task::spawn_blocking(move || producer.flush(timeout)).await;
        let deadline = Instant::now() + timeout;
        while self.inflight.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        while let Ok(item) = failed_rx.try_recv() {
            self.spool_item(item);
        }
        tracing::info!(spooled = self.spool.records(), "publisher stopped");
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
                tracing::warn!(error = %e, "schema registry unavailable; records are spooled until it answers");
                tokio::time::sleep(REGISTRY_RETRY).await;
            }
        }
    }
}
