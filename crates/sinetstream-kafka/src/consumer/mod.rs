//! The consumer: fetches from partition leaders (one Fetch in flight per
//! broker, running in the background while the application works through
//! buffered records), with or without a consumer group.
//!
//! Fetched data is decoded one record batch at a time, as the application
//! gets to it: the first record of a large response is handed out without
//! waiting for the rest to be decoded. The batch headers alone tell where
//! the next Fetch starts, so it can be sent while most of the data is
//! still undecoded.
//!
//! Positions: each assigned partition has a fetch position (next offset
//! to fetch) and a delivered position (one past the last record `recv`
//! handed out). Commits use the delivered position, so a commit covers
//! exactly what the application took: with at-least-once processing
//! nothing is lost on a crash.
//!
//! Fetch sessions (KIP-227): each broker remembers the partitions fetched
//! from it, so a Fetch names only those whose position moved, and the
//! answer only those with news (see `session`).
//!
//! Leader changes (KIP-320): a position remembers the leader epoch of the
//! data before it. Fetches carry the current leader epoch, and after a
//! leader change the position is checked with OffsetsForLeaderEpoch before
//! fetching on; a log truncated by an unclean election sends the partition
//! back to where the logs diverge, so that records written there since are
//! not skipped (or fails with [`KafkaError::LogTruncation`] when
//! `auto_offset_reset` is none).

pub(crate) mod assignor;
mod fetcher;
mod group;
mod session;
mod sticky;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt as _;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use kafka_protocol::messages::{ApiKey, FetchResponse};
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use assignor::Assignor;
use fetcher::{End, FetchLimits};
use group::{Group, GroupSettings, Joined};

use crate::cluster::Cluster;
use crate::config::ClientConfig;
use crate::error::{ErrorCode, KafkaError, Result};
use crate::records::Header;

/// A partition of a topic.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
}

impl TopicPartition {
    /// `topic`-`partition`.
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

impl std::fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// Where to start when there is no committed offset, or the position is
/// out of range (`auto.offset.reset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OffsetReset {
    /// The oldest record still stored.
    Earliest,
    /// The end: only records produced from now on.
    #[default]
    Latest,
    /// Fail with an error (`none`).
    None,
}

impl std::str::FromStr for OffsetReset {
    type Err = KafkaError;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "earliest" | "smallest" => Ok(OffsetReset::Earliest),
            "latest" | "largest" => Ok(OffsetReset::Latest),
            "none" => Ok(OffsetReset::None),
            _ => Err(KafkaError::InvalidArgument(format!(
                "auto_offset_reset must be earliest, latest or none, not {s:?}"
            ))),
        }
    }
}

/// Which records of transactional producers are visible.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum IsolationLevel {
    /// Everything, including records of aborted transactions.
    #[default]
    ReadUncommitted,
    /// Only committed transactions (and non-transactional records), up to
    /// the last stable offset.
    ReadCommitted,
}

impl IsolationLevel {
    fn wire(self) -> i8 {
        match self {
            IsolationLevel::ReadUncommitted => 0,
            IsolationLevel::ReadCommitted => 1,
        }
    }
}

/// Consumer settings. Defaults follow the Java client's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerConfig {
    /// Connection settings.
    pub client: ClientConfig,
    /// Consumer group; needed for [`Consumer::subscribe`] and for commits.
    pub group_id: Option<String>,
    /// Where to start without a committed offset.
    pub auto_offset_reset: OffsetReset,
    /// Commit delivered offsets every `auto_commit_interval` (checked on
    /// each `recv`), before a rebalance and on close.
    pub enable_auto_commit: bool,
    /// Period of automatic commits.
    pub auto_commit_interval: Duration,
    /// The broker answers a fetch once it has this many bytes (or after
    /// `fetch_max_wait`).
    pub fetch_min_bytes: i32,
    /// How long the broker may hold a fetch waiting for `fetch_min_bytes`.
    pub fetch_max_wait: Duration,
    /// Upper bound of one fetch response (soft: one batch larger than this
    /// is still returned, so that consumption never gets stuck).
    pub fetch_max_bytes: i32,
    /// Upper bound of one partition's data in a fetch response (soft, as
    /// `fetch_max_bytes`). A partition is fetched again once at most half
    /// of this is left undecoded, so up to about 1.5 times this much of its
    /// data is held.
    pub max_partition_fetch_bytes: i32,
    /// A partition is fetched again only while fewer records than this are
    /// buffered for it: bounds the records held in memory per partition.
    pub max_poll_records: usize,
    /// Which transactional records to see.
    pub isolation_level: IsolationLevel,
    /// Kept for configuration compatibility: record batch CRCs are always
    /// checked (corrupt data is never handed out).
    pub check_crcs: bool,
    /// The coordinator drops a member it has not heard from for this long.
    pub session_timeout: Duration,
    /// Period of heartbeats (on their own timer task).
    pub heartbeat_interval: Duration,
    /// A member that does not call `recv` for this long leaves the group,
    /// so that its partitions go to consumers that make progress.
    pub max_poll_interval: Duration,
    /// How long the coordinator waits for members to rejoin during a
    /// rebalance.
    pub rebalance_timeout: Duration,
    /// Assignors offered to the group, preferred first.
    pub partition_assignment_strategy: Vec<Assignor>,
    /// Static membership (KIP-345): a restart within the session timeout
    /// keeps the partitions, without a rebalance.
    pub group_instance_id: Option<String>,
    /// Kept for configuration compatibility: subscriptions are by explicit
    /// topic names, so internal topics are only read when named.
    pub exclude_internal_topics: bool,
    /// Fetch sessions (KIP-227, on by default as in the Java client): each
    /// broker remembers the partitions fetched from it, so that a Fetch
    /// names only those whose position moved and the answer only those
    /// with news. Off: every Fetch names every partition.
    pub fetch_sessions: bool,
}

impl ConsumerConfig {
    /// Defaults for `client`, without a group.
    pub fn new(client: ClientConfig) -> Self {
        ConsumerConfig {
            client,
            group_id: None,
            auto_offset_reset: OffsetReset::Latest,
            enable_auto_commit: true,
            auto_commit_interval: Duration::from_secs(5),
            fetch_min_bytes: 1,
            fetch_max_wait: Duration::from_millis(500),
            fetch_max_bytes: 50 * 1024 * 1024,
            max_partition_fetch_bytes: 1024 * 1024,
            max_poll_records: 500,
            isolation_level: IsolationLevel::ReadUncommitted,
            check_crcs: true,
            session_timeout: Duration::from_secs(45),
            heartbeat_interval: Duration::from_secs(3),
            max_poll_interval: Duration::from_secs(300),
            rebalance_timeout: Duration::from_secs(300),
            partition_assignment_strategy: vec![Assignor::Range, Assignor::RoundRobin],
            group_instance_id: None,
            exclude_internal_topics: true,
            fetch_sessions: true,
        }
    }

    /// Defaults for `client` in group `group_id`.
    pub fn with_group(client: ClientConfig, group_id: impl Into<String>) -> Self {
        ConsumerConfig {
            group_id: Some(group_id.into()),
            ..ConsumerConfig::new(client)
        }
    }

