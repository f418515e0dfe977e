//! The record accumulator: per-partition batches between `send` and the
//! sender task.
//!
//! `send` appends to the partition's open batch; the sender closes batches
//! (full, lingered long enough, or flushed), moves them to the partition's
//! ready queue and takes them from its front. Retried batches go back to
//! the front in sequence order, so a partition's records keep their order.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use super::delivery::{Completer, DeliveryFuture};
use super::idempotence::seq_distance;
use super::partitioner::Sticky;
use crate::error::{KafkaError, Result};
use crate::records::{BATCH_OVERHEAD, BatchRecord, ProducerIdentity, record_wire_size};

/// A topic partition; the topic name is shared by all its batches.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct TopicPartition {
    pub(crate) topic: Arc<str>,
    pub(crate) partition: i32,
}

impl std::fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// Records bound for one partition, sent (and retried) as one unit.
pub(crate) struct Batch {
    /// Creation order; `flush` waits for ids below a mark.
    pub(crate) id: u64,
    pub(crate) tp: TopicPartition,
    pub(crate) records: Vec<BatchRecord>,
    /// The outcome its tracked records' delivery futures wait for; `None`
    /// while every record was sent untracked (failures still count in the
    /// accumulator).
    pub(crate) outcome: Option<Completer>,
    /// Encoded size: the batch overhead plus each record's exact bytes.
    pub(crate) size: usize,
    /// Buffer memory held until the batch completes.
    pub(crate) permit: Option<OwnedSemaphorePermit>,
    pub(crate) created: Instant,
    pub(crate) attempts: u32,
    pub(crate) retry_at: Option<Instant>,
    /// Producer id, epoch and base sequence, fixed at the first send of an
    /// idempotent batch and kept for its retries.
    pub(crate) identity: Option<ProducerIdentity>,
    /// The encoded batch, reused by retries with the same identity.
    pub(crate) encoded: Option<(ProducerIdentity, Bytes)>,
}

impl Batch {
    fn new(id: u64, tp: TopicPartition, now: Instant) -> Batch {
        Batch {
            id,
            tp,
            records: Vec::new(),
            outcome: None,
            size: BATCH_OVERHEAD,
            permit: None,
            created: now,
            attempts: 0,
            retry_at: None,
            identity: None,
            encoded: None,
        }
    }

    /// The base sequence, for idempotent batches already sent once.
    pub(crate) fn base_sequence(&self) -> Option<i32> {
        self.identity.map(|i| i.base_sequence)
    }

    /// Resolves every record's delivery future. `base_offset` is -1 when
    /// unknown (acks=0, duplicates); `log_append_time` is -1 unless the
    /// topic uses LogAppendTime.
    pub(crate) fn succeed(self, base_offset: i64, log_append_time: i64) {
        if let Some(c) = &self.outcome {
            c.complete(Ok((base_offset, log_append_time)));
        }
    }

    /// Fails every record's delivery future with `err`.
    pub(crate) fn fail(self, err: &KafkaError) {
        if let Some(c) = &self.outcome {
            c.complete(Err(err.clone()));
        }
    }
}

/// One partition's queue.
#[derive(Default)]
pub(crate) struct PartitionState {
    /// The batch `send` appends to.
    pub(crate) open: Option<Batch>,
    /// Closed batches, in the order they must be sent.
    pub(crate) ready: VecDeque<Batch>,
    /// Batches of this partition awaiting a response.
    pub(crate) in_flight: usize,
    /// Sequence number of the next new idempotent batch.
    pub(crate) next_sequence: i32,
    /// First sequence the broker has not acknowledged: a batch failing with
    /// OUT_OF_ORDER_SEQUENCE_NUMBER that starts above this only waits for
    /// an earlier batch's retry; one that starts here is a real gap.
    pub(crate) acked_sequence: i32,
}

impl PartitionState {
    /// Puts a batch to retry back in its place: in sequence order before any
    /// batch never sent, or at the front when not idempotent.
    pub(crate) fn requeue(&mut self, b: Batch) {
        match b.base_sequence() {
            None => self.ready.push_front(b),
            Some(seq) => {
                let acked = self.acked_sequence;
                let pos = self
                    .ready
                    .iter()
                    .position(|o| {
                        o.base_sequence()
                            .is_none_or(|s| seq_distance(acked, s) > seq_distance(acked, seq))
                    })
                    .unwrap_or(self.ready.len());
                self.ready.insert(pos, b);
            }
        }
    }
}

