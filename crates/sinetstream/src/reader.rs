//! Readers: [`MessageReader`] (built, not connected), [`Reader`] (blocking, an iterator) and
//! [`AsyncReader`] (a `futures::Stream`).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::{FutureExt as _, Stream, StreamExt as _};
use tokio::sync::Mutex;

use crate::backend::{OpenContext, RawMessage, ReaderBackend};
use crate::builder::ReaderBuilder;
use crate::config::{ServiceConfig, Value};
use crate::consistency::Consistency;
use crate::error::{Error, Result};
use crate::message::Message;
use crate::metrics::{IoMetrics, Metrics};
use crate::setup::{OpenGuard, Setup, receive_timeout, topic_list};
use crate::value_type::{Deserializer, ValueType};
use crate::wire::Codec;

/// A reader of one service: Python's `MessageReader`, built but not yet connected.
///
/// ```
/// # fn main() -> sinetstream::Result<()> {
/// # let cfg = "service-1:\n  type: memory\n  brokers: doc-reader\n";
/// use sinetstream::MessageReader;
/// let reader = MessageReader::builder("service-1")
/// #   .config_text(cfg)
///     .topic("topic-001")
///     .receive_timeout_ms(100)
///     .build()?;
/// for msg in reader.open()? {
///     println!("{:?}", msg?.value);
/// }
/// # Ok(()) }
/// ```
pub struct MessageReader {
    setup: Setup,
    topics: Vec<String>,
    receive_timeout: Option<Duration>,
    deserializer: Option<Deserializer>,
}

impl std::fmt::Debug for MessageReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageReader")
            .field("setup", &self.setup)
            .field("topics", &self.topics)
            .field("receive_timeout", &self.receive_timeout)
            .finish_non_exhaustive()
    }
}

impl MessageReader {
    /// A reader of `topic` on `service`, with everything else from the config file.
    pub fn new(service: &str, topic: &str) -> Result<MessageReader> {
        Self::builder(service).topic(topic).build()
    }

    /// Starts building a reader of `service`.
    pub fn builder(service: impl Into<String>) -> ReaderBuilder {
        ReaderBuilder::new(Some(service.into()))
    }

    /// Starts building a reader of the config file's only service.
    pub fn builder_default_service() -> ReaderBuilder {
        ReaderBuilder::new(None)
    }

    pub(crate) fn from_builder(b: ReaderBuilder) -> Result<MessageReader> {
        let setup = Setup::new(b.service.as_deref(), &b.source, &b.args, true)?;
        let config = &setup.config;
        let service = config.service();
        // Topics: the argument, then `topics`, then `topic` (SINETStream's order). The
        // constructor's own topic(s) come first, whichever key it used, so that
        // `.topic(t)` beats a file's `topics`.
        let find = |p: crate::config::Params<'_>| {
            ["topics", "topic"].into_iter().find_map(move |k| {
                p.raw(k)
                    .filter(|v| !matches!(v, Value::Null))
                    .map(|v| (k, v.clone()))
            })
        };
        let source = find(config.args()).or_else(|| find(config.common()));
        let topics = match source {
            Some((k, v)) => topic_list(service, k, &v)?,
            None => Vec::new(),
        };
        if topics.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "service {service:?}: no topic to read (give topics or topic)"
            )));
        }
        let receive_timeout = receive_timeout(config)?;
        Ok(MessageReader {
            topics,
            receive_timeout,
            deserializer: b.deserializer,
            setup,
        })
    }

    /// Connects and returns a blocking reader (an iterator of messages).
    ///
    /// A second `open` while a handle is alive is an AlreadyConnectedError.
    pub fn open(&self) -> Result<Reader> {
        crate::runtime::block_on(self.open_async())?.map(|inner| Reader { inner })
    }

    /// Connects and returns an async reader (a `futures::Stream` of messages).
    pub async fn open_async(&self) -> Result<AsyncReader> {
        let guard = self.setup.claim_open()?;
        let ctx = OpenContext {
            config: &self.setup.config,
            topics: &self.topics,
            consistency: self.setup.consistency,
            client_id: &self.setup.client_id,
            client_id_generated: self.setup.client_id_generated,
            receive_timeout: self.receive_timeout,
        };
        let backend = self.setup.backend.open_reader(&ctx).await?;
        Ok(AsyncReader {
            backend: Arc::new(Mutex::new(backend)),
            pending: None,
            deadline: None,
            ended: false,
            codec: self.setup.codec.clone(),
            value_type: self.setup.value_type,
            deserializer: self.deserializer.clone(),
            receive_timeout: self.receive_timeout,
            metrics: Arc::new(IoMetrics::default()),
            config: self.setup.config.clone(),
            info: self.info(),
            closed: false,
            _guard: guard,
        })
    }

    fn info(&self) -> Arc<ReaderInfo> {
        Arc::new(ReaderInfo {
            topics: self.topics.clone(),
            consistency: self.setup.consistency,
            client_id: self.setup.client_id.clone(),
            value_type: self.setup.value_type,
            receive_timeout: self.receive_timeout,
            backend_type: self.setup.backend_type.clone(),
        })
    }

    /// The service name.
    pub fn service(&self) -> &str {
        self.setup.config.service()
    }
    /// The topics read.
    pub fn topics(&self) -> &[String] {
        &self.topics
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
    /// The receive timeout (None = forever).
    pub fn receive_timeout(&self) -> Option<Duration> {
        self.receive_timeout
    }
    /// The service's merged parameters.
    pub fn config(&self) -> &ServiceConfig {
        &self.setup.config
    }
}

