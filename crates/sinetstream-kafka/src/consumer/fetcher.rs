//! Fetch requests and their responses: which records of a partition's
//! data the application may see (read_committed filtering), and where the
//! next fetch starts. Also ListOffsets, for offset resets.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ForgottenTopic};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::{
    BrokerId, FetchRequest, ListOffsetsRequest, OffsetForLeaderEpochRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::session::{self, Plan};
use super::{ConsumerRecord, IsolationLevel, TopicPartition};
use crate::api::Api;
use crate::cluster::Cluster;
use crate::error::{ErrorCode, KafkaError, Result};
use crate::records::{base_offset, batch_extent, batch_header, decode_records, scan_batches};

/// Fetch limits, from the consumer config.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FetchLimits {
    pub(crate) min_bytes: i32,
    pub(crate) max_wait_ms: i32,
    pub(crate) max_bytes: i32,
    pub(crate) partition_max_bytes: i32,
    pub(crate) isolation: IsolationLevel,
}

/// A partition to fetch: where from, and the leader epoch the metadata
/// gives (-1: unknown). A leader whose epoch differs refuses the fetch
/// (FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH) instead of serving data
/// from a log that may be about to be truncated (KIP-320).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FetchPart {
    pub(crate) tp: TopicPartition,
    pub(crate) offset: i64,
    pub(crate) leader_epoch: i32,
}

/// The Fetch request of `plan` (partitions all led by one broker).
pub(crate) fn fetch_request(plan: &Plan, l: &FetchLimits) -> FetchRequest {
    let mut topics: BTreeMap<&str, Vec<FetchPartition>> = BTreeMap::new();
    for p in &plan.send {
        topics.entry(&p.tp.topic).or_default().push(
            FetchPartition::default()
                .with_partition(p.tp.partition)
                .with_current_leader_epoch(p.leader_epoch)
                .with_fetch_offset(p.offset)
                .with_partition_max_bytes(l.partition_max_bytes),
        );
    }
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(l.max_wait_ms)
        .with_min_bytes(l.min_bytes)
        .with_max_bytes(l.max_bytes)
        .with_isolation_level(l.isolation.wire())
        .with_session_id(plan.session_id)
        .with_session_epoch(plan.epoch)
        .with_forgotten_topics_data(
            session::by_topic(&plan.forget)
                .into_iter()
                .map(|(t, ps)| {
                    ForgottenTopic::default()
                        .with_topic(topic_name(t))
                        .with_partitions(ps)
                })
                .collect(),
        )
        .with_topics(
            topics
                .into_iter()
                .map(|(t, ps)| {
                    FetchTopic::default()
                        .with_topic(topic_name(t))
                        .with_partitions(ps)
                })
                .collect(),
        )
}

/// One partition's data from a Fetch response, kept undecoded until the
/// application gets to it: decoding a whole response before handing out
/// its first record delayed that record by the decoding of every batch of
/// every partition.
#[derive(Debug)]
pub(crate) struct Chunk {
    pub(crate) tp: TopicPartition,
    /// The partition's epoch when the data came: a chunk from before a
    /// seek or reassignment is never decoded.
    pub(crate) epoch: u64,
    /// Where the data came from, for error messages.
    pub(crate) broker: i32,
    /// One name for all the records: a String each cost an allocation.
    topic: Arc<str>,
    /// Complete batches not decoded yet.
    data: Bytes,
    /// The fetch offset: records before it (in the first batch) are not
    /// shown again.
    skip_below: i64,
    read_committed: bool,
    /// Aborted transactions not reached yet, `(first offset, producer id)`
    /// in ascending order: a producer's records are dropped from its first
    /// aborted offset until its abort marker.
    aborted: std::vec::IntoIter<(i64, i64)>,
    /// Producers inside an aborted transaction at the current batch.
    aborting: HashSet<i64>,
    /// A batch with an unusable length after `data`: its base offset and
    /// the problem, reported when decoding gets there.
    bad: Option<(i64, String)>,
    /// The leader epoch of the last complete batch: the epoch of the
    /// position after this chunk.
    pub(crate) last_epoch: Option<i32>,
}

/// Decoding a chunk stopped at a batch that cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChunkError {
    /// Where fetching must start again to reach the bad batch: its base
    /// offset, or the fetch offset if that lies inside it.
    pub(crate) offset: i64,
    pub(crate) detail: String,
}