/// See the module docs.
/// The accumulator's maps are looked up several times per record with keys
/// the application chose (topic names), never a peer: a simple
/// multiply-rotate hash (FxHash's) costs a fraction of SipHash there.
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// FxHash (as in rustc): not DoS-resistant, which these keys do not need.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher {
    hash: u64,
}

impl FxHasher {
    const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(Self::SEED);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

#[derive(Default)]
pub(crate) struct Accumulator {
    pub(crate) partitions: FastMap<TopicPartition, PartitionState>,
    sticky: FastMap<Arc<str>, Sticky>,
    next_batch_id: u64,
    /// Ids of batches not yet completed.
    pub(crate) incomplete: BTreeSet<u64>,
    /// Open batches with a smaller id are sent without waiting for linger.
    pub(crate) flush_upto: u64,
    /// No more appends; send everything now.
    pub(crate) closing: bool,
    /// Records whose delivery failed, ever.
    pub(crate) failed_records: u64,
    /// Recent failures, tagged with `failed_records` before them.
    pub(crate) failures: VecDeque<(u64, KafkaError)>,
    /// Records ever appended, and ever delivered successfully: with
    /// `failed_records`, how many are still on their way.
    pub(crate) appended_records: u64,
    pub(crate) delivered_records: u64,
    /// The producer id and epoch in use (idempotent producers), for
    /// inspection.
    pub(crate) identity: Option<(i64, i16)>,
    /// Test hook: renumber with a bumped epoch at the next chance.
    pub(crate) debug_reset_pid: bool,
}

/// How many recent failures `flush` can report from.
const FAILURE_LOG: usize = 32;

impl Accumulator {
    /// The sticky partition for a keyless record of `topic`, accounting
    /// `size` bytes to it.
    pub(crate) fn sticky_partition(
        &mut self,
        topic: &Arc<str>,
        available: &dyn Fn() -> Vec<i32>,
        partitions: usize,
        size: usize,
        batch_size: usize,
    ) -> i32 {
        // The usable partitions are only listed when a new one is chosen:
        // not once per record.
        let s = self
            .sticky
            .entry(Arc::clone(topic))
            .or_insert_with(|| Sticky::new(&available(), partitions, None));
        // The partition count may have grown or shrunk since the choice.
        if usize::try_from(s.partition()).map_or(true, |p| p >= partitions) {
            *s = Sticky::new(&available(), partitions, None);
        }
        let p = s.partition();
        if s.add(size, batch_size) {
            *s = Sticky::new(&available(), partitions, Some(p));
        }
        p
    }

    /// Appends a record; returns whether the sender should look (a batch was
    /// opened, so a linger timer starts, or one became full).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn append(
        &mut self,
        tp: TopicPartition,
        record: BatchRecord,
        tracked: bool,
        permit: OwnedSemaphorePermit,
        batch_size: usize,
        now: impl FnOnce() -> Instant,
    ) -> (bool, Option<DeliveryFuture>) {
        let mut wake = false;
        // Exact bytes in the batch, deltas from its first record (the
        // encoder's base is the smallest timestamp: the same unless the
        // caller set out-of-order timestamps, where this is a few bytes off).
        let wire = |b: &Batch| {
            let first = b.records.first().map_or(record.timestamp, |f| f.timestamp);
            let offset_delta = i64::try_from(b.records.len()).unwrap_or(i64::MAX);
            record_wire_size(&record, offset_delta, record.timestamp.wrapping_sub(first))
        };
        let ps = self.partitions.entry(tp.clone()).or_default();
        if ps
            .open
            .as_ref()
            .is_some_and(|b| !b.records.is_empty() && b.size + wire(b) > batch_size)
        {
            if let Some(full) = ps.open.take() {
                ps.ready.push_back(full);
            }
            wake = true;
        }
        let batch = match &mut ps.open {
            Some(b) => b,
            None => {
                let id = self.next_batch_id;
                self.next_batch_id += 1;
                self.incomplete.insert(id);
                wake = true;
                ps.open.insert(Batch::new(id, tp, now()))
            }
        };
        batch.size += wire(batch);
        let delivery = tracked.then(|| {
            let index = batch.records.len();
            batch
                .outcome
                .get_or_insert_with(|| Completer::new(batch.tp.clone()))
                .future(index, record.timestamp)
        });
        batch.records.push(record);
        self.appended_records += 1;
        match &mut batch.permit {
            Some(p) => p.merge(permit),
            None => batch.permit = Some(permit),
        }
        if batch.size >= batch_size {
            if let Some(full) = ps.open.take() {
                ps.ready.push_back(full);
            }
            wake = true;
        }
        (wake, delivery)
    }

