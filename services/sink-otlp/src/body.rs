//! The exported record as an OTLP `AnyValue`, built straight from its serde form (no JSON
//! in between): structs and maps become key-sorted maps, sequences arrays, `None` and unit an
//! empty value, integers integers, finite floats doubles, enum variants their names: exactly
//! what going through `serde_json::Value` gave, at a fraction of the allocations.

use std::fmt::Display;

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue, KeyValueList};
use serde::Serialize;
use serde::ser::{self, Impossible};

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

/// `value` as an `AnyValue`.
pub fn to_any_value(value: &impl Serialize) -> Result<AnyValue, BodyError> {
    value.serialize(Serializer)
}

fn any(value: Value) -> AnyValue {
    AnyValue { value: Some(value) }
}

const EMPTY: AnyValue = AnyValue { value: None };

fn pair(key: String, value: AnyValue) -> KeyValue {
    KeyValue {
        key,
        value: Some(value),
        ..KeyValue::default()
    }
}

/// A map of `entries` sorted by key, the last of equal keys kept (a JSON object's rules).
fn map(mut entries: Vec<KeyValue>) -> AnyValue {
    entries.reverse();
    entries.sort_by(|a, b| a.key.cmp(&b.key));
    entries.dedup_by(|later, first| later.key == first.key);
    any(Value::KvlistValue(KeyValueList { values: entries }))
}

/// A one-entry map `{variant: value}` (how an enum variant with data serializes).
fn tagged(variant: &str, value: AnyValue) -> AnyValue {
    map(vec![pair(variant.to_owned(), value)])
}

fn float(f: f64) -> AnyValue {
    if f.is_finite() {
        any(Value::DoubleValue(f))
    } else {
        EMPTY
    }
}

/// Serializes one value into an `AnyValue`.
struct Serializer;

impl ser::Serializer for Serializer {
    type Ok = AnyValue;
    type Error = BodyError;
    type SerializeSeq = Seq;
    type SerializeTuple = Seq;
    type SerializeTupleStruct = Seq;
    type SerializeTupleVariant = Seq;
    type SerializeMap = Map;
    type SerializeStruct = Map;
    type SerializeStructVariant = Map;

