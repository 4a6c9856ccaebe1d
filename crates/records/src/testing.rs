//! What the tests of the hand-written readers share: Avro bodies written by apache-avro, its
//! generic decoding as the reference answer, a minimal sample, and the edits applied to
//! bodies (every single-byte change, random edits and cuts).

use crate::enriched::{EnrichedDecision, JoinStatus};
use crate::samples;
use crate::schema::Record;

/// The Avro body of `record`, written by apache-avro with the record's schema.
pub(crate) fn body<T: Record>(record: &T) -> Vec<u8> {
    let writer = apache_avro::writer::datum::GenericDatumWriter::builder(T::schema().parsed())
        .build()
        .unwrap();
    let mut out = Vec::new();
    writer.write_ser(&mut out, record).unwrap();
    out
}

/// What the generic decoding makes of `body`: the record when it decodes and nothing is left.
pub(crate) fn generic<T: Record>(body: &[u8]) -> Option<T> {
    let reader = crate::codec::reader_for(T::schema().parsed());
    let mut cursor = std::io::Cursor::new(body);
    let record = reader.read_deser::<T>(&mut cursor).ok()?;
    (cursor.position() as usize == body.len()).then_some(record)
}

/// An enriched decision with no policy, no action, no change and every optional field empty.
pub(crate) fn minimal() -> EnrichedDecision {
    let mut e = samples::enriched();
    let d = &mut e.decision;
    d.policy = None;
    d.actions.clear();
    (d.caller.user, d.caller.team, d.caller.source_ip) = (None, None, None);
    (d.model.routed, d.model.provider) = (None, None);
    e.policy_change = None;
    e.join_status = JoinStatus::NoPolicy;
    e
}

/// Every byte of `body` set in turn to small numbers (enum and union indexes, lengths) and to
/// values that change a varint's length: (position, value, the changed body).
pub(crate) fn single_byte_changes(body: &[u8]) -> impl Iterator<Item = (usize, u8, Vec<u8>)> {
    let values = (0..=20).chain([0x3f, 0x40, 0x7f, 0x80, 0xc0, 0xff]);
    (0..body.len()).flat_map(move |at| {
        values.clone().map(move |v| {
            let mut changed = body.to_vec();
            changed[at] = v;
            (at, v, changed)
        })
    })
}

/// `body` with `edits` (positions taken modulo its length) and then cut at `cut`.
pub(crate) fn edited(
    mut body: Vec<u8>,
    edits: Vec<(proptest::sample::Index, u8)>,
    cut: Option<proptest::sample::Index>,
) -> Vec<u8> {
    for (at, byte) in edits {
        let i = at.index(body.len());
        body[i] = byte;
    }
    if let Some(cut) = cut {
        body.truncate(cut.index(body.len() + 1));
    }
    body
}
