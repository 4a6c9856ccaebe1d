//! Large byte buffers kept for reuse instead of being freed: a prepared chunk's encodings, a
//! batch's records, a body's uncompressed bytes, compression's output space.
//!
//! glibc gives each block of 1 MiB or more a mapping of its own (see
//! `docket_telemetry::memory`), so a freed batch went back to the system and the next one
//! faulted in fresh zeroed pages as it was written: page faults, zeroing and unmapping took
//! about a sixth of the Splunk sink's CPU (docs/benchmarks.md). A buffer given back here keeps
//! its pages; at most [`KEEP_BYTES`] are kept, the largest buffers first.

use std::sync::{Mutex, PoisonError};

/// Most bytes kept, all buffers together.
pub const KEEP_BYTES: usize = 16 * 1024 * 1024;
/// Smaller buffers are not kept: the allocator's heap reuses them without faults.
pub const MIN_KEPT: usize = 256 * 1024;
/// Larger buffers are not kept. A kept buffer has all its pages, and a batch is given one
/// before it is filled, so keeping the S3 sink's 8 MiB batches took its peak from 110 to
/// 148 MiB for 5 % less CPU; the HTTP sinks' batches and bodies (1 to 5 MB) are kept.
pub const MAX_KEPT: usize = 6 * 1024 * 1024;

static POOL: Pool = Pool::new();

/// An empty buffer with room for at least `capacity` bytes: a kept one when one is large
/// enough (the smallest such), else a new one.
pub fn take(capacity: usize) -> Vec<u8> {
    POOL.take(capacity)
}

/// `len` zero bytes: a kept buffer, zeroed, when one is large enough, else a new one whose
/// pages the system zeroes only as they are first written (so a large buffer not kept costs
/// no more memory than it is given data).
pub fn take_zeroed(len: usize) -> Vec<u8> {
    POOL.take_zeroed(len)
}

/// Keeps `buffer` for a later [`take`] when its size is between [`MIN_KEPT`] and
/// [`MAX_KEPT`], giving way to it the smallest kept
/// ones when all kept would exceed [`KEEP_BYTES`]; frees it otherwise.
pub fn give(buffer: Vec<u8>) {
    POOL.give(buffer);
}

/// Kept buffers, each empty and of at least [`MIN_KEPT`] bytes.
struct Pool {
    free: Mutex<Vec<Vec<u8>>>,
}

impl Pool {
    const fn new() -> Self {
        Self {
            free: Mutex::new(Vec::new()),
        }
    }

    fn take(&self, capacity: usize) -> Vec<u8> {
        self.take_kept(capacity)
            .unwrap_or_else(|| Vec::with_capacity(capacity))
    }

    /// The smallest kept buffer with room for `capacity` bytes.
    fn take_kept(&self, capacity: usize) -> Option<Vec<u8>> {
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        let best = free
            .iter()
            .enumerate()
            .filter(|(_, b)| b.capacity() >= capacity)
            .min_by_key(|(_, b)| b.capacity())
            .map(|(i, _)| i);
        best.map(|i| free.swap_remove(i))
    }

    fn take_zeroed(&self, len: usize) -> Vec<u8> {
        match self.take_kept(len) {
            Some(mut kept) => {
                kept.resize(len, 0);
                kept
            }
            None => vec![0; len],
        }
    }

    fn give(&self, mut buffer: Vec<u8>) {
        if !(MIN_KEPT..=MAX_KEPT).contains(&buffer.capacity()) {
            return;
        }
        buffer.clear();
        let mut freed = Vec::new();
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        free.push(buffer);
        free.sort_unstable_by_key(|b| std::cmp::Reverse(b.capacity()));
        while free.iter().map(Vec::capacity).sum::<usize>() > KEEP_BYTES {
            freed.extend(free.pop());
        }
        // Those not kept are freed after the lock is released.
        drop(free);
        drop(freed);
    }

    #[cfg(test)]
    fn capacities(&self) -> Vec<usize> {
        let free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        let mut caps: Vec<usize> = free.iter().map(Vec::capacity).collect();
        caps.sort_unstable();
        caps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1024 * 1024;

    #[test]
    fn a_kept_buffer_comes_back_empty_with_its_pages() {
        let pool = Pool::new();
        let mut b = pool.take(2 * MIB);
        b.extend_from_slice(b"leftover");
        let at = b.as_ptr();
        pool.give(b);
        let again = pool.take(MIB);
        assert!(again.is_empty() && again.capacity() >= 2 * MIB);
        assert_eq!(again.as_ptr(), at, "the same allocation");
        assert!(pool.capacities().is_empty());
        let mut dirty = pool.take(MIB);
        dirty.resize(MIB, 7);
        pool.give(dirty);
        assert_eq!(pool.take_zeroed(MIB / 2), vec![0; MIB / 2]);
        assert_eq!(pool.take_zeroed(MIB), vec![0; MIB], "a new one");
    }

    #[test]
    fn the_smallest_large_enough_is_taken_and_too_small_ones_stay() {
        let pool = Pool::new();
        for mib in [1, 4, 2] {
            pool.give(Vec::with_capacity(mib * MIB));
        }
        assert!(pool.take(3 * MIB / 2).capacity() >= 2 * MIB);
        assert!(pool.take(8 * MIB).capacity() >= 8 * MIB, "a new one");
        assert_eq!(pool.capacities().len(), 2);
        assert!(pool.capacities()[0] < 2 * MIB && pool.capacities()[1] >= 4 * MIB);
    }

    #[test]
    fn small_and_huge_buffers_are_freed_and_the_largest_are_kept_within_the_bound() {
        let pool = Pool::new();
        pool.give(Vec::with_capacity(MIN_KEPT - 1));
        pool.give(Vec::with_capacity(MAX_KEPT + 1));
        assert!(pool.capacities().is_empty());
        for mib in [1, 5, 2, 5, 3, 5, 4] {
            pool.give(Vec::with_capacity(mib * MIB));
        }
        let caps = pool.capacities();
        assert!(caps.iter().sum::<usize>() <= KEEP_BYTES, "{caps:?}");
        assert_eq!(
            caps.iter().filter(|c| **c >= 5 * MIB).count(),
            3,
            "{caps:?}"
        );
        assert_eq!(caps.len(), 3, "the smaller ones gave way: {caps:?}");
    }
}