#[derive(Debug)]
struct ReaderInfo {
    topics: Vec<String>,
    consistency: Consistency,
    client_id: String,
    value_type: ValueType,
    receive_timeout: Option<Duration>,
    backend_type: String,
}

type Shared = Arc<Mutex<Box<dyn ReaderBackend>>>;

/// A connected reader for async code: a `Stream` of `Result<Message>`.
///
/// The stream ends when the receive timeout passes with no message, or when the backend closes.
/// Decoding errors are yielded as `Err` items and the stream goes on.
pub struct AsyncReader {
    backend: Shared,
    pending: Option<BoxFuture<'static, Result<Option<RawMessage>>>>,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    ended: bool,
    codec: Arc<Codec>,
    value_type: ValueType,
    deserializer: Option<Deserializer>,
    receive_timeout: Option<Duration>,
    metrics: Arc<IoMetrics>,
    config: Arc<ServiceConfig>,
    info: Arc<ReaderInfo>,
    // The `*_data` temp files live in `config`, so they last as long as this handle.
    closed: bool,
    _guard: OpenGuard,
}

impl std::fmt::Debug for AsyncReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncReader")
            .field("service", &self.config.service())
            .field("info", &self.info)
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

impl AsyncReader {
    /// The next message; `None` once the reader has ended.
    pub async fn recv(&mut self) -> Option<Result<Message>> {
        self.next().await
    }

    /// Replays every subscribed topic from its oldest message.
    pub async fn seek_to_beginning(&mut self) -> Result<()> {
        // The in-flight receive is cancellation safe; drop it so that the backend is free.
        self.pending = None;
        self.backend.lock().await.seek_to_beginning().await
    }

    /// Skips every message published so far.
    pub async fn seek_to_end(&mut self) -> Result<()> {
        self.pending = None;
        self.backend.lock().await.seek_to_end().await
    }

    /// Disconnects (committing what was delivered, where the backend commits).
    pub async fn close(mut self) -> Result<()> {
        self.pending = None;
        self.ended = true;
        self.closed = true;
        self.backend.lock().await.close().await
    }

    /// Counters since open (or the last reset).
    pub fn metrics(&self) -> Metrics {
        let mut m = self.metrics.snapshot();
        if let Ok(b) = self.backend.try_lock() {
            m.raw = b.metrics();
        }
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
    /// The topics read.
    pub fn topics(&self) -> &[String] {
        &self.info.topics
    }
    /// The delivery guarantee.
    pub fn consistency(&self) -> Consistency {
        self.info.consistency
    }
    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.info.client_id
    }
    /// The value type.
    pub fn value_type(&self) -> ValueType {
        self.info.value_type
    }
    /// The receive timeout (None = forever).
    pub fn receive_timeout(&self) -> Option<Duration> {
        self.info.receive_timeout
    }
    /// The service `type`.
    pub fn backend_type(&self) -> &str {
        &self.info.backend_type
    }

    fn start_recv(&self) -> BoxFuture<'static, Result<Option<RawMessage>>> {
        let backend = self.backend.clone();
        async move {
            let mut b = backend.lock_owned().await;
            let r = b.recv().await;
            if let Ok(Some(m)) = &r {
                // Handed to the application right after this future resolves (same poll).
                b.delivered(m);
            }
            r
        }
        .boxed()
    }

    fn decode(&self, raw: RawMessage) -> Result<Message> {
        let (decoded, sizes) = self.codec.decode_shared(&raw.payload)?;
        self.metrics
            .update(sizes.wire, sizes.compressed, sizes.payload);
        let value = match &self.deserializer {
            Some(f) => f(Vec::from(decoded.payload))?,
            None => self.value_type.deserialize(decoded.payload)?,
        };
        Ok(Message {
            value,
            topic: raw.topic.clone(),
            timestamp_us: decoded.timestamp_us.or(raw.timestamp_us).unwrap_or(0),
            raw,
        })
    }
}