    /// Checks the settings without connecting.
    pub fn validate(&self) -> Result<()> {
        self.client.validate()?;
        let bad = |m: String| Err(KafkaError::InvalidArgument(m));
        if self.group_id.as_deref() == Some("") {
            return bad("group_id must not be empty".into());
        }
        if self.fetch_min_bytes < 0
            || self.fetch_max_bytes < 1
            || self.max_partition_fetch_bytes < 1
        {
            return bad("fetch sizes must be positive".into());
        }
        if self.max_poll_records == 0 {
            return bad("max_poll_records must be at least 1".into());
        }
        if self.heartbeat_interval.is_zero() || self.heartbeat_interval >= self.session_timeout {
            return bad("heartbeat_interval must be positive and below session_timeout".into());
        }
        if self.fetch_max_wait >= self.client.request_timeout {
            return bad("fetch_max_wait must be below the request timeout".into());
        }
        if self.group_id.is_some() && self.partition_assignment_strategy.is_empty() {
            return bad("partition_assignment_strategy is empty".into());
        }
        // Sent as i32 milliseconds (as in Java); also keeps deadlines finite.
        let max = Duration::from_millis(i32::MAX as u64);
        for (name, d) in [
            ("session_timeout", self.session_timeout),
            ("heartbeat_interval", self.heartbeat_interval),
            ("max_poll_interval", self.max_poll_interval),
            ("rebalance_timeout", self.rebalance_timeout),
            ("auto_commit_interval", self.auto_commit_interval),
            ("fetch_max_wait", self.fetch_max_wait),
        ] {
            if d > max {
                return bad(format!("{name} {d:?} exceeds {max:?}"));
            }
        }
        if self.enable_auto_commit && self.auto_commit_interval.is_zero() {
            return bad("auto_commit_interval must be positive".into());
        }
        Ok(())
    }
}

/// A record read from Kafka.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConsumerRecord {
    /// Topic (shared by the records of one fetch).
    pub topic: Arc<str>,
    /// Partition.
    pub partition: i32,
    /// Offset in the partition.
    pub offset: i64,
    /// CreateTime or LogAppendTime (per the topic), ms since the epoch.
    pub timestamp: i64,
    /// Key.
    pub key: Option<Bytes>,
    /// Value (`None` for a tombstone).
    pub value: Option<Bytes>,
    /// Headers, in order, repeated keys kept.
    pub headers: Vec<Header>,
    /// The partition leader's epoch when the record was written (`None`
    /// for records older than Kafka 0.11's epochs). Committed with the
    /// offset, so that a later reader can tell whether the log was
    /// truncated under it (KIP-320).
    pub leader_epoch: Option<i32>,
}

/// Where a partition's next fetch starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pos {
    Known(i64),
    /// Ask the group for the committed offset (then `auto_offset_reset`).
    Committed,
    /// Ask the leader for the partition's beginning or end.
    Reset(End),
}

#[derive(Debug)]
struct PartState {
    pos: Pos,
    /// The leader epoch of the record before `pos` (of the batch fetched
    /// last, or as committed), when known: checked with the leader after
    /// a leader change, to find records lost to an unclean election.
    offset_epoch: Option<i32>,
    /// The leader epoch under which `pos` was last fetched or checked. A
    /// different one in the metadata means a new leader, whose log may
    /// have diverged: `pos` is validated before the next fetch (KIP-320).
    leader_epoch: Option<i32>,
    /// One past the last record handed to the application.
    delivered: Option<i64>,
    /// The leader epoch of that record, committed with the offset.
    delivered_epoch: Option<i32>,
    /// Records of this partition in the buffer.
    buffered: usize,
    /// Undecoded bytes of this partition in pending chunks.
    pending_bytes: usize,
    /// A pending chunk of this partition ends in a batch that cannot be
    /// decoded: fetching on would only bring more data behind it.
    pending_error: bool,
    /// The last fetch reached the end of what the broker had (its high
    /// watermark, or last stable offset under read_committed): fetched
    /// again, it only brings records produced since.
    caught_up: bool,
    /// Changed on every seek (and decode error): fetch responses sent, and
    /// data fetched, before are ignored.
    epoch: u64,
    /// Not fetched before this instant (after an error).
    retry_at: Option<Instant>,
    /// Consecutive fetch errors, for the retry backoff.
    failures: u32,
}

impl PartState {
    fn new(pos: Pos, epoch: u64) -> Self {
        PartState {
            pos,
            offset_epoch: None,
            leader_epoch: None,
            delivered: None,
            delivered_epoch: None,
            buffered: 0,
            pending_bytes: 0,
            pending_error: false,
            caught_up: false,
            epoch,
            retry_at: None,
            failures: 0,
        }
    }
}

/// What a fetch task reports.
struct FetchOutcome {
    broker: i32,
    /// The Fetch belonged to the broker's fetch session.
    in_session: bool,
    metadata_generation: u64,
    /// Partition → (fetch offset, epoch, leader epoch) as sent.
    sent: HashMap<TopicPartition, (i64, u64, i32)>,
    result: Result<FetchResponse>,
}

/// A Kafka consumer. See the module docs of `consumer`.
///
/// ```no_run
/// # async fn demo() -> Result<(), sinetstream_kafka::KafkaError> {
/// use sinetstream_kafka::{ClientConfig, Consumer, ConsumerConfig, OffsetReset};
///
/// let mut consumer = Consumer::connect(ConsumerConfig {
///     auto_offset_reset: OffsetReset::Earliest,
///     ..ConsumerConfig::with_group(ClientConfig::new(["broker1:9092"]), "my-group")
/// })
/// .await?;
/// consumer.subscribe(["sensor-data"])?;
/// while let Some(record) = consumer.recv().await? {
///     println!("{}-{}@{}: {:?}", record.topic, record.partition, record.offset, record.value);
/// }
/// consumer.close().await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Consumer {
    cluster: Arc<Cluster>,
    config: ConsumerConfig,
    limits: FetchLimits,
    group: Option<Arc<Group>>,
    heartbeat: Option<JoinHandle<()>>,
    /// A join in progress. A task, so that a `poll` timing out in the
    /// middle of a rebalance does not restart the join: the next `recv`
    /// waits for the same one.
    joining: Option<JoinHandle<Result<Joined>>>,
    /// A finished join's assignment (and whether the partitions owned
    /// before were lost), until applied.
    joined: Option<(BTreeSet<TopicPartition>, bool)>,
    subscription: BTreeSet<String>,
    parts: BTreeMap<TopicPartition, PartState>,
    buffer: VecDeque<ConsumerRecord>,
    /// Fetched data not decoded yet, in arrival order; decoded batch by
    /// batch into `buffer` as it runs empty.
    pending: VecDeque<fetcher::Chunk>,
    /// A partition may have become fetchable (less data pending, fewer
    /// records buffered, a broker free) since `send_fetches` last looked:
    /// `try_recv` looks again only then, not for every record.
    fetch_check_due: bool,
    /// A partition is fetched again while at most this many of its bytes
    /// are pending: half the fetch size, so that the next data is on its
    /// way while the other half is decoded and handed out.
    prefetch_bytes: usize,
    /// The partition key `take_buffered` looks records up with.
    scratch_tp: TopicPartition,
    /// The Fetches in flight, polled by `recv` itself: on an open
    /// connection the request is queued when sent, and its response comes
    /// straight from the connection's reader, with no task in between (one
    /// cross-thread wake-up less per fetch, which end-to-end latency shows).
    fetches: FuturesUnordered<BoxFuture<'static, FetchOutcome>>,
    /// Brokers with a Fetch in flight.
    busy_brokers: HashSet<i32>,
    /// Fetch sessions, by broker.
    sessions: session::Sessions,
    /// Consecutive passes that found a partition without a known leader: the metadata refresh
    /// they trigger is retried quickly at first (a fresh `assign` has no leaders yet), then
    /// backs off up to `retry_backoff`.
    leaderless_passes: u32,
    /// What was last committed (or found committed), per partition.
    committed: HashMap<TopicPartition, i64>,
    next_auto_commit: Instant,
    next_epoch: u64,
}

