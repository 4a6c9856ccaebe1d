//! The exported record as an OTLP `AnyValue`, written as protobuf straight from its serde form:
//! prost needs an owned tree of every body value, writing the wire form straight from serde
//! allocates nothing per value.
//!
//! The mapping is what going through `serde_json::Value` gave: structs and maps become maps
//! sorted by key (the last of equal keys kept), sequences arrays, `None` and unit an empty value,
//! integers integers (a `u64` beyond `i64` a double), finite floats doubles (others an empty
//! value), unit variants their names, variants with data a one-entry map `{variant: value}`.
//!
//! Map entries are written in place as they come; a map whose keys did not come in ascending
//! order is reordered when it ends, by copying its entries after it in key order and removing
//! the originals.

use std::cmp::Ordering;
use std::fmt::Display;
use std::io::Write as _;
use std::ops::Range;

use serde::Serialize;
use serde::ser::{self, Impossible};

use crate::wire::{self, Open};

/// `AnyValue.string_value`.
pub(crate) const STRING_VALUE: u32 = 1;
/// `AnyValue.bool_value`.
const BOOL_VALUE: u32 = 2;
/// `AnyValue.int_value`.
pub(crate) const INT_VALUE: u32 = 3;
/// `AnyValue.double_value`.
const DOUBLE_VALUE: u32 = 4;
/// `AnyValue.array_value`.
const ARRAY_VALUE: u32 = 5;
/// `AnyValue.kvlist_value`.
const KVLIST_VALUE: u32 = 6;
/// `ArrayValue.values`.
const ARRAY_VALUES: u32 = 1;
/// `KeyValueList.values`.
const KVLIST_VALUES: u32 = 1;
/// `KeyValue.key`.
pub(crate) const KEY: u32 = 1;
/// `KeyValue.value`.
pub(crate) const VALUE: u32 = 2;

/// Why a value has no `AnyValue` form (a map key that is not a string, number or bool).
#[derive(Debug)]
pub struct BodyError(String);

impl Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BodyError {}

impl ser::Error for BodyError {
    fn custom<T: Display>(msg: T) -> Self {
        Self(msg.to_string())
    }
}

/// Appends the content of `value`'s `AnyValue` message to `out`: its one value field, or
/// nothing for an empty value. On an error, `out` holds a partial value to discard.
pub fn write_any_value(value: &impl Serialize, out: &mut Vec<u8>) -> Result<(), BodyError> {
    let mut writer = Writer {
        out,
        // Room for the entries of the open maps of a typical record: one allocation serves it.
        spans: Vec::with_capacity(32),
    };
    value.serialize(&mut writer)
}

/// Writes one value, and every value inside it, as `AnyValue` content.
struct Writer<'o> {
    out: &'o mut Vec<u8>,
    /// The entries written so far of the maps being written, the innermost map's last.
    spans: Vec<Span>,
}

/// Where a written map entry (a `KeyValue` field, key and tag included) and its key are.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
    key: usize,
    key_len: usize,
}

impl Span {
    fn key<'b>(&self, out: &'b [u8]) -> &'b [u8] {
        &out[self.key..self.key + self.key_len]
    }

    /// How this entry's key orders against `other`'s (byte-wise, as `str` orders).
    fn order(&self, other: &Span, out: &[u8]) -> Ordering {
        let (a, b) = (self.key(out), other.key(out));
        // Keys mostly differ in their first byte: decide those without a call to `memcmp`.
        match (a.first(), b.first()) {
            (Some(x), Some(y)) if x != y => x.cmp(y),
            _ => a.cmp(b),
        }
    }
}

/// The open fields of a one-entry map `{variant: …}` around a variant's value.
struct Tagged {
    list: Open,
    entry: Open,
    value: Open,
}

