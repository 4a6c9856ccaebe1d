//! The joiner's one loop. Each round reads a batch from the decisions and pending topics,
//! joins what it can, defers what waits for an edit and releases what the grace buffer lets
//! go, while the previous round's transaction commits on another thread. Its records wait in
//! the round's buffer until that commit has returned; then the round opens its own
//! transaction and hands each record to the producer as soon as it is made. At the end of the
//! round its offsets and commit go to a thread in turn. At most one transaction is open, so
//! rounds commit in order. A failed transaction stops the joiner; a restart resumes from the
//! last committed offsets.
use std::sync::Arc;
use std::time::{Duration, Instant};

use docket_kafka::KafkaSettings;
use docket_records::{Registry, RegistryConfig};
use docket_telemetry::{Health, Shutdown};
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

use crate::audit::{self, AuditView};
use crate::commit::{Committing, TXN_TIMEOUT};
use crate::config::JoinerConfig;
use crate::context::{CommitGate, RebalanceWatch};
use crate::error::JoinerError;
use crate::handle::Handler;
use crate::metrics::Metrics;
use crate::output::{Record, RoundOutput};

const IDLE_TICK: Duration = Duration::from_millis(100);

/// The joiner's transactional producer.
pub type TxnProducer = ThreadedProducer<DefaultProducerContext>;

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
    let stopped = joiner.run_until(&shutdown).await;
    health.set_ready(false);
    docket_kafka::close(joiner.consumer, docket_kafka::CLOSE_LIMIT).await;
    stopped?;
    tracing::info!("joiner stopped after its last committed round");
    Ok(())
}

struct Joiner {
    config: JoinerConfig,
    consumer: Arc<StreamConsumer<RebalanceWatch>>,
    producer: Arc<TxnProducer>,
    handler: Handler,
    metrics: Metrics,
    gate: Arc<CommitGate>,
    /// The previous round's commit, until its outcome is known.
    committing: Option<Committing>,
    /// The last round's output, emptied, whose buffers the next round fills again.
    spare: RoundOutput,
    /// Whether the round being read has begun its transaction (and sent records in it).
    open: bool,
}

/// A round's output while it is read.
struct Gathered<'a> {
    out: &'a mut RoundOutput,
    /// Records taken since the last rebalance.
    taken: usize,
    /// The rebalance count the round's records belong to.
    generation: u64,
}

impl Joiner {
    fn start(
        config: JoinerConfig,
        registry: Registry,
        view: AuditView,
        metrics: Metrics,
        shutdown: Shutdown,
    ) -> Result<Self, JoinerError> {
        // Subscribed first, so the group join runs while the producer fences its predecessor.
        let consumer = subscribe(&config, &metrics)?;
        let producer: TxnProducer = docket_kafka::transactional_producer(
            &producer_settings(&config.kafka),
            &config.transactional_id(),
        )?;
        tokio::task::block_in_place(|| producer.init_transactions(TXN_TIMEOUT)).map_err(
            |source| JoinerError::Transaction {
                stage: "init",
                source,
            },
        )?;
        Ok(Self {
            spare: RoundOutput::default(),
            handler: Handler::new(config.clone(), &registry, view, metrics.clone(), shutdown),
            gate: consumer.context().gate(),
            consumer: Arc::new(consumer),
            config,
            producer: Arc::new(producer),
            metrics,
            committing: None,
            open: false,
        })
    }

    /// Runs rounds until `shutdown` fires or a transaction fails, then waits for the last
    /// commit.
    async fn run_until(&mut self, shutdown: &Shutdown) -> Result<(), JoinerError> {
        while !shutdown.requested() {
            match self.round().await {
                Ok(()) | Err(JoinerError::Interrupted) => {}
                Err(e) => return Err(e),
            }
        }
        self.settle().await
    }

