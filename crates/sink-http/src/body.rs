//! Request bodies written piece by piece into one buffer, then compressed at once with
//! libdeflate when gzip ([`gzip`]): the same compression as the S3 and Splunk sinks', whose
//! bodies are a batch's buffer already. Writing the pieces is copying; the sending task yields
//! to the runtime every [`YIELD_EVERY`] bytes, and the compression runs where the runtime can
//! hand its other tasks off meanwhile.

/// libdeflate's level for request bodies: its level 1 compresses realistic records as zlib's
/// level 2 does, in a third less time. On ~1 KB records through the Splunk sink, zlib's level
/// 3 cost 12 % more CPU per record for 7 % fewer bytes, and its level 1 22 % less CPU for 39 %
/// more bytes (docs/benchmarks.md).
pub const GZIP_LEVEL: u32 = 1;

/// Bytes written between two yields to the runtime.
pub const YIELD_EVERY: usize = 64 * 1024;

/// A request body being written.
pub struct BodyWriter {
    out: Vec<u8>,
    gzip: bool,
    since_yield: usize,
}

impl BodyWriter {
    /// An empty body, gzip when `gzip`; `expected` is about how many uncompressed bytes will
    /// be written (the buffer is sized for it).
    pub fn new(gzip: bool, expected: usize) -> Self {
        Self {
            out: docket_delivery::buffers::take(expected),
            gzip,
            since_yield: 0,
        }
    }

    /// Appends `bytes`.
    pub fn put(&mut self, bytes: &[u8]) {
        self.since_yield += bytes.len();
        self.out.extend_from_slice(bytes);
    }

    /// Yields to the runtime when [`YIELD_EVERY`] bytes were written since the last yield, so
    /// writing a large batch never holds a worker thread for long.
    pub async fn pause(&mut self) {
        if self.since_yield >= YIELD_EVERY {
            self.since_yield = 0;
            tokio::task::yield_now().await;
        }
    }

    /// The finished body, compressed when gzip.
    pub fn finish(self) -> Vec<u8> {
        if !self.gzip {
            return self.out;
        }
        let body = gzip(&self.out);
        docket_delivery::buffers::give(self.out);
        body
    }
}

/// The gzip of `data` at [`GZIP_LEVEL`], compressed at once ([`docket_delivery::gzip`]): for
/// a body that is one buffer already, such as a batch's records one after another.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    docket_delivery::gzip(data, GZIP_LEVEL)
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