impl AsyncReader {
    /// What a finished receive yields: a decoded message, an error, or the end.
    fn settle(&mut self, r: Result<Option<RawMessage>>) -> Option<Result<Message>> {
        match r {
            Ok(Some(raw)) => {
                let msg = self.decode(raw);
                if msg.is_err() {
                    self.metrics.update_err();
                }
                Some(msg)
            }
            Ok(None) => {
                self.ended = true;
                None
            }
            Err(e) => {
                self.metrics.update_err();
                Some(Err(e))
            }
        }
    }
}

impl Stream for AsyncReader {
    type Item = Result<Message>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.ended {
            return Poll::Ready(None);
        }
        if this.pending.is_none() {
            // Fast path: a message the backend already holds needs no future, lock wait or
            // timer.
            let ready = this.backend.try_lock().ok().and_then(|mut b| {
                let r = b.try_recv()?;
                if let Ok(Some(m)) = &r {
                    b.delivered(m);
                }
                Some(r)
            });
            if let Some(r) = ready {
                return Poll::Ready(this.settle(r));
            }
            this.pending = Some(this.start_recv());
            this.deadline = this
                .receive_timeout
                .map(|t| Box::pin(tokio::time::sleep(t)));
        }
        let Some(pending) = this.pending.as_mut() else {
            return Poll::Ready(None);
        };
        match pending.poll_unpin(cx) {
            Poll::Ready(r) => {
                this.pending = None;
                this.deadline = None;
                Poll::Ready(this.settle(r))
            }
            Poll::Pending => {
                if let Some(d) = this.deadline.as_mut() {
                    if d.as_mut().poll(cx).is_ready() {
                        // Python: once timed out, the reader delivers no more.
                        this.pending = None;
                        this.deadline = None;
                        this.ended = true;
                        return Poll::Ready(None);
                    }
                }
                Poll::Pending
            }
        }
    }
}

impl Drop for AsyncReader {
    fn drop(&mut self) {
        self.pending = None;
        if self.closed {
            return;
        }
        let backend = self.backend.clone();
        // Close in the background where a runtime is at hand; the backend's own Drop covers
        // the rest (sockets close when dropped).
        if let Ok(h) = tokio::runtime::Handle::try_current() {
            h.spawn(async move {
                if let Err(e) = backend.lock().await.close().await {
                    tracing::debug!("closing reader: {e}");
                }
            });
        }
    }
}

/// A connected blocking reader: an iterator of `Result<Message>`.
///
/// Iteration ends when the receive timeout passes with no message.
#[derive(Debug)]
pub struct Reader {
    inner: AsyncReader,
}

impl Reader {
    /// Replays every subscribed topic from its oldest message.
    pub fn seek_to_beginning(&mut self) -> Result<()> {
        crate::runtime::block_on(self.inner.seek_to_beginning())?
    }

    /// Skips every message published so far.
    pub fn seek_to_end(&mut self) -> Result<()> {
        crate::runtime::block_on(self.inner.seek_to_end())?
    }

    /// Disconnects (also done on drop).
    pub fn close(mut self) -> Result<()> {
        self.inner.pending = None;
        self.inner.ended = true;
        self.inner.closed = true;
        let backend = self.inner.backend.clone();
        crate::runtime::block_on(async move { backend.lock().await.close().await })?
    }

    /// Counters since open (or the last reset).
    pub fn metrics(&self) -> Metrics {
        self.inner.metrics()
    }

    /// Starts the counters again.
    pub fn reset_metrics(&self) {
        self.inner.reset_metrics()
    }

    /// The async reader inside.
    pub fn as_async(&mut self) -> &mut AsyncReader {
        &mut self.inner
    }

    /// The service name.
    pub fn service(&self) -> &str {
        self.inner.service()
    }
    /// The topics read.
    pub fn topics(&self) -> &[String] {
        self.inner.topics()
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
    /// The receive timeout (None = forever).
    pub fn receive_timeout(&self) -> Option<Duration> {
        self.inner.receive_timeout()
    }
}

impl Iterator for Reader {
    type Item = Result<Message>;

    fn next(&mut self) -> Option<Self::Item> {
        match crate::runtime::block_on(self.inner.next()) {
            Ok(item) => item,
            Err(e) => Some(Err(e)),
        }
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.inner.pending = None;
        if !self.inner.closed {
            self.inner.closed = true;
            self.inner.ended = true;
            let backend = self.inner.backend.clone();
            let r = crate::runtime::block_on(async move { backend.lock().await.close().await });
            if let Ok(Err(e)) = r {
                tracing::debug!("closing reader: {e}");
            }
        }
    }
}
