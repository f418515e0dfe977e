//! Builders for readers and writers: the constructor arguments of Python's
//! `MessageReader(...)` / `MessageWriter(...)`.

use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{ConfigSource, Map, Value};
use crate::consistency::Consistency;
use crate::error::Result;
use crate::value_type::{Deserializer, Payload, Serializer, ValueType};

/// Marks a builder of readers.
#[derive(Debug, Clone, Copy)]
pub enum ForReader {}
/// Marks a builder of writers.
#[derive(Debug, Clone, Copy)]
pub enum ForWriter {}

/// Builds a [`crate::MessageReader`] or [`crate::MessageWriter`].
///
/// Every setter is a constructor argument: it wins over the config file.
pub struct Builder<K> {
    pub(crate) service: Option<String>,
    pub(crate) source: ConfigSource,
    pub(crate) args: Map,
    pub(crate) serializer: Option<Serializer>,
    pub(crate) deserializer: Option<Deserializer>,
    _kind: PhantomData<K>,
}

/// A builder of readers.
pub type ReaderBuilder = Builder<ForReader>;
/// A builder of writers.
pub type WriterBuilder = Builder<ForWriter>;

impl<K> std::fmt::Debug for Builder<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("service", &self.service)
            .field("source", &self.source)
            .field("args", &self.args)
            .field("serializer", &self.serializer.is_some())
            .field("deserializer", &self.deserializer.is_some())
            .finish()
    }
}

impl<K> Builder<K> {
    pub(crate) fn new(service: Option<String>) -> Self {
        Builder {
            service,
            source: ConfigSource::Search,
            args: Map::new(),
            serializer: None,
            deserializer: None,
            _kind: PhantomData,
        }
    }

    /// Reads this config file instead of searching the usual places.
    pub fn config_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.source = ConfigSource::File(path.into());
        self
    }

    /// Uses this YAML text as the config file.
    pub fn config_text(mut self, yaml: impl Into<String>) -> Self {
        self.source = ConfigSource::Text(yaml.into());
        self
    }

    /// Reads no config file: every parameter (`type`, `brokers` ...) comes from [`Self::param`].
    pub fn no_config(mut self) -> Self {
        self.source = ConfigSource::None;
        self
    }

    /// Where the configuration comes from.
    pub fn config_source(mut self, source: ConfigSource) -> Self {
        self.source = source;
        self
    }

    /// The delivery guarantee.
    pub fn consistency(mut self, c: Consistency) -> Self {
        self.args.insert("consistency", c);
        self
    }

    /// The client id; empty means "generate one".
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.args.insert("client_id", id.into());
        self
    }

    /// The value type.
    pub fn value_type(mut self, t: ValueType) -> Self {
        self.args.insert("value_type", t.as_str());
        self
    }

    /// Any other parameter (common or backend-specific), as in the config file.
    /// Maps merge with the file's (so `param("tls", map)` adds to the file's `tls`).
    pub fn param(mut self, key: &str, value: impl Into<Value>) -> Self {
        let mut one = Map::new();
        one.insert(key, value.into());
        self.args.merge_from(&one);
        self
    }

    /// Several parameters at once.
    pub fn params(mut self, params: &Map) -> Self {
        self.args.merge_from(params);
        self
    }

    /// One topic.
    pub fn topic(mut self, topic: impl Into<String>) -> Self {
        self.args.insert("topic", topic.into());
        self.args.remove("topics");
        self
    }
}

impl Builder<ForReader> {
    /// Several topics to subscribe to.
    pub fn topics<I, S>(mut self, topics: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let list: Vec<Value> = topics.into_iter().map(|t| Value::Str(t.into())).collect();
        self.args.insert("topics", Value::Seq(list));
        self.args.remove("topic");
        self
    }

    /// How long to wait for a message before the reader ends (default: forever).
    pub fn receive_timeout(mut self, t: Duration) -> Self {
        self.args.insert(
            "receive_timeout_ms",
            Value::Int(i64::try_from(t.as_millis()).unwrap_or(i64::MAX)),
        );
        self
    }

    /// [`Self::receive_timeout`] in milliseconds.
    pub fn receive_timeout_ms(self, ms: u64) -> Self {
        self.receive_timeout(Duration::from_millis(ms))
    }

    /// Turns received bytes into values; wins over any value type.
    pub fn value_deserializer<F>(mut self, f: F) -> Self
    where
        F: Fn(Vec<u8>) -> Result<Payload> + Send + Sync + 'static,
    {
        self.deserializer = Some(Arc::new(f));
        self
    }

    /// Loads the config and checks every argument: Python's `MessageReader(...)`.
    pub fn build(self) -> Result<crate::MessageReader> {
        crate::reader::MessageReader::from_builder(self)
    }
}

impl Builder<ForWriter> {
    /// Turns published values into bytes; wins over any value type.
    pub fn value_serializer<F>(mut self, f: F) -> Self
    where
        F: Fn(&Payload) -> Result<Vec<u8>> + Send + Sync + 'static,
    {
        self.serializer = Some(Arc::new(f));
        self
    }

    /// Loads the config and checks every argument: Python's `MessageWriter(...)`.
    pub fn build(self) -> Result<crate::MessageWriter> {
        crate::writer::MessageWriter::from_builder(self)
    }
}
