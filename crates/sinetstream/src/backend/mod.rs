//! Backends: the messaging systems behind the facade, found by the service's `type`.
//!
//! A backend turns a service's merged parameters into a connected reader or writer that moves
//! wire bytes; everything above bytes (value types, compression, encryption, the SINETStream
//! envelope, metrics, timeouts) is done once by the facade. `memory` is always registered,
//! `mqtt` and `kafka` with their cargo features, and third-party types with
//! [`register_backend`].

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, RwLock};
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;

use crate::config::{Map, ServiceConfig};
use crate::consistency::Consistency;
use crate::error::{Error, Result};

#[cfg(feature = "kafka")]
pub mod kafka;
pub mod memory;
#[cfg(feature = "mqtt")]
pub mod mqtt;
#[cfg(any(feature = "mqtt", feature = "kafka"))]
mod tls;

/// What a backend gets to open a reader or writer.
#[derive(Debug)]
#[non_exhaustive]
pub struct OpenContext<'a> {
    /// The service's parameters (common, backend-specific and constructor arguments).
    pub config: &'a ServiceConfig,
    /// The topics: exactly one for a writer, one or more for a reader.
    pub topics: &'a [String],
    /// The delivery guarantee asked for.
    pub consistency: Consistency,
    /// The client id (generated when the user gave none).
    pub client_id: &'a str,
    /// Whether `client_id` was generated (a backend may shorten a generated id to fit its
    /// protocol, as MQTT 3.1's 23-byte limit needs).
    pub client_id_generated: bool,
    /// The reader's receive timeout (None = wait forever); backends may use it for fetch waits.
    pub receive_timeout: Option<Duration>,
}

/// A message to send: wire bytes for one topic.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct OutgoingMessage {
    /// Destination topic (one name shared by all of a writer's messages).
    pub topic: Arc<str>,
    /// The encoded message (SINETStream header, envelope, ...).
    pub payload: Bytes,
    /// The message timestamp in µs since the epoch (some backends also set it on the record).
    pub timestamp_us: i64,
}

impl OutgoingMessage {
    /// A message for `topic`.
    pub fn new(topic: impl Into<Arc<str>>, payload: impl Into<Bytes>, timestamp_us: i64) -> Self {
        OutgoingMessage {
            topic: topic.into(),
            payload: payload.into(),
            timestamp_us,
        }
    }
}

/// A message as the backend received it (Python's `Message.raw`).
#[derive(Clone)]
#[non_exhaustive]
pub struct RawMessage {
    /// The topic it came from (shared, not copied, between the messages of one fetch and
    /// the [`Message`](crate::Message) made from this).
    pub topic: Arc<str>,
    /// The wire bytes.
    pub payload: Bytes,
    /// The broker's timestamp in µs, if the system has one.
    pub timestamp_us: Option<i64>,
    /// Backend-specific details (Kafka partition/offset, MQTT qos/retain ...).
    pub meta: Option<Arc<dyn Any + Send + Sync>>,
}

impl RawMessage {
    /// A received message with no backend details.
    pub fn new(topic: impl Into<Arc<str>>, payload: impl Into<Bytes>) -> Self {
        RawMessage {
            topic: topic.into(),
            payload: payload.into(),
            timestamp_us: None,
            meta: None,
        }
    }

    /// The backend details, if they are of type `T`.
    pub fn meta<T: Any>(&self) -> Option<&T> {
        self.meta.as_ref().and_then(|m| m.downcast_ref::<T>())
    }
}

impl std::fmt::Debug for RawMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawMessage")
            .field("topic", &self.topic)
            .field("payload_len", &self.payload.len())
            .field("timestamp_us", &self.timestamp_us)
            .finish_non_exhaustive()
    }
}

/// A messaging system that can open readers and writers.
pub trait Backend: Send + Sync + 'static {
    /// Connects a writer.
    fn open_writer<'a>(
        &'a self,
        ctx: &'a OpenContext<'a>,
    ) -> BoxFuture<'a, Result<Box<dyn WriterBackend>>>;

    /// Connects a reader subscribed to `ctx.topics`.
    fn open_reader<'a>(
        &'a self,
        ctx: &'a OpenContext<'a>,
    ) -> BoxFuture<'a, Result<Box<dyn ReaderBackend>>>;
}

