//! The Kafka reader: consumer parameters (kafka-python names) and the consistency rules.
//!
//! - AT_MOST_ONCE: before a record is handed out, the group's offset is committed past
//!   everything fetched for its partition so far (one commit per fetched batch, not per
//!   record), so a crash can lose records but never deliver one twice.
//! - AT_LEAST_ONCE: automatic commits of exactly what the application took from the reader
//!   (every `auto_commit_interval_ms`, default 5000 as in Python, before a rebalance and on
//!   close), so a crash can repeat records but never lose one.
//! - EXACTLY_ONCE: AT_LEAST_ONCE, reading committed transactions only (`read_committed`).
//!
//! Without `group_id` each reader gets its own group, named as SINETStream Java names them,
//! `<service>-group-<n>-<8 random hex>`: two readers of one service then each see every
//! record; they share the work only when the user gives them the same `group_id`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use sinetstream_kafka::{
    Assignor, Consumer, ConsumerConfig, ConsumerRecord, IsolationLevel, OffsetReset, TopicPartition,
};

use super::params::{CLIENT_KEYS, PRODUCER_KEYS, client_config, warn_unknown};
use super::{check_topic, map_error};
use crate::backend::{OpenContext, RawMessage, ReaderBackend};
use crate::config::Value;
use crate::consistency::Consistency;
use crate::error::{Error, Result};

/// Kafka details of a received message (`RawMessage::meta`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct KafkaMeta {
    /// Partition.
    pub partition: i32,
    /// Offset in the partition.
    pub offset: i64,
    /// The record's timestamp, ms since the epoch.
    pub timestamp_ms: i64,
}

/// kafka-python consumer parameters this reader understands.
pub(crate) const CONSUMER_KEYS: &[&str] = &[
    "group_id",
    "group_instance_id",
    "auto_offset_reset",
    "enable_auto_commit",
    "auto_commit_interval_ms",
    "fetch_min_bytes",
    "fetch_max_wait_ms",
    "fetch_max_bytes",
    "max_partition_fetch_bytes",
    "max_poll_records",
    "max_poll_interval_ms",
    "session_timeout_ms",
    "heartbeat_interval_ms",
    "partition_assignment_strategy",
    "isolation_level",
    "check_crcs",
    "exclude_internal_topics",
    "consumer_timeout_ms",
    "key_deserializer",
    "value_deserializer",
    "assignment_wait_ms",
];

/// How long `open` waits for the group to assign partitions, by default: without it a reader
/// opened just before a writer publishes would start after those records (`latest`).
const ASSIGNMENT_WAIT: Duration = Duration::from_secs(30);

static GROUP_SEQ: AtomicU64 = AtomicU64::new(0);

fn generated_group_id(service: &str) -> String {
    let n = GROUP_SEQ.fetch_add(1, Ordering::Relaxed);
    format!("{service}-group-{n}-{:08x}", rand::random::<u32>())
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn assignors(v: &Value, service: &str) -> Result<Vec<Assignor>> {
    let names: Vec<String> = match v {
        Value::Str(s) => s.split(',').map(|x| x.trim().to_owned()).collect(),
        Value::Seq(items) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect(),
        other => {
            return Err(Error::InvalidArgument(format!(
                "service {service:?}: partition_assignment_strategy must be a name or a list, not {}",
                other.type_name()
            )));
        }
    };
    names
        .iter()
        .map(|n| {
            // kafka-python and Java spell them as class names.
            let short = n
                .rsplit('.')
                .next()
                .unwrap_or(n)
                .trim_end_matches("PartitionAssignor")
                .trim_end_matches("Assignor")
                .to_ascii_lowercase();
            Assignor::from_name(&short)
                .or_else(|| Assignor::from_name(n))
                .ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "service {service:?}: partition assignment strategy {n:?} is not supported (range, roundrobin, sticky, cooperative-sticky)"
                    ))
                })
        })
        .collect()
}

/// What the reader needs to open a consumer.
struct ReaderParams {
    consumer: ConsumerConfig,
    commit_ahead: bool,
    assignment_wait: Duration,
    brokers: String,
}