impl Chunk {
    /// Scans the batch headers of `data` (the partition's part of a Fetch
    /// from `fetch_offset`) and keeps the complete batches for later.
    /// Returns the chunk (`None`: nothing to decode) and the offset to fetch
    /// next (`None`: no complete batch, fetch again from the same offset).
    pub(crate) fn new(
        tp: &TopicPartition,
        data: PartitionData,
        fetch_offset: i64,
        isolation: IsolationLevel,
        epoch: u64,
        broker: i32,
    ) -> (Option<Chunk>, Option<i64>) {
        let Some(mut raw) = data.records else {
            return (None, None);
        };
        let scan = scan_batches(&raw);
        raw.truncate(scan.complete);
        if raw.is_empty() && scan.error.is_none() {
            return (None, scan.next_offset);
        }
        let read_committed = isolation == IsolationLevel::ReadCommitted;
        let mut aborted: Vec<(i64, i64)> = if read_committed {
            data.aborted_transactions
                .unwrap_or_default()
                .iter()
                .map(|a| (a.first_offset, a.producer_id.0))
                .collect()
        } else {
            Vec::new()
        };
        aborted.sort_unstable();
        let chunk = Chunk {
            tp: tp.clone(),
            epoch,
            broker,
            topic: Arc::from(tp.topic.as_str()),
            data: raw,
            skip_below: fetch_offset,
            read_committed,
            aborted: aborted.into_iter(),
            aborting: HashSet::new(),
            bad: scan.error,
            last_epoch: scan.last_epoch,
        };
        (Some(chunk), scan.next_offset)
    }

    /// Undecoded bytes left.
    pub(crate) fn remaining(&self) -> usize {
        self.data.len()
    }

    /// Whether the chunk ends in a batch that cannot be decoded.
    pub(crate) fn has_error(&self) -> bool {
        self.bad.is_some()
    }

    /// Nothing left to decode or report.
    pub(crate) fn is_done(&self) -> bool {
        self.data.is_empty() && self.bad.is_none()
    }

    /// The offset of the next record this chunk can show (or of a control
    /// or aborted batch before it).
    pub(crate) fn next_offset(&self) -> i64 {
        let base = if self.data.len() >= 8 {
            base_offset(&self.data)
        } else {
            self.bad.as_ref().map_or(self.skip_below, |b| b.0)
        };
        base.max(self.skip_below)
    }

    /// Decodes batches into `out` until one yields a record the application
    /// sees, or the chunk is exhausted. Returns how many records were added.
    /// At a batch that cannot be decoded, `out` is left as it was before
    /// that batch, and the rest of the chunk is no use.
    pub(crate) fn decode_into(
        &mut self,
        out: &mut VecDeque<ConsumerRecord>,
        limit: usize,
    ) -> std::result::Result<usize, ChunkError> {
        let before = out.len();
        while out.len() == before {
            let size = match batch_extent(&self.data) {
                Ok(Some(size)) => size,
                // Only complete batches were kept; the data ends here.
                Ok(None) => {
                    self.data.clear();
                    return match self.bad.take() {
                        Some((base, detail)) => Err(self.error_at(base, detail)),
                        None => Ok(0),
                    };
                }
                Err(detail) => {
                    let base = base_offset(&self.data);
                    self.data.clear();
                    return Err(self.error_at(base, detail));
                }
            };
            let one = self.data.split_to(size);
            if let Err(detail) = self.decode_batch(&one, out, limit) {
                out.truncate(before);
                self.data.clear();
                self.bad = None;
                return Err(self.error_at(base_offset(&one), detail));
            }
        }
        Ok(out.len() - before)
    }

    fn error_at(&self, base: i64, detail: String) -> ChunkError {
        ChunkError {
            offset: base.max(self.skip_below),
            detail,
        }
    }

