//! Writers: [`MessageWriter`] (built, not connected), [`Writer`] (blocking) and [`AsyncWriter`].

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};

use crate::backend::{OpenContext, OutgoingMessage, WriterBackend};
use crate::builder::WriterBuilder;
use crate::config::{ServiceConfig, Value};
use crate::consistency::Consistency;
use crate::error::{Error, Result};
use crate::metrics::{Metrics, OwnedMetrics};
use crate::setup::{OpenGuard, Setup, topic_list};
use crate::value_type::{Payload, Serializer, ValueType};
use crate::wire::Codec;

/// Payloads up to this size (before compression and encryption) go through the shared encode
/// buffer, when the backend allows one.
const POOLED_MAX: usize = 4096;

/// The allocation size of the shared encode buffer.
const POOL_CHUNK: usize = 64 * 1024;

/// A writer of one service: Python's `MessageWriter`, built but not yet connected.
///
/// ```
/// # fn main() -> sinetstream::Result<()> {
/// # let cfg = "service-2:\n  type: memory\n  brokers: doc-writer\n";
/// use sinetstream::MessageWriter;
/// let writer = MessageWriter::builder("service-2")
/// #   .config_text(cfg)
///     .topic("topic-002")
///     .build()?;
/// let mut w = writer.open()?;
/// w.publish(b"test message 001")?;
/// w.publish(b"test message 002")?;
/// # Ok(()) }
/// ```
pub struct MessageWriter {
    setup: Setup,
    topic: String,
    serializer: Option<Serializer>,
}

impl std::fmt::Debug for MessageWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageWriter")
            .field("setup", &self.setup)
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl MessageWriter {
    /// A writer to `topic` on `service`, with everything else from the config file.
    pub fn new(service: &str, topic: &str) -> Result<MessageWriter> {
        Self::builder(service).topic(topic).build()
    }

    /// Starts building a writer of `service`.
    pub fn builder(service: impl Into<String>) -> WriterBuilder {
        WriterBuilder::new(Some(service.into()))
    }

    /// Starts building a writer of the config file's only service.
    pub fn builder_default_service() -> WriterBuilder {
        WriterBuilder::new(None)
    }

    pub(crate) fn from_builder(b: WriterBuilder) -> Result<MessageWriter> {
        let setup = Setup::new(b.service.as_deref(), &b.source, &b.args, false)?;
        let service = setup.config.service().to_owned();
        let p = setup.config.common();
        let topic = match p.raw("topic").filter(|v| !matches!(v, Value::Null)) {
            None => {
                return Err(Error::InvalidArgument(format!(
                    "service {service:?}: no topic to write to"
                )));
            }
            Some(v) => {
                let mut list = topic_list(&service, "topic", v)?;
                if list.len() != 1 {
                    return Err(Error::InvalidArgument(format!(
                        "service {service:?}: a writer takes exactly one topic, got {}",
                        list.len()
                    )));
                }
                list.remove(0)
            }
        };
        Ok(MessageWriter {
            setup,
            topic,
            serializer: b.serializer,
        })
    }

    /// Connects and returns a blocking writer.
    ///
    /// A second `open` while a handle is alive is an AlreadyConnectedError.
    pub fn open(&self) -> Result<Writer> {
        crate::runtime::block_on(self.open_async())?.map(|inner| Writer { inner })
    }

    /// Connects and returns an async writer.
    pub async fn open_async(&self) -> Result<AsyncWriter> {
        let guard = self.setup.claim_open()?;
        let topics = [self.topic.clone()];
        let ctx = OpenContext {
            config: &self.setup.config,
            topics: &topics,
            consistency: self.setup.consistency,
            client_id: &self.setup.client_id,
            client_id_generated: self.setup.client_id_generated,
            receive_timeout: None,
        };
        let backend = self.setup.backend.open_writer(&ctx).await?;
        Ok(AsyncWriter {
            topic: Arc::from(self.topic.as_str()),
            codec: self.setup.codec.clone(),
            value_type: self.setup.value_type,
            serializer: self.serializer.clone(),
            metrics: OwnedMetrics::default(),
            pool: backend
                .pooled_payloads()
                .then(|| BytesMut::with_capacity(POOL_CHUNK)),
            backend: Some(backend),
            config: self.setup.config.clone(),
            consistency: self.setup.consistency,
            client_id: self.setup.client_id.clone(),
            backend_type: self.setup.backend_type.clone(),
            _guard: guard,
        })
    }

    /// The service name.
    pub fn service(&self) -> &str {
        self.setup.config.service()
    }
    /// The topic written to.
    pub fn topic(&self) -> &str {
        &self.topic
    }
    /// The delivery guarantee.
    pub fn consistency(&self) -> Consistency {
        self.setup.consistency
    }
    /// The client id (generated if none was given).
    pub fn client_id(&self) -> &str {
        &self.setup.client_id
    }
    /// The value type.
    pub fn value_type(&self) -> ValueType {
        self.setup.value_type
    }
    /// The service's merged parameters.
    pub fn config(&self) -> &ServiceConfig {
        &self.setup.config
    }
}

