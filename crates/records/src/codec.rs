//! Encoding and decoding records in the Confluent wire format, with the schema registry
//! reached through `schema_registry_converter`.
//!
//! Writers register their record's schema under the topic-name strategy (`<topic>-value`)
//! once and cache the id. Readers fetch a writer schema by id once (cached by the converter)
//! and decide once per id whether it equals their own schema (decode straight into the type)
//! or needs Avro schema resolution (decode, resolve, then convert).

use std::collections::HashMap;
use std::io::Cursor;
use std::marker::PhantomData;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use apache_avro::Schema;
use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::types::Value;
use apache_avro::writer::datum::GenericDatumWriter;
use schema_registry_converter::async_impl::avro::{AvroDecoder, AvroEncoder};
use schema_registry_converter::async_impl::schema_registry::SrSettings;
use schema_registry_converter::avro_common::AvroSchema;
use schema_registry_converter::error::SRCError;
use schema_registry_converter::schema_registry_common::{
    RawError, SchemaType, SubjectNameStrategy, SuppliedSchema,
};

use crate::decision::Decision;
use crate::enriched::{EnrichedDecision, JoinStatus, PolicyChange};
use crate::error::CodecError;
use crate::keys::{DecisionKeys, decision_keys};
use crate::schema::{Record, RecordSchema};
use crate::wire::{WIRE_HEADER_LEN, frame, split_frame};

/// Where the schema registry is (its Confluent-compatible API root) and how long a call may take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryConfig {
    /// Base URL of the Confluent-compatible API, e.g. `http://127.0.0.1:18081/apis/ccompat/v7`.
    pub url: String,
    /// Timeout of one registry call.
    pub timeout: Duration,
}

impl RegistryConfig {
    /// A registry at `url` with the default timeout (10 s).
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            timeout: Duration::from_secs(10),
        }
    }
}

/// A schema registry client shared by the encoders and decoders made from it.
#[derive(Clone)]
pub struct Registry {
    settings: SrSettings,
    lookups: Arc<AvroDecoder>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").finish_non_exhaustive()
    }
}

impl Registry {
    /// A client for the registry in `config`. Makes no call yet.
    pub fn new(config: &RegistryConfig) -> Result<Self, CodecError> {
        let settings = SrSettings::new_builder(config.url.clone())
            .set_timeout(config.timeout)
            .no_proxy()
            .build()
            .map_err(|e| CodecError::Registry {
                reason: e.to_string(),
            })?;
        Ok(Self {
            lookups: Arc::new(AvroDecoder::new(settings.clone())),
            settings,
        })
    }

    /// An encoder of `T` into `topic`, registering `T`'s schema on first use.
    pub fn encoder<T: Record>(&self, topic: &str) -> Encoder<T> {
        let mut encoder = Encoder::new(self, topic, T::schema());
        encoder.own = Some(T::write_own);
        encoder
    }

    /// An encoder of `T` into `topic` that writes with `schema` instead of `T`'s own: for
    /// producing an older or newer compatible version of a record.
    pub fn encoder_with_schema<T: serde::Serialize>(
        &self,
        topic: &str,
        schema: &'static RecordSchema,
    ) -> Encoder<T> {
        Encoder::new(self, topic, schema)
    }

    /// A decoder of `T`, reading any compatible writer schema.
    pub fn decoder<T: Record>(&self) -> Decoder<T> {
        Decoder {
            lookups: Arc::clone(&self.lookups),
            plans: RwLock::new(HashMap::new()),
            same_schema: reader_for(T::schema().parsed()),
            _record: PhantomData,
        }
    }

    /// Decodes a framed message into a generic Avro value, resolved against `reader` when given.
    pub async fn decode_value(
        &self,
        bytes: &[u8],
        reader: Option<&RecordSchema>,
    ) -> Result<Value, CodecError> {
        let (id, body) = split_frame(bytes)?;
        let writer = writer_schema(&self.lookups, id).await?;
        let value = read_with_writer(id, &writer.parsed, body)?;
        match reader {
            None => Ok(value),
            Some(r) => resolve(id, value, r),
        }
    }