    /// One batch: read_committed filtering, control batches, records before
    /// the fetch offset, as the Java consumer does.
    fn decode_batch(
        &mut self,
        b: &Bytes,
        out: &mut VecDeque<ConsumerRecord>,
        limit: usize,
    ) -> std::result::Result<(), String> {
        // Every batch's CRC is checked, but batches the application does
        // not see are not decompressed or parsed: no use for their records.
        let h = batch_header(b)?;
        let last = h.last_offset();
        if last < self.skip_below {
            return Ok(());
        }
        if self.read_committed {
            while let Some(&(first, pid)) = self.aborted.as_slice().first() {
                if first > last {
                    break;
                }
                self.aborting.insert(pid);
                self.aborted.next();
            }
        }
        if h.control {
            // Control batches hold one marker: key = version i16, type i16
            // (0 abort, 1 commit). Never shown to the application.
            let mut is_abort = None;
            decode_records(b, &h, limit, |r| {
                if is_abort.is_none() {
                    is_abort =
                        Some(r.key.as_ref().is_some_and(|k| {
                            k.len() >= 4 && i16::from_be_bytes([k[2], k[3]]) == 0
                        }));
                }
            })?;
            if is_abort == Some(true) {
                self.aborting.remove(&h.producer_id);
            }
            return Ok(());
        }
        if self.read_committed && h.transactional && self.aborting.contains(&h.producer_id) {
            return Ok(());
        }
        let skip_below = self.skip_below;
        let topic = &self.topic;
        let partition = self.tp.partition;
        let leader_epoch = h.partition_leader_epoch;
        decode_records(b, &h, limit, |r| {
            if r.offset >= skip_below {
                out.push_back(ConsumerRecord {
                    topic: Arc::clone(topic),
                    partition,
                    offset: r.offset,
                    timestamp: r.timestamp,
                    key: r.key,
                    value: r.value,
                    headers: r.headers,
                    leader_epoch,
                });
            }
        })
    }
}

/// Every record of one partition's fetch data that the application sees,
/// and the offset to fetch next: a chunk decoded at once.
#[cfg(test)]
pub(crate) fn partition_records(
    tp: &TopicPartition,
    data: &PartitionData,
    fetch_offset: i64,
    isolation: IsolationLevel,
    decompress_limit: usize,
) -> std::result::Result<(Vec<ConsumerRecord>, Option<i64>), String> {
    let (chunk, next) = Chunk::new(tp, data.clone(), fetch_offset, isolation, 0, 0);
    let mut out = VecDeque::new();
    if let Some(mut c) = chunk {
        while !c.is_done() {
            c.decode_into(&mut out, decompress_limit)
                .map_err(|e| e.detail)?;
        }
    }
    Ok((out.into(), next))
}

fn topic_name(t: &str) -> TopicName {
    TopicName(StrBytes::from_string(t.to_owned()))
}

/// `parts` grouped by the broker leading each. Partitions whose leader is
/// unknown are left out, and the metadata is marked for a refresh: the
/// caller retries them afterwards.
fn by_leader<'a, T>(
    cluster: &Cluster,
    parts: &'a [T],
    tp: impl Fn(&T) -> &TopicPartition,
) -> BTreeMap<i32, Vec<&'a T>> {
    let (snap, generation) = cluster.metadata();
    let mut out: BTreeMap<i32, Vec<&T>> = BTreeMap::new();
    for p in parts {
        let tp = tp(p);
        match snap.leader(&tp.topic, tp.partition) {
            Some(l) => out.entry(l).or_default().push(p),
            None => cluster.invalidate(generation),
        }
    }
    out
}

/// `req` to broker `leader`, connecting first if needed.
async fn ask<A: Api>(cluster: &Cluster, leader: i32, req: &A) -> Result<A::Response> {
    cluster.broker(leader).await?.request(req).await
}

/// Which end of a partition to ask ListOffsets for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    Earliest,
    Latest,
}

