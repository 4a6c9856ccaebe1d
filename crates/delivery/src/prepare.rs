//! Preparing records off the consumer loop: the loop hands raw messages (payload copies, in
//! offset order) to a bounded number of chunks, each decoded and encoded on a blocking
//! thread while the loop goes on consuming; the loop takes the results back in the order the
//! chunks were made. The bookkeeping (batches, offsets, dead letters) stays on the loop.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Arc;

use tokio::task::JoinHandle;

use docket_records::Micros;

use crate::record::{Decoders, Exported, Source};
use crate::sink::EncodeError;
use crate::sink::Sink;

/// Most records in one chunk.
pub const CHUNK_RECORDS: usize = 512;
/// Most chunks being prepared at once.
pub const MAX_CHUNKS: usize = 3;
/// Fewest records a chunk starts with while nothing else is being prepared; a smaller one
/// waits for [`Pipeline::flush`] (the loop's tick), so a chunk's hand-off to a thread is
/// not paid for one or two records at a time.
pub const MIN_CHUNK_RECORDS: usize = 64;

/// One message as read, copied out of the consumer's buffer.
pub struct Raw {
    /// Where it was read.
    pub source: Source,
    /// Its partition's generation when it was read.
    pub generation: u64,
    /// Its payload.
    pub payload: Vec<u8>,
    /// Its key (for the dead-letter topic).
    pub key: Option<Vec<u8>>,
}

/// What preparing one record gave.
pub enum Prepared {
    /// Decoded and encoded: ready to batch, with the record's time and where its bytes are in
    /// the chunk's buffer. The decoded record and the raw payload are dropped on the thread
    /// that made them, not on the engine's loop.
    Ready(Micros, Range<usize>),
    /// Undecodable or unencodable: dead-letter it with this reason.
    Poison(String),
    /// Its schema id was not seen yet: the loop decodes it, asking the registry.
    Unknown,
}

/// A prepared chunk: each raw message with its outcome, in offset order, and the encoded
/// bytes of the ready ones one after another (one allocation per chunk, not per record).
pub struct Chunk {
    /// The messages and their outcomes.
    pub records: Vec<(Raw, Prepared)>,
    /// What [`Prepared::Ready`] ranges point into.
    pub encoded: Vec<u8>,
}

/// The chunk being filled and the chunks being prepared, oldest first.
pub struct Pipeline<S> {
    decoders: Arc<Decoders>,
    sink: Arc<S>,
    filling: Vec<Raw>,
    preparing: VecDeque<JoinHandle<Chunk>>,
}

impl<S: Sink> Pipeline<S> {
    /// A pipeline decoding with `decoders` and encoding with `sink`.
    pub fn new(decoders: Arc<Decoders>, sink: Arc<S>) -> Self {
        Self {
            decoders,
            sink,
            filling: Vec::with_capacity(CHUNK_RECORDS),
            preparing: VecDeque::new(),
        }
    }

    /// Whether another message may be taken.
    pub fn has_room(&self) -> bool {
        self.filling.len() < CHUNK_RECORDS
    }

    /// Queues `raw` for preparation.
    pub fn push(&mut self, raw: Raw) {
        self.filling.push(raw);
    }

    /// Starts preparing the chunk being filled when it is full, or when nothing is being
    /// prepared and it holds [`MIN_CHUNK_RECORDS`], within [`MAX_CHUNKS`].
    pub fn dispatch(&mut self) {
        self.start(MIN_CHUNK_RECORDS);
    }

    /// Starts preparing the chunk being filled however small, when nothing is being prepared:
    /// called on the loop's tick, so a slow trickle waits at most one tick.
    pub fn flush(&mut self) {
        self.start(1);
    }

    fn start(&mut self, least: usize) {
        let len = self.filling.len();
        let due = len >= CHUNK_RECORDS || (self.preparing.is_empty() && len >= least);
        if len == 0 || !due || self.preparing.len() >= MAX_CHUNKS {
            return;
        }
        let raws = std::mem::replace(&mut self.filling, Vec::with_capacity(CHUNK_RECORDS));
        let (decoders, sink) = (Arc::clone(&self.decoders), Arc::clone(&self.sink));
        self.preparing
            .push_back(tokio::task::spawn_blocking(move || {
                prepare(&decoders, &*sink, raws)
            }));
    }

    /// The oldest chunk once prepared; `None` at once when nothing is being prepared.
    /// Cancel-safe: a chunk not yet done stays queued.
    pub async fn next(&mut self) -> Option<Chunk> {
        let oldest = self.preparing.front_mut()?;
        let chunk = match oldest.await {
            Ok(chunk) => chunk,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // Cancelled: the runtime is stopping. Nothing after this chunk may be handled.
            Err(_) => std::future::pending().await,
        };
        self.preparing.pop_front();
        Some(chunk)
    }
}