    /// Registers `schema` under `<topic>-value` and returns its id: for setup jobs and tests.
    pub async fn register(&self, topic: &str, schema: &RecordSchema) -> Result<u32, CodecError> {
        let encoder = AvroEncoder::new(self.settings.clone());
        let strategy = value_strategy(topic, schema);
        let subject = subject_of(&strategy);
        encoder
            .get_schema_and_id(&subject, strategy)
            .await
            .map(|s| s.id)
            .map_err(|e| classify(e, Lookup::Subject(subject)))
    }
}

/// Writes records of one type into one topic.
pub struct Encoder<T> {
    registrar: AvroEncoder,
    strategy: SubjectNameStrategy,
    subject: String,
    schema: &'static RecordSchema,
    writer: GenericDatumWriter<'static>,
    id: OnceLock<u32>,
    /// The type's own writer, when the schema is its own (see [`Record::write_own`]).
    own: Option<fn(&T, &mut Vec<u8>) -> bool>,
    _record: PhantomData<fn(&T)>,
}

impl<T: serde::Serialize> Encoder<T> {
    fn new(registry: &Registry, topic: &str, schema: &'static RecordSchema) -> Self {
        let strategy = value_strategy(topic, schema);
        Self {
            registrar: AvroEncoder::new(registry.settings.clone()),
            subject: subject_of(&strategy),
            strategy,
            schema,
            writer: GenericDatumWriter::builder(schema.parsed())
                .build()
                .expect("a parsed record schema resolves"),
            id: OnceLock::new(),
            own: None,
            _record: PhantomData,
        }
    }

    /// The schema id, registering the schema on the first call.
    pub async fn schema_id(&self) -> Result<u32, CodecError> {
        if let Some(id) = self.id.get() {
            return Ok(*id);
        }
        let registered = self
            .registrar
            .get_schema_and_id(&self.subject, self.strategy.clone())
            .await
            .map_err(|e| {
                self.registrar.remove_errors_from_cache();
                classify(e, Lookup::Subject(self.subject.clone()))
            })?;
        Ok(*self.id.get_or_init(|| registered.id))
    }

    /// Encodes one record as a framed message.
    pub async fn encode(&self, record: &T) -> Result<Vec<u8>, CodecError> {
        let id = self.schema_id().await?;
        self.encode_with_id(id, record)
    }

    /// Encodes with an id already obtained from [`Encoder::schema_id`]: no registry call.
    pub fn encode_with_id(&self, id: u32, record: &T) -> Result<Vec<u8>, CodecError> {
        let mut out = Vec::with_capacity(256);
        self.encode_into(id, record, &mut out)?;
        Ok(out)
    }

    /// [`Self::encode_with_id`] appending the framed message to `out`, which is left as it
    /// was if encoding fails.
    pub fn encode_into(&self, id: u32, record: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
        let start = out.len();
        frame(id, out);
        if self.own.is_some_and(|write| write(record, out)) {
            return Ok(());
        }
        let written = self.writer.write_ser(out, record);
        self.written(written, start, out)
    }

    /// `written`'s error in the codec's terms, with `out` cut back to `start`.
    fn written<R, E: std::fmt::Display>(
        &self,
        written: Result<R, E>,
        start: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        written.map(|_| ()).map_err(|e| {
            out.truncate(start);
            CodecError::Encode {
                schema: self.schema.full_name().to_owned(),
                reason: e.to_string(),
            }
        })
    }

    /// Encodes a generic Avro value, validated against the writer schema: for tools that
    /// handle records without their Rust type (replays, schema migrations, tests).
    pub async fn encode_value(&self, value: &Value) -> Result<Vec<u8>, CodecError> {
        let id = self.schema_id().await?;
        let mut out = Vec::with_capacity(256);
        frame(id, &mut out);
        let written = self.writer.write_value_ref(&mut out, value);
        self.written(written, 0, &mut out)?;
        Ok(out)
    }
}

impl Encoder<EnrichedDecision> {
    /// Encodes `enriched` by copying `decision_body`, its decision's Avro body written with the
    /// decision schema the enriched schema embeds (see [`Decoder::own_schema_body`]), and
    /// encoding only the fields after it: an Avro record is its fields' encodings one after
    /// another. An encoder with another writer schema encodes the whole record.
    pub async fn encode_around(
        &self,
        decision_body: &[u8],
        enriched: &EnrichedDecision,
    ) -> Result<Vec<u8>, CodecError> {
        let id = self.schema_id().await?;
        self.encode_around_with_id(id, decision_body, enriched)
    }

