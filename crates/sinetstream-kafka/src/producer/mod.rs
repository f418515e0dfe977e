//! The producer: `send` puts records in per-partition batches, a sender
//! task ships them to partition leaders and resolves each record's
//! [`DeliveryFuture`].

mod batch;
mod delivery;
pub(crate) mod idempotence;
pub(crate) mod partitioner;
mod sender;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::cluster::Cluster;
use crate::compression::Compression;
use crate::config::ClientConfig;
use crate::error::{KafkaError, Result};
use crate::records::{BATCH_OVERHEAD, BatchRecord, Header, record_size_bound};
use batch::{Accumulator, TopicPartition};
pub use delivery::DeliveryFuture;

/// How many acknowledgements the leader waits for before answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Acks {
    /// No answer at all: a record counts as delivered once written to the
    /// socket, with offset -1.
    Zero,
    /// The leader has written the record.
    One,
    /// All in-sync replicas have it (`-1` / `all`).
    #[default]
    All,
}

impl Acks {
    fn wire(self) -> i16 {
        match self {
            Acks::Zero => 0,
            Acks::One => 1,
            Acks::All => -1,
        }
    }
}

impl std::str::FromStr for Acks {
    type Err = KafkaError;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "0" => Ok(Acks::Zero),
            "1" => Ok(Acks::One),
            "all" | "-1" => Ok(Acks::All),
            _ => Err(KafkaError::InvalidArgument(format!(
                "acks must be 0, 1 or all, not {s:?}"
            ))),
        }
    }
}

/// Producer settings. Defaults follow the Java client's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerConfig {
    /// Connection settings.
    pub client: ClientConfig,
    /// Acknowledgements to wait for.
    pub acks: Acks,
    /// Idempotence: no duplicates from retries, order kept per partition.
    /// Needs `acks = All` and at most 5 requests in flight.
    pub enable_idempotence: bool,
    /// Batch size in bytes (upper bound of the encoded records).
    pub batch_size: usize,
    /// How long a batch may wait for more records before it is sent.
    pub linger: Duration,
    /// Total bytes of records waiting to be sent; `send` waits when full.
    pub buffer_memory: usize,
    /// How long `send` may wait for metadata and buffer space.
    pub max_block: Duration,
    /// Largest request (and so record) sent.
    pub max_request_size: usize,
    /// Codec for batches.
    pub compression: Compression,
    /// How many times a batch is retried on retriable errors.
    pub retries: u32,
    /// Upper bound on the time from `send` to a delivery result, retries
    /// included.
    pub delivery_timeout: Duration,
    /// Unanswered requests per broker connection.
    pub max_in_flight_requests_per_connection: usize,
}

impl ProducerConfig {
    /// Defaults for `client`.
    pub fn new(client: ClientConfig) -> Self {
        ProducerConfig {
            client,
            acks: Acks::All,
            enable_idempotence: true,
            batch_size: 16 * 1024,
            linger: Duration::from_millis(5),
            buffer_memory: 32 * 1024 * 1024,
            max_block: Duration::from_secs(60),
            max_request_size: 1024 * 1024,
            compression: Compression::None,
            retries: i32::MAX as u32,
            delivery_timeout: Duration::from_secs(120),
            max_in_flight_requests_per_connection: 5,
        }
    }

    /// Checks the settings without connecting.
    pub fn validate(&self) -> Result<()> {
        self.client.validate()?;
        let bad = |m: String| Err(KafkaError::InvalidArgument(m));
        if self.enable_idempotence {
            if self.acks != Acks::All {
                return bad("enable_idempotence requires acks=all".into());
            }
            if !(1..=5).contains(&self.max_in_flight_requests_per_connection) {
                return bad(format!(
                    "enable_idempotence requires max_in_flight_requests_per_connection <= 5 (got {})",
                    self.max_in_flight_requests_per_connection
                ));
            }
            if self.retries == 0 {
                return bad("enable_idempotence requires retries > 0".into());
            }
        }
        if self.max_in_flight_requests_per_connection == 0 {
            return bad("max_in_flight_requests_per_connection must be at least 1".into());
        }
        if self.buffer_memory < 1024 || u32::try_from(self.buffer_memory).is_err() {
            return bad(format!(
                "buffer_memory {} is outside 1 KiB..4 GiB",
                self.buffer_memory
            ));
        }
        if self.max_request_size < 1024 {
            return bad(format!(
                "max_request_size {} is below 1 KiB",
                self.max_request_size
            ));
        }
        if self.delivery_timeout.is_zero() {
            return bad("delivery_timeout must be positive".into());
        }
        Ok(())
    }
}

