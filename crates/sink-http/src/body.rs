//! Request bodies written piece by piece: compressed with gzip as each piece arrives, or kept
//! plain, so a sink never holds an uncompressed copy of a whole batch beside its gzip; and
//! [`gzip`] for a body that is one buffer already. The
//! compression runs on the sending task itself, which yields to the runtime every
//! [`YIELD_EVERY`] bytes: no copy of the batch for a blocking thread, no extra threads.

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;

/// gzip level of request bodies, as for S3 objects. On ~1 KB realistic records through the
/// Splunk sink, level 3 cost 12 % more CPU per record for 7 % fewer bytes on the wire, and level 1
/// 22 % less CPU for 39 % more bytes (docs/benchmarks.md).
pub const GZIP_LEVEL: u32 = 2;

/// Bytes written between two yields to the runtime (about a tenth of a millisecond of
/// compression at level 1).
pub const YIELD_EVERY: usize = 64 * 1024;

/// A request body being written.
pub struct BodyWriter {
    out: Out,
    since_yield: usize,
}

enum Out {
    Plain(Vec<u8>),
    Gzip(Box<GzEncoder<Vec<u8>>>),
}

impl BodyWriter {
    /// An empty body, gzip when `gzip`; `expected` is about how many uncompressed bytes will
    /// be written (the buffer is sized for it, or for a fraction of it when compressed).
    pub fn new(gzip: bool, expected: usize) -> Self {
        let out = if gzip {
            let out = Vec::with_capacity(expected / 3);
            Out::Gzip(Box::new(GzEncoder::new(out, Compression::new(GZIP_LEVEL))))
        } else {
            Out::Plain(Vec::with_capacity(expected))
        };
        Self {
            out,
            since_yield: 0,
        }
    }

    /// Appends `bytes` (compressing them when gzip).
    pub fn put(&mut self, bytes: &[u8]) {
        self.since_yield += bytes.len();
        match &mut self.out {
            Out::Plain(out) => out.extend_from_slice(bytes),
            Out::Gzip(encoder) => encoder
                .write_all(bytes)
                .expect("writing into memory cannot fail"),
        }
    }

    /// Yields to the runtime when [`YIELD_EVERY`] bytes were written since the last yield, so
    /// compressing a large batch never holds a worker thread for long.
    pub async fn pause(&mut self) {
        if self.since_yield >= YIELD_EVERY {
            self.since_yield = 0;
            tokio::task::yield_now().await;
        }
    }

    /// The finished body.
    pub fn finish(self) -> Vec<u8> {
        match self.out {
            Out::Plain(out) => out,
            Out::Gzip(encoder) => encoder.finish().expect("writing into memory cannot fail"),
        }
    }
}

/// libdeflate's level for a body compressed whole: its level 1 compresses realistic records
/// as well as zlib's level 2 ([`GZIP_LEVEL`]) in a third less time.
pub const WHOLE_GZIP_LEVEL: u32 = 1;

/// The gzip of `data` at [`WHOLE_GZIP_LEVEL`], compressed at once: for a body that is one
/// buffer already, such as a batch's records one after another. CPU-bound: keep it off the
/// async workers.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    docket_delivery::gzip(data, WHOLE_GZIP_LEVEL)
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn gunzip(body: &[u8]) -> String {
        let mut text = String::new();
        flate2::read::GzDecoder::new(body)
            .read_to_string(&mut text)
            .unwrap();
        text
    }

    #[test]
    fn gzip_round_trips() {
        assert_eq!(gunzip(&gzip(b"abcd")), "abcd");
        assert_eq!(gunzip(&gzip(b"")), "");
    }

    #[test]
    fn a_body_is_the_pieces_in_order_plain_or_compressed() {
        for compressed in [false, true] {
            let mut body = BodyWriter::new(compressed, 4);
            for piece in ["[", "{\"a\":1}", ",", "{}", "]"] {
                body.put(piece.as_bytes());
            }
            let bytes = body.finish();
            let text = if compressed {
                gunzip(&bytes)
            } else {
                String::from_utf8(bytes).unwrap()
            };
            assert_eq!(text, "[{\"a\":1},{}]", "gzip {compressed}");
        }
    }
}