/// ListOffsets for `parts`, grouped by leader: the earliest or latest
/// offset of each (latest = last stable offset under read_committed), with
/// the leader epoch of the record before it when the broker tells.
/// Partitions whose leader is unknown or failed are left out; the caller
/// retries them after a metadata refresh.
pub(crate) async fn list_offsets(
    cluster: &Cluster,
    parts: &[(TopicPartition, End)],
    isolation: IsolationLevel,
) -> Result<HashMap<TopicPartition, (i64, Option<i32>)>> {
    let (snap, generation) = cluster.metadata();
    let mut out = HashMap::new();
    for (leader, ps) in by_leader(cluster, parts, |p| &p.0) {
        let mut topics: BTreeMap<&str, Vec<ListOffsetsPartition>> = BTreeMap::new();
        for (tp, end) in ps {
            topics.entry(&tp.topic).or_default().push(
                ListOffsetsPartition::default()
                    .with_partition_index(tp.partition)
                    .with_current_leader_epoch(snap.leader_epoch(&tp.topic, tp.partition))
                    .with_timestamp(match end {
                        End::Earliest => -2,
                        End::Latest => -1,
                    }),
            );
        }
        let req = ListOffsetsRequest::default()
            // -1: a consumer, not a follower replica.
            .with_replica_id(BrokerId(-1))
            .with_isolation_level(isolation.wire())
            .with_topics(
                topics
                    .into_iter()
                    .map(|(t, ps)| {
                        ListOffsetsTopic::default()
                            .with_name(topic_name(t))
                            .with_partitions(ps)
                    })
                    .collect(),
            );
        let resp = match ask(cluster, leader, &req).await {
            Ok(r) => r,
            Err(e) if e.is_retriable() => {
                cluster.invalidate(generation);
                tracing::debug!(broker = leader, error = %e, "ListOffsets failed; will retry");
                continue;
            }
            Err(e) => return Err(e),
        };
        for t in &resp.topics {
            for p in &t.partitions {
                let tp = TopicPartition::new(t.name.0.as_str(), p.partition_index);
                match ErrorCode::from_code(p.error_code) {
                    None => {
                        out.insert(tp, (p.offset, Some(p.leader_epoch).filter(|e| *e >= 0)));
                    }
                    Some(code) if code.is_retriable() => {
                        if code.invalidates_metadata() {
                            cluster.invalidate(generation);
                        }
                    }
                    Some(code) => {
                        return Err(KafkaError::broker(
                            code,
                            format!("ListOffsets of {tp}"),
                            None,
                        ));
                    }
                }
            }
        }
    }
    Ok(out)
}

/// What the leader's log says of a position after a leader change
/// (KIP-320): whether the records fetched before it are still the log's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Validation {
    /// The log holds the position's epoch up to the position at least.
    Valid,
    /// The log was truncated: from `offset` on it holds other records than
    /// those fetched (or none yet). `epoch` is the epoch before `offset`.
    Diverged { offset: i64, epoch: i32 },
    /// The leader knows nothing of the position's epoch (it is older than
    /// the log's start, or the broker kept no epochs): no point to go back
    /// to, so the offset reset policy decides.
    Unknown,
}

/// Judges a position (`offset`, fetched under epoch E) by what the leader
/// answered to OffsetsForLeaderEpoch(E): the largest epoch ≤ E it has, and
/// where that epoch ends in its log. As the Java client does.
pub(crate) fn judge(offset: i64, end_epoch: i32, end_offset: i64) -> Validation {
    if end_epoch < 0 || end_offset < 0 {
        Validation::Unknown
    } else if end_offset < offset {
        Validation::Diverged {
            offset: end_offset,
            epoch: end_epoch,
        }
    } else {
        Validation::Valid
    }
}

/// A position to validate: the partition, its fetch offset, the leader
/// epoch of the record before it, and the leader epoch the metadata gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ToValidate {
    pub(crate) tp: TopicPartition,
    pub(crate) offset: i64,
    pub(crate) offset_epoch: i32,
    pub(crate) leader_epoch: i32,
}

