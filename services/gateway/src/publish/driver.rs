//! The driver task. Every record is already in the write-ahead log ([`Spool`]) when the driver
//! sees it; the driver only moves the log's cursor over what Kafka acknowledged.
//!
//! - Direct: records taken from the queue (every [`TAKE`]) are sent at once; acknowledgements
//!   come back in any order, and the cursor moves over the acknowledged prefix.
//! - Draining: after a failed send (or at start with records left by the previous run), new
//!   records are not sent from the queue; the log is read from the cursor and sent in order
//!   (one probe record after a failure, with backoff, then batches). A round that reached the
//!   end of the log with no failure switches back to direct, sending the records that arrived
//!   meanwhile.
//!
//! The cursor is saved at each tick; a restart resumes from the saved cursor (see [`replay`]
//! for how records acknowledged after it are recognised and not sent twice).
//!
//! A record whose delivery failed may have been written all the same (the broker wrote it,
//! then its answer was lost). Before the log is sent again after any failure, the driver
//! reads the topics back from the oldest record still in the log, as at start-up, and skips
//! what it finds there. While Kafka is away that read is what waits for it to return.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use docket_kafka::KafkaSettings;
use docket_records::{Audit, Decision, Encoder, Micros, Registry, RegistryConfig};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::BaseRecord;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::producer::{self, Producer, Report, Sent};
use super::replay::{self, Delivered};
use super::spool::{Entry, Pos, Spool};
use super::{
    EVENT_ID_HEADER, FsyncPolicy, INSTANCE_HEADER, Item, PublishError, Publisher, set_gauges,
};
use crate::config::GatewayConfig;
use crate::metrics::Metrics;

/// Records sent per drain round.
const DRAIN_BATCH: usize = 1_000;
/// How often the driver takes the new records and delivery reports. Records are in the log
/// before their answers and the producer lingers longer than this, so looking now and then
/// delays no answer and no batch, where a wake-up per record cost every request a switch
/// between threads.
const TAKE: Duration = Duration::from_millis(2);
/// How often the driver saves the cursor and looks at the log.
const TICK: Duration = Duration::from_millis(100);
/// First and largest pause after a failed drain round.
const BACKOFF_MIN: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Pause between attempts to register the schemas.
const REGISTRY_RETRY: Duration = Duration::from_secs(1);
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

/// A drain round in flight: the reports of its records as they arrive.
struct Round {
    id: u64,
    /// Records sent or settled at once.
    expected: usize,
    /// Reports so far; those settled at once (already delivered, unreadable, unencodable)
    /// carry an empty stream, which is not counted as published.
    reports: Vec<Report>,
    /// Whether the round took the log to its end.
    reached_end: bool,
}

/// How one logged record was handled in a drain round.
enum Logged {
    /// Nothing to send (already delivered, unreadable, unencodable).
    Settled,
    /// Handed to the producer.
    Sent,
    /// The producer refused it (its queue is full).
    Refused,
}

/// The driver's state; owned by its task.
pub struct Driver {
    producer: Producer,
    /// For reading the topics back.
    settings: KafkaSettings,
    /// This gateway's instance name, sent with every record.
    instance: String,
    codec: Arc<Codec>,
    ids: Option<(u32, u32)>,
    topics: Topics,
    wal: Arc<Mutex<Spool>>,
    full: Arc<AtomicBool>,
    metrics: Metrics,
    delivery_timeout: Duration,
    fsync: FsyncPolicy,
    last_sync: Instant,
    mode: Mode,
    /// Direct sends not yet settled, in log order.
    inflight: VecDeque<(Pos, Settled)>,
    /// The last log position handed to Kafka (or known delivered).
    sent_to: Pos,
    /// Records taken from the queue while draining (they are in the log too).
    held: VecDeque<(Pos, Item)>,
    held_overflow: bool,
    round: Option<Round>,
    rounds: u64,
    probe: bool,
    backoff: Duration,
    next_drain: Instant,
    delivered_ahead: HashSet<Pos>,
    /// Records already in Kafka, once the last scan has answered.
    replayed: Option<Delivered>,
    /// A record may be in Kafka although its delivery failed: look before sending again.
    doubtful: bool,
    /// A scan should start (from this time, in ms since the epoch).
    scan_from: Option<i64>,
    dirty: bool,
}