    /// [`Self::encode_around`] with an id already obtained: no registry call.
    pub fn encode_around_with_id(
        &self,
        id: u32,
        decision_body: &[u8],
        enriched: &EnrichedDecision,
    ) -> Result<Vec<u8>, CodecError> {
        let mut out = Vec::with_capacity(WIRE_HEADER_LEN + decision_body.len() + 128);
        self.encode_around_into(id, decision_body, enriched, &mut out)?;
        Ok(out)
    }

    /// [`Self::encode_around_with_id`] appending the framed message to `out`, which is left as
    /// it was if encoding fails.
    pub fn encode_around_into(
        &self,
        id: u32,
        decision_body: &[u8],
        enriched: &EnrichedDecision,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        if !std::ptr::eq(self.schema, EnrichedDecision::schema()) {
            return self.encode_into(id, enriched, out);
        }
        self.encode_tail_into(
            id,
            decision_body,
            &enriched.policy_change,
            enriched.join_status,
            out,
        )
    }

    /// Whether this encoder writes the enriched schema that embeds the decision schema, so
    /// [`Self::encode_tail_into`] can make its records.
    pub fn embeds_decision_body(&self) -> bool {
        std::ptr::eq(self.schema, EnrichedDecision::schema())
    }

    /// Appends the framed enriched record made of `decision_body` (as in
    /// [`Self::encode_around_into`]) and the fields after it, without the decoded decision;
    /// `out` is left as it was if encoding fails. Only for an encoder that
    /// [`Self::embeds_decision_body`].
    pub fn encode_tail_into(
        &self,
        id: u32,
        decision_body: &[u8],
        policy_change: &Option<PolicyChange>,
        join_status: JoinStatus,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        debug_assert!(self.embeds_decision_body());
        frame(id, out);
        out.extend_from_slice(decision_body);
        crate::own::write_enriched_tail(policy_change.as_ref(), join_status, out);
        Ok(())
    }
}

impl Decoder<Decision> {
    /// What a join needs of a framed decision ([`DecisionKeys`]) and its Avro body, read
    /// without decoding the rest, when it was written with this decoder's own schema (as
    /// decoded before); `None` otherwise (the caller then decodes it whole).
    pub fn keys_cached<'a>(
        &self,
        bytes: &'a [u8],
    ) -> Option<Result<(DecisionKeys<'a>, &'a [u8]), CodecError>> {
        let (id, body) = split_frame(bytes).ok()?;
        if !self.reads_directly(id) {
            return None;
        }
        Some(
            decision_keys(body)
                .map(|keys| (keys, body))
                .map_err(|reason| CodecError::Malformed { id, reason }),
        )
    }
}

/// How data written with one schema id is read.
#[derive(Clone)]
enum Plan {
    /// The writer schema is the reader's: deserialize straight into the type.
    Direct,
    /// Decode with the writer schema, resolve against the reader's, then convert.
    Resolve(Arc<AvroSchema>),
}

/// Reads records of one type, whatever compatible schema they were written with.
pub struct Decoder<T> {
    lookups: Arc<AvroDecoder>,
    plans: RwLock<HashMap<u32, Plan>>,
    same_schema: GenericDatumReader<'static>,
    _record: PhantomData<fn() -> T>,
}

impl<T: Record> Decoder<T> {
    /// Decodes one framed message.
    pub async fn decode(&self, bytes: &[u8]) -> Result<T, CodecError> {
        let (id, body) = split_frame(bytes)?;
        match self.plan(id).await? {
            Plan::Direct => self.read_direct(id, body),
            Plan::Resolve(writer) => {
                let value = read_with_writer(id, &writer.parsed, body)?;
                let resolved = resolve(id, value, T::schema())?;
                apache_avro::from_value(&resolved).map_err(|e| mismatch::<T>(id, e))
            }
        }
    }

    /// Decodes one framed message without waiting: `None` when its schema id was not seen
    /// yet (the caller then takes [`Self::decode`], which asks the registry).
    pub fn decode_cached(&self, bytes: &[u8]) -> Option<Result<T, CodecError>> {
        let (id, body) = match split_frame(bytes) {
            Ok(frame) => frame,
            Err(e) => return Some(Err(e.into())),
        };
        let plan = self
            .plans
            .read()
            .expect("plan cache lock")
            .get(&id)
            .cloned()?;
        Some(match plan {
            Plan::Direct => self.read_direct(id, body),
            Plan::Resolve(writer) => read_with_writer(id, &writer.parsed, body)
                .and_then(|value| resolve(id, value, T::schema()))
                .and_then(|resolved| {
                    apache_avro::from_value(&resolved).map_err(|e| mismatch::<T>(id, e))
                }),
        })
    }