impl Writer<'_> {
    /// Opens the map `{variant: …}`; the variant's value is written next.
    fn open_tagged(&mut self, variant: &str) -> Tagged {
        let list = wire::open(self.out, KVLIST_VALUE);
        let entry = wire::open(self.out, KVLIST_VALUES);
        if !variant.is_empty() {
            wire::bytes_field(self.out, KEY, variant.as_bytes());
        }
        let value = wire::open(self.out, VALUE);
        Tagged { list, entry, value }
    }

    fn close_tagged(&mut self, tagged: Tagged) {
        wire::close(self.out, tagged.value);
        wire::close(self.out, tagged.entry);
        wire::close(self.out, tagged.list);
    }

    fn float(&mut self, v: f64) {
        if v.is_finite() {
            wire::double_field(self.out, DOUBLE_VALUE, v);
        }
    }
}

/// Rewrites the map entries `spans`, which run from `from` to the end of `out`, in key order,
/// the last of equal keys kept (a JSON object's rules).
fn sort_entries(out: &mut Vec<u8>, spans: &mut [Span], from: usize) {
    spans.sort_by(|a, b| a.order(b, out));
    let end = out.len();
    for (i, span) in spans.iter().enumerate() {
        let replaced = spans
            .get(i + 1)
            .is_some_and(|next| next.order(span, out).is_eq());
        if !replaced {
            out.extend_from_within(span.start..span.end);
        }
    }
    out.drain(from..end);
}

impl<'w, 'o> ser::Serializer for &'w mut Writer<'o> {
    type Ok = ();
    type Error = BodyError;
    type SerializeSeq = Seq<'w, 'o>;
    type SerializeTuple = Seq<'w, 'o>;
    type SerializeTupleStruct = Seq<'w, 'o>;
    type SerializeTupleVariant = Seq<'w, 'o>;
    type SerializeMap = Map<'w, 'o>;
    type SerializeStruct = Map<'w, 'o>;
    type SerializeStructVariant = Map<'w, 'o>;

