//! The one setting of the C library's allocator Docket changes. librdkafka allocates through
//! it in every service, and so does Rust code in the services that keep the system allocator
//! (the four sinks; the gateway and the joiner use mimalloc). The sinks also keep their
//! largest buffers for reuse (`docket_delivery::buffers`) rather than map them anew.
//!
//! glibc gives a block of 128 KiB or more a mapping of its own, returned to the system when
//! the block is freed; but each time such a block is freed it raises that threshold to the
//! block's size (up to 32 MiB), after which blocks of that size come from its heaps and stay
//! there. Batches, request bodies and fetched Kafka data are such blocks. With the threshold
//! fixed at 1 MiB the S3 sink peaked at 138 instead of 166 MiB on 300k records at the same
//! CPU per record (docs/benchmarks.md).

/// Blocks from this size up get a mapping of their own.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 1024 * 1024;

/// Fixes glibc's mapping threshold at [`MMAP_THRESHOLD`]; does nothing with another C
/// library.
#[allow(unsafe_code)]
pub fn return_large_blocks() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` takes two integers, involves no pointer, and changes a global
    // parameter under glibc's own lock, so any thread may call it at any time.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}