    /// The Avro body of a framed message when it was written with this decoder's own schema
    /// (as decoded before): such bytes may be copied into a record that embeds `T`.
    pub fn own_schema_body<'a>(&self, bytes: &'a [u8]) -> Option<&'a [u8]> {
        let (id, body) = split_frame(bytes).ok()?;
        self.reads_directly(id).then_some(body)
    }

    /// Whether data written with schema `id` is known to be in this decoder's own schema.
    fn reads_directly(&self, id: u32) -> bool {
        let plans = self.plans.read().expect("plan cache lock");
        matches!(plans.get(&id), Some(Plan::Direct))
    }

    fn read_direct(&self, id: u32, body: &[u8]) -> Result<T, CodecError> {
        if let Some(read) = T::read_own(body) {
            return read.map_err(|reason| CodecError::Malformed { id, reason });
        }
        let mut cursor = Cursor::new(body);
        let record = self
            .same_schema
            .read_deser::<T>(&mut cursor)
            .map_err(|e| malformed(id, e))?;
        ensure_consumed(id, &cursor)?;
        Ok(record)
    }

    async fn plan(&self, id: u32) -> Result<Plan, CodecError> {
        if let Some(plan) = self.plans.read().expect("plan cache lock").get(&id) {
            return Ok(plan.clone());
        }
        let writer = writer_schema(&self.lookups, id).await?;
        let plan = if writer.parsed.canonical_form() == T::schema().parsed().canonical_form() {
            Plan::Direct
        } else {
            Plan::Resolve(writer)
        };
        self.plans
            .write()
            .expect("plan cache lock")
            .insert(id, plan.clone());
        Ok(plan)
    }
}

pub(crate) fn reader_for(schema: &'static Schema) -> GenericDatumReader<'static> {
    GenericDatumReader::builder(schema)
        .build()
        .expect("a parsed record schema resolves")
}

fn value_strategy(topic: &str, schema: &RecordSchema) -> SubjectNameStrategy {
    let supplied = SuppliedSchema::new(
        Some(schema.full_name().to_owned()),
        SchemaType::Avro,
        schema.json().to_owned(),
    );
    SubjectNameStrategy::TopicNameStrategyWithSchema(topic.to_owned(), false, supplied)
}

fn subject_of(strategy: &SubjectNameStrategy) -> String {
    strategy
        .get_subject()
        .expect("the topic-name strategy always names a subject")
}

/// The writer schema of `id`. Failures are never remembered: the converter would cache a
/// non-retryable answer (even a server error) for the life of the process, turning every later
/// record with that id into a dead letter.
async fn writer_schema(lookups: &AvroDecoder, id: u32) -> Result<Arc<AvroSchema>, CodecError> {
    lookups.get_schema(id).await.map_err(|e| {
        lookups.remove_errors_from_cache();
        classify(e, Lookup::Id(id))
    })
}

fn read_with_writer(id: u32, writer: &Schema, body: &[u8]) -> Result<Value, CodecError> {
    let mut cursor = Cursor::new(body);
    let value = GenericDatumReader::builder(writer)
        .build()
        .and_then(|r| r.read_value(&mut cursor))
        .map_err(|e| malformed(id, e))?;
    ensure_consumed(id, &cursor)?;
    Ok(value)
}

fn resolve(id: u32, value: Value, reader: &RecordSchema) -> Result<Value, CodecError> {
    value
        .resolve(reader.parsed())
        .map_err(|e| CodecError::SchemaMismatch {
            id,
            reader: reader.full_name().to_owned(),
            reason: e.to_string(),
        })
}

fn ensure_consumed(id: u32, cursor: &Cursor<&[u8]>) -> Result<(), CodecError> {
    let left = cursor.get_ref().len() as u64 - cursor.position();
    if left == 0 {
        return Ok(());
    }
    Err(CodecError::Malformed {
        id,
        reason: format!("{left} bytes left after the record"),
    })
}

fn malformed(id: u32, e: apache_avro::Error) -> CodecError {
    CodecError::Malformed {
        id,
        reason: e.to_string(),
    }
}

fn mismatch<T: Record>(id: u32, e: apache_avro::Error) -> CodecError {
    CodecError::SchemaMismatch {
        id,
        reader: T::schema().full_name().to_owned(),
        reason: e.to_string(),
    }
}

/// What a registry call was looking for, to name it in the error.
enum Lookup {
    Id(u32),
    Subject(String),
}

/// Error codes of the Confluent registry API (Apicurio's compatibility API uses the same).
/// HTTP 404 and the registry's 404xx codes.
const NOT_FOUND_CODES: [std::ops::RangeInclusive<u32>; 2] = [404..=404, 40400..=40499];
/// HTTP 409 (incompatible) and the 422xx codes (invalid schema).
const REJECTED_CODES: [std::ops::RangeInclusive<u32>; 2] = [409..=409, 42200..=42299];
/// HTTP 5xx and the registry's 500xx codes.
const SERVER_ERROR_CODES: [std::ops::RangeInclusive<u32>; 2] = [500..=599, 50000..=59999];

fn registry_error_code(e: &SRCError) -> Option<u32> {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(raw) = s.downcast_ref::<RawError>() {
            return Some(raw.error_code);
        }
        source = s.source();
    }
    None
}