/// A connected writer.
pub trait WriterBackend: Send + 'static {
    /// Sends (or queues) one message. It may return before the broker acknowledged it; failures
    /// of queued messages are reported by a later call or by [`WriterBackend::flush`].
    fn publish(&mut self, msg: OutgoingMessage) -> BoxFuture<'_, Result<()>>;

    /// Sends (or queues) `msg` as [`publish`] does if that needs no waiting: `Ok(None)` when
    /// it did, `Ok(Some(msg))`, the message given back untouched, when [`publish`] must run
    /// (the default).
    ///
    /// An optional fast path: the writer tries it before creating a `publish` future, which
    /// saves an allocation per message when the backend can queue without waiting.
    ///
    /// [`publish`]: WriterBackend::publish
    fn try_publish(&mut self, msg: OutgoingMessage) -> Result<Option<OutgoingMessage>> {
        Ok(Some(msg))
    }

    /// Waits until every queued message is acknowledged (as the consistency asks).
    fn flush(&mut self) -> BoxFuture<'_, Result<()>>;

    /// Flushes and disconnects.
    fn close(&mut self) -> BoxFuture<'_, Result<()>>;

    /// The backend's own metrics.
    fn metrics(&self) -> Option<Map> {
        None
    }

    /// Whether the writer may encode successive small messages into one shared buffer, each
    /// [`OutgoingMessage::payload`] a slice of it, which saves an allocation per message.
    ///
    /// Only for backends that drop each payload soon after sending it: a payload kept for
    /// long (queued for readers, cached) keeps the whole buffer (64 KiB) alive. The default
    /// is `false`.
    fn pooled_payloads(&self) -> bool {
        false
    }
}

/// A connected reader.
pub trait ReaderBackend: Send + 'static {
    /// The next message; `Ok(None)` when the reader can deliver no more (closed).
    ///
    /// Must be cancellation safe: the facade drops this future on its receive timeout, and no
    /// message may be lost when it does.
    fn recv(&mut self) -> BoxFuture<'_, Result<Option<RawMessage>>>;

    /// A message that is already at hand, without waiting: `None` when [`recv`] must run
    /// (nothing buffered, or the backend has work to do first).
    ///
    /// An optional fast path: the reader tries it before creating a `recv` future, which
    /// saves an allocation and a timer per message when messages arrive in batches.
    ///
    /// [`recv`]: ReaderBackend::recv
    fn try_recv(&mut self) -> Option<Result<Option<RawMessage>>> {
        None
    }

    /// Called when `msg` has been handed to the application (commit tracking for
    /// AT_LEAST_ONCE: only what the application took may be committed).
    fn delivered(&mut self, _msg: &RawMessage) {}

    /// Moves to the oldest available message of every subscribed topic.
    fn seek_to_beginning(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Err(Error::InvalidArgument("this backend cannot seek".into())) })
    }

    /// Moves past the newest message of every subscribed topic.
    fn seek_to_end(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Err(Error::InvalidArgument("this backend cannot seek".into())) })
    }

    /// Commits what was delivered (if the backend commits) and disconnects.
    fn close(&mut self) -> BoxFuture<'_, Result<()>>;

    /// The backend's own metrics.
    fn metrics(&self) -> Option<Map> {
        None
    }
}

type Registry = RwLock<HashMap<String, Arc<dyn Backend>>>;

static REGISTRY: LazyLock<Registry> = LazyLock::new(|| {
    let mut m: HashMap<String, Arc<dyn Backend>> = HashMap::new();
    m.insert("memory".into(), Arc::new(memory::MemoryBackend));
    #[cfg(feature = "mqtt")]
    m.insert("mqtt".into(), Arc::new(mqtt::MqttBackend));
    #[cfg(feature = "kafka")]
    m.insert("kafka".into(), Arc::new(kafka::KafkaBackend));
    RwLock::new(m)
});

/// Registers (or replaces) the backend for service `type` `name`.
///
/// ```
/// use std::sync::Arc;
/// sinetstream::backend::register_backend("memory2", Arc::new(sinetstream::backend::memory::MemoryBackend));
/// assert!(sinetstream::backend::registered_types().contains(&"memory2".to_string()));
/// ```
pub fn register_backend(name: &str, backend: Arc<dyn Backend>) {
    let mut reg = REGISTRY
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    reg.insert(name.to_owned(), backend);
}

/// The service types that have a backend, sorted.
pub fn registered_types() -> Vec<String> {
    let reg = REGISTRY
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut v: Vec<String> = reg.keys().cloned().collect();
    v.sort();
    v
}

/// The backend for `type` `name`, or UnsupportedServiceTypeError.
pub fn find_backend(service: &str, name: &str) -> Result<Arc<dyn Backend>> {
    let reg = REGISTRY
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    reg.get(name).cloned().ok_or_else(|| {
        let mut known: Vec<&str> = reg.keys().map(String::as_str).collect();
        known.sort_unstable();
        Error::UnsupportedServiceType(format!(
            "service {service:?}: type {name:?} has no backend in this build (available: {})",
            known.join(", ")
        ))
    })
}
