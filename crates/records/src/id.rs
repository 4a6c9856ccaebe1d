//! Event ids: a UUIDv7 string, unique and ordered by creation time, for `event_id` fields.

/// A new event id.
pub fn event_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
