//! The Confluent Schema Registry wire format: magic byte 0, the schema id as a 4-byte
//! big-endian integer, then the Avro binary body.

use thiserror::Error;

/// First byte of every framed message.
pub const MAGIC_BYTE: u8 = 0;

/// Bytes before the Avro body: the magic byte and the schema id.
pub const WIRE_HEADER_LEN: usize = 5;

/// Why bytes are not a framed message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum FrameError {
    /// Shorter than the header.
    #[error("{len} bytes is shorter than the {WIRE_HEADER_LEN}-byte header")]
    TooShort {
        /// Length of the input.
        len: usize,
    },
    /// The first byte is not [`MAGIC_BYTE`].
    #[error("first byte is {found:#04x}, expected the magic byte {MAGIC_BYTE:#04x}")]
    BadMagic {
        /// The byte found.
        found: u8,
    },
}

/// Splits a framed message into its schema id and Avro body.
pub fn split_frame(bytes: &[u8]) -> Result<(u32, &[u8]), FrameError> {
    let Some((header, body)) = bytes.split_first_chunk::<WIRE_HEADER_LEN>() else {
        return Err(FrameError::TooShort { len: bytes.len() });
    };
    if header[0] != MAGIC_BYTE {
        return Err(FrameError::BadMagic { found: header[0] });
    }
    let id = u32::from_be_bytes([header[1], header[2], header[3], header[4]]);
    Ok((id, body))
}

/// Writes the header for schema `id` into `out`, ready for the body to be appended.
pub fn frame(id: u32, out: &mut Vec<u8>) {
    out.push(MAGIC_BYTE);
    out.extend_from_slice(&id.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_then_split_gives_back_id_and_body() {
        let mut bytes = Vec::new();
        frame(0x0102_0304, &mut bytes);
        bytes.extend_from_slice(b"body");
        assert_eq!(bytes[..5], [0, 1, 2, 3, 4]);
        assert_eq!(split_frame(&bytes), Ok((0x0102_0304, &b"body"[..])));
    }

    #[test]
    fn short_or_unmarked_input_is_refused() {
        assert_eq!(
            split_frame(&[0, 0, 1]),
            Err(FrameError::TooShort { len: 3 })
        );
        assert_eq!(
            split_frame(&[7, 0, 0, 0, 1, 2]),
            Err(FrameError::BadMagic { found: 7 })
        );
    }
}