/// OffsetsForLeaderEpoch for `parts`, grouped by leader, judged with
/// [`judge`]. Partitions whose leader is unknown, or that failed in a
/// retriable way, are left out (the caller retries them after a metadata
/// refresh). A broker too old to answer (before Kafka 2.3) cannot tell:
/// its partitions count as valid.
pub(crate) async fn validate_positions(
    cluster: &Cluster,
    parts: &[ToValidate],
) -> Result<HashMap<TopicPartition, Validation>> {
    let (_, generation) = cluster.metadata();
    let mut out = HashMap::new();
    for (leader, ps) in by_leader(cluster, parts, |p| &p.tp) {
        let mut topics: BTreeMap<&str, Vec<OffsetForLeaderPartition>> = BTreeMap::new();
        for p in &ps {
            topics.entry(&p.tp.topic).or_default().push(
                OffsetForLeaderPartition::default()
                    .with_partition(p.tp.partition)
                    .with_current_leader_epoch(p.leader_epoch)
                    .with_leader_epoch(p.offset_epoch),
            );
        }
        let req = OffsetForLeaderEpochRequest::default()
            // -1: a consumer, not a follower replica.
            .with_replica_id(BrokerId(-1))
            .with_topics(
                topics
                    .into_iter()
                    .map(|(t, ps)| {
                        OffsetForLeaderTopic::default()
                            .with_topic(topic_name(t))
                            .with_partitions(ps)
                    })
                    .collect(),
            );
        let resp = match ask(cluster, leader, &req).await {
            Ok(r) => r,
            Err(KafkaError::UnsupportedVersion { .. }) => {
                tracing::debug!(
                    broker = leader,
                    "no OffsetsForLeaderEpoch v3+: positions not validated"
                );
                out.extend(ps.iter().map(|p| (p.tp.clone(), Validation::Valid)));
                continue;
            }
            Err(e) if e.is_retriable() => {
                cluster.invalidate(generation);
                tracing::debug!(broker = leader, error = %e, "OffsetsForLeaderEpoch failed; will retry");
                continue;
            }
            Err(e) => return Err(e),
        };
        for t in &resp.topics {
            for r in &t.partitions {
                let tp = TopicPartition::new(t.topic.0.as_str(), r.partition);
                let Some(p) = ps.iter().find(|p| p.tp == tp) else {
                    continue;
                };
                match ErrorCode::from_code(r.error_code) {
                    None => {
                        out.insert(tp, judge(p.offset, r.leader_epoch, r.end_offset));
                    }
                    Some(code) if code.is_retriable() => {
                        tracing::debug!(partition = %tp, error = %code, "position validation; will retry");
                        if code.invalidates_metadata() {
                            cluster.invalidate(generation);
                        }
                    }
                    Some(code) => {
                        return Err(KafkaError::broker(
                            code,
                            format!("OffsetsForLeaderEpoch of {tp} from broker {leader}"),
                            None,
                        ));
                    }
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::ProducerId;
    use kafka_protocol::messages::fetch_response::AbortedTransaction;

    use super::*;

    /// A v2 batch with `n` records (values "0".."n-1") at `base`, with the
    /// given producer id and attributes (0x10 transactional, 0x20 control).
    fn batch(base: i64, n: i32, pid: i64, attributes: i16, control_type: Option<i16>) -> Vec<u8> {
        let deltas: Vec<i32> = (0..n).collect();
        batch_with_gaps(base, &deltas, n - 1, pid, attributes, control_type)
    }

    /// A v2 batch whose records sit at `base` + each of `deltas` (value: the
    /// delta), claiming `last_delta` as its last offset delta: gaps are what
    /// compaction leaves.
    fn batch_with_gaps(
        base: i64,
        deltas: &[i32],
        last_delta: i32,
        pid: i64,
        attributes: i16,
        control_type: Option<i16>,
    ) -> Vec<u8> {
        let mut body = Vec::new();
        for &d in deltas {
            let mut rec = vec![0u8]; // attributes
            rec.push(0); // timestamp delta 0
            rec.push((d as u8) << 1); // offset delta (zigzag)
            match control_type {
                Some(t) => {
                    rec.push(4 << 1); // key length 4
                    rec.extend_from_slice(&0i16.to_be_bytes());
                    rec.extend_from_slice(&t.to_be_bytes());
                }
                None => rec.push(1), // null key (-1 zigzag)
            }
            let v = d.to_string();
            rec.push((v.len() as u8) << 1);
            rec.extend_from_slice(v.as_bytes());
            rec.push(0); // no headers
            body.push((rec.len() as u8) << 1);
            body.extend_from_slice(&rec);
        }
        let n = deltas.len() as i32;
        let mut tail = Vec::new();
        tail.extend_from_slice(&attributes.to_be_bytes());
        tail.extend_from_slice(&last_delta.to_be_bytes());
        tail.extend_from_slice(&0i64.to_be_bytes());
        tail.extend_from_slice(&0i64.to_be_bytes());
        tail.extend_from_slice(&pid.to_be_bytes());
        tail.extend_from_slice(&0i16.to_be_bytes());
        tail.extend_from_slice(&0i32.to_be_bytes());
        tail.extend_from_slice(&n.to_be_bytes());
        tail.extend_from_slice(&body);
        let mut out = Vec::new();
        out.extend_from_slice(&base.to_be_bytes());
        out.extend_from_slice(&((tail.len() + 9) as i32).to_be_bytes());
        out.extend_from_slice(&0i32.to_be_bytes());
        out.push(2);
        out.extend_from_slice(&crc32c::crc32c(&tail).to_be_bytes());
        out.extend_from_slice(&tail);
        out
    }

    fn chunk_of(
        data: Vec<u8>,
        fetch_offset: i64,
        isolation: IsolationLevel,
        aborted: &[(i64, i64)],
    ) -> (Option<Chunk>, Option<i64>) {
        let pd = PartitionData::default()
            .with_records(Some(Bytes::from(data)))
            .with_aborted_transactions(Some(
                aborted
                    .iter()
                    .map(|&(pid, first)| {
                        AbortedTransaction::default()
                            .with_producer_id(ProducerId(pid))
                            .with_first_offset(first)
                    })
                    .collect(),
            ));
        Chunk::new(
            &TopicPartition::new("t", 0),
            pd,
            fetch_offset,
            isolation,
            1,
            0,
        )
    }

    /// The offsets one `decode_into` call adds.
    fn step(c: &mut Chunk) -> std::result::Result<Vec<i64>, ChunkError> {
        let mut out = VecDeque::new();
        c.decode_into(&mut out, 1 << 20)?;
        Ok(out.iter().map(|r| r.offset).collect())
    }

    #[test]
    fn scan_finds_the_next_offset_from_the_headers_alone() {
        let a = batch(0, 3, -1, 0, None);
        // Compacted: records at 3 and 7 left, the batch still ends at 9.
        let b = batch_with_gaps(3, &[0, 4], 6, -1, 0, None);
        let c = batch(10, 2, -1, 0, None);
        let mut data = [a.clone(), b.clone()].concat();
        data.extend_from_slice(&c[..c.len() - 1]); // cut by the fetch size
        let scan = scan_batches(&data);
        assert_eq!(scan.complete, a.len() + b.len());
        assert_eq!(scan.next_offset, Some(10), "past the compacted gap");
        assert_eq!(scan.error, None);

        let (chunk, next) = chunk_of(data, 0, IsolationLevel::ReadUncommitted, &[]);
        assert_eq!(next, Some(10));
        let mut chunk = chunk.expect("data");
        assert_eq!(
            chunk.remaining(),
            a.len() + b.len(),
            "the cut batch dropped"
        );
        assert_eq!(step(&mut chunk), Ok(vec![0, 1, 2]));
        assert_eq!(step(&mut chunk), Ok(vec![3, 7]));
        assert_eq!(step(&mut chunk), Ok(vec![]));
        assert!(chunk.is_done());

        // Nothing complete: no chunk, fetch again from the same offset.
        let (chunk, next) = chunk_of(c[..60].to_vec(), 10, IsolationLevel::ReadUncommitted, &[]);
        assert!(chunk.is_none());
        assert_eq!(next, None);
        let (chunk, next) = chunk_of(Vec::new(), 10, IsolationLevel::ReadUncommitted, &[]);
        assert!(chunk.is_none());
        assert_eq!(next, None);

        // A length no batch can have stops the scan there: the batches
        // before it still count, the problem is kept for later.
        for (len, what) in [(-5i32, "negative"), (10, "shorter than a batch header")] {
            let mut bad = batch(3, 2, -1, 0, None);
            bad[8..12].copy_from_slice(&len.to_be_bytes());
            let data = [a.clone(), bad].concat();
            let scan = scan_batches(&data);
            assert_eq!(scan.complete, a.len());
            assert_eq!(scan.next_offset, Some(3));
            let (base, e) = scan.error.expect("bad length");
            assert_eq!(base, 3);
            assert!(e.contains(what), "{e}");
        }
    }

    #[test]
    fn chunks_decode_one_batch_at_a_time_across_aborted_transactions() {
        let batches = [
            batch(0, 2, 7, 0x10, None),     // txn 7 (aborted): 0, 1
            batch(2, 2, 8, 0x10, None),     // txn 8 (committed): 2, 3
            batch(4, 2, 7, 0x10, None),     // txn 7 goes on: 4, 5
            batch(6, 2, -1, 0, None),       // plain: 6, 7
            batch(8, 1, 7, 0x30, Some(0)),  // abort marker of 7
            batch(9, 2, 8, 0x10, None),     // txn 8 again, aborted: 9, 10
            batch(11, 1, 8, 0x30, Some(1)), // commit marker of 8 (first txn)
            batch(12, 1, 8, 0x30, Some(0)), // abort marker of 8
            batch(13, 2, 7, 0x10, None),    // txn 7, new, committed: 13, 14
        ];
        let sizes: Vec<usize> = batches.iter().map(Vec::len).collect();
        let total: usize = sizes.iter().sum();
        let (chunk, next) = chunk_of(
            batches.concat(),
            0,
            IsolationLevel::ReadCommitted,
            &[(8, 9), (7, 0)],
        );
        assert_eq!(next, Some(15));
        let mut c = chunk.expect("data");
        assert_eq!(c.remaining(), total);
        assert_eq!(c.next_offset(), 0);
        // Each step decodes only as far as the next shown record.
        assert_eq!(step(&mut c), Ok(vec![2, 3]));
        assert_eq!(c.remaining(), total - sizes[0] - sizes[1]);
        assert_eq!(c.next_offset(), 4);
        assert_eq!(step(&mut c), Ok(vec![6, 7]), "7 still aborting");
        assert_eq!(c.remaining(), total - sizes[..4].iter().sum::<usize>());
        assert_eq!(step(&mut c), Ok(vec![13, 14]), "8 aborting from 9 on");
        assert_eq!(step(&mut c), Ok(vec![]));
        assert!(c.is_done());

        // The same bytes read_uncommitted: everything but the markers.
        let (chunk, _) = chunk_of(batches.concat(), 0, IsolationLevel::ReadUncommitted, &[]);
        let mut c = chunk.expect("data");
        let mut all = Vec::new();
        while !c.is_done() {
            all.extend(step(&mut c).expect("decode"));
        }
        assert_eq!(all, vec![0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 13, 14]);

        // From inside a batch: the records before the fetch offset are not
        // shown again.
        let (chunk, _) = chunk_of(
            batches.concat(),
            3,
            IsolationLevel::ReadCommitted,
            &[(7, 0)],
        );
        let mut c = chunk.expect("data");
        assert_eq!(c.next_offset(), 3);
        assert_eq!(step(&mut c), Ok(vec![3]));
    }

    #[test]
    fn a_bad_batch_mid_chunk_fails_after_the_records_before_it() {
        let mut bad = batch(4, 2, -1, 0, None);
        let last = bad.len() - 1;
        bad[last] ^= 1; // fails the CRC, not the header scan
        let data = [
            batch(0, 2, -1, 0, None),
            batch(2, 2, -1, 0, None),
            bad,
            batch(6, 2, -1, 0, None),
        ]
        .concat();
        let (chunk, next) = chunk_of(data.clone(), 0, IsolationLevel::ReadUncommitted, &[]);
        assert_eq!(next, Some(8));
        let mut c = chunk.expect("data");
        assert!(!c.has_error(), "only decoding finds a bad CRC");
        assert_eq!(step(&mut c), Ok(vec![0, 1]));
        assert_eq!(step(&mut c), Ok(vec![2, 3]));
        let e = step(&mut c).expect_err("bad batch");
        assert_eq!(e.offset, 4);
        assert!(e.detail.contains("CRC"), "{}", e.detail);
        assert!(c.is_done(), "nothing after the bad batch is used");

        // Fetched from inside the bad batch: fetch again from there.
        let (chunk, _) = chunk_of(
            data[sizes_of(&data, 2)..].to_vec(),
            5,
            IsolationLevel::ReadUncommitted,
            &[],
        );
        let e = step(&mut chunk.expect("data")).expect_err("bad batch");
        assert_eq!(e.offset, 5);

        // A bad length found by the scan: reported where decoding gets to it.
        let mut broken = batch(4, 2, -1, 0, None);
        broken[8..12].copy_from_slice(&(-1i32).to_be_bytes());
        let data = [batch(0, 2, -1, 0, None), broken].concat();
        let (chunk, next) = chunk_of(data, 0, IsolationLevel::ReadUncommitted, &[]);
        assert_eq!(next, Some(2));
        let mut c = chunk.expect("data");
        assert!(c.has_error());
        assert_eq!(step(&mut c), Ok(vec![0, 1]));
        assert_eq!(c.next_offset(), 4);
        let e = step(&mut c).expect_err("bad length");
        assert_eq!(e.offset, 4);
        assert!(e.detail.contains("negative batch length"), "{}", e.detail);
        assert!(c.is_done());
    }

    /// Bytes taken by the first `n` batches of `data`.
    fn sizes_of(data: &[u8], n: usize) -> usize {
        let mut at = 0;
        for _ in 0..n {
            at += batch_extent(&data[at..])
                .expect("length")
                .expect("complete");
        }
        at
    }

    #[test]
    fn positions_are_judged_as_the_java_client_does() {
        // The epoch ends past the position: nothing lost.
        assert_eq!(judge(100, 3, 150), Validation::Valid);
        assert_eq!(judge(100, 3, 100), Validation::Valid);
        // The new leader's log holds epoch 3 only up to 80: the records
        // fetched from 80 on are gone (and others may take their offsets).
        assert_eq!(
            judge(100, 3, 80),
            Validation::Diverged {
                offset: 80,
                epoch: 3
            }
        );
        // An older epoch answered: the log diverges where it ends.
        assert_eq!(
            judge(100, 2, 60),
            Validation::Diverged {
                offset: 60,
                epoch: 2
            }
        );
        // The leader knows no epoch that old.
        assert_eq!(judge(100, -1, -1), Validation::Unknown);
        assert_eq!(judge(100, 2, -1), Validation::Unknown);
    }

    #[test]
    fn fetches_carry_the_leader_epoch() {
        let limits = FetchLimits {
            min_bytes: 1,
            max_wait_ms: 500,
            max_bytes: 1 << 20,
            partition_max_bytes: 1 << 16,
            isolation: IsolationLevel::ReadUncommitted,
        };
        let parts = [
            FetchPart {
                tp: TopicPartition::new("a", 1),
                offset: 10,
                leader_epoch: 4,
            },
            FetchPart {
                tp: TopicPartition::new("a", 0),
                offset: 7,
                leader_epoch: -1,
            },
        ];
        let req = fetch_request(&Plan::sessionless(parts.to_vec()), &limits);
        assert_eq!(req.topics.len(), 1);
        let ps = &req.topics[0].partitions;
        assert_eq!(
            ps.iter()
                .map(|p| (p.partition, p.fetch_offset, p.current_leader_epoch))
                .collect::<Vec<_>>(),
            vec![(1, 10, 4), (0, 7, -1)]
        );
        // Only the consumer's fields: no follower epoch check.
        assert!(ps.iter().all(|p| p.last_fetched_epoch == -1));
    }

    #[test]
    fn read_committed_skips_aborted_and_control_records() {
        let mut data = Vec::new();
        data.extend(batch(0, 2, 7, 0x10, None)); // txn 7, aborted
        data.extend(batch(2, 1, 7, 0x30, Some(0))); // abort marker
        data.extend(batch(3, 2, 8, 0x10, None)); // txn 8, committed
        data.extend(batch(5, 1, 8, 0x30, Some(1))); // commit marker
        data.extend(batch(6, 3, -1, 0, None)); // plain, 6..8
        let pd = PartitionData::default()
            .with_records(Some(Bytes::from(data)))
            .with_aborted_transactions(Some(vec![
                AbortedTransaction::default()
                    .with_producer_id(ProducerId(7))
                    .with_first_offset(0),
            ]));
        let tp = TopicPartition::new("t", 0);
        let (recs, next) =
            partition_records(&tp, &pd, 0, IsolationLevel::ReadCommitted, 1 << 20).expect("decode");
        let offsets: Vec<i64> = recs.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, vec![3, 4, 6, 7, 8]);
        assert_eq!(next, Some(9));
        let (recs, _) = partition_records(&tp, &pd, 0, IsolationLevel::ReadUncommitted, 1 << 20)
            .expect("decode");
        let offsets: Vec<i64> = recs.iter().map(|r| r.offset).collect();
        assert_eq!(
            offsets,
            vec![0, 1, 3, 4, 6, 7, 8],
            "control records never shown"
        );
        // Records before the fetch offset (inside a batch) are skipped.
        let (recs, _) = partition_records(&tp, &pd, 7, IsolationLevel::ReadUncommitted, 1 << 20)
            .expect("decode");
        assert_eq!(
            recs.iter().map(|r| r.offset).collect::<Vec<_>>(),
            vec![7, 8]
        );
        assert_eq!(recs[0].value.as_deref(), Some(&b"1"[..]));
    }
}