/// Opens the log, creates the producer and starts the driver task. The task stops when
/// `close` fires, after waiting (bounded) for records in flight and saving the cursor.
pub fn start(
    config: &GatewayConfig,
    metrics: Metrics,
    close: oneshot::Receiver<()>,
) -> Result<(Publisher, JoinHandle<()>), PublishError> {
    let (producer, reports) = producer::producer(&config.kafka, config.delivery_timeout)?;
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
        settings: config.kafka.clone(),
        instance: config.instance.clone(),
        codec,
        ids: None,
        topics: topics.clone(),
        wal,
        full,
        metrics,
        delivery_timeout: config.delivery_timeout,
        fsync: config.spool.fsync,
        last_sync: Instant::now(),
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
        rounds: 0,
        probe: false,
        backoff: BACKOFF_MIN,
        next_drain: Instant::now(),
        delivered_ahead: HashSet::new(),
        replayed: (!left_over).then(Delivered::default),
        doubtful: false,
        scan_from: None,
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
                replay::Why::Restart,
                &config.instance,
            ))
        }
        _ => None,
    };
    let task = tokio::spawn(driver.run(rx, reports, close, scan));
    Ok((publisher, task))
}

impl Driver {
    async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<(Pos, Item)>,
        mut reports: mpsc::UnboundedReceiver<Report>,
        mut close: oneshot::Receiver<()>,
        scan: Option<JoinHandle<Delivered>>,
    ) {
        let (ids_tx, mut ids_rx) = oneshot::channel();
        tokio::spawn(register(Arc::clone(&self.codec), ids_tx));
        let mut scan = scan;
        let mut tick = tokio::time::interval(TICK);
        let mut take = tokio::time::interval(TAKE);
        take.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = &mut close => break,
                ids = &mut ids_rx, if self.ids.is_none() => self.ids = ids.ok(),
                found = async { scan.as_mut().expect("guarded").await }, if scan.is_some() => {
                    scan = None;
                    self.replayed = Some(found.unwrap_or_default());
                }
                _ = take.tick() => if !self.take(&mut rx, &mut reports) {
                    break;
                },
                _ = tick.tick() => self.on_tick(),
            }
            if let Some(since) = self.scan_from.take() {
                scan = Some(self.rescan(since));
            }
        }
        self.shut_down(reports).await;
    }

    /// Handles the reports and the new records that arrived since the last look; `false` once
    /// no record can arrive any more.
    fn take(
        &mut self,
        rx: &mut mpsc::UnboundedReceiver<(Pos, Item)>,
        reports: &mut mpsc::UnboundedReceiver<Report>,
    ) -> bool {
        while let Ok(report) = reports.try_recv() {
            self.on_report(report);
        }
        loop {
            match rx.try_recv() {
                Ok((pos, item)) => self.accept(pos, item),
                Err(mpsc::error::TryRecvError::Empty) => return true,
                Err(mpsc::error::TryRecvError::Disconnected) => return false,
            }
        }
    }

    /// Reads the topics back from `since` (ms since the epoch): the drain waits for it.
    fn rescan(&self, since: i64) -> JoinHandle<Delivered> {
        tracing::info!(
            "deliveries failed; looking for their records in Kafka before sending them again"
        );
        replay::scan(
            self.settings.clone(),
            self.topics.clone(),
            since,
            self.delivery_timeout,
            replay::Why::Failure,
            &self.instance,
        )
    }

    fn on_report(&mut self, report: Report) {
        if report.sent.round.is_none() {
            return self.settle(report);
        }
        if let Some(round) = self.collect(report) {
            self.finish_drain(round);
        }
    }

    /// Adds a report to its drain round; the round once every report is in.
    fn collect(&mut self, report: Report) -> Option<Round> {
        let round = self.round.as_mut()?;
        if report.sent.round != Some(round.id) {
            return None;
        }
        round.reports.push(report);
        if round.reports.len() < round.expected {
            return None;
        }
        self.round.take()
    }

    /// Counts a failed delivery: the record may be in Kafka all the same, so the drain looks
    /// there before sending it again.
    fn failed(&mut self) {
        self.metrics.delivery_failures.inc();
        self.doubtful = true;
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
        if self.send(&item, &payload, None, pos) {
            self.inflight.push_back((pos, Settled::Pending));
        } else {
            self.inflight.push_back((pos, Settled::Failed));
            self.start_draining();
        }
    }

    /// Hands one record to the producer; `false` when it refused (its queue is full).
    fn send(&self, item: &Item, payload: &[u8], round: Option<u64>, pos: Pos) -> bool {
        let sent = Sent {
            pos,
            stream: item.stream(),
            time: item.time(),
            round,
        };
        let headers = OwnedHeaders::new_with_capacity(2)
            .insert(Header {
                key: EVENT_ID_HEADER,
                value: Some(item.event_id()),
            })
            .insert(Header {
                key: INSTANCE_HEADER,
                value: Some(self.instance.as_str()),
            });
        let record = BaseRecord::with_opaque_to(self.topic(item), Box::new(sent))
            .key(item.key())
            .payload(payload)
            .headers(headers);
        self.producer.send(record).is_ok()
    }

    /// A direct send's report.
    fn settle(&mut self, report: Report) {
        let Sent {
            pos, stream, time, ..
        } = report.sent;
        let ok = report.delivered;
        if let Ok(i) = self.inflight.binary_search_by_key(&pos, |(p, _)| *p) {
            self.inflight[i].1 = if ok { Settled::Acked } else { Settled::Failed };
        }
        if !ok {
            self.failed();
            self.start_draining();
        }
        self.advance_prefix();
        // Counted after the cursor and gauges moved, so a reader of the metrics who sees the
        // record published also sees it gone from the log.
        if ok {
            delivered(&self.metrics, stream, time);
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

    /// Starts a drain round when draining, nothing direct is pending and no backoff runs;
    /// first a scan of the topics if a failed record may be in Kafka.
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
        if self.doubtful {
            return self.look_in_kafka();
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
        self.send_round(&entries, end);
    }

    /// Sends `entries` as one drain round (`end`: the log's end when they were read).
    fn send_round(&mut self, entries: &[Entry], end: Pos) {
        self.held.clear();
        self.held_overflow = false;
        self.rounds += 1;
        let mut round = Round {
            id: self.rounds,
            expected: 0,
            reports: Vec::new(),
            reached_end: false,
        };
        let mut last = None;
        for entry in entries {
            match self.send_logged(entry, round.id) {
                Logged::Refused => break,
                Logged::Sent => {}
                Logged::Settled => round.reports.push(Report {
                    sent: Sent {
                        pos: entry.end,
                        stream: "",
                        time: Micros(0),
                        round: Some(round.id),
                    },
                    delivered: true,
                }),
            }
            round.expected += 1;
            last = Some(entry.end);
        }
        let Some(last) = last else {
            return self.back_off();
        };
        self.sent_to = self.sent_to.max(last);
        round.reached_end = round.expected == entries.len() && last == end;
        if round.reports.len() == round.expected {
            self.finish_drain(round);
        } else {
            self.round = Some(round);
        }
    }

    /// Holds the drain until the topics were read back from the oldest record in the log.
    fn look_in_kafka(&mut self) {
        self.doubtful = false;
        let oldest = match self.log().read(1) {
            Ok(entries) => entries.first().and_then(|e| replay::time_of(&e.line)),
            Err(e) => {
                tracing::error!(error = %e, "cannot read the log");
                None
            }
        };
        match oldest {
            Some(oldest) => {
                self.replayed = None;
                self.scan_from = Some(replay::since_ms(oldest, None, self.delivery_timeout));
            }
            None => self.maybe_drain(),
        }
    }

    /// Sends one logged record as part of drain round `round`, or settles it at once
    /// (already delivered, unreadable, unencodable).
    fn send_logged(&mut self, entry: &Entry, round: u64) -> Logged {
        if self.delivered_ahead.contains(&entry.end) {
            return Logged::Settled;
        }
        let Ok(item) = serde_json::from_slice::<Item>(&entry.line) else {
            tracing::error!(position = ?entry.end, "unreadable log line skipped");
            self.metrics.dropped.with_label_values(&["unknown"]).inc();
            return Logged::Settled;
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
            return Logged::Settled;
        }
        let Some(payload) = self.encode(&item) else {
            return Logged::Settled;
        };
        if self.send(&item, &payload, Some(round), entry.end) {
            Logged::Sent
        } else {
            Logged::Refused
        }
    }

    /// After a drain round: settles it, then backs off, continues or resumes direct sending.
    fn finish_drain(&mut self, round: Round) {
        let reached_end = round.reached_end;
        if self.settle_round(round.reports) {
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
    fn settle_round(&mut self, mut reports: Vec<Report>) -> bool {
        reports.sort_unstable_by_key(|r| r.sent.pos);
        let mut prefix: Option<Pos> = None;
        let mut count = 0;
        let mut failed = false;
        let mut published = Vec::new();
        for Report {
            sent,
            delivered: ok,
        } in reports
        {
            let (pos, stream, time) = (sent.pos, sent.stream, sent.time);
            if !ok {
                self.failed();
            }
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
        let (bytes, max) = set_gauges(&self.metrics, &self.log());
        if bytes + max / 10 <= max {
            self.full.store(false, Ordering::Relaxed);
        }
    }

    /// Waits (bounded by the delivery timeout) for sends in flight, moves and saves the
    /// cursor and syncs the log: whatever is not acknowledged is replayed by the next start.
    async fn shut_down(mut self, mut reports: mpsc::UnboundedReceiver<Report>) {
        let deadline = tokio::time::Instant::now() + self.delivery_timeout;
        loop {
            let pending = self.inflight.iter().any(|(_, s)| *s == Settled::Pending);
            if !pending && self.round.is_none() {
                break;
            }
            tokio::select! {
                Some(report) = reports.recv() => match report.sent.round {
                    None => self.settle(report),
                    Some(_) => if let Some(round) = self.collect(report) {
                        self.settle_round(round.reports);
                    },
                },
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