    fn serialize_bool(self, v: bool) -> Result<AnyValue, BodyError> {
        Ok(any(Value::BoolValue(v)))
    }
    fn serialize_i8(self, v: i8) -> Result<AnyValue, BodyError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<AnyValue, BodyError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<AnyValue, BodyError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<AnyValue, BodyError> {
        Ok(any(Value::IntValue(v)))
    }
    fn serialize_u8(self, v: u8) -> Result<AnyValue, BodyError> {
        self.serialize_i64(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<AnyValue, BodyError> {
        self.serialize_i64(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<AnyValue, BodyError> {
        self.serialize_i64(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<AnyValue, BodyError> {
        Ok(i64::try_from(v).map_or_else(
            |_| any(Value::DoubleValue(v as f64)),
            |i| any(Value::IntValue(i)),
        ))
    }
    fn serialize_f32(self, v: f32) -> Result<AnyValue, BodyError> {
        Ok(float(v.into()))
    }
    fn serialize_f64(self, v: f64) -> Result<AnyValue, BodyError> {
        Ok(float(v))
    }
    fn serialize_char(self, v: char) -> Result<AnyValue, BodyError> {
        Ok(any(Value::StringValue(v.to_string())))
    }
    fn serialize_str(self, v: &str) -> Result<AnyValue, BodyError> {
        Ok(any(Value::StringValue(v.to_owned())))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<AnyValue, BodyError> {
        let values = v
            .iter()
            .map(|b| any(Value::IntValue((*b).into())))
            .collect();
        Ok(any(Value::ArrayValue(ArrayValue { values })))
    }
    fn serialize_none(self) -> Result<AnyValue, BodyError> {
        Ok(EMPTY)
    }
    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<AnyValue, BodyError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<AnyValue, BodyError> {
        Ok(EMPTY)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<AnyValue, BodyError> {
        Ok(EMPTY)
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<AnyValue, BodyError> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<AnyValue, BodyError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<AnyValue, BodyError> {
        Ok(tagged(variant, value.serialize(self)?))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Seq, BodyError> {
        Ok(Seq::new(None, len.unwrap_or(0)))
    }
    fn serialize_tuple(self, len: usize) -> Result<Seq, BodyError> {
        Ok(Seq::new(None, len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Seq, BodyError> {
        Ok(Seq::new(None, len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Seq, BodyError> {
        Ok(Seq::new(Some(variant), len))
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Map, BodyError> {
        Ok(Map::new(None, len.unwrap_or(0)))
    }
    fn serialize_struct(self, _: &'static str, len: usize) -> Result<Map, BodyError> {
        Ok(Map::new(None, len))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Map, BodyError> {
        Ok(Map::new(Some(variant), len))
    }
}

/// An array being filled (under a variant name for a tuple variant).
struct Seq {
    variant: Option<&'static str>,
    values: Vec<AnyValue>,
}

impl Seq {
    fn new(variant: Option<&'static str>, len: usize) -> Self {
        Self {
            variant,
            values: Vec::with_capacity(len),
        }
    }

    fn push<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), BodyError> {
        self.values.push(value.serialize(Serializer)?);
        Ok(())
    }

    fn finish(self) -> AnyValue {
        let array = any(Value::ArrayValue(ArrayValue {
            values: self.values,
        }));
        match self.variant {
            Some(variant) => tagged(variant, array),
            None => array,
        }
    }
}

/// The four ways serde fills a sequence all push the next value into a [`Seq`].
macro_rules! fill_seq {
    ($($trait:ident :: $method:ident),+) => {$(
        impl ser::$trait for Seq {
            type Ok = AnyValue;
            type Error = BodyError;
            fn $method<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), BodyError> {
                self.push(value)
            }
            fn end(self) -> Result<AnyValue, BodyError> {
                Ok(self.finish())
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

/// A map being filled (under a variant name for a struct variant).
struct Map {
    variant: Option<&'static str>,
    entries: Vec<KeyValue>,
    key: Option<String>,
}

impl Map {
    fn new(variant: Option<&'static str>, len: usize) -> Self {
        Self {
            variant,
            entries: Vec::with_capacity(len),
            key: None,
        }
    }

    fn put<T: ?Sized + Serialize>(&mut self, key: String, value: &T) -> Result<(), BodyError> {
        self.entries.push(pair(key, value.serialize(Serializer)?));
        Ok(())
    }

    fn finish(self) -> AnyValue {
        let value = map(self.entries);
        match self.variant {
            Some(variant) => tagged(variant, value),
            None => value,
        }
    }
}

impl ser::SerializeMap for Map {
    type Ok = AnyValue;
    type Error = BodyError;
    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result<(), BodyError> {
        self.key = Some(key.serialize(KeySerializer)?);
        Ok(())
    }
    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), BodyError> {
        let key = self
            .key
            .take()
            .ok_or_else(|| BodyError("a map value without its key".to_owned()))?;
        self.put(key, value)
    }
    fn end(self) -> Result<AnyValue, BodyError> {
        Ok(self.finish())
    }
}

/// Both kinds of struct put each named field into a [`Map`].
macro_rules! fill_struct {
    ($($trait:ident),+) => {$(
        impl ser::$trait for Map {
            type Ok = AnyValue;
            type Error = BodyError;
            fn serialize_field<T: ?Sized + Serialize>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<(), BodyError> {
                self.put(key.to_owned(), value)
            }
            fn end(self) -> Result<AnyValue, BodyError> {
                Ok(self.finish())
            }
        }
    )+};
}

fill_struct!(SerializeStruct, SerializeStructVariant);

/// A map key as text: strings, characters, integers and booleans (as JSON allows them).
struct KeySerializer;

fn refused(kind: &str) -> BodyError {
    BodyError(format!("a map key must be a string, not {kind}"))
}

/// Key serializer methods that write the value as its text.
macro_rules! as_text {
    ($($method:ident: $t:ty),+) => {$(
        fn $method(self, v: $t) -> Result<String, BodyError> {
            Ok(v.to_string())
        }
    )+};
}

impl ser::Serializer for KeySerializer {
    type Ok = String;
    type Error = BodyError;
    type SerializeSeq = Impossible<String, BodyError>;
    type SerializeTuple = Impossible<String, BodyError>;
    type SerializeTupleStruct = Impossible<String, BodyError>;
    type SerializeTupleVariant = Impossible<String, BodyError>;
    type SerializeMap = Impossible<String, BodyError>;
    type SerializeStruct = Impossible<String, BodyError>;
    type SerializeStructVariant = Impossible<String, BodyError>;

    as_text!(
        serialize_bool: bool,
        serialize_i8: i8,
        serialize_i16: i16,
        serialize_i32: i32,
        serialize_i64: i64,
        serialize_u8: u8,
        serialize_u16: u16,
        serialize_u32: u32,
        serialize_u64: u64,
        serialize_char: char
    );
    fn serialize_f32(self, _: f32) -> Result<String, BodyError> {
        Err(refused("a number with a fraction"))
    }
    fn serialize_f64(self, _: f64) -> Result<String, BodyError> {
        Err(refused("a number with a fraction"))
    }
    fn serialize_str(self, v: &str) -> Result<String, BodyError> {
        Ok(v.to_owned())
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<String, BodyError> {
        Err(refused("bytes"))
    }
    fn serialize_none(self) -> Result<String, BodyError> {
        Err(refused("nothing"))
    }
    fn serialize_some<T: ?Sized + Serialize>(self, _: &T) -> Result<String, BodyError> {
        Err(refused("an option"))
    }
    fn serialize_unit(self) -> Result<String, BodyError> {
        Err(refused("unit"))
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<String, BodyError> {
        Err(refused("unit"))
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<String, BodyError> {
        Ok(variant.to_owned())
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<String, BodyError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<String, BodyError> {
        Err(refused("an enum variant with data"))
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, BodyError> {
        Err(refused("a sequence"))
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, BodyError> {
        Err(refused("a tuple"))
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, BodyError> {
        Err(refused("a tuple"))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, BodyError> {
        Err(refused("a tuple"))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, BodyError> {
        Err(refused("a map"))
    }
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, BodyError> {
        Err(refused("a struct"))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, BodyError> {
        Err(refused("a struct"))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use docket_delivery::Body;
    use docket_records::samples;
    use prost::Message;
    use serde::Serialize;

    use super::*;
    use crate::encode::tests::exported;

    /// The earlier conversion, through `serde_json::Value`: the oracle.
    fn through_json(value: &impl Serialize) -> AnyValue {
        fn convert(json: serde_json::Value) -> AnyValue {
            use serde_json::Value as J;
            match json {
                J::Null => EMPTY,
                J::Bool(b) => any(Value::BoolValue(b)),
                J::Number(n) => any(match n.as_i64() {
                    Some(i) => Value::IntValue(i),
                    None => Value::DoubleValue(n.as_f64().unwrap_or(f64::NAN)),
                }),
                J::String(s) => any(Value::StringValue(s)),
                J::Array(items) => any(Value::ArrayValue(ArrayValue {
                    values: items.into_iter().map(convert).collect(),
                })),
                J::Object(map) => any(Value::KvlistValue(KeyValueList {
                    values: map
                        .into_iter()
                        .map(|(key, v)| pair(key, convert(v)))
                        .collect(),
                })),
            }
        }
        convert(serde_json::to_value(value).unwrap())
    }

    fn same(value: &impl Serialize) {
        let direct = to_any_value(value).unwrap();
        let oracle = through_json(value);
        assert_eq!(direct, oracle);
        assert_eq!(direct.encode_to_vec(), oracle.encode_to_vec());
    }

    #[test]
    fn records_convert_exactly_as_through_json() {
        let mut d = samples::enriched();
        same(&exported(Body::Decision(Box::new(d.clone()))));
        d.decision.correlation_id = "\u{0}\n\"é🙂\\".to_owned();
        d.decision.caller.user = None;
        d.policy_change = None;
        same(&exported(Body::Decision(Box::new(d))));
        let mut a = samples::audit();
        same(&exported(Body::Audit(Box::new(a.clone()))));
        a.details.insert(String::new(), "\u{7f}".to_owned());
        a.details.insert("zz".repeat(500), String::new());
        same(&exported(Body::Audit(Box::new(a))));
    }

    #[derive(Serialize)]
    enum Shape {
        Unit,
        Newtype(i8),
        Tuple(u16, char),
        Struct { b: bool, a: Option<u32> },
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
        tuple: (Unit, Option<String>),
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
            bytes: vec![0, 255],
            shapes: vec![
                Shape::Unit,
                Shape::Newtype(-1),
                Shape::Tuple(9, 'x'),
                Shape::Struct { b: true, a: None },
            ],
            numbered: BTreeMap::from([(-3, true), (10, false), (2, true)]),
            flags: BTreeMap::from([(true, ()), (false, ())]),
            tuple: (Unit, Some("t".to_owned())),
        });
    }

    #[test]
    fn a_map_key_json_cannot_hold_is_refused() {
        let map = BTreeMap::from([((1, 2), "x")]);
        assert!(serde_json::to_value(&map).is_err());
        assert!(to_any_value(&map).is_err());
    }
}
