//! A minimal protobuf writer: prost needs an owned tree of every body value, while writing the
//! wire form straight into the output allocates nothing per value.
//!
//! Everything is appended to a `Vec<u8>`. A nested message is written in place: [`open`] writes
//! its key and a one-byte length placeholder, the content follows, and [`close`] writes the
//! length, shifting the content right when the length needs more than one byte, so every length
//! is the minimal varint a standard encoder writes.

/// Wire type of varint fields (integers, booleans, enumerations).
pub const VARINT: u8 = 0;
/// Wire type of 64-bit fields (`fixed64`, `double`).
pub const FIXED64: u8 = 1;
/// Wire type of length-delimited fields (strings, bytes, messages).
pub const LEN: u8 = 2;

/// Appends `value` as a varint: seven bits a byte, least significant first.
#[inline]
pub fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// How many bytes `value` takes as a varint (1 to 10).
pub fn varint_len(value: u64) -> usize {
    let bits = 64 - (value | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Writes `value` as a varint filling exactly `slot`, which must be `varint_len(value)` long.
fn varint_into(slot: &mut [u8], mut value: u64) {
    let last = slot.len() - 1;
    for (i, byte) in slot.iter_mut().enumerate() {
        let more = if i < last { 0x80 } else { 0 };
        *byte = (value as u8 & 0x7f) | more;
        value >>= 7;
    }
}

/// Appends the key of field number `field` with wire type `wire_type`.
#[inline]
pub fn key(out: &mut Vec<u8>, field: u32, wire_type: u8) {
    varint(out, (u64::from(field) << 3) | u64::from(wire_type));
}

/// Appends varint field `field` holding `value` (negative integers as their two's complement,
/// ten bytes, as `int32`, `int64` and enumerations are written).
#[inline]
pub fn varint_field(out: &mut Vec<u8>, field: u32, value: u64) {
    key(out, field, VARINT);
    varint(out, value);
}

/// Appends 64-bit field `field` holding `value`, little-endian.
pub fn fixed64_field(out: &mut Vec<u8>, field: u32, value: u64) {
    key(out, field, FIXED64);
    out.extend_from_slice(&value.to_le_bytes());
}

/// Appends `double` field `field` holding `value`.
pub fn double_field(out: &mut Vec<u8>, field: u32, value: f64) {
    fixed64_field(out, field, value.to_bits());
}

/// Appends length-delimited field `field` holding `bytes` (a string's UTF-8 or raw bytes).
#[inline]
pub fn bytes_field(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    key(out, field, LEN);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// A nested message (or any length-delimited field) being written: the position of its
/// one-byte length placeholder. Its content is everything appended after it until [`close`].
#[must_use = "an opened field must be closed to get its length"]
#[derive(Debug)]
pub struct Open(usize);

impl Open {
    /// Where the content starts while the field is open (just after the placeholder).
    pub fn content_start(&self) -> usize {
        self.0 + 1
    }
}

/// Starts length-delimited field `field`: appends its key and a length placeholder.
#[inline]
pub fn open(out: &mut Vec<u8>, field: u32) -> Open {
    key(out, field, LEN);
    out.push(0);
    Open(out.len() - 1)
}

/// Ends `field`: writes the length of the content appended since [`open`] as a minimal varint,
/// moving the content right when that takes more than one byte. Returns where the content
/// starts now.
#[inline]
pub fn close(out: &mut Vec<u8>, field: Open) -> usize {
    let at = field.0;
    let end = out.len();
    let len = (end - at - 1) as u64;
    if len < 0x80 {
        out[at] = len as u8;
        return at + 1;
    }
    let width = varint_len(len);
    if width > 1 {
        out.resize(end + width - 1, 0);
        out.copy_within(at + 1..end, at + width);
    }
    varint_into(&mut out[at..at + width], len);
    at + width
}

/// Appends field `field` holding whatever `content` appends, as a nested message.
#[inline]
pub fn message<T>(out: &mut Vec<u8>, field: u32, content: impl FnOnce(&mut Vec<u8>) -> T) -> T {
    let open = open(out, field);
    let result = content(out);
    close(out, open);
    result
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue, KeyValueList};
    use proptest::prelude::*;
    use prost::Message;
    use prost::encoding;

    use super::*;

    /// Values around every boundary of a varint's width.
    fn edges() -> Vec<u64> {
        let mut values = vec![0, 1, u64::MAX, i64::MAX as u64, (-1i64) as u64];
        for bits in (7..64).step_by(7) {
            let edge = 1u64 << bits;
            values.extend([edge - 1, edge, edge + 1]);
        }
        values
    }

    #[test]
    fn varints_are_what_prost_writes() {
        for value in edges() {
            let mut ours = Vec::new();
            varint(&mut ours, value);
            let mut theirs = Vec::new();
            encoding::encode_varint(value, &mut theirs);
            assert_eq!(ours, theirs, "{value}");
            assert_eq!(varint_len(value), encoding::encoded_len_varint(value));
            let mut slot = vec![0; varint_len(value)];
            varint_into(&mut slot, value);
            assert_eq!(slot, theirs, "{value}");
        }
    }

    #[test]
    fn keys_and_scalars_are_what_prost_writes() {
        let mut ours = Vec::new();
        key(&mut ours, 536_870_911, LEN);
        varint_field(&mut ours, 3, (-2i64) as u64);
        fixed64_field(&mut ours, 11, 0x0102_0304_0506_0708);
        double_field(&mut ours, 4, -0.5);
        bytes_field(&mut ours, 9, b"");
        let mut theirs = Vec::new();
        encoding::encode_key(
            536_870_911,
            encoding::WireType::LengthDelimited,
            &mut theirs,
        );
        encoding::int64::encode(3, &-2, &mut theirs);
        encoding::fixed64::encode(11, &0x0102_0304_0506_0708, &mut theirs);
        encoding::double::encode(4, &-0.5, &mut theirs);
        encoding::bytes::encode(9, &Vec::<u8>::new(), &mut theirs);
        assert_eq!(ours, theirs);
    }

    #[test]
    fn a_closed_field_has_its_minimal_length_before_its_content() {
        for len in [0, 1, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152] {
            let mut out = b"before".to_vec();
            let field = open(&mut out, 7);
            out.extend(std::iter::repeat_n(b'x', len));
            let start = close(&mut out, field);
            let mut expected = b"before".to_vec();
            encoding::bytes::encode(7, &vec![b'x'; len], &mut expected);
            assert_eq!(out, expected, "{len}");
            assert_eq!(start, 6 + 1 + varint_len(len as u64), "{len}");
        }
    }

    /// `value` written with this module, the way the body writer writes it.
    fn write(value: &AnyValue, out: &mut Vec<u8>) {
        match &value.value {
            None => {}
            Some(Value::StringValue(s)) => bytes_field(out, 1, s.as_bytes()),
            Some(Value::BoolValue(b)) => varint_field(out, 2, u64::from(*b)),
            Some(Value::IntValue(i)) => varint_field(out, 3, *i as u64),
            Some(Value::DoubleValue(d)) => double_field(out, 4, *d),
            Some(Value::ArrayValue(a)) => message(out, 5, |out| {
                for item in &a.values {
                    message(out, 1, |out| write(item, out));
                }
            }),
            Some(Value::KvlistValue(m)) => message(out, 6, |out| {
                for kv in &m.values {
                    message(out, 1, |out| {
                        if !kv.key.is_empty() {
                            bytes_field(out, 1, kv.key.as_bytes());
                        }
                        if let Some(v) = &kv.value {
                            message(out, 2, |out| write(v, out));
                        }
                    });
                }
            }),
            Some(other) => panic!("not generated: {other:?}"),
        }
    }

    /// Text of lengths around the varint boundaries, or short text of any characters.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            ".{0,12}",
            prop::sample::select(vec![
                126usize, 127, 128, 129, 16_382, 16_383, 16_384, 16_385
            ])
            .prop_map(|n| "é".repeat(n / 2) + &"x".repeat(n % 2)),
        ]
    }

    fn any_value() -> impl Strategy<Value = AnyValue> {
        let leaf = prop_oneof![
            Just(None),
            text().prop_map(|s| Some(Value::StringValue(s))),
            any::<bool>().prop_map(|b| Some(Value::BoolValue(b))),
            any::<i64>().prop_map(|i| Some(Value::IntValue(i))),
            any::<f64>().prop_map(|d| Some(Value::DoubleValue(d))),
        ]
        .prop_map(|value| AnyValue { value });
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6)
                    .prop_map(|values| Value::ArrayValue(ArrayValue { values })),
                prop::collection::vec((text(), inner), 0..6).prop_map(|entries| {
                    let values = entries
                        .into_iter()
                        .map(|(key, v)| KeyValue {
                            key,
                            value: Some(v),
                            ..KeyValue::default()
                        })
                        .collect();
                    Value::KvlistValue(KeyValueList { values })
                }),
            ]
            .prop_map(|v| AnyValue { value: Some(v) })
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn nested_messages_are_byte_for_byte_what_prost_writes(value in any_value()) {
            let mut out = vec![0xff];
            write(&value, &mut out);
            prop_assert_eq!(&out[1..], &value.encode_to_vec()[..]);
            let decoded = AnyValue::decode(&out[1..]).unwrap();
            // NaN is not equal to itself: compare the encodings of the decoded value.
            prop_assert_eq!(decoded.encode_to_vec(), value.encode_to_vec());
        }
    }
}