fn reader_params(ctx: &OpenContext<'_>) -> Result<ReaderParams> {
    let service = ctx.config.service();
    warn_unknown(ctx, &[CLIENT_KEYS, CONSUMER_KEYS, PRODUCER_KEYS], "reader");
    let client = client_config(ctx)?;
    let brokers = client.bootstrap_servers.join(",");
    let b = ctx.config.backend();
    let mut c = ConsumerConfig::new(client);
    c.group_id = Some(
        b.str("group_id")
            .filter(|g| !g.is_empty())
            .map_or_else(|| generated_group_id(service), str::to_owned),
    );
    c.group_instance_id = b.str("group_instance_id").map(str::to_owned);
    if let Some(r) = b.str("auto_offset_reset") {
        c.auto_offset_reset = r
            .parse::<OffsetReset>()
            .map_err(|e| Error::InvalidArgument(format!("service {service:?}: {e}")))?;
    }
    if let Some(v) = b.u64("fetch_min_bytes") {
        c.fetch_min_bytes = i32::try_from(v).unwrap_or(i32::MAX);
    }
    if let Some(v) = b.u64("fetch_max_wait_ms") {
        c.fetch_max_wait = ms(v);
    }
    if let Some(v) = b.u64("fetch_max_bytes") {
        c.fetch_max_bytes = i32::try_from(v).unwrap_or(i32::MAX);
    }
    if let Some(v) = b.u64("max_partition_fetch_bytes") {
        c.max_partition_fetch_bytes = i32::try_from(v).unwrap_or(i32::MAX);
    }
    if let Some(v) = b.u64("max_poll_records") {
        c.max_poll_records = usize::try_from(v).unwrap_or(usize::MAX);
    }
    if let Some(v) = b.u64("max_poll_interval_ms") {
        c.max_poll_interval = ms(v);
    }
    if let Some(v) = b.u64("session_timeout_ms") {
        c.session_timeout = ms(v);
    }
    if let Some(v) = b.u64("heartbeat_interval_ms") {
        c.heartbeat_interval = ms(v);
    }
    if let Some(v) = b.raw("partition_assignment_strategy") {
        c.partition_assignment_strategy = assignors(v, service)?;
    }
    if let Some(v) = b.bool("check_crcs") {
        c.check_crcs = v;
    }
    if let Some(v) = b.bool("exclude_internal_topics") {
        c.exclude_internal_topics = v;
    }
    let explicit_isolation = match b.str("isolation_level") {
        None => None,
        Some("read_committed") => Some(IsolationLevel::ReadCommitted),
        Some("read_uncommitted") => Some(IsolationLevel::ReadUncommitted),
        Some(other) => {
            return Err(Error::InvalidArgument(format!(
                "service {service:?}: isolation_level must be read_committed or read_uncommitted, not {other:?}"
            )));
        }
    };
    c.isolation_level = explicit_isolation.unwrap_or(match ctx.consistency {
        Consistency::ExactlyOnce => IsolationLevel::ReadCommitted,
        _ => IsolationLevel::ReadUncommitted,
    });
    let explicit_auto_commit = b.bool("enable_auto_commit");
    let commit_ahead = match (ctx.consistency, explicit_auto_commit) {
        (_, Some(auto)) => {
            c.enable_auto_commit = auto;
            false
        }
        (Consistency::AtMostOnce, None) => {
            // Auto commits of delivered offsets would move the committed offset back behind
            // the ahead-commits.
            c.enable_auto_commit = false;
            true
        }
        (_, None) => {
            c.enable_auto_commit = true;
            false
        }
    };
    if let Some(v) = b.u64("auto_commit_interval_ms") {
        c.auto_commit_interval = ms(v.max(1));
    }
    let assignment_wait = b.u64("assignment_wait_ms").map_or(ASSIGNMENT_WAIT, ms);
    c.validate()
        .map_err(|e| Error::InvalidArgument(format!("service {service:?}: {e}")))?;
    Ok(ReaderParams {
        consumer: c,
        commit_ahead,
        assignment_wait,
        brokers,
    })
}

pub(crate) async fn open_reader(ctx: &OpenContext<'_>) -> Result<Box<dyn ReaderBackend>> {
    let service = ctx.config.service().to_owned();
    for t in ctx.topics {
        check_topic(&service, t)?;
    }
    let p = reader_params(ctx)?;
    let brokers = p.brokers.clone();
    ensure_topics(&p.consumer.client, ctx.topics, p.assignment_wait)
        .await
        .map_err(|e| map_error(&service, &brokers, e))?;
    let mut consumer = Consumer::connect(p.consumer)
        .await
        .map_err(|e| map_error(&service, &brokers, e))?;
    consumer
        .subscribe(ctx.topics.iter().cloned())
        .map_err(|e| map_error(&service, &brokers, e))?;
    // Wait for the first assignment, keeping any record that comes with it.
    let mut first = None;
    let deadline = Instant::now() + p.assignment_wait;
    while consumer.assignment().is_empty() && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(100)).await {
            Ok(Some(r)) => {
                first = Some(r);
                break;
            }
            Ok(None) => {}
            Err(e) => return Err(map_error(&service, &brokers, e)),
        }
    }
    if consumer.assignment().is_empty() && first.is_none() {
        tracing::warn!(
            "service {service:?}: no partitions assigned within {:?}; reading on",
            p.assignment_wait
        );
    }
    Ok(Box::new(KafkaReader {
        consumer: Some(consumer),
        first,
        commit_ahead: p.commit_ahead,
        committed_ahead: AheadCommits::default(),
        service,
        brokers,
    }))
}

