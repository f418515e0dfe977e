//! Received messages.

use std::sync::Arc;

use crate::backend::RawMessage;
use crate::value_type::Payload;

/// A message delivered by a reader.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Message {
    /// The value, as the reader's value type or deserializer made it.
    pub value: Payload,
    /// The topic it was published to.
    pub topic: Arc<str>,
    /// When the writer published it, in µs since the epoch (0 when unknown, e.g. `user_data_only`
    /// messages from a backend without timestamps).
    pub timestamp_us: i64,
    /// The message as the backend received it.
    pub raw: RawMessage,
}

impl Message {
    /// The value.
    pub fn value(&self) -> &Payload {
        &self.value
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The timestamp in µs since the epoch.
    pub fn timestamp_us(&self) -> i64 {
        self.timestamp_us
    }

    /// The timestamp in seconds since the epoch (Python's `Message.timestamp`).
    pub fn timestamp(&self) -> f64 {
        self.timestamp_us as f64 / 1e6
    }

    /// The backend's message.
    pub fn raw(&self) -> &RawMessage {
        &self.raw
    }
}