impl Drop for Consumer {
    fn drop(&mut self) {
        if let Some(h) = &self.heartbeat {
            h.abort();
        }
        if let Some(h) = &self.joining {
            h.abort();
        }
    }
}

impl Consumer {
    /// Validates `config` and connects to the cluster. Nothing is
    /// consumed until [`Consumer::subscribe`] or [`Consumer::assign`].
    pub async fn connect(config: ConsumerConfig) -> Result<Consumer> {
        config.validate()?;
        let cluster = Cluster::connect(config.client.clone()).await?;
        let group = config.group_id.as_ref().map(|g| {
            Group::new(
                GroupSettings {
                    group_id: g.clone(),
                    instance_id: config.group_instance_id.clone(),
                    session_timeout: config.session_timeout,
                    rebalance_timeout: config.rebalance_timeout,
                    heartbeat_interval: config.heartbeat_interval,
                    max_poll_interval: config.max_poll_interval,
                    assignors: config.partition_assignment_strategy.clone(),
                },
                Arc::clone(&cluster),
            )
        });
        let heartbeat = group
            .as_ref()
            .map(|g| tokio::spawn(Arc::clone(g).heartbeat_loop()));
        let limits = FetchLimits {
            min_bytes: config.fetch_min_bytes,
            max_wait_ms: i32::try_from(config.fetch_max_wait.as_millis()).unwrap_or(i32::MAX),
            max_bytes: config.fetch_max_bytes,
            partition_max_bytes: config.max_partition_fetch_bytes,
            isolation: config.isolation_level,
        };
        Ok(Consumer {
            next_auto_commit: Instant::now() + config.auto_commit_interval,
            cluster,
            limits,
            group,
            heartbeat,
            joining: None,
            joined: None,
            subscription: BTreeSet::new(),
            parts: BTreeMap::new(),
            buffer: VecDeque::new(),
            pending: VecDeque::new(),
            fetch_check_due: false,
            prefetch_bytes: usize::try_from(config.max_partition_fetch_bytes).unwrap_or(0) / 2,
            scratch_tp: TopicPartition::new(String::new(), 0),
            fetches: FuturesUnordered::new(),
            busy_brokers: HashSet::new(),
            sessions: session::Sessions::default(),
            leaderless_passes: 0,
            committed: HashMap::new(),
            next_epoch: 1,
            config,
        })
    }