/// Makes the subscribed topics exist (auto-created through metadata, where the broker allows
/// it) and have leaders before the group forms: a group that assigns while a topic is still
/// being created gives it no partitions and does not rebalance when they appear.
async fn ensure_topics(
    client: &sinetstream_kafka::ClientConfig,
    topics: &[String],
    wait: Duration,
) -> std::result::Result<(), sinetstream_kafka::KafkaError> {
    let c = sinetstream_kafka::Client::connect(client.clone()).await?;
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    let deadline = Instant::now() + wait;
    let mut delay = Duration::from_millis(20);
    loop {
        let md = c.refresh_metadata(&names).await?;
        let missing: Vec<&str> = names
            .iter()
            .copied()
            .filter(|t| !md.topic(t).is_some_and(|m| m.is_usable()))
            .collect();
        if missing.is_empty() {
            break;
        }
        if Instant::now() >= deadline {
            tracing::warn!("topics {missing:?} have no usable partitions yet; subscribing anyway");
            break;
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(500));
    }
    c.close();
    Ok(())
}

struct KafkaReader {
    consumer: Option<Consumer>,
    /// A record received while waiting for the assignment, delivered first.
    first: Option<ConsumerRecord>,
    commit_ahead: bool,
    /// AT_MOST_ONCE: per partition, the offset committed ahead of delivery.
    committed_ahead: AheadCommits,
    service: String,
    brokers: String,
}

impl KafkaReader {
    fn err(&self, e: sinetstream_kafka::KafkaError) -> Error {
        map_error(&self.service, &self.brokers, e)
    }

    fn closed(&self) -> Error {
        Error::connection(format!("service {:?}: the reader is closed", self.service))
    }

    /// AT_MOST_ONCE: commit past the fetched data of `r`'s partition before handing `r` out.
    async fn commit_before_delivery(&mut self, r: &ConsumerRecord) -> Result<()> {
        if self
            .committed_ahead
            .deliver(&r.topic, r.partition, r.offset)
        {
            return Ok(());
        }
        let tp = TopicPartition::new(&*r.topic, r.partition);
        let Some(consumer) = self.consumer.as_mut() else {
            return Err(self.closed());
        };
        // Past everything fetched, not just past `r`: one commit per fetched batch rather than
        // one per record.
        let upto = consumer
            .fetch_position(&tp)
            .unwrap_or(r.offset + 1)
            .max(r.offset + 1);
        let res = consumer.commit_offsets([(tp.clone(), upto)]).await;
        res.map_err(|e| self.err(e))?;
        self.committed_ahead.committed(tp, upto, r.offset);
        Ok(())
    }
}

/// AT_MOST_ONCE bookkeeping: per partition, the offset committed ahead of delivery and the
/// last offset delivered under that commit. A record is covered only if it lies strictly
/// between the two: a record at or below the last delivered one means the consumer moved
/// back (log truncation after an unclean election, an offset reset, a topic recreated), and
/// delivering it under the old commit would let a crash replay it from a reset position.
#[derive(Debug, Default)]
struct AheadCommits(HashMap<TopicPartition, Ahead>);

#[derive(Debug, Clone, Copy)]
struct Ahead {
    upto: i64,
    delivered: i64,
}

impl AheadCommits {
    /// Whether the commit made for `topic`-`partition` covers `offset`; if it does, notes
    /// `offset` as delivered.
    fn deliver(&mut self, topic: &str, partition: i32, offset: i64) -> bool {
        // A scan, not a keyed lookup: a reader has few partitions, and a key would cost an
        // allocation per record.
        let found = self
            .0
            .iter_mut()
            .find(|(tp, _)| tp.partition == partition && tp.topic == topic);
        match found {
            Some((_, a)) if a.delivered < offset && offset < a.upto => {
                a.delivered = offset;
                true
            }
            _ => false,
        }
    }

    /// Notes a commit of `upto` made to deliver the record at `offset`.
    fn committed(&mut self, tp: TopicPartition, upto: i64, offset: i64) {
        self.0.insert(
            tp,
            Ahead {
                upto,
                delivered: offset,
            },
        );
    }