    /// The id the next batch will get: `flush` waits for every id below.
    pub(crate) fn next_batch_id(&self) -> u64 {
        self.next_batch_id
    }

    /// Notes that `n` records failed with `err`.
    pub(crate) fn record_failure(&mut self, n: usize, err: &KafkaError) {
        if self.failures.len() == FAILURE_LOG {
            self.failures.pop_front();
        }
        self.failures.push_back((self.failed_records, err.clone()));
        self.failed_records += n as u64;
    }

    /// The first failure recorded after `failed_records` was `since`.
    pub(crate) fn first_failure_since(&self, since: u64) -> Option<KafkaError> {
        self.failures
            .iter()
            .find(|(at, _)| *at >= since)
            .or(self.failures.back())
            .map(|(_, e)| e.clone())
    }

    /// [`KafkaError::DeliveryFailed`] (how many, the first error) when
    /// records failed after the failure count was `before`.
    pub(crate) fn failures_since(&self, before: u64) -> Result<(), KafkaError> {
        let failed = self.failed_records.saturating_sub(before);
        if failed == 0 {
            return Ok(());
        }
        let first = self
            .first_failure_since(before)
            .unwrap_or_else(|| KafkaError::Closed("unknown failure".into()));
        Err(KafkaError::DeliveryFailed {
            failed,
            first: Box::new(first),
        })
    }

    /// Whether nothing is queued or in flight.
    pub(crate) fn is_empty(&self) -> bool {
        self.incomplete.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::Semaphore;

    fn rec() -> BatchRecord {
        BatchRecord {
            key: None,
            value: Some(Bytes::from_static(b"0123456789")),
            headers: Vec::new(),
            timestamp: 0,
        }
    }

    #[tokio::test]
    async fn batches_close_when_full() {
        let mem = Arc::new(Semaphore::new(1 << 20));
        let mut acc = Accumulator::default();
        let tp = TopicPartition {
            topic: Arc::from("t"),
            partition: 0,
        };
        let now = Instant::now();
        let mut rxs = Vec::new();
        for _ in 0..10 {
            let permit = Arc::clone(&mem).try_acquire_many_owned(50).expect("memory");
            // Each record takes 17 bytes in its batch: two fit in 100 (61 + 34).
            let (_, rx) = acc.append(tp.clone(), rec(), true, permit, 100, || now);
            rxs.push(rx.expect("a tracked record has a future"));
        }
        let ps = &acc.partitions[&tp];
        // A third record would not fit; the last batch stays open for more.
        assert_eq!(ps.ready.len(), 4);
        assert!(ps.ready.iter().all(|b| b.records.len() == 2));
        assert_eq!(ps.open.as_ref().map(|b| b.records.len()), Some(2));
        assert_eq!(acc.incomplete.len(), 5);
        assert_eq!(mem.available_permits(), (1 << 20) - 500);
        let b = acc
            .partitions
            .get_mut(&tp)
            .and_then(|p| p.ready.pop_front())
            .expect("batch");
        b.succeed(100, -1);
        let first = rxs.remove(0).await.expect("ok");
        assert_eq!((first.partition, first.offset), (0, 100));
        assert_eq!(rxs.remove(0).await.expect("ok").offset, 101);
        assert_eq!(mem.available_permits(), (1 << 20) - 400);
    }

    #[test]
    fn requeue_keeps_sequence_order() {
        let tp = TopicPartition {
            topic: Arc::from("t"),
            partition: 0,
        };
        let now = Instant::now();
        let mut ps = PartitionState::default();
        let with_seq = |id, seq| {
            let mut b = Batch::new(id, tp.clone(), now);
            b.identity = Some(ProducerIdentity {
                producer_id: 1,
                epoch: 0,
                base_sequence: seq,
            });
            b
        };
        ps.ready.push_back(Batch::new(9, tp.clone(), now));
        ps.requeue(with_seq(3, 30));
        ps.requeue(with_seq(1, 10));
        ps.requeue(with_seq(2, 20));
        let order: Vec<u64> = ps.ready.iter().map(|b| b.id).collect();
        assert_eq!(order, vec![1, 2, 3, 9]);
    }
}