/// A record to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerRecord {
    /// Topic. An `Arc<str>` so that a caller sending many records to one
    /// topic can share one name among them (clone the `Arc`).
    pub topic: Arc<str>,
    /// Partition; `None` lets the key hash (or, without key, the sticky
    /// partitioner) choose.
    pub partition: Option<i32>,
    /// Key.
    pub key: Option<Bytes>,
    /// Value (`None` is a tombstone).
    pub value: Option<Bytes>,
    /// Headers.
    pub headers: Vec<Header>,
    /// CreateTime in milliseconds since the epoch; `None` for now.
    pub timestamp: Option<i64>,
}

/// A topic name for [`ProducerRecord::new`]: `&str`, `String`, `&String`,
/// or an `Arc<str>` (or `&Arc<str>`), which the records then share instead
/// of each copying the name.
pub trait IntoTopic {
    /// The name as the record keeps it.
    fn into_topic(self) -> Arc<str>;
}

impl IntoTopic for &str {
    fn into_topic(self) -> Arc<str> {
        Arc::from(self)
    }
}

impl IntoTopic for String {
    fn into_topic(self) -> Arc<str> {
        Arc::from(self)
    }
}

impl IntoTopic for &String {
    fn into_topic(self) -> Arc<str> {
        Arc::from(self.as_str())
    }
}

impl IntoTopic for Arc<str> {
    fn into_topic(self) -> Arc<str> {
        self
    }
}

impl IntoTopic for &Arc<str> {
    fn into_topic(self) -> Arc<str> {
        Arc::clone(self)
    }
}

impl ProducerRecord {
    /// A record with a value and nothing else.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use sinetstream_kafka::ProducerRecord;
    ///
    /// let r = ProducerRecord::new("sensors", &b"21.5"[..]);
    /// assert_eq!(&*r.topic, "sensors");
    /// // Many records, one name:
    /// let topic: Arc<str> = Arc::from("sensors");
    /// let rs: Vec<_> = (0..3).map(|i| ProducerRecord::new(&topic, vec![i])).collect();
    /// assert!(Arc::ptr_eq(&rs[0].topic, &rs[2].topic));
    /// ```
    pub fn new(topic: impl IntoTopic, value: impl Into<Bytes>) -> Self {
        ProducerRecord {
            topic: topic.into_topic(),
            partition: None,
            key: None,
            value: Some(value.into()),
            headers: Vec::new(),
            timestamp: None,
        }
    }

    /// Sets the key.
    pub fn with_key(mut self, key: impl Into<Bytes>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Sets the partition.
    pub fn with_partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Adds a header.
    pub fn with_header(mut self, key: impl Into<String>, value: impl Into<Bytes>) -> Self {
        self.headers.push(Header::new(key, value));
        self
    }

    /// Sets the timestamp (ms since the epoch).
    pub fn with_timestamp(mut self, timestamp: i64) -> Self {
        self.timestamp = Some(timestamp);
        self
    }
}

/// Where a record was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    /// Topic (shared by every record of the producer's batches to it).
    pub topic: Arc<str>,
    /// Partition.
    pub partition: i32,
    /// Offset; -1 when unknown (acks=0, or a duplicate whose original
    /// offset the broker no longer knows).
    pub offset: i64,
    /// The record's timestamp (LogAppendTime if the topic uses it).
    pub timestamp: i64,
}

/// What [`Producer::try_enqueue`] did with a record.
enum Enqueued {
    /// Queued (with its delivery future if tracked).
    Queued(Option<DeliveryFuture>),
    /// Not queued: metadata or buffer space must be waited for.
    NotYet(ProducerRecord),
}