    fn clear(&mut self) {
        self.0.clear();
    }
}

fn raw(r: ConsumerRecord) -> RawMessage {
    let mut m = RawMessage::new(r.topic, r.value.unwrap_or_default());
    m.timestamp_us = r.timestamp.checked_mul(1000);
    m.meta = Some(Arc::new(KafkaMeta {
        partition: r.partition,
        offset: r.offset,
        timestamp_ms: r.timestamp,
    }));
    m
}

impl ReaderBackend for KafkaReader {
    fn recv(&mut self) -> BoxFuture<'_, Result<Option<RawMessage>>> {
        Box::pin(async move {
            let r = match self.first.take() {
                Some(r) => r,
                None => {
                    let Some(consumer) = self.consumer.as_mut() else {
                        return Ok(None);
                    };
                    // Cancellation safe: an unfinished recv loses no record.
                    match consumer.recv().await {
                        Ok(Some(r)) => r,
                        Ok(None) => return Ok(None),
                        Err(e) => return Err(self.err(e)),
                    }
                }
            };
            if self.commit_ahead {
                if let Err(e) = self.commit_before_delivery(&r).await {
                    // Not delivered: keep it for the next call rather than lose it.
                    self.first = Some(r);
                    return Err(e);
                }
            }
            Ok(Some(raw(r)))
        })
    }

    fn try_recv(&mut self) -> Option<Result<Option<RawMessage>>> {
        let r = match self.first.take() {
            Some(r) => r,
            None => match self.consumer.as_mut()?.try_recv() {
                Ok(Some(r)) => r,
                Ok(None) => return None,
                Err(e) => return Some(Err(self.err(e))),
            },
        };
        if self.commit_ahead
            && !self
                .committed_ahead
                .deliver(&r.topic, r.partition, r.offset)
        {
            // A commit must go first: recv does it.
            self.first = Some(r);
            return None;
        }
        Some(Ok(Some(raw(r))))
    }

    fn seek_to_beginning(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            self.first = None;
            let Some(c) = self.consumer.as_mut() else {
                return Err(self.closed());
            };
            let r = c.seek_to_beginning().await;
            self.committed_ahead.clear();
            r.map_err(|e| self.err(e))
        })
    }

    fn seek_to_end(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            self.first = None;
            let Some(c) = self.consumer.as_mut() else {
                return Err(self.closed());
            };
            let r = c.seek_to_end().await;
            self.committed_ahead.clear();
            r.map_err(|e| self.err(e))
        })
    }

    fn close(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            match self.consumer.take() {
                Some(c) => c.close().await.map_err(|e| self.err(e)),
                None => Ok(()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_ahead_cover_forward_records_only() {
        let mut a = AheadCommits::default();
        assert!(!a.deliver("t", 0, 5), "nothing committed yet");
        a.committed(TopicPartition::new("t", 0), 10, 5);
        assert!(!a.deliver("t", 0, 5), "the record the commit was made for");
        assert!(a.deliver("t", 0, 6));
        assert!(a.deliver("t", 0, 9));
        assert!(!a.deliver("t", 0, 10), "past the commit");
        assert!(!a.deliver("t", 1, 7), "another partition");
        assert!(!a.deliver("u", 0, 7), "another topic");
        // The consumer moved back (truncation): offsets already passed need a new commit,
        // even below the old commit's end.
        assert!(!a.deliver("t", 0, 7));
        a.committed(TopicPartition::new("t", 0), 8, 7);
        assert!(!a.deliver("t", 0, 8));
        a.clear();
        assert!(!a.deliver("t", 0, 6));
    }

    #[test]
    fn assignor_names_in_every_spelling() {
        let v = Value::from(vec![
            "range",
            "RoundRobinPartitionAssignor",
            "org.apache.kafka.clients.consumer.RangeAssignor",
            "org.apache.kafka.clients.consumer.CooperativeStickyAssignor",
            "StickyPartitionAssignor",
            "cooperative-sticky",
        ]);
        assert_eq!(
            assignors(&v, "s").expect("ok"),
            vec![
                Assignor::Range,
                Assignor::RoundRobin,
                Assignor::Range,
                Assignor::CooperativeSticky,
                Assignor::Sticky,
                Assignor::CooperativeSticky
            ]
        );
        assert!(assignors(&Value::from("uniform"), "s").is_err());
    }

    #[test]
    fn generated_group_ids_are_unique_and_named_for_the_service() {
        let a = generated_group_id("svc");
        let b = generated_group_id("svc");
        assert!(a.starts_with("svc-group-"), "{a}");
        assert_ne!(a, b);
    }
}
