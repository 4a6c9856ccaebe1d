//! Finding the records a destination refuses when it refuses a whole request without naming
//! them (Datadog's 400 and 413, OTLP's 400): the refused part is halved and each half sent
//! again until single records remain. Parts accepted on the way are remembered, so when the
//! engine dead-letters the refused records and sends the rest of the batch again, nothing
//! already delivered is sent twice.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::Mutex;

use crate::{Accepted, Batch, SendError};

/// How the destination answered one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// It holds every record of the request.
    Accepted,
    /// It refused the request as invalid, without saying which record is at fault.
    Refused(String),
    /// Anything else (retry, stop): ends the split with this error.
    Failed(SendError),
}

/// Offsets delivered while a batch was being split, per topic and partition.
#[derive(Debug, Default)]
pub struct Delivered(Mutex<HashMap<(String, i32), BTreeSet<i64>>>);

impl Delivered {
    /// Indexes of the records of `batch` the destination does not hold yet.
    pub fn pending(&self, batch: &Batch) -> Vec<usize> {
        let map = self.0.lock().expect("not poisoned");
        let held = map.get(&(batch.topic.clone(), batch.partition));
        (0..batch.len())
            .filter(|&i| held.is_none_or(|h| !h.contains(&batch.item(i).offset)))
            .collect()
    }

    fn add(&self, batch: &Batch, indexes: &[usize]) {
        let mut map = self.0.lock().expect("not poisoned");
        let held = map
            .entry((batch.topic.clone(), batch.partition))
            .or_default();
        held.extend(indexes.iter().map(|&i| batch.item(i).offset));
    }

    /// Forgets `batch`'s partition up to its last record: the batch is accepted.
    fn settle(&self, batch: &Batch) -> Accepted {
        let last = batch.last_offset().unwrap_or(-1);
        let mut map = self.0.lock().expect("not poisoned");
        let key = (batch.topic.clone(), batch.partition);
        if let Some(held) = map.get_mut(&key) {
            *held = held.split_off(&(last + 1));
            if held.is_empty() {
                map.remove(&key);
            }
        }
        Accepted { through: last }
    }
}

/// Sends the records of `batch` the destination does not hold yet with `send` (which takes
/// indexes into the batch); on a refusal, halves until the refused records are found and
/// returns them as [`SendError::Reject`] (those sharing the first reason; the others are found
/// again on the engine's next send).
pub async fn send_splitting<F, Fut>(
    batch: &Batch,
    delivered: &Delivered,
    send: F,
) -> Result<Accepted, SendError>
where
    F: Fn(Vec<usize>) -> Fut,
    Fut: Future<Output = Answer>,
{
    let pending = delivered.pending(batch);
    let mut parts = vec![pending];
    let mut refused: Vec<(usize, String)> = Vec::new();
    while let Some(part) = parts.pop() {
        if part.is_empty() {
            continue;
        }
        match send(part.clone()).await {
            Answer::Accepted => delivered.add(batch, &part),
            Answer::Refused(reason) if part.len() == 1 => refused.push((part[0], reason)),
            Answer::Refused(_) => {
                let (left, right) = part.split_at(part.len() / 2);
                parts.push(right.to_vec());
                parts.push(left.to_vec());
            }
            Answer::Failed(e) => return Err(e),
        }
    }
    let Some((_, reason)) = refused.first().cloned() else {
        return Ok(delivered.settle(batch));
    };
    let items = refused
        .iter()
        .filter(|(_, r)| *r == reason)
        .map(|(i, _)| *i)
        .collect();
    Err(SendError::Reject { items, reason })
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use crate::{Record, Stream};
    use docket_records::Micros;

    use super::*;

    fn batch(n: i64) -> Batch {
        let mut b = Batch::new("t", 0, Stream::Audit);
        for offset in 100..100 + n {
            b.push(Record {
                offset,
                time: Micros(0),
                bytes: &[],
            });
        }
        b
    }

    /// A destination refusing every request holding one of `bad` (offsets), logging what it
    /// stored.
    struct Fake {
        bad: Vec<i64>,
        stored: Mutex<Vec<i64>>,
        requests: Mutex<usize>,
    }

    impl Fake {
        fn new(bad: &[i64]) -> Self {
            Self {
                bad: bad.to_vec(),
                stored: Mutex::new(Vec::new()),
                requests: Mutex::new(0),
            }
        }

        async fn send(&self, batch: &Batch, part: Vec<usize>) -> Answer {
            *self.requests.lock().unwrap() += 1;
            let offsets: Vec<i64> = part.iter().map(|&i| batch.item(i).offset).collect();
            if let Some(b) = offsets.iter().find(|o| self.bad.contains(o)) {
                return Answer::Refused(format!("bad {}", b % 2));
            }
            self.stored.lock().unwrap().extend(offsets);
            Answer::Accepted
        }
    }

    /// Drives the split as the engine does: dead-letter what is rejected, send the rest again.
    async fn deliver(b: &mut Batch, fake: &Fake, delivered: &Delivered) -> Vec<i64> {
        let mut dead = Vec::new();
        loop {
            let snapshot = b.clone();
            match send_splitting(&snapshot, delivered, |p| fake.send(&snapshot, p)).await {
                Ok(a) => {
                    assert_eq!(a.through, snapshot.last_offset().unwrap());
                    return dead;
                }
                Err(SendError::Reject { items, .. }) => {
                    dead.extend(b.remove(&items).into_iter().map(|i| i.offset));
                }
                Err(e) => panic!("{e}"),
            }
        }
    }

    #[test]
    fn only_the_refused_records_are_dead_lettered_and_nothing_is_sent_twice() {
        tokio_test(async {
            let mut b = batch(1000);
            let fake = Fake::new(&[100, 537, 538, 1099]);
            let delivered = Delivered::default();
            let mut dead = deliver(&mut b, &fake, &delivered).await;
            dead.sort();
            assert_eq!(dead, vec![100, 537, 538, 1099]);
            let mut stored = fake.stored.lock().unwrap().clone();
            stored.sort();
            let expected: Vec<i64> = (100..1100).filter(|o| !dead.contains(o)).collect();
            assert_eq!(stored, expected, "every good record once");
            assert!(*fake.requests.lock().unwrap() < 120);
            assert!(delivered.0.lock().unwrap().is_empty(), "settled");
        });
    }

    #[test]
    fn a_failure_mid_split_keeps_what_was_delivered() {
        tokio_test(async {
            let b = batch(4);
            let delivered = Delivered::default();
            let calls = Mutex::new(0);
            let result = send_splitting(&b, &delivered, |part| {
                let n = {
                    let mut c = calls.lock().unwrap();
                    *c += 1;
                    *c
                };
                async move {
                    match n {
                        1 => Answer::Refused("bad".to_owned()),
                        2 => Answer::Accepted, // the first half
                        _ => Answer::Failed(SendError::Retry {
                            reason: format!("busy {part:?}"),
                            after: None,
                        }),
                    }
                }
            })
            .await;
            assert!(matches!(result, Err(SendError::Retry { .. })));
            assert_eq!(delivered.pending(&b), vec![2, 3]);
        });
    }

    fn tokio_test(f: impl Future<Output = ()>) {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f);
    }
}