/// Decodes and encodes `raws` (on a blocking thread).
fn prepare<S: Sink>(decoders: &Decoders, sink: &S, raws: Vec<Raw>) -> Chunk {
    let raw_bytes: usize = raws.iter().map(|r| r.payload.len()).sum();
    // Encodings run about twice the Avro's size (JSON names every field).
    let mut encoded = crate::buffers::take(raw_bytes * 2);
    let records = raws
        .into_iter()
        .map(|mut raw| {
            let prepared = match decoders.decode_cached(&raw.payload, raw.source.clone()) {
                None => Prepared::Unknown,
                Some(Err(e)) => Prepared::Poison(e.to_string()),
                Some(Ok(exported)) => match encode(sink, &exported, &mut encoded) {
                    Ok(range) => Prepared::Ready(exported.time, range),
                    Err(e) => Prepared::Poison(e.to_string()),
                },
            };
            if matches!(prepared, Prepared::Ready(..)) {
                // Only a dead letter or a registry lookup on the loop needs the payload.
                raw.payload = Vec::new();
            }
            (raw, prepared)
        })
        .collect();
    Chunk { records, encoded }
}

/// Appends `record`'s encoding to `out` and returns where it is; on an error `out` is left
/// as it was.
pub fn encode<S: Sink>(
    sink: &S,
    record: &Exported,
    out: &mut Vec<u8>,
) -> Result<Range<usize>, EncodeError> {
    let start = out.len();
    match sink.encode(record, out) {
        Ok(()) => Ok(start..out.len()),
        Err(e) => {
            out.truncate(start);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use docket_records::{Registry, RegistryConfig};

    use super::*;
    use crate::batch::Batch;
    use crate::sink::{Accepted, SendError};

    /// A sink whose encoding is the event id; nothing is ever sent.
    struct EventIds;

    impl Sink for EventIds {
        fn encode(&self, record: &Exported, out: &mut Vec<u8>) -> Result<(), EncodeError> {
            out.extend_from_slice(record.event_id.as_bytes());
            Ok(())
        }

        async fn send(&self, _: &Batch) -> Result<Accepted, SendError> {
            unreachable!("the pipeline never sends")
        }
    }

    /// Even offsets carry a framed payload of a schema id never seen (prepared as
    /// `Unknown`), odd ones an unframed payload (poison).
    fn raw(offset: i64) -> Raw {
        let mut payload = Vec::new();
        if offset % 2 == 0 {
            docket_records::frame(7, &mut payload);
        }
        payload.extend_from_slice(b"body");
        Raw {
            source: Source {
                topic: "t".into(),
                partition: 0,
                offset,
            },
            generation: 1,
            payload,
            key: None,
        }
    }

    fn record(chunk: Chunk, seen: &mut Vec<i64>) {
        assert!(chunk.records.len() <= CHUNK_RECORDS);
        for (raw, prepared) in chunk.records {
            let expected_unknown = raw.source.offset % 2 == 0;
            match prepared {
                Prepared::Unknown => assert!(expected_unknown, "{}", raw.source.offset),
                Prepared::Poison(_) => assert!(!expected_unknown, "{}", raw.source.offset),
                Prepared::Ready(..) => panic!("nothing decodes without a registry"),
            }
            seen.push(raw.source.offset);
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn chunks_come_back_in_the_order_the_messages_were_read() {
        // No registry answers here; the pipeline never asks one.
        let registry = Registry::new(&RegistryConfig::new("http://127.0.0.1:9")).unwrap();
        let decoders = Arc::new(Decoders::new(&registry, "t"));
        let mut pipeline = Pipeline::new(decoders, Arc::new(EventIds));
        let total = (CHUNK_RECORDS * 5 + 7) as i64;
        let mut seen = Vec::new();
        for offset in 0..total {
            pipeline.dispatch();
            assert!(pipeline.preparing.len() <= MAX_CHUNKS);
            while !pipeline.has_room() {
                let chunk = pipeline.next().await.expect("a chunk is being prepared");
                record(chunk, &mut seen);
                pipeline.dispatch();
            }
            pipeline.push(raw(offset));
        }
        loop {
            pipeline.flush();
            match pipeline.next().await {
                Some(chunk) => record(chunk, &mut seen),
                None => break,
            }
        }
        assert_eq!(seen, (0..total).collect::<Vec<_>>());
    }
}