/// A connected writer for async code.
pub struct AsyncWriter {
    // None once closed.
    backend: Option<Box<dyn WriterBackend>>,
    // Shared with every OutgoingMessage: no copy of the name per message.
    topic: Arc<str>,
    codec: Arc<Codec>,
    value_type: ValueType,
    serializer: Option<Serializer>,
    // Updated through `&mut self` only: no lock per message.
    metrics: OwnedMetrics,
    // When the backend allows it, small messages are encoded one after another into this
    // buffer and sent as slices of it: one allocation per POOL_CHUNK rather than per message
    // (and no per-message free on the backend's threads).
    pool: Option<BytesMut>,
    // Also keeps the `*_data` temp files alive as long as this handle.
    config: Arc<ServiceConfig>,
    consistency: Consistency,
    client_id: String,
    backend_type: String,
    _guard: OpenGuard,
}

impl std::fmt::Debug for AsyncWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncWriter")
            .field("service", &self.config.service())
            .field("topic", &self.topic)
            .field("consistency", &self.consistency)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl AsyncWriter {
    /// Publishes `value`, stamped now.
    pub async fn publish(&mut self, value: impl Into<Payload>) -> Result<()> {
        let now = now_us();
        self.publish_counted(value.into(), now, Some(now)).await
    }

    /// Publishes `value` with the given timestamp (µs since the epoch).
    pub async fn publish_with_timestamp(
        &mut self,
        value: impl Into<Payload>,
        timestamp_us: i64,
    ) -> Result<()> {
        self.publish_counted(value.into(), timestamp_us, None).await
    }

    async fn publish_counted(
        &mut self,
        value: Payload,
        timestamp_us: i64,
        now_us: Option<i64>,
    ) -> Result<()> {
        let r = self.publish_inner(value, timestamp_us, now_us).await;
        if r.is_err() {
            self.metrics.update_err();
        }
        r
    }

    /// `now_us`: the clock as read for the stamp, if the stamp is now (else metrics read it).
    async fn publish_inner(
        &mut self,
        value: Payload,
        timestamp_us: i64,
        now_us: Option<i64>,
    ) -> Result<()> {
        let bytes = match &self.serializer {
            Some(f) => std::borrow::Cow::Owned(f(&value)?),
            None => self.value_type.serialize_ref(&value)?,
        };
        let (encoded, sizes) = match &mut self.pool {
            Some(pool) if bytes.len() <= POOLED_MAX => {
                // The pool is empty between messages; a failed encoding leaves nothing in it.
                let sizes = self
                    .codec
                    .encode_into(&bytes, timestamp_us, pool)
                    .inspect_err(|_| pool.clear())?;
                (pool.split().freeze(), sizes)
            }
            _ => {
                let (v, sizes) = self.codec.encode_measured(&bytes, timestamp_us)?;
                (Bytes::from(v), sizes)
            }
        };
        let backend = self.backend.as_mut().ok_or_else(|| {
            Error::connection(format!(
                "service {:?}: the writer is closed",
                self.config.service()
            ))
        })?;
        let msg = OutgoingMessage::new(self.topic.clone(), encoded, timestamp_us);
        // Most messages are queued without waiting: no publish future (a boxed one) for them.
        if let Some(msg) = backend.try_publish(msg)? {
            backend.publish(msg).await?;
        }
        match now_us {
            Some(t) => {
                self.metrics
                    .update_at(sizes.wire, sizes.compressed, sizes.payload, t as f64 / 1e6)
            }
            None => self
                .metrics
                .update(sizes.wire, sizes.compressed, sizes.payload),
        }
        Ok(())
    }

    /// Waits until everything published so far is delivered as the consistency asks.
    pub async fn flush(&mut self) -> Result<()> {
        match self.backend.as_mut() {
            Some(b) => b.flush().await,
            None => Ok(()),
        }
    }

    /// Flushes and disconnects (also done on drop, best effort).
    pub async fn close(mut self) -> Result<()> {
        match self.backend.take() {
            Some(mut b) => b.close().await,
            None => Ok(()),
        }
    }

    /// Counters since open (or the last reset).
    pub fn metrics(&self) -> Metrics {
        let mut m = self.metrics.snapshot();
        m.raw = self.backend.as_ref().and_then(|b| b.metrics());
        m
    }

    /// Starts the counters again.
    pub fn reset_metrics(&self) {
        self.metrics.reset();
    }

    /// The service name.
    pub fn service(&self) -> &str {
        self.config.service()
    }
    /// The topic written to.
    pub fn topic(&self) -> &str {
        &self.topic
    }
    /// The delivery guarantee.
    pub fn consistency(&self) -> Consistency {
        self.consistency
    }
    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }
    /// The value type.
    pub fn value_type(&self) -> ValueType {
        self.value_type
    }
    /// The service `type`.
    pub fn backend_type(&self) -> &str {
        &self.backend_type
    }
}