    /// Reads and joins a round while the previous one commits, handing its records to the
    /// producer as soon as that commit has returned, then starts its commit. A failure while
    /// the round's transaction is open aborts it.
    async fn round(&mut self) -> Result<(), JoinerError> {
        let started = Instant::now();
        let mut out = std::mem::take(&mut self.spare);
        let gathered = self.gather(&mut out).await;
        let joined = started.elapsed();
        let records = out.count();
        let submitted = match gathered {
            Ok(()) => self.submit(&mut out).await,
            Err(e) => Err(e),
        };
        out.clear();
        self.spare = out;
        if submitted.is_err() {
            self.abort_open()?;
        }
        submitted?;
        self.metrics
            .grace_buffer
            .set(self.handler.buffered() as i64);
        tracing::debug!(records, ?joined, waited = ?started.elapsed() - joined, "round");
        Ok(())
    }

    /// Waits for the previous round's commit, if one is running.
    async fn settle(&mut self) -> Result<(), JoinerError> {
        if let Some(committing) = self.committing.take() {
            committing.settle().await?;
            self.metrics.transactions.inc();
        }
        Ok(())
    }

    /// Reads up to a batch into `out`, then adds the grace buffer's releases. A rebalance while
    /// reading (it happens inside `recv`) ends the old assignment: what was read before it,
    /// and the grace buffer, are dropped uncommitted (the round's transaction, if open, is
    /// aborted, and their partitions restart from the committed offsets), while what arrives
    /// after it belongs to the new assignment and is kept.
    async fn gather(&mut self, out: &mut RoundOutput) -> Result<(), JoinerError> {
        let consumer = Arc::clone(&self.consumer);
        let mut round = Gathered {
            out,
            taken: 0,
            generation: consumer.context().generation(),
        };
        match tokio::time::timeout(IDLE_TICK, consumer.recv()).await {
            Ok(Ok(msg)) => {
                self.take(&mut round, &msg).await?;
                self.fill(&consumer, &mut round).await?;
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "consume failed"),
            Err(_) => {}
        }
        self.drop_if_rebalanced(&mut round)?;
        self.handler.release(round.out).await
    }

    /// Takes records until the batch is full or its wait is over.
    async fn fill(
        &mut self,
        consumer: &StreamConsumer<RebalanceWatch>,
        round: &mut Gathered<'_>,
    ) -> Result<(), JoinerError> {
        let until = tokio::time::Instant::now() + self.config.batch_wait;
        while round.taken < self.config.batch_max {
            match tokio::time::timeout_at(until, consumer.recv()).await {
                Ok(Ok(msg)) => self.take(round, &msg).await?,
                _ => break,
            }
        }
        Ok(())
    }

    async fn take(
        &mut self,
        round: &mut Gathered<'_>,
        msg: &impl Message,
    ) -> Result<(), JoinerError> {
        self.drop_if_rebalanced(round)?;
        round.taken += 1;
        self.handler.handle(msg, round.out).await?;
        if self.open || self.committing.as_ref().is_none_or(Committing::is_finished) {
            self.send_ready(round.out).await?;
        }
        Ok(())
    }

    fn drop_if_rebalanced(&mut self, round: &mut Gathered) -> Result<(), JoinerError> {
        let now = self.consumer.context().generation();
        if now != round.generation {
            if self.open {
                self.abort_open()?;
                self.metrics.aborted.inc();
            }
            round.out.clear();
            round.taken = 0;
            self.handler.clear();
            self.note_assignment();
            round.generation = now;
        }
        Ok(())
    }

    /// Hands the records waiting in `out` to the producer, first opening the round's
    /// transaction (after the previous round's commit has returned) if it is not open yet.
    async fn send_ready(&mut self, out: &mut RoundOutput) -> Result<(), JoinerError> {
        if !self.open {
            self.settle().await?;
            self.producer
                .begin_transaction()
                .map_err(|source| JoinerError::Transaction {
                    stage: "begin",
                    source,
                })?;
            self.open = true;
        }
        for record in out.records() {
            send(&self.producer, &record)?;
        }
        out.clear_records();
        Ok(())
    }