    /// Subscribes to `topics` through the consumer group: partitions are
    /// assigned (and reassigned) by the group. The join happens in the
    /// next `recv` (or seek). Replaces an earlier subscription.
    pub fn subscribe<I, S>(&mut self, topics: I) -> Result<()>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let Some(group) = &self.group else {
            return Err(KafkaError::InvalidArgument(
                "subscribe needs a group_id; use assign without one".into(),
            ));
        };
        if self.subscription.is_empty() && !self.parts.is_empty() {
            return Err(KafkaError::InvalidArgument(
                "subscribe cannot be combined with assign".into(),
            ));
        }
        let topics: BTreeSet<String> = topics.into_iter().map(Into::into).collect();
        if topics.is_empty() || topics.iter().any(String::is_empty) {
            return Err(KafkaError::InvalidArgument(
                "subscribe needs non-empty topic names".into(),
            ));
        }
        self.cluster.add_interest(topics.iter().map(String::as_str));
        self.subscription = topics;
        if let Some(h) = self.joining.take() {
            h.abort();
        }
        // A new subscription means a new join (the group may reassign).
        group.wake.notify_one();
        self.force_rejoin();
        Ok(())
    }

    fn force_rejoin(&self) {
        if let Some(g) = &self.group {
            g.mark_rejoin();
        }
    }

    /// Consumes exactly `partitions`, without group management. Starts at
    /// the group's committed offsets when a `group_id` is set, else (or
    /// where none is committed) per `auto_offset_reset`.
    pub fn assign(&mut self, partitions: impl IntoIterator<Item = TopicPartition>) -> Result<()> {
        if !self.subscription.is_empty() {
            return Err(KafkaError::InvalidArgument(
                "assign cannot be combined with subscribe".into(),
            ));
        }
        let parts: BTreeSet<TopicPartition> = partitions.into_iter().collect();
        self.set_assignment(parts);
        Ok(())
    }

    fn initial_pos(&self) -> Pos {
        if self.group.is_some() {
            Pos::Committed
        } else {
            self.reset_pos().unwrap_or(Pos::Committed)
        }
    }

    /// The position `auto_offset_reset` asks for (`None`: fail).
    fn reset_pos(&self) -> Option<Pos> {
        match self.config.auto_offset_reset {
            OffsetReset::Earliest => Some(Pos::Reset(End::Earliest)),
            OffsetReset::Latest => Some(Pos::Reset(End::Latest)),
            OffsetReset::None => None,
        }
    }

    fn set_assignment(&mut self, parts: BTreeSet<TopicPartition>) {
        self.drop_fetches();
        self.buffer
            .retain(|r| parts.contains(&TopicPartition::new(&*r.topic, r.partition)));
        self.pending.retain(|c| parts.contains(&c.tp));
        let init = self.initial_pos();
        self.parts.retain(|tp, _| parts.contains(tp));
        for tp in &parts {
            if !self.parts.contains_key(tp) {
                // A fresh epoch: nothing fetched for an earlier assignment
                // of the partition can pass for its data.
                self.parts
                    .insert(tp.clone(), PartState::new(init, self.next_epoch));
                self.next_epoch += 1;
            }
        }
        for (tp, st) in &mut self.parts {
            st.buffered = self
                .buffer
                .iter()
                .filter(|r| *r.topic == *tp.topic && r.partition == tp.partition)
                .count();
            let mine = self.pending.iter().filter(|c| c.tp == *tp);
            st.pending_bytes = mine.clone().map(fetcher::Chunk::remaining).sum();
            st.pending_error = mine.clone().any(fetcher::Chunk::has_error);
        }
        self.fetch_check_due = true;
        self.committed.retain(|tp, _| parts.contains(tp));
        self.cluster
            .add_interest(parts.iter().map(|tp| tp.topic.as_str()));
    }

    fn drop_fetches(&mut self) {
        // In-flight responses would be for positions that may no longer
        // hold; the broker-side fetches just finish unseen.
        self.fetches = FuturesUnordered::new();
        self.busy_brokers.clear();
        // Their sessions' state is unknown now: the next Fetches are full.
        self.sessions.all_failed();
    }

    /// The partitions currently assigned.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.parts.keys().cloned().collect()
    }

    /// The next offset the application will see for `tp`, if known.
    pub fn position(&self, tp: &TopicPartition) -> Option<i64> {
        let st = self.parts.get(tp)?;
        if let Some(r) = self
            .buffer
            .iter()
            .find(|r| *r.topic == *tp.topic && r.partition == tp.partition)
        {
            return Some(r.offset);
        }
        if let Some(c) = self
            .pending
            .iter()
            .find(|c| c.tp == *tp && c.epoch == st.epoch)
        {
            return Some(c.next_offset());
        }
        match st.pos {
            Pos::Known(o) => Some(o),
            _ => None,
        }
    }

    /// Where the next Fetch of `tp` starts: past every record fetched so far,
    /// delivered, buffered or not decoded yet. Committing it skips the
    /// buffered ones (at-most-once delivery commits ahead like this).
    pub fn fetch_position(&self, tp: &TopicPartition) -> Option<i64> {
        match self.parts.get(tp)?.pos {
            Pos::Known(o) => Some(o),
            _ => None,
        }
    }

    /// Waits for the next record. `Ok(None)` only when nothing is
    /// subscribed or assigned (there is nothing to wait for).
    ///
    /// Cancellation safe: a dropped `recv` loses no record (they stay
    /// buffered) and leaves no request half sent.
    pub async fn recv(&mut self) -> Result<Option<ConsumerRecord>> {
        // Most calls find a record buffered: the same checks, in one lock.
        if let Some(r) = self.try_recv()? {
            return Ok(Some(r));
        }
        loop {
            if self.parts.is_empty() && self.subscription.is_empty() {
                return Ok(None);
            }
            if let Some(g) = &self.group {
                g.touch_poll();
                if let Some(e) = g.take_fatal() {
                    return Err(e);
                }
            }
            if self.joined.is_some() {
                // A join finished in an earlier, dropped `recv`.
                self.apply_join().await?;
            }
            if self.must_join() {
                if self.joins_in_background() {
                    // Cooperative: the partitions kept are consumed while
                    // the group rebalances.
                    self.start_join().await;
                } else {
                    self.rejoin().await?;
                }
            }
            self.maybe_auto_commit().await;
            if let Some(r) = self.take_buffered()? {
                return Ok(Some(r));
            }
            self.resolve_positions().await?;
            if let Some(generation) = self.cluster.needs_refresh() {
                match self.cluster.refresh(generation).await {
                    Err(e) => tracing::debug!(error = %e, "metadata refresh failed"),
                    // The refresh brought the leaders that finding start
                    // offsets waited for: go on at once rather than after
                    // a retry wait (a fresh consumer's first record).
                    Ok(_) if self.unresolved_have_leaders() => continue,
                    Ok(_) => {}
                }
            }
            let wait = self.send_fetches();
            let group = self.group.clone();
            let rejoin = async {
                match &group {
                    Some(g) => g.wake.notified().await,
                    None => std::future::pending().await,
                }
            };
            let joining = &mut self.joining;
            let joined = async {
                match joining {
                    Some(h) => h.await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                Some(outcome) = self.fetches.next(), if !self.fetches.is_empty() => {
                    self.busy_brokers.remove(&outcome.broker);
                    self.fetch_check_due = true;
                    self.handle_fetch(outcome)?;
                }
                done = joined => {
                    self.joining = None;
                    self.finish_join(done).await?;
                }
                _ = rejoin => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// A buffered record, without waiting and without any I/O (at most the
    /// next fetched record batch is decoded). `Ok(None)` when
    /// [`Consumer::recv`] must run: nothing is buffered, or a rebalance or
    /// an auto commit is due first. Fails as `recv` does at a record batch
    /// that cannot be decoded.
    ///
    /// A fast path for callers that read in a loop: it costs no future.
    pub fn try_recv(&mut self) -> Result<Option<ConsumerRecord>> {
        if self.buffer.is_empty() && self.pending.is_empty() {
            return Ok(None);
        }
        let rejoin_due = match &self.group {
            Some(g) => g.poll_check()?,
            None => false,
        };
        if !self.subscription.is_empty() {
            // A cooperative join running in the background does not stop
            // delivery; `recv` starts it, and takes its result once done.
            let recv_due = self.joined.is_some()
                || match &self.joining {
                    None => rejoin_due,
                    Some(h) => h.is_finished() || !self.joins_in_background(),
                };
            if recv_due {
                return Ok(None);
            }
        }
        if self.config.enable_auto_commit
            && self.group.is_some()
            && Instant::now() >= self.next_auto_commit
        {
            return Ok(None);
        }
        let r = self.take_buffered()?;
        if self.fetch_check_due && self.fetches.is_empty() {
            // Fetch ahead while the application works through the rest, so
            // that the next data is on its way before the buffer runs dry
            // (otherwise every fetch costs a full round trip of idle time).
            self.send_fetches();
        }
        Ok(r)
    }

    /// [`Consumer::recv`] with a time limit: `Ok(None)` when it runs out.
    pub async fn poll(&mut self, timeout: Duration) -> Result<Option<ConsumerRecord>> {
        match tokio::time::timeout(timeout, self.recv()).await {
            Ok(r) => r,
            Err(_) => Ok(None),
        }
    }

    fn take_buffered(&mut self) -> Result<Option<ConsumerRecord>> {
        if self.buffer.is_empty() {
            self.decode_pending()?;
        }
        let Some(r) = self.buffer.pop_front() else {
            return Ok(None);
        };
        // A reused key: building one per record cost an allocation.
        self.scratch_tp.topic.clear();
        self.scratch_tp.topic.push_str(&r.topic);
        self.scratch_tp.partition = r.partition;
        if let Some(st) = self.parts.get_mut(&self.scratch_tp) {
            if st.buffered == self.config.max_poll_records {
                self.fetch_check_due = true;
            }
            st.buffered = st.buffered.saturating_sub(1);
            st.delivered = Some(r.offset + 1);
            st.delivered_epoch = r.leader_epoch;
        }
        Ok(Some(r))
    }

    /// Decodes pending data into the empty buffer until it holds a record
    /// or nothing is pending.
    ///
    /// A batch that cannot be decoded fails here, after the records before
    /// it went out: the partition goes back to that batch (a later `recv`
    /// fetches it again, and fails again if the broker's copy is bad), and
    /// what was fetched behind it is dropped.
    fn decode_pending(&mut self) -> Result<()> {
        let limit = self.config.client.max_frame_bytes;
        while self.buffer.is_empty() {
            let Some(chunk) = self.pending.front_mut() else {
                return Ok(());
            };
            let st = match self.parts.get_mut(&chunk.tp) {
                Some(st) if st.epoch == chunk.epoch => st,
                // Seeked or reassigned since it came (normally dropped then).
                _ => {
                    self.pending.pop_front();
                    continue;
                }
            };
            let before = chunk.remaining();
            let res = chunk.decode_into(&mut self.buffer, limit);
            let pending = st.pending_bytes.saturating_sub(before - chunk.remaining());
            if st.pending_bytes > self.prefetch_bytes && pending <= self.prefetch_bytes {
                self.fetch_check_due = true;
            }
            st.pending_bytes = pending;
            match res {
                Ok(n) => {
                    st.buffered += n;
                    if chunk.is_done() {
                        self.pending.pop_front();
                    }
                }
                Err(e) => {
                    let broker = chunk.broker;
                    st.pos = Pos::Known(e.offset);
                    st.offset_epoch = None;
                    st.epoch = self.next_epoch;
                    self.next_epoch += 1;
                    st.pending_bytes = 0;
                    st.pending_error = false;
                    st.caught_up = false;
                    let tp = chunk.tp.clone();
                    self.pending.retain(|c| c.tp != tp);
                    self.fetch_check_due = true;
                    return Err(KafkaError::protocol(
                        &format!("broker {broker}"),
                        format!("fetch of {tp} at {}: {}", e.offset, e.detail),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Joins the group and takes the new assignment. Partitions given up
    /// are committed first (what was delivered, if auto commit is on):
    /// with the eager protocol all of them before the join; with the
    /// cooperative one, after it, only those that move to another member,
    /// and a second join then lets the group hand them over.
    async fn rejoin(&mut self) -> Result<()> {
        if self.joined.is_some() {
            return self.apply_join().await;
        }
        self.start_join().await;
        let Some(join) = self.joining.as_mut() else {
            return Ok(());
        };
        // Awaiting a `&mut JoinHandle` is cancellation safe: the join goes
        // on in its task.
        let done = join.await;
        self.joining = None;
        self.finish_join(done).await
    }

    /// Whether the group is cooperative and this consumer has partitions
    /// to go on with while a join runs in the background.
    fn joins_in_background(&self) -> bool {
        !self.parts.is_empty()
            && self
                .group
                .as_ref()
                .is_some_and(|g| g.settings.cooperative())
    }

    /// Starts the join task unless it runs already (see [`Self::rejoin`]).
    async fn start_join(&mut self) {
        let Some(group) = self.group.clone() else {
            return;
        };
        let cooperative = group.settings.cooperative();
        // Not while the last join's assignment waits to be applied: the next
        // join must announce what this member owns after it.
        if self.joining.is_none() && self.joined.is_none() {
            let mut owned: BTreeMap<String, Vec<i32>> = BTreeMap::new();
            for tp in self.parts.keys() {
                owned
                    .entry(tp.topic.clone())
                    .or_default()
                    .push(tp.partition);
            }
            if !cooperative && !self.parts.is_empty() {
                self.commit_revoked().await;
                tracing::debug!(partitions = self.parts.len(), "partitions revoked");
                self.set_assignment(BTreeSet::new());
            }
            let topics = self.subscription.clone();
            self.joining = Some(tokio::spawn(
                async move { group.join(&topics, owned).await },
            ));
        }
    }

    /// Takes the assignment the join task brought.
    async fn finish_join(
        &mut self,
        done: std::result::Result<Result<Joined>, tokio::task::JoinError>,
    ) -> Result<()> {
        let joined = match done {
            Ok(r) => r?,
            Err(e) => return Err(KafkaError::Closed(format!("group join task ended: {e}"))),
        };
        // Kept until applied: committing what is given up takes a round
        // trip, and a `recv` dropped meanwhile (a `poll` timing out) must
        // not lose the new assignment. The next `recv` finishes the work.
        let parts = joined
            .assignment
            .into_iter()
            .flat_map(|(t, ps)| {
                ps.into_iter()
                    .map(move |p| TopicPartition::new(t.clone(), p))
            })
            .collect();
        self.joined = Some((parts, joined.lost));
        self.apply_join().await
    }

    /// Takes the assignment of a finished join (see [`Self::finish_join`]).
    async fn apply_join(&mut self) -> Result<()> {
        let Some((parts, lost)) = &self.joined else {
            return Ok(());
        };
        let lost = *lost;
        let revoked = self.parts.keys().filter(|tp| !parts.contains(tp)).count();
        if revoked > 0 && !lost {
            self.commit_revoked().await;
        }
        let Some((parts, _)) = self.joined.take() else {
            return Ok(());
        };
        if revoked > 0 {
            if lost {
                tracing::info!(
                    partitions = revoked,
                    "partitions lost: the group forgot this member"
                );
            } else {
                tracing::debug!(partitions = revoked, "partitions revoked");
            }
            if let Some(g) = self.group.as_ref().filter(|g| g.settings.cooperative()) {
                // The leader held these back until we gave them up.
                g.mark_rejoin();
            }
        }
        self.set_assignment(parts);
        self.next_auto_commit = Instant::now() + self.config.auto_commit_interval;
        Ok(())
    }

    /// Commits before partitions are given up (auto commit only: with
    /// manual commits the application decides).
    async fn commit_revoked(&mut self) {
        if self.config.enable_auto_commit {
            if let Err(e) = self.commit().await {
                tracing::warn!(error = %e, "commit of revoked partitions failed");
            }
        }
    }

    async fn maybe_auto_commit(&mut self) {
        // Not during a join: the coordinator would refuse the commit (a
        // rebalance is in progress), and one follows the join anyway.
        if !self.config.enable_auto_commit
            || self.joining.is_some()
            || self.group.is_none()
            || Instant::now() < self.next_auto_commit
        {
            return;
        }
        self.next_auto_commit = Instant::now() + self.config.auto_commit_interval;
        if let Err(e) = self.commit().await {
            tracing::warn!(error = %e, "auto commit failed");
        }
    }

    /// Finds a start offset for every partition that lacks one.
    async fn resolve_positions(&mut self) -> Result<()> {
        let need_committed: Vec<TopicPartition> = self
            .parts
            .iter()
            .filter(|(_, s)| s.pos == Pos::Committed)
            .map(|(tp, _)| tp.clone())
            .collect();
        if !need_committed.is_empty() {
            let found = match &self.group {
                Some(g) => g.committed_with_epochs(&need_committed).await?,
                None => HashMap::new(),
            };
            let reset = self.reset_pos();
            for tp in need_committed {
                let Some(st) = self.parts.get_mut(&tp) else {
                    continue;
                };
                if st.pos != Pos::Committed {
                    continue;
                }
                match found.get(&tp).copied().flatten() {
                    Some((o, epoch)) => {
                        st.pos = Pos::Known(o);
                        // Checked against the leader before fetching: the
                        // log may have lost records since the commit.
                        st.offset_epoch = epoch;
                        st.leader_epoch = None;
                        self.committed.insert(tp, o);
                    }
                    None => match reset {
                        Some(p) => st.pos = p,
                        None => {
                            return Err(KafkaError::broker(
                                ErrorCode::OffsetOutOfRange,
                                format!(
                                    "{tp} has no committed offset and auto_offset_reset is none"
                                ),
                                None,
                            ));
                        }
                    },
                }
            }
        }
        let need_reset: Vec<(TopicPartition, End)> = self
            .parts
            .iter()
            .filter_map(|(tp, s)| match s.pos {
                Pos::Reset(e) => Some((tp.clone(), e)),
                _ => None,
            })
            .collect();
        if !need_reset.is_empty() {
            let found =
                fetcher::list_offsets(&self.cluster, &need_reset, self.config.isolation_level)
                    .await?;
            let (snap, _) = self.cluster.metadata();
            for (tp, end) in need_reset {
                if let (Some(st), Some(&(o, epoch))) = (self.parts.get_mut(&tp), found.get(&tp)) {
                    if st.pos == Pos::Reset(end) {
                        tracing::debug!(partition = %tp, offset = o, ?end, "offset reset");
                        st.pos = Pos::Known(o);
                        st.offset_epoch = epoch;
                        // The leader just told: nothing to check.
                        st.leader_epoch = Some(snap.leader_epoch(&tp.topic, tp.partition));
                    }
                }
            }
        }
        self.validate_positions().await
    }

    /// Positions whose leader changed since they were fetched, with what
    /// to send to validate them.
    fn to_validate(&self) -> Vec<fetcher::ToValidate> {
        let (snap, _) = self.cluster.metadata();
        self.parts
            .iter()
            .filter_map(|(tp, st)| {
                let Pos::Known(offset) = st.pos else {
                    return None;
                };
                let offset_epoch = st.offset_epoch?;
                let leader_epoch = snap.leader_epoch(&tp.topic, tp.partition);
                (leader_epoch >= 0 && st.leader_epoch != Some(leader_epoch)).then(|| {
                    fetcher::ToValidate {
                        tp: tp.clone(),
                        offset,
                        offset_epoch,
                        leader_epoch,
                    }
                })
            })
            .collect()
    }

    /// Checks with their new leaders the positions fetched under an older
    /// one (KIP-320). Where the new leader's log diverges (an unclean
    /// leader election lost records the old one had), the partition goes
    /// back to where it diverges (or fails with `auto_offset_reset` none,
    /// as the Java client does): otherwise records written there since
    /// would be skipped.
    async fn validate_positions(&mut self) -> Result<()> {
        let parts = self.to_validate();
        if parts.is_empty() {
            return Ok(());
        }
        let found = fetcher::validate_positions(&self.cluster, &parts).await?;
        let reset = self.reset_pos();
        for p in parts {
            let Some(&verdict) = found.get(&p.tp) else {
                continue; // retried after a metadata refresh
            };
            match self.parts.get(&p.tp) {
                Some(st) if st.pos == Pos::Known(p.offset) => {}
                _ => continue, // moved meanwhile
            }
            let truncation = |divergent| KafkaError::LogTruncation {
                partition: p.tp.to_string(),
                offset: p.offset,
                divergent,
            };
            tracing::debug!(partition = %p.tp, position = p.offset, offset_epoch = p.offset_epoch, leader_epoch = p.leader_epoch, ?verdict, "position validated");
            match verdict {
                fetcher::Validation::Valid => {}
                fetcher::Validation::Diverged { offset, epoch } => {
                    if reset.is_none() {
                        return Err(truncation(Some(offset)));
                    }
                    // Records before `offset` are the same in both logs:
                    // those already fetched but not handed out are kept
                    // by going back no further than the next one.
                    let next = self.position(&p.tp).unwrap_or(offset);
                    let to = offset.min(next);
                    tracing::warn!(
                        partition = %p.tp,
                        position = p.offset,
                        diverging_at = offset,
                        "log truncation detected (unclean leader election?); fetching again from offset {to}"
                    );
                    self.reposition(&p.tp, Pos::Known(to));
                    if let Some(st) = self.parts.get_mut(&p.tp) {
                        st.offset_epoch = (to == offset).then_some(epoch);
                        if st.delivered.is_some_and(|d| d > to) {
                            // What was handed out from `to` on is gone;
                            // the next commit must not skip its successors.
                            st.delivered = Some(to);
                            st.delivered_epoch = st.offset_epoch;
                        }
                    }
                }
                fetcher::Validation::Unknown => {
                    let Some(pos) = reset else {
                        return Err(truncation(None));
                    };
                    tracing::warn!(
                        partition = %p.tp,
                        position = p.offset,
                        "the new leader does not know the position's epoch; resetting the offset"
                    );
                    self.reposition(&p.tp, pos);
                    continue;
                }
            }
            if let Some(st) = self.parts.get_mut(&p.tp) {
                st.leader_epoch = Some(p.leader_epoch);
            }
        }
        Ok(())
    }

    /// Some partition's start offset is still to be found, and the metadata
    /// now knows the leader of every such partition.
    fn unresolved_have_leaders(&self) -> bool {
        let (snap, _) = self.cluster.metadata();
        let mut unresolved = self
            .parts
            .iter()
            .filter(|(_, st)| !matches!(st.pos, Pos::Known(_)))
            .peekable();
        unresolved.peek().is_some()
            && unresolved.all(|(tp, _)| snap.leader(&tp.topic, tp.partition).is_some())
    }

    /// Starts a Fetch on every leader that has fetchable partitions and no
    /// Fetch in flight. Returns how long to wait at most before looking
    /// again (retries, missing leaders).
    fn send_fetches(&mut self) -> Duration {
        self.fetch_check_due = false;
        let now = Instant::now();
        let mut wait = self
            .config
            .client
            .retry_backoff
            .max(Duration::from_millis(10));
        let (snap, generation) = self.cluster.metadata();
        let mut leaderless = false;
        let mut by_broker: BTreeMap<i32, Vec<fetcher::FetchPart>> = BTreeMap::new();
        let mut sent_epochs: HashMap<TopicPartition, u64> = HashMap::new();
        // Brokers leading a partition that waits for the application to
        // work through its data before it is fetched again.
        let mut held_back: HashSet<i32> = HashSet::new();
        // Brokers with a partition to fetch that has more data than was
        // fetched so far.
        let mut lagging: HashSet<i32> = HashSet::new();
        let mut unresolved = false;
        for (tp, st) in &self.parts {
            let Pos::Known(offset) = st.pos else {
                // Its start offset is still to be found (ListOffsets or
                // OffsetFetch needed metadata that has just been asked for).
                unresolved = true;
                continue;
            };
            // One lookup for both: this runs for every partition whenever
            // the consumer looks for something to fetch.
            let meta = snap
                .topic(&tp.topic)
                .and_then(|t| t.partition(tp.partition));
            let leader = meta.and_then(|p| p.leader);
            let leader_epoch = meta.map_or(-1, |p| p.leader_epoch);
            if st.offset_epoch.is_some()
                && leader_epoch >= 0
                && st.leader_epoch != Some(leader_epoch)
            {
                // A new leader: the position is validated first.
                unresolved = true;
                continue;
            }
            if st.buffered >= self.config.max_poll_records
                || st.pending_bytes > self.prefetch_bytes
                || st.pending_error
            {
                if let Some(leader) = leader {
                    held_back.insert(leader);
                }
                continue;
            }
            if let Some(t) = st.retry_at {
                if t > now {
                    wait = wait.min(t - now);
                    continue;
                }
            }
            match leader {
                Some(leader) if !self.busy_brokers.contains(&leader) => {
                    by_broker
                        .entry(leader)
                        .or_default()
                        .push(fetcher::FetchPart {
                            tp: tp.clone(),
                            offset,
                            leader_epoch,
                        });
                    sent_epochs.insert(tp.clone(), st.epoch);
                    if !st.caught_up {
                        lagging.insert(leader);
                    }
                }
                Some(_) => {}
                None => {
                    self.cluster.invalidate(generation);
                    leaderless = true;
                }
            }
        }
        if leaderless || unresolved {
            // Waiting the whole retry_backoff here delayed every fresh consumer's first record
            // by ~100 ms; the refresh at the top of the loop is what is needed, soon.
            let quick = Duration::from_millis(5).saturating_mul(1 << self.leaderless_passes.min(6));
            wait = wait.min(quick);
            self.leaderless_passes = self.leaderless_passes.saturating_add(1);
        } else {
            self.leaderless_passes = 0;
        }
        for (broker, parts) in by_broker {
            if held_back.contains(&broker) && !lagging.contains(&broker) {
                // Nothing to bring but new records, while a partition held
                // back will want the broker soon: it is fetched with them
                // once it may (or once everything is handed out).
                continue;
            }
            let mut limits = self.limits;
            if held_back.contains(&broker) {
                // The broker's one Fetch must not wait for data: partitions
                // left out of it may run dry meanwhile, and could not be
                // fetched until it returns (fetch_max_wait stalls, repeated
                // for as long as some partitions are caught up and others
                // are not).
                limits.max_wait_ms = 0;
            }
            let sent = parts
                .iter()
                .map(|p| {
                    let epoch = sent_epochs.get(&p.tp).copied().unwrap_or(0);
                    (p.tp.clone(), (p.offset, epoch, p.leader_epoch))
                })
                .collect();
            // Sessions need Fetch v7+, and so a connection whose version is
            // known; a broker not connected yet gets one from its next Fetch.
            let in_session = self.config.fetch_sessions
                && self
                    .cluster
                    .connected(broker)
                    .and_then(|c| c.version_for(ApiKey::Fetch).ok())
                    .is_some_and(|v| v >= 7);
            let plan = if in_session {
                self.sessions.plan(broker, parts)
            } else {
                session::Plan::sessionless(parts)
            };
            tracing::trace!(
                broker,
                session = plan.session_id,
                epoch = plan.epoch,
                named = plan.send.len(),
                forgotten = plan.forget.len(),
                "fetch"
            );
            let req = fetcher::fetch_request(&plan, &limits);
            let response: BoxFuture<'static, Result<FetchResponse>> =
                match self.cluster.connected(broker).map(|c| c.start(&req)) {
                    Some(Ok(pending)) => Box::pin(pending),
                    Some(Err(e)) => Box::pin(std::future::ready(Err(e))),
                    // Not connected yet: connects when `recv` polls it.
                    None => {
                        let cluster = Arc::clone(&self.cluster);
                        Box::pin(async move { cluster.broker(broker).await?.request(&req).await })
                    }
                };
            self.fetches.push(Box::pin(async move {
                FetchOutcome {
                    broker,
                    in_session,
                    metadata_generation: generation,
                    sent,
                    result: response.await,
                }
            }));
            self.busy_brokers.insert(broker);
        }
        wait
    }

    fn retry_later(&mut self, tp: &TopicPartition) {
        if let Some(st) = self.parts.get_mut(tp) {
            st.failures = st.failures.saturating_add(1);
            st.retry_at = Some(
                Instant::now()
                    + crate::backoff::Backoff::delay_for(
                        self.config.client.retry_backoff,
                        self.config.client.retry_backoff_max,
                        st.failures - 1,
                    ),
            );
        }
    }

    fn handle_fetch(&mut self, outcome: FetchOutcome) -> Result<()> {
        let resp = match outcome.result {
            Ok(r) => r,
            Err(e) => {
                if e.is_config_problem() {
                    return Err(e);
                }
                tracing::debug!(broker = outcome.broker, error = %e, "fetch failed");
                if outcome.in_session {
                    self.sessions.failed(outcome.broker);
                }
                self.cluster.invalidate(outcome.metadata_generation);
                for tp in outcome.sent.keys() {
                    self.retry_later(tp);
                }
                return Ok(());
            }
        };
        let error = ErrorCode::from_code(resp.error_code);
        if outcome.in_session {
            self.sessions
                .answered(outcome.broker, error, resp.session_id);
        }
        if let Some(code) = error {
            tracing::debug!(broker = outcome.broker, error = %code, "fetch failed");
            if !matches!(
                code,
                ErrorCode::FetchSessionIdNotFound | ErrorCode::InvalidFetchSessionEpoch
            ) {
                for tp in outcome.sent.keys() {
                    self.retry_later(tp);
                }
            }
            // A lost session is replaced by the next (full) Fetch, at once.
            self.fetch_check_due = true;
            return Ok(());
        }
        for t in resp.responses {
            for p in t.partitions {
                let tp = TopicPartition::new(t.topic.0.as_str(), p.partition_index);
                let Some(&(offset, epoch, leader_epoch)) = outcome.sent.get(&tp) else {
                    continue;
                };
                let reset = self.reset_pos();
                let Some(st) = self.parts.get_mut(&tp) else {
                    continue;
                };
                // Seeked or reassigned since: the data is for an old position.
                if st.epoch != epoch || st.pos != Pos::Known(offset) {
                    continue;
                }
                match ErrorCode::from_code(p.error_code) {
                    None => {
                        let end = match self.config.isolation_level {
                            IsolationLevel::ReadCommitted if p.last_stable_offset >= 0 => {
                                p.last_stable_offset
                            }
                            _ => p.high_watermark,
                        };
                        // Only the batch headers now, to fetch on from the
                        // end of the data at once; the records are decoded
                        // as the application gets to them.
                        let (chunk, next) = fetcher::Chunk::new(
                            &tp,
                            p,
                            offset,
                            self.config.isolation_level,
                            epoch,
                            outcome.broker,
                        );
                        st.failures = 0;
                        st.retry_at = None;
                        if let Some(n) = next {
                            st.pos = Pos::Known(n.max(offset));
                        }
                        if let Some(e) = chunk.as_ref().and_then(|c| c.last_epoch) {
                            st.offset_epoch = Some(e);
                        }
                        // The leader served the position under this epoch:
                        // nothing to validate until it changes.
                        if leader_epoch >= 0 {
                            st.leader_epoch = Some(leader_epoch);
                        }
                        st.caught_up = end >= 0 && matches!(st.pos, Pos::Known(n) if n >= end);
                        if let Some(c) = chunk {
                            st.pending_bytes += c.remaining();
                            st.pending_error |= c.has_error();
                            self.pending.push_back(c);
                        }
                    }
                    Some(ErrorCode::OffsetOutOfRange) => match reset {
                        Some(p) => {
                            tracing::info!(partition = %tp, offset, "offset out of range; resetting");
                            st.pos = p;
                            st.offset_epoch = None;
                        }
                        None => {
                            return Err(KafkaError::broker(
                                ErrorCode::OffsetOutOfRange,
                                format!(
                                    "fetch of {tp} at offset {offset} (auto_offset_reset is none)"
                                ),
                                None,
                            ));
                        }
                    },
                    Some(code) if code.is_retriable() => {
                        // NOT_LEADER_OR_FOLLOWER, FENCED_LEADER_EPOCH, ...:
                        // refresh the leaders, fetch again from the same
                        // position.
                        tracing::debug!(partition = %tp, error = %code, "fetch error; retrying");
                        if code.invalidates_metadata() {
                            self.cluster.invalidate(outcome.metadata_generation);
                        }
                        self.retry_later(&tp);
                    }
                    Some(code) => {
                        return Err(KafkaError::broker(
                            code,
                            format!("fetch of {tp} from broker {}", outcome.broker),
                            None,
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Commits, for every assigned partition, the offset after the last
    /// record `recv` handed out (only partitions with something new).
    pub async fn commit(&mut self) -> Result<()> {
        let offsets: BTreeMap<TopicPartition, i64> = self
            .parts
            .iter()
            .filter_map(|(tp, st)| {
                let d = st.delivered?;
                (self.committed.get(tp) != Some(&d)).then(|| (tp.clone(), d))
            })
            .collect();
        self.commit_offsets(offsets).await
    }

    /// Commits `offsets`: for each partition, the offset of the next
    /// record to read (one past the last one processed).
    pub async fn commit_offsets(
        &mut self,
        offsets: impl IntoIterator<Item = (TopicPartition, i64)>,
    ) -> Result<()> {
        let Some(group) = &self.group else {
            return Err(KafkaError::InvalidArgument(
                "committing offsets needs a group_id".into(),
            ));
        };
        // The leader epoch goes with an offset the consumer handed out up
        // to, so that whoever resumes from it can check the log still has
        // those records (KIP-320); an offset from elsewhere goes without.
        let offsets: BTreeMap<TopicPartition, (i64, Option<i32>)> = offsets
            .into_iter()
            .map(|(tp, o)| {
                let epoch = self
                    .parts
                    .get(&tp)
                    .filter(|st| st.delivered == Some(o))
                    .and_then(|st| st.delivered_epoch);
                (tp, (o, epoch))
            })
            .collect();
        if offsets.is_empty() {
            return Ok(());
        }
        group.commit(&offsets).await?;
        tracing::debug!(?offsets, "offsets committed");
        self.committed
            .extend(offsets.into_iter().map(|(tp, (o, _))| (tp, o)));
        Ok(())
    }

    /// The group's committed offsets of `partitions` (`None`: nothing
    /// committed).
    pub async fn committed(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<HashMap<TopicPartition, Option<i64>>> {
        match &self.group {
            Some(g) => Ok(g
                .committed_with_epochs(partitions)
                .await?
                .into_iter()
                .map(|(tp, c)| (tp, c.map(|(o, _)| o)))
                .collect()),
            None => Err(KafkaError::InvalidArgument(
                "committed offsets need a group_id".into(),
            )),
        }
    }

    fn must_join(&self) -> bool {
        !self.subscription.is_empty()
            && (self.joining.is_some()
                || self.joined.is_some()
                || self.group.as_ref().is_some_and(|g| g.needs_rejoin()))
    }

    /// Waits for the group's assignment if a subscription is pending.
    async fn ensure_assignment(&mut self) -> Result<()> {
        if self.must_join() {
            self.rejoin().await?;
        }
        Ok(())
    }

    fn reposition(&mut self, tp: &TopicPartition, pos: Pos) {
        self.buffer
            .retain(|r| !(*r.topic == *tp.topic && r.partition == tp.partition));
        self.pending.retain(|c| c.tp != *tp);
        self.fetch_check_due = true;
        let epoch = self.next_epoch;
        self.next_epoch += 1;
        if let Some(st) = self.parts.get_mut(tp) {
            st.pos = pos;
            st.offset_epoch = None;
            st.buffered = 0;
            st.pending_bytes = 0;
            st.pending_error = false;
            st.caught_up = false;
            st.epoch = epoch;
            st.retry_at = None;
        }
    }

    /// Moves every assigned partition to its first stored record (after
    /// waiting for the assignment if a subscription is pending).
    pub async fn seek_to_beginning(&mut self) -> Result<()> {
        self.seek_to(End::Earliest).await
    }

    /// Moves every assigned partition to its end: only records produced
    /// after this call are read.
    pub async fn seek_to_end(&mut self) -> Result<()> {
        self.seek_to(End::Latest).await
    }

    async fn seek_to(&mut self, end: End) -> Result<()> {
        self.ensure_assignment().await?;
        let parts: Vec<TopicPartition> = self.parts.keys().cloned().collect();
        for tp in &parts {
            self.reposition(tp, Pos::Reset(end));
        }
        // Resolve now: "the end" is the end at the time of the call.
        let deadline = Instant::now() + self.config.client.request_timeout;
        let mut backoff = crate::backoff::Backoff::new(
            self.config.client.retry_backoff,
            self.config.client.retry_backoff_max,
        );
        loop {
            self.resolve_positions().await?;
            if !self.parts.values().any(|s| matches!(s.pos, Pos::Reset(_))) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(KafkaError::Timeout {
                    what: "ListOffsets for seek".into(),
                    timeout: self.config.client.request_timeout,
                });
            }
            tokio::time::sleep(backoff.next_delay()).await;
            if let Some(generation) = self.cluster.needs_refresh() {
                let _ = self.cluster.refresh(generation).await;
            }
        }
    }

    /// Moves `tp` (which must be assigned) to `offset`.
    pub fn seek(&mut self, tp: &TopicPartition, offset: i64) -> Result<()> {
        if !self.parts.contains_key(tp) {
            return Err(KafkaError::InvalidArgument(format!(
                "seek: {tp} is not assigned to this consumer"
            )));
        }
        if offset < 0 {
            return Err(KafkaError::InvalidArgument(format!(
                "seek: negative offset {offset}"
            )));
        }
        self.reposition(tp, Pos::Known(offset));
        Ok(())
    }

    /// Commits what was delivered (with auto commit on), leaves the group
    /// and closes every connection.
    pub async fn close(mut self) -> Result<()> {
        let mut result = Ok(());
        if self.config.enable_auto_commit && self.group.is_some() {
            result = self.commit().await;
        }
        self.drop_fetches();
        self.buffer.clear();
        self.pending.clear();
        if let Some(h) = self.heartbeat.take() {
            h.abort();
        }
        if let Some(h) = self.joining.take() {
            h.abort();
        }
        if let Some(g) = &self.group {
            g.leave("the consumer is being closed").await;
            g.shutdown().await;
        }
        self.cluster
            .poison_all(|_| KafkaError::Closed("consumer closed".into()));
        result
    }
}

#[cfg(test)]
mod tests;