/// Sorts a registry failure into the data's fault (dead-letter) or the registry's (retry).
fn classify(e: SRCError, lookup: Lookup) -> CodecError {
    let reason = e.to_string();
    let code = registry_error_code(&e);
    let is = |codes: &[std::ops::RangeInclusive<u32>]| {
        code.is_some_and(|c| codes.iter().any(|r| r.contains(&c)))
    };
    let not_found = is(&NOT_FOUND_CODES);
    let rejected = is(&REJECTED_CODES);
    let unavailable = e.retriable || is(&SERVER_ERROR_CODES);
    match lookup {
        Lookup::Id(id) if not_found => CodecError::UnknownSchema { id, reason },
        Lookup::Subject(subject) if rejected => CodecError::SchemaRejected { subject, reason },
        _ if unavailable => CodecError::RegistryUnavailable { reason },
        // The registry answered, but what it holds under the id is no usable Avro schema.
        Lookup::Id(id) if code.is_none() => CodecError::UnknownSchema { id, reason },
        _ => CodecError::Registry { reason },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samples;

    /// Splicing the decision's bytes gives exactly the bytes of encoding the whole record, for
    /// every join status, with and without a policy change.
    #[test]
    fn an_enriched_decision_around_its_decision_bytes_is_the_whole_encoding() {
        let registry = Registry::new(&RegistryConfig::new("http://127.0.0.1:9")).unwrap();
        let decisions = registry.encoder::<crate::Decision>("d");
        let enriched = registry.encoder::<EnrichedDecision>("e");
        let mut record = samples::enriched();
        let framed = decisions.encode_with_id(3, &record.decision).unwrap();
        let body = &framed[WIRE_HEADER_LEN..];
        let statuses = [
            JoinStatus::Joined,
            JoinStatus::NoRecentEdit,
            JoinStatus::NoPolicy,
            JoinStatus::Late,
        ];
        for change in [record.policy_change.clone(), None] {
            for status in statuses {
                record.policy_change = change.clone();
                record.join_status = status;
                assert_eq!(
                    enriched.encode_around_with_id(9, body, &record).unwrap(),
                    enriched.encode_with_id(9, &record).unwrap(),
                    "{status:?} with a change: {}",
                    change.is_some()
                );
            }
        }
    }

    /// An encoder writing another enriched schema (here a copy of the current one, as an older
    /// or newer version would be) does not splice.
    #[test]
    fn another_writer_schema_encodes_the_whole_record() {
        let registry = Registry::new(&RegistryConfig::new("http://127.0.0.1:9")).unwrap();
        let copy = RecordSchema::parse(EnrichedDecision::schema().json()).unwrap();
        let other =
            registry.encoder_with_schema::<EnrichedDecision>("e", Box::leak(Box::new(copy)));
        let record = samples::enriched();
        let spliced = other.encode_around_with_id(9, b"not a decision", &record);
        assert_eq!(spliced.unwrap(), other.encode_with_id(9, &record).unwrap());
    }
}