impl Drop for AsyncWriter {
    fn drop(&mut self) {
        if let Some(mut b) = self.backend.take() {
            if let Ok(h) = tokio::runtime::Handle::try_current() {
                h.spawn(async move {
                    if let Err(e) = b.close().await {
                        tracing::warn!("closing writer on drop: {e}");
                    }
                });
            } else {
                tracing::debug!("writer dropped outside a runtime: not flushed");
            }
        }
    }
}

/// A connected blocking writer.
#[derive(Debug)]
pub struct Writer {
    inner: AsyncWriter,
}

impl Writer {
    /// Publishes `value`, stamped now.
    pub fn publish(&mut self, value: impl Into<Payload>) -> Result<()> {
        let v = value.into();
        crate::runtime::block_on(self.inner.publish(v))?
    }

    /// Publishes `value` with the given timestamp (µs since the epoch).
    pub fn publish_with_timestamp(
        &mut self,
        value: impl Into<Payload>,
        timestamp_us: i64,
    ) -> Result<()> {
        let v = value.into();
        crate::runtime::block_on(self.inner.publish_with_timestamp(v, timestamp_us))?
    }

    /// Waits until everything published so far is delivered as the consistency asks.
    pub fn flush(&mut self) -> Result<()> {
        crate::runtime::block_on(self.inner.flush())?
    }

    /// Flushes and disconnects, reporting what failed (drop does the same, logging failures).
    pub fn close(mut self) -> Result<()> {
        self.close_inner()
    }

    fn close_inner(&mut self) -> Result<()> {
        match self.inner.backend.take() {
            Some(mut b) => crate::runtime::block_on(async move { b.close().await })?,
            None => Ok(()),
        }
    }

    /// Counters since open (or the last reset).
    pub fn metrics(&self) -> Metrics {
        self.inner.metrics()
    }

    /// Starts the counters again.
    pub fn reset_metrics(&self) {
        self.inner.reset_metrics()
    }