/// State shared by the handles and the sender task.
pub(crate) struct Shared {
    pub(crate) cluster: Arc<Cluster>,
    pub(crate) config: ProducerConfig,
    pub(crate) acc: Mutex<Accumulator>,
    memory: Arc<Semaphore>,
    /// Wakes the sender: new batch, full batch, flush, close.
    pub(crate) wake: Notify,
    /// Wakes `flush` waiters when batches complete.
    pub(crate) progress: Notify,
    closed: AtomicBool,
}

impl Shared {
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, Accumulator> {
        // Every critical section leaves the accumulator consistent.
        self.acc.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn begin_close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.lock().closing = true;
        self.wake.notify_one();
    }
}

struct Handle {
    shared: Arc<Shared>,
    sender: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        // The sender finishes what is queued (within delivery_timeout) and
        // exits; nothing is silently dropped while the runtime lives.
        self.shared.begin_close();
    }
}

/// A Kafka producer. Cheap to clone: clones share one sender task.
#[derive(Clone)]
pub struct Producer {
    handle: Arc<Handle>,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field(
                "bootstrap",
                &self.handle.shared.config.client.bootstrap_servers,
            )
            .field("closed", &self.handle.shared.closed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl Producer {
    /// Validates `config`, connects to the cluster and starts the sender.
    pub async fn connect(config: ProducerConfig) -> Result<Producer> {
        config.validate()?;
        let cluster = Cluster::connect(config.client.clone()).await?;
        let shared = Arc::new(Shared {
            cluster,
            memory: Arc::new(Semaphore::new(config.buffer_memory)),
            config,
            acc: Mutex::new(Accumulator::default()),
            wake: Notify::new(),
            progress: Notify::new(),
            closed: AtomicBool::new(false),
        });
        let task = tokio::spawn(sender::Sender::new(Arc::clone(&shared)).run());
        Ok(Producer {
            handle: Arc::new(Handle {
                shared,
                sender: Mutex::new(Some(task)),
            }),
        })
    }

    /// Queues a record. Waits (up to `max_block`) only for the topic's
    /// metadata and for buffer space; the returned future resolves when the
    /// broker has acknowledged the record (or it failed).
    pub async fn send(&self, record: ProducerRecord) -> Result<DeliveryFuture> {
        self.enqueue(record, true)
            .await?
            .ok_or_else(|| KafkaError::Closed("no delivery future for a tracked send".into()))
    }

    /// Queues a record as [`send`](Producer::send) does, without a delivery
    /// future: for callers that learn about failures from
    /// [`flush`](Producer::flush), [`close`](Producer::close) or
    /// [`failed_records`](Producer::failed_records) (a future per record
    /// costs an allocation and a wake-up).
    pub async fn send_untracked(&self, record: ProducerRecord) -> Result<()> {
        self.enqueue(record, false).await.map(drop)
    }

    /// Records whose delivery failed since the producer started.
    pub fn failed_records(&self) -> u64 {
        self.handle.shared.lock().failed_records
    }

    /// The failures since [`failed_records`](Producer::failed_records) was
    /// `since`: the count now, and [`KafkaError::DeliveryFailed`] (how many,
    /// the first error) if there were any.
    pub fn failures_since(&self, since: u64) -> (u64, Result<()>) {
        let acc = self.handle.shared.lock();
        (acc.failed_records, acc.failures_since(since))
    }

    /// Records queued or in flight: neither delivered nor failed yet.
    pub fn pending_records(&self) -> u64 {
        let acc = self.handle.shared.lock();
        acc.appended_records
            .saturating_sub(acc.delivered_records)
            .saturating_sub(acc.failed_records)
    }

    /// Queues a record as [`send_untracked`](Producer::send_untracked) does
    /// when that needs no waiting (the topic's metadata is at hand and the
    /// buffer has room); otherwise gives the record back, for
    /// `send_untracked`. Spares the caller a future when it can.
    pub fn try_send_untracked(&self, record: ProducerRecord) -> Result<Option<ProducerRecord>> {
        Ok(match self.try_enqueue(record, false)? {
            Enqueued::Queued(_) => None,
            Enqueued::NotYet(r) => Some(r),
        })
    }

    /// Queues `record`, waiting if needed; its delivery future if `tracked`.
    async fn enqueue(
        &self,
        record: ProducerRecord,
        tracked: bool,
    ) -> Result<Option<DeliveryFuture>> {
        let record = match self.try_enqueue(record, tracked)? {
            Enqueued::Queued(f) => return Ok(f),
            Enqueued::NotYet(r) => r,
        };
        // Waits (up to max_block) for the topic's metadata and buffer space.
        let s = &self.handle.shared;
        let cfg = &s.config;
        let deadline = Instant::now() + cfg.max_block;
        let size = self.admissible_size(&record)?;
        let snap = match s.cluster.metadata().0 {
            m if m.topic(&record.topic).is_some_and(|t| t.is_usable()) => m,
            _ => s.cluster.wait_topic(&record.topic, deadline).await?,
        };
        let Some(topic_meta) = snap.topic(&record.topic) else {
            return Err(KafkaError::InvalidArgument(format!(
                "no metadata for topic {:?}",
                record.topic
            )));
        };
        let permits = u32::try_from(size).unwrap_or(u32::MAX);
        let permit = match Arc::clone(&s.memory).try_acquire_many_owned(permits) {
            Ok(p) => p,
            Err(_) => {
                tokio::time::timeout_at(deadline, Arc::clone(&s.memory).acquire_many_owned(permits))
                    .await
                    .map_err(|_| KafkaError::Timeout {
                        what: format!(
                            "buffer space: buffer_memory ({} bytes) stayed full for max_block",
                            cfg.buffer_memory
                        ),
                        timeout: cfg.max_block,
                    })?
                    .map_err(|_| KafkaError::Closed("the producer is closed".into()))?
            }
        };
        self.append(record, tracked, topic_meta, size, permit)
    }

    /// Queues `record` now if nothing needs waiting for; gives it back
    /// otherwise.
    fn try_enqueue(&self, record: ProducerRecord, tracked: bool) -> Result<Enqueued> {
        let s = &self.handle.shared;
        let size = self.admissible_size(&record)?;
        let snap = s.cluster.metadata().0;
        let Some(topic_meta) = snap.topic(&record.topic).filter(|t| t.is_usable()) else {
            return Ok(Enqueued::NotYet(record));
        };
        let permits = u32::try_from(size).unwrap_or(u32::MAX);
        let Ok(permit) = Arc::clone(&s.memory).try_acquire_many_owned(permits) else {
            return Ok(Enqueued::NotYet(record));
        };
        self.append(record, tracked, topic_meta, size, permit)
            .map(Enqueued::Queued)
    }

    /// The record's buffer size bound, if the producer is open and the
    /// record can ever fit.
    fn admissible_size(&self, record: &ProducerRecord) -> Result<usize> {
        let s = &self.handle.shared;
        if s.closed.load(Ordering::Relaxed) {
            return Err(KafkaError::Closed("the producer is closed".into()));
        }
        let cfg = &s.config;
        let size = record_size_bound(record.key.as_ref(), record.value.as_ref(), &record.headers);
        let limit = cfg.max_request_size.min(cfg.buffer_memory);
        if size + BATCH_OVERHEAD > limit {
            return Err(KafkaError::InvalidArgument(format!(
                "record of about {size} bytes exceeds max_request_size/buffer_memory ({limit} bytes)"
            )));
        }
        Ok(size)
    }

    /// Picks the partition and appends to its open batch.
    fn append(
        &self,
        record: ProducerRecord,
        tracked: bool,
        topic_meta: &crate::metadata::TopicMetadata,
        size: usize,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) -> Result<Option<DeliveryFuture>> {
        let s = &self.handle.shared;
        let cfg = &s.config;
        let n = topic_meta.partitions.len();
        let keyed = match (record.partition, &record.key) {
            (Some(p), _) => {
                if usize::try_from(p).map_or(true, |p| p >= n) {
                    return Err(KafkaError::InvalidArgument(format!(
                        "partition {p} of topic {:?} does not exist (it has {n})",
                        record.topic
                    )));
                }
                Some(p)
            }
            (None, Some(k)) => Some(partitioner::partition_for_key(k, n)),
            (None, None) => None,
        };
        let rec = BatchRecord {
            key: record.key,
            value: record.value,
            headers: record.headers,
            timestamp: record.timestamp.unwrap_or_else(now_ms),
        };
        let (wake, delivery) = {
            let mut acc = s.lock();
            if acc.closing {
                return Err(KafkaError::Closed("the producer is closed".into()));
            }
            let topic = record.topic;
            let partition = match keyed {
                Some(p) => p,
                None => {
                    let available = || {
                        topic_meta
                            .partitions
                            .iter()
                            .filter(|p| p.leader.is_some())
                            .map(|p| p.id)
                            .collect()
                    };
                    acc.sticky_partition(&topic, &available, n, size, cfg.batch_size)
                }
            };
            let tp = TopicPartition { topic, partition };
            acc.append(tp, rec, tracked, permit, cfg.batch_size, Instant::now)
        };
        if wake {
            s.wake.notify_one();
        }
        Ok(delivery)
    }

    /// Sends everything queued now, without waiting for `linger`, and waits
    /// until each record queued before the call has a delivery result.
    /// Fails with [`KafkaError::DeliveryFailed`] if any record (of this or
    /// a concurrent flush) failed meanwhile.
    pub async fn flush(&self) -> Result<()> {
        let s = &self.handle.shared;
        let (target, failed_before) = {
            let mut acc = s.lock();
            let target = acc.next_batch_id();
            acc.flush_upto = acc.flush_upto.max(target);
            (target, acc.failed_records)
        };
        s.wake.notify_one();
        loop {
            let progressed = s.progress.notified();
            tokio::pin!(progressed);
            progressed.as_mut().enable();
            {
                let acc = s.lock();
                if acc.incomplete.first().is_none_or(|id| *id >= target) {
                    return acc.failures_since(failed_before);
                }
            }
            progressed.await;
        }
    }

    /// Stops accepting records, delivers everything queued (each record
    /// within `delivery_timeout`), then closes the connections. Reports
    /// failed deliveries as [`flush`](Producer::flush) does.
    pub async fn close(&self) -> Result<()> {
        let s = &self.handle.shared;
        let failed_before = s.lock().failed_records;
        s.begin_close();
        let task = self
            .handle
            .sender
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(task) = task {
            if let Err(e) = task.await {
                tracing::warn!(error = %e, "producer sender task failed");
            }
        }
        s.cluster
            .poison_all(|_| KafkaError::Closed("producer closed".into()));
        s.lock().failures_since(failed_before)
    }

    /// The cluster metadata this producer works from.
    pub fn metadata(&self) -> Arc<crate::metadata::ClusterMetadata> {
        self.handle.shared.cluster.metadata().0
    }

    /// The producer id and epoch the broker assigned, once an idempotent
    /// producer has sent something; `None` otherwise.
    pub fn producer_identity(&self) -> Option<(i64, i16)> {
        self.handle.shared.lock().identity
    }

    /// Test hook: acts as if the broker's sequence state no longer matched
    /// ours (as after OUT_OF_ORDER_SEQUENCE_NUMBER), so the producer bumps
    /// its epoch and restarts its sequences before the next send.
    #[doc(hidden)]
    pub fn debug_reset_producer_id(&self) {
        self.handle.shared.lock().debug_reset_pid = true;
        self.handle.shared.wake.notify_one();
    }

    /// Test hook: drops every broker connection at once, as a network
    /// failure would. In-flight requests fail and are retried on new
    /// connections.
    #[doc(hidden)]
    pub fn debug_drop_connections(&self) {
        self.handle
            .shared
            .cluster
            .poison_all(|addr| KafkaError::connection(addr, "dropped by debug_drop_connections"));
    }
}