    fn serialize_bool(self, v: bool) -> Result<(), BodyError> {
        wire::varint_field(self.out, BOOL_VALUE, u64::from(v));
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), BodyError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<(), BodyError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<(), BodyError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<(), BodyError> {
        wire::varint_field(self.out, INT_VALUE, v as u64);
        Ok(())
    }
    fn serialize_u8(self, v: u8) -> Result<(), BodyError> {
        self.serialize_i64(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<(), BodyError> {
        self.serialize_i64(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<(), BodyError> {
        self.serialize_i64(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<(), BodyError> {
        match i64::try_from(v) {
            Ok(i) => self.serialize_i64(i),
            Err(_) => self.serialize_f64(v as f64),
        }
    }
    fn serialize_f32(self, v: f32) -> Result<(), BodyError> {
        self.serialize_f64(v.into())
    }
    fn serialize_f64(self, v: f64) -> Result<(), BodyError> {
        self.float(v);
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), BodyError> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<(), BodyError> {
        wire::bytes_field(self.out, STRING_VALUE, v.as_bytes());
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), BodyError> {
        wire::message(self.out, ARRAY_VALUE, |out| {
            for b in v {
                wire::message(out, ARRAY_VALUES, |out| {
                    wire::varint_field(out, INT_VALUE, u64::from(*b));
                });
            }
        });
        Ok(())
    }
    fn serialize_none(self) -> Result<(), BodyError> {
        Ok(())
    }
    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<(), BodyError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), BodyError> {
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), BodyError> {
        Ok(())
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), BodyError> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), BodyError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), BodyError> {
        let tagged = self.open_tagged(variant);
        value.serialize(&mut *self)?;
        self.close_tagged(tagged);
        Ok(())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Seq<'w, 'o>, BodyError> {
        Ok(Seq::open(self, None))
    }
    fn serialize_tuple(self, _: usize) -> Result<Seq<'w, 'o>, BodyError> {
        Ok(Seq::open(self, None))
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Seq<'w, 'o>, BodyError> {
        Ok(Seq::open(self, None))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Seq<'w, 'o>, BodyError> {
        Ok(Seq::open(self, Some(variant)))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Map<'w, 'o>, BodyError> {
        Ok(Map::open(self, None))
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Map<'w, 'o>, BodyError> {
        Ok(Map::open(self, None))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Map<'w, 'o>, BodyError> {
        Ok(Map::open(self, Some(variant)))
    }
}

/// An array being written (inside `{variant: …}` for a tuple variant).
struct Seq<'w, 'o> {
    w: &'w mut Writer<'o>,
    variant: Option<Tagged>,
    array: Open,
}

impl<'w, 'o> Seq<'w, 'o> {
    fn open(w: &'w mut Writer<'o>, variant: Option<&str>) -> Self {
        let variant = variant.map(|v| w.open_tagged(v));
        let array = wire::open(w.out, ARRAY_VALUE);
        Self { w, variant, array }
    }

    fn push<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), BodyError> {
        let item = wire::open(self.w.out, ARRAY_VALUES);
        value.serialize(&mut *self.w)?;
        wire::close(self.w.out, item);
        Ok(())
    }

    fn finish(self) -> Result<(), BodyError> {
        wire::close(self.w.out, self.array);
        if let Some(tagged) = self.variant {
            self.w.close_tagged(tagged);
        }
        Ok(())
    }
}

/// The four ways serde fills a sequence all push the next value into a [`Seq`].
macro_rules! fill_seq {
    ($($trait:ident :: $method:ident),+) => {$(
        impl ser::$trait for Seq<'_, '_> {
            type Ok = ();
            type Error = BodyError;
            fn $method<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), BodyError> {
                self.push(value)
            }
            fn end(self) -> Result<(), BodyError> {
                self.finish()
            }
        }
    )+};
}

fill_seq!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

/// A map being written (inside `{variant: …}` for a struct variant).
struct Map<'w, 'o> {
    w: &'w mut Writer<'o>,
    variant: Option<Tagged>,
    list: Open,
    /// Where this map's entries start in `w.spans`.
    first: usize,
    /// The entry whose key is written and whose value is due.
    pending: Option<Entry>,
    /// Whether the keys so far came in strictly ascending order.
    sorted: bool,
}

/// An entry being written: where it starts, its open field, and where its key is relative to
/// the entry's content.
struct Entry {
    start: usize,
    field: Open,
    key_offset: usize,
    key_len: usize,
}

impl<'w, 'o> Map<'w, 'o> {
    fn open(w: &'w mut Writer<'o>, variant: Option<&str>) -> Self {
        let variant = variant.map(|v| w.open_tagged(v));
        let list = wire::open(w.out, KVLIST_VALUE);
        let first = w.spans.len();
        Self {
            w,
            variant,
            list,
            first,
            pending: None,
            sorted: true,
        }
    }

    /// Starts an entry and writes its key.
    fn key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result<(), BodyError> {
        let out = &mut *self.w.out;
        let start = out.len();
        let field = wire::open(out, KVLIST_VALUES);
        let content = field.content_start();
        let key = key.serialize(Text { out })?;
        self.pending = Some(Entry {
            start,
            field,
            key_offset: key.start - content,
            key_len: key.len(),
        });
        Ok(())
    }

    /// Writes the value of the entry whose key was written, and ends the entry.
    fn value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), BodyError> {
        let entry = self
            .pending
            .take()
            .ok_or_else(|| BodyError("a map value without its key".to_owned()))?;
        let field = wire::open(self.w.out, VALUE);
        value.serialize(&mut *self.w)?;
        wire::close(self.w.out, field);
        let content = wire::close(self.w.out, entry.field);
        let span = Span {
            start: entry.start,
            end: self.w.out.len(),
            key: content + entry.key_offset,
            key_len: entry.key_len,
        };
        if let Some(last) = self.w.spans[self.first..].last() {
            self.sorted &= last.order(&span, self.w.out).is_lt();
        }
        self.w.spans.push(span);
        Ok(())
    }

    fn finish(self) -> Result<(), BodyError> {
        let Self {
            w,
            variant,
            list,
            first,
            pending,
            sorted,
        } = self;
        if pending.is_some() {
            return Err(BodyError("a map key without its value".to_owned()));
        }
        if !sorted {
            sort_entries(w.out, &mut w.spans[first..], list.content_start());
        }
        w.spans.truncate(first);
        wire::close(w.out, list);
        if let Some(tagged) = variant {
            w.close_tagged(tagged);
        }
        Ok(())
    }
}

impl ser::SerializeMap for Map<'_, '_> {
    type Ok = ();
    type Error = BodyError;
    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result<(), BodyError> {
        self.key(key)
    }
    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), BodyError> {
        self.value(value)
    }
    fn end(self) -> Result<(), BodyError> {
        self.finish()
    }
}

/// Both kinds of struct put each named field into a [`Map`].
macro_rules! fill_struct {
    ($($trait:ident),+) => {$(
        impl ser::$trait for Map<'_, '_> {
            type Ok = ();
            type Error = BodyError;
            fn serialize_field<T: ?Sized + Serialize>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<(), BodyError> {
                self.key(key)?;
                self.value(value)
            }
            fn end(self) -> Result<(), BodyError> {
                self.finish()
            }
        }
    )+};
}

fill_struct!(SerializeStruct, SerializeStructVariant);

/// Writes a map key as the `KeyValue`'s `key` field: strings, characters, integers, booleans
/// and unit variants as their text, as JSON allows them as keys. Its result is where the text
/// is. An empty text is left out, as a plain proto3 string field is.
struct Text<'o> {
    out: &'o mut Vec<u8>,
}

impl Text<'_> {
    fn str(self, v: &str) -> Result<Range<usize>, BodyError> {
        if !v.is_empty() {
            wire::bytes_field(self.out, KEY, v.as_bytes());
        }
        Ok(self.out.len() - v.len()..self.out.len())
    }

    fn display(self, v: impl Display) -> Result<Range<usize>, BodyError> {
        let field = wire::open(self.out, KEY);
        write!(self.out, "{v}").map_err(|e| BodyError(format!("writing a map key: {e}")))?;
        let start = wire::close(self.out, field);
        Ok(start..self.out.len())
    }
}

fn refused(kind: &str) -> BodyError {
    BodyError(format!("a map key must be a string, not {kind}"))
}

/// Key serializer methods that write the value as its decimal text.
macro_rules! as_text {
    ($($method:ident: $t:ty),+) => {$(
        fn $method(self, v: $t) -> Result<Range<usize>, BodyError> {
            self.display(v)
        }
    )+};
}

type NoKey = Impossible<Range<usize>, BodyError>;

impl ser::Serializer for Text<'_> {
    type Ok = Range<usize>;
    type Error = BodyError;
    type SerializeSeq = NoKey;
    type SerializeTuple = NoKey;
    type SerializeTupleStruct = NoKey;
    type SerializeTupleVariant = NoKey;
    type SerializeMap = NoKey;
    type SerializeStruct = NoKey;
    type SerializeStructVariant = NoKey;

    as_text!(
        serialize_i8: i8,
        serialize_i16: i16,
        serialize_i32: i32,
        serialize_i64: i64,
        serialize_u8: u8,
        serialize_u16: u16,
        serialize_u32: u32,
        serialize_u64: u64
    );
    fn serialize_bool(self, v: bool) -> Result<Range<usize>, BodyError> {
        self.str(if v { "true" } else { "false" })
    }
    fn serialize_char(self, v: char) -> Result<Range<usize>, BodyError> {
        self.str(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_f32(self, _: f32) -> Result<Range<usize>, BodyError> {
        Err(refused("a number with a fraction"))
    }
    fn serialize_f64(self, _: f64) -> Result<Range<usize>, BodyError> {
        Err(refused("a number with a fraction"))
    }
    fn serialize_str(self, v: &str) -> Result<Range<usize>, BodyError> {
        self.str(v)
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<Range<usize>, BodyError> {
        Err(refused("bytes"))
    }
    fn serialize_none(self) -> Result<Range<usize>, BodyError> {
        Err(refused("nothing"))
    }
    fn serialize_some<T: ?Sized + Serialize>(self, _: &T) -> Result<Range<usize>, BodyError> {
        Err(refused("an option"))
    }
    fn serialize_unit(self) -> Result<Range<usize>, BodyError> {
        Err(refused("unit"))
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<Range<usize>, BodyError> {
        Err(refused("unit"))
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<Range<usize>, BodyError> {
        self.str(variant)
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<Range<usize>, BodyError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<Range<usize>, BodyError> {
        Err(refused("an enum variant with data"))
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<NoKey, BodyError> {
        Err(refused("a sequence"))
    }
    fn serialize_tuple(self, _: usize) -> Result<NoKey, BodyError> {
        Err(refused("a tuple"))
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<NoKey, BodyError> {
        Err(refused("a tuple"))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<NoKey, BodyError> {
        Err(refused("a tuple"))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<NoKey, BodyError> {
        Err(refused("a map"))
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<NoKey, BodyError> {
        Err(refused("a struct"))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<NoKey, BodyError> {
        Err(refused("a struct"))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::{BTreeMap, HashMap};

    use docket_delivery::Body;
    use docket_records::samples;
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValueList};
    use proptest::prelude::*;
    use prost::Message;
    use serde::Serialize;
    use serde::ser::SerializeMap;

    use super::*;
    use crate::encode::key_value;
    use crate::encode::tests::exported;

    fn some(value: Value) -> AnyValue {
        AnyValue { value: Some(value) }
    }

    /// `value` as an owned `AnyValue` tree through `serde_json::Value` (the earlier
    /// conversion, whose maps are key-sorted with the last of equal keys kept): the oracle.
    pub(crate) fn through_json(value: &impl Serialize) -> AnyValue {
        fn convert(json: serde_json::Value) -> AnyValue {
            use serde_json::Value as J;
            match json {
                J::Null => AnyValue { value: None },
                J::Bool(b) => some(Value::BoolValue(b)),
                J::Number(n) => some(match n.as_i64() {
                    Some(i) => Value::IntValue(i),
                    None => Value::DoubleValue(n.as_f64().unwrap_or(f64::NAN)),
                }),
                J::String(s) => some(Value::StringValue(s)),
                J::Array(items) => some(Value::ArrayValue(ArrayValue {
                    values: items.into_iter().map(convert).collect(),
                })),
                J::Object(map) => some(Value::KvlistValue(KeyValueList {
                    values: map
                        .into_iter()
                        .map(|(key, v)| key_value(key, convert(v)))
                        .collect(),
                })),
            }
        }
        convert(serde_json::to_value(value).unwrap())
    }

    /// `value` written by [`write_any_value`].
    fn written(value: &impl Serialize) -> Result<Vec<u8>, BodyError> {
        let mut out = Vec::new();
        write_any_value(value, &mut out).map(|()| out)
    }

    /// The written bytes are prost's encoding of the oracle's tree, and decode to it.
    fn same(value: &impl Serialize) {
        let bytes = written(value).unwrap();
        let oracle = through_json(value);
        assert_eq!(AnyValue::decode(&bytes[..]).unwrap(), oracle);
        assert_eq!(bytes, oracle.encode_to_vec());
    }

    #[test]
    fn records_convert_exactly_as_through_json() {
        let mut d = samples::enriched();
        same(&exported(Body::Decision(Box::new(d.clone()))));
        d.decision.correlation_id = "\u{0}\n\"é🙂\\".to_owned();
        d.decision.caller.user = None;
        d.decision.model.requested = "é".repeat(9_000);
        d.policy_change = None;
        same(&exported(Body::Decision(Box::new(d))));
        let mut a = samples::audit();
        same(&exported(Body::Audit(Box::new(a.clone()))));
        a.details.insert(String::new(), "\u{7f}".to_owned());
        a.details.insert("zz".repeat(500), String::new());
        a.details.insert("Ω".to_owned(), "x".repeat(70_000));
        same(&exported(Body::Audit(Box::new(a))));
    }

    #[derive(Serialize)]
    enum Shape {
        Unit,
        Newtype(i8),
        Tuple(u16, char),
        Struct {
            b: bool,
            a: Option<u32>,
        },
        #[serde(rename = "")]
        Nameless(Vec<u8>),
    }

    #[derive(Serialize)]
    struct Unit;

    #[derive(Serialize)]
    struct Every {
        z: i64,
        a: u64,
        big: u64,
        half: f32,
        nan: f64,
        inf: f64,
        #[serde(with = "serde_bytes_like")]
        bytes: Vec<u8>,
        shapes: Vec<Shape>,
        numbered: BTreeMap<i32, bool>,
        flags: BTreeMap<bool, ()>,
        letters: BTreeMap<char, Unit>,
        tuple: (Unit, Option<String>),
        empty: (Vec<()>, BTreeMap<String, ()>),
    }

    mod serde_bytes_like {
        pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(v)
        }
    }

    #[test]
    fn every_serde_shape_converts_exactly_as_through_json() {
        same(&Every {
            z: i64::MIN,
            a: 7,
            big: u64::MAX,
            half: 0.5,
            nan: f64::NAN,
            inf: f64::NEG_INFINITY,
            bytes: vec![0, 127, 128, 255],
            shapes: vec![
                Shape::Unit,
                Shape::Newtype(-1),
                Shape::Tuple(9, 'x'),
                Shape::Struct { b: true, a: None },
                Shape::Nameless(vec![200; 300]),
            ],
            numbered: BTreeMap::from([(-3, true), (10, false), (2, true)]),
            flags: BTreeMap::from([(true, ()), (false, ())]),
            letters: BTreeMap::from([('é', Unit), ('a', Unit)]),
            tuple: (Unit, Some("t".to_owned())),
            empty: (vec![], BTreeMap::new()),
        });
    }

    #[derive(Serialize)]
    struct Flattened {
        z: &'static str,
        a: &'static str,
        #[serde(flatten)]
        extra: BTreeMap<&'static str, &'static str>,
    }

    #[test]
    fn duplicate_and_unordered_keys_keep_the_last_value_in_key_order() {
        let extra = BTreeMap::from([("a", "later"), ("m", "m"), ("z", "last")]);
        same(&Flattened {
            z: "first",
            a: "first",
            extra,
        });
        let big: HashMap<String, Vec<u32>> = (0..500).map(|i| (i.to_string(), vec![i])).collect();
        same(&big);
    }

    #[test]
    fn a_map_key_json_cannot_hold_is_refused() {
        let map = BTreeMap::from([((1, 2), "x")]);
        assert!(serde_json::to_value(&map).is_err());
        let error = written(&map).unwrap_err();
        assert_eq!(error.to_string(), "a map key must be a string, not a tuple");
        assert!(written(&BTreeMap::from([(Some(1), 2)])).is_err());
    }

    /// Any serde content: map entries in a given order, duplicates allowed.
    #[derive(Debug, Clone)]
    enum Tree {
        Text(String),
        Int(i64),
        Float(f64),
        List(Vec<Tree>),
        Entries(Vec<(String, Tree)>),
    }

    impl Serialize for Tree {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            match self {
                Tree::Text(t) => s.serialize_str(t),
                Tree::Int(i) => s.serialize_i64(*i),
                Tree::Float(f) => s.serialize_f64(*f),
                Tree::List(items) => s.collect_seq(items),
                Tree::Entries(entries) => {
                    let mut map = s.serialize_map(Some(entries.len()))?;
                    for (k, v) in entries {
                        map.serialize_entry(k, v)?;
                    }
                    map.end()
                }
            }
        }
    }

    /// Short keys (many equal ones), or text around the varint boundaries of a length.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => "[ab]{0,2}",
            1 => prop::sample::select(vec![125usize, 126, 127, 128, 16_381, 16_383, 16_384])
                .prop_map(|n| "k".repeat(n)),
        ]
    }

    fn tree() -> impl Strategy<Value = Tree> {
        let leaf = prop_oneof![
            text().prop_map(Tree::Text),
            any::<i64>().prop_map(Tree::Int),
            any::<f64>().prop_map(Tree::Float),
        ];
        leaf.prop_recursive(4, 40, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(Tree::List),
                prop::collection::vec((text(), inner), 0..8).prop_map(Tree::Entries),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_content_converts_exactly_as_through_json(tree in tree()) {
            let bytes = written(&tree).unwrap();
            prop_assert_eq!(bytes, through_json(&tree).encode_to_vec());
        }
    }
}