    /// The service name.
    pub fn service(&self) -> &str {
        self.inner.service()
    }
    /// The topic written to.
    pub fn topic(&self) -> &str {
        self.inner.topic()
    }
    /// The delivery guarantee.
    pub fn consistency(&self) -> Consistency {
        self.inner.consistency()
    }
    /// The client id.
    pub fn client_id(&self) -> &str {
        self.inner.client_id()
    }
    /// The value type.
    pub fn value_type(&self) -> ValueType {
        self.inner.value_type()
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if let Err(e) = self.close_inner() {
            tracing::warn!("closing writer on drop: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use futures::future::BoxFuture;

    use super::*;
    use crate::backend::{Backend, ReaderBackend, register_backend};
    use crate::wire::WireConfig;

    /// What a capturing writer was handed.
    #[derive(Default)]
    struct Captured {
        msgs: Mutex<Vec<OutgoingMessage>>,
        /// Messages that went through `publish` (not `try_publish`).
        slow: Mutex<usize>,
    }

    /// A backend whose writers keep every message; `fast`: queue in `try_publish`.
    struct Capture {
        captured: Arc<Captured>,
        pooled: bool,
        fast: bool,
    }

    struct CaptureWriter {
        captured: Arc<Captured>,
        pooled: bool,
        fast: bool,
    }

    impl Backend for Capture {
        fn open_writer<'a>(
            &'a self,
            _ctx: &'a OpenContext<'a>,
        ) -> BoxFuture<'a, Result<Box<dyn WriterBackend>>> {
            let w = CaptureWriter {
                captured: Arc::clone(&self.captured),
                pooled: self.pooled,
                fast: self.fast,
            };
            Box::pin(async move { Ok(Box::new(w) as Box<dyn WriterBackend>) })
        }

        fn open_reader<'a>(
            &'a self,
            _ctx: &'a OpenContext<'a>,
        ) -> BoxFuture<'a, Result<Box<dyn ReaderBackend>>> {
            Box::pin(async { Err(Error::InvalidArgument("no reader".into())) })
        }
    }

    impl WriterBackend for CaptureWriter {
        fn publish(&mut self, msg: OutgoingMessage) -> BoxFuture<'_, Result<()>> {
            *self.captured.slow.lock().expect("lock") += 1;
            self.captured.msgs.lock().expect("lock").push(msg);
            Box::pin(std::future::ready(Ok(())))
        }

        fn try_publish(&mut self, msg: OutgoingMessage) -> Result<Option<OutgoingMessage>> {
            if !self.fast {
                return Ok(Some(msg));
            }
            self.captured.msgs.lock().expect("lock").push(msg);
            Ok(None)
        }

        fn flush(&mut self) -> BoxFuture<'_, Result<()>> {
            Box::pin(std::future::ready(Ok(())))
        }

        fn close(&mut self) -> BoxFuture<'_, Result<()>> {
            Box::pin(std::future::ready(Ok(())))
        }

        fn pooled_payloads(&self) -> bool {
            self.pooled
        }
    }

    #[test]
    fn wire_bytes_are_the_codec_s_on_every_publish_path() {
        let codec = Codec::new(&WireConfig::default()).expect("codec");
        let sizes = [
            0usize,
            1,
            100,
            1000,
            POOLED_MAX,
            POOLED_MAX + 1,
            POOL_CHUNK + 10,
        ];
        let payloads: Vec<Vec<u8>> = sizes
            .iter()
            .map(|&n| (0..n).map(|i| (i % 251) as u8).collect())
            .collect();
        for (pooled, fast) in [(false, false), (false, true), (true, false), (true, true)] {
            let captured = Arc::new(Captured::default());
            let name = format!("capture-{pooled}-{fast}");
            register_backend(
                &name,
                Arc::new(Capture {
                    captured: Arc::clone(&captured),
                    pooled,
                    fast,
                }),
            );
            let cfg = format!("svc:\n  type: {name}\n  brokers: here\n");
            let mut w = MessageWriter::builder("svc")
                .config_text(cfg)
                .topic("t")
                .build()
                .expect("writer")
                .open()
                .expect("open");
            // Enough small messages to fill several pool chunks, big ones in between.
            let n = 3000;
            let mut expected = Vec::with_capacity(n);
            for i in 0..n {
                let p = &payloads[if i % 100 == 99 {
                    i / 100 % sizes.len()
                } else {
                    i % 3
                }];
                let ts = 1_700_000_000_000_000 + i as i64;
                w.publish_with_timestamp(p.clone(), ts).expect("publish");
                expected.push((codec.encode(p, ts).expect("encode"), ts));
            }
            let m = w.metrics();
            assert_eq!(m.msg_count_total, n as u64);
            assert_eq!(
                m.msg_bytes_total,
                expected.iter().map(|(e, _)| e.len() as u64).sum::<u64>()
            );
            w.close().expect("close");
            let msgs = captured.msgs.lock().expect("lock");
            assert_eq!(msgs.len(), n, "pooled {pooled} fast {fast}");
            for (i, (m, (e, ts))) in msgs.iter().zip(&expected).enumerate() {
                assert_eq!(&m.payload[..], &e[..], "message {i}, pooled {pooled}");
                assert_eq!(m.timestamp_us, *ts);
                assert_eq!(&*m.topic, "t");
            }
            assert_eq!(
                *captured.slow.lock().expect("lock"),
                if fast { 0 } else { n }
            );
            // Pooled: consecutive small messages lie one after another in one buffer.
            let adjacent = msgs.windows(2).filter(|w| {
                w[0].payload.as_ptr_range().end == w[1].payload.as_ptr() && !w[0].payload.is_empty()
            });
            if pooled {
                assert!(adjacent.count() > n / 2, "pooled payloads share buffers");
            }
        }
    }
}