    /// Sends what is left of the round and starts its commit, unless the round has nothing
    /// to write or commit.
    async fn submit(&mut self, out: &mut RoundOutput) -> Result<(), JoinerError> {
        if out.is_empty() && !self.open {
            return Ok(());
        }
        self.send_ready(out).await?;
        let metadata = self
            .consumer
            .group_metadata()
            .ok_or(JoinerError::Transaction {
                stage: "group metadata",
                source: rdkafka::error::KafkaError::NoMessageReceived,
            })?;
        let offsets = out.offset_list()?;
        let (producer, gate) = (self.producer.clone(), Arc::clone(&self.gate));
        self.committing = Some(Committing::start(producer, offsets, metadata, gate));
        self.open = false;
        Ok(())
    }

    /// Aborts the round's transaction if it is open: its records are never read.
    fn abort_open(&mut self) -> Result<(), JoinerError> {
        if !std::mem::take(&mut self.open) {
            return Ok(());
        }
        tracing::warn!("aborting the round's transaction");
        tokio::task::block_in_place(|| self.producer.abort_transaction(TXN_TIMEOUT)).map_err(
            |source| JoinerError::Transaction {
                stage: "abort",
                source,
            },
        )
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

/// The consumer of the decisions and pending topics, in the joiner's group. Static
/// membership: a restarted instance takes its partitions back at once instead of waiting for
/// its predecessor's session to time out. Statistics report the lag.
fn subscribe(
    config: &JoinerConfig,
    metrics: &Metrics,
) -> Result<StreamConsumer<RebalanceWatch>, JoinerError> {
    let options = docket_kafka::ConsumerOptions {
        group_id: config.group.clone(),
        read_committed: true,
    };
    // Twice the prefetch of the sinks' consumers: a joiner round collects up to 40,000
    // records at once, and 8 MiB kept its rate where 16 MiB had it (docs/joiner.md).
    let settings = with_default(
        config.kafka.for_member(&config.instance),
        "queued.max.messages.kbytes",
        "8192",
    );
    let watch = RebalanceWatch::new(metrics.consumer_lag.clone());
    let consumer = docket_kafka::consumer_with_context(&settings, &options, watch)?;
    consumer.subscribe(&[&config.topics.decisions, &config.topics.pending])?;
    Ok(consumer)
}

/// The transactional producer's settings, each unless a `DOCKET_KAFKA_PROP_*` variable sets
/// it: lz4 batches (the enriched records are compressed by the producer's broker thread while
/// the commit waits; zstd was the largest single cost in a profile of the drain), a 60 s
/// transaction timeout ([`TRANSACTION_TIMEOUT_MS`]), and delivery reports for failed records
/// only (the commit already fails if any record failed;
/// without a report per record the drain peaked 5–17 MiB lower at the same CPU per record).
fn producer_settings(kafka: &KafkaSettings) -> KafkaSettings {
    let settings = with_default(kafka.clone(), "compression.type", "lz4");
    let settings = with_default(settings, "delivery.report.only.error", "true");
    with_default(settings, "transaction.timeout.ms", TRANSACTION_TIMEOUT_MS)
}

/// Kafka's own default instead of the 30 s of Docket's other transactional producer: a
/// record's delivery may take no longer than its transaction, and the local broker was seen to
/// stall for 27–31 s (a slow disk), which failed rounds that were already sent. A restarted
/// joiner fences its predecessor at once; only a joiner that dies and is not restarted holds
/// `read_committed` readers this long.
const TRANSACTION_TIMEOUT_MS: &str = "60000";

/// `settings` with `key` set to `value` unless a `DOCKET_KAFKA_PROP_*` variable set it.
fn with_default(mut settings: KafkaSettings, key: &str, value: &str) -> KafkaSettings {
    settings
        .properties
        .entry(key.to_owned())
        .or_insert_with(|| value.to_owned());
    settings
}

/// Queues `record` in the open transaction; its delivery is confirmed by the commit, which
/// fails if any send failed.
fn send(producer: &TxnProducer, record: &Record) -> Result<(), JoinerError> {
    let mut r = BaseRecord::to(record.topic)
        .payload(record.payload)
        .headers(record.kafka_headers());
    if let Some(key) = record.key {
        r = r.key(key);
    }
    producer
        .send(r)
        .map_err(|(source, _)| JoinerError::Transaction {
            stage: "send",
            source,
        })
}
