//! Fetch requests and their responses: which records of a partition's
//! data the application may see (read_committed filtering), and where the
//! next fetch starts. Also ListOffsets, for offset resets.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest, ListOffsetsRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::{ConsumerRecord, IsolationLevel, TopicPartition};
use crate::cluster::Cluster;
use crate::error::{ErrorCode, KafkaError, Result};
use crate::records::decode_batches;

/// Fetch limits, from the consumer config.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FetchLimits {
    pub(crate) min_bytes: i32,
    pub(crate) max_wait_ms: i32,
    pub(crate) max_bytes: i32,
    pub(crate) partition_max_bytes: i32,
    pub(crate) isolation: IsolationLevel,
}

/// A Fetch request for `parts` (partition → offset), all led by one broker.
pub(crate) fn fetch_request(parts: &[(TopicPartition, i64)], l: &FetchLimits) -> FetchRequest {
    let mut topics: BTreeMap<&str, Vec<FetchPartition>> = BTreeMap::new();
    for (tp, offset) in parts {
        topics.entry(&tp.topic).or_default().push(
            FetchPartition::default()
                .with_partition(tp.partition)
                .with_fetch_offset(*offset)
                .with_partition_max_bytes(l.partition_max_bytes),
        );
    }
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(l.max_wait_ms)
        .with_min_bytes(l.min_bytes)
        .with_max_bytes(l.max_bytes)
        .with_isolation_level(l.isolation.wire())
        // No fetch session (KIP-227): full fetches are simpler and fine
        // for the partition counts of SINETStream applications.
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(
            topics
                .into_iter()
                .map(|(t, ps)| {
                    FetchTopic::default()
                        .with_topic(TopicName(StrBytes::from_string(t.to_owned())))
                        .with_partitions(ps)
                })
                .collect(),
        )
}

/// The records of one partition's fetch data that the application sees,
/// and the offset to fetch next (`None`: no complete batch, fetch again
/// from the same offset).
pub(crate) fn partition_records(
    tp: &TopicPartition,
    data: &PartitionData,
    fetch_offset: i64,
    isolation: IsolationLevel,
    decompress_limit: usize,
) -> std::result::Result<(Vec<ConsumerRecord>, Option<i64>), String> {
    let Some(raw) = data.records.clone() else {
        return Ok((Vec::new(), None));
    };
    let batches = decode_batches(raw, decompress_limit)?;
    // Aborted transactions by first offset: a producer's records are
    // dropped from its first aborted offset until its abort marker.
    let mut aborted: Vec<(i64, i64)> = data
        .aborted_transactions
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|a| (a.first_offset, a.producer_id.0))
        .collect();
    aborted.sort_unstable();
    let mut aborted = aborted.into_iter().peekable();
    let mut aborting: HashSet<i64> = HashSet::new();
    let read_committed = isolation == IsolationLevel::ReadCommitted;
    let mut out = Vec::new();
    let mut next = None;
    // One name for all the records: a String each cost an allocation.
    let topic: Arc<str> = Arc::from(tp.topic.as_str());
    for b in batches {
        let last = b.base_offset.saturating_add(i64::from(b.last_offset_delta));
        next = Some(last.saturating_add(1));
        if last < fetch_offset {
            continue;
        }
        if read_committed {
            while let Some(&(first, pid)) = aborted.peek() {
                if first > last {
                    break;
                }
                aborting.insert(pid);
                aborted.next();
            }
        }
        if b.control {
            // Control batches hold one marker: key = version i16, type i16
            // (0 abort, 1 commit). Never shown to the application.
            let is_abort = b
                .records
                .first()
                .and_then(|r| r.key.as_ref())
                .is_some_and(|k: &Bytes| k.len() >= 4 && i16::from_be_bytes([k[2], k[3]]) == 0);
            if is_abort {
                aborting.remove(&b.producer_id);
            }
            continue;
        }
        if read_committed && b.transactional && aborting.contains(&b.producer_id) {
            continue;
        }
        for r in b.records {
            if r.offset < fetch_offset {
                continue;
            }
            out.push(ConsumerRecord {
                topic: Arc::clone(&topic),
                partition: tp.partition,
                offset: r.offset,
                timestamp: r.timestamp,
                key: r.key,
                value: r.value,
                headers: r.headers,
            });
        }
    }
    Ok((out, next))
}

/// Which end of a partition to ask ListOffsets for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    Earliest,
    Latest,
}

/// ListOffsets for `parts`, grouped by leader: the earliest or latest
/// offset of each (latest = last stable offset under read_committed).
/// Partitions whose leader is unknown or failed are left out; the caller
/// retries them after a metadata refresh.
pub(crate) async fn list_offsets(
    cluster: &Cluster,
    parts: &[(TopicPartition, End)],
    isolation: IsolationLevel,
) -> Result<HashMap<TopicPartition, i64>> {
    let (snap, generation) = cluster.metadata();
    let mut by_leader: BTreeMap<i32, Vec<&(TopicPartition, End)>> = BTreeMap::new();
    for p in parts {
        match snap.leader(&p.0.topic, p.0.partition) {
            Some(l) => by_leader.entry(l).or_default().push(p),
            None => cluster.invalidate(generation),
        }
    }
    let mut out = HashMap::new();
    for (leader, ps) in by_leader {
        let mut topics: BTreeMap<&str, Vec<ListOffsetsPartition>> = BTreeMap::new();
        for (tp, end) in ps {
            topics.entry(&tp.topic).or_default().push(
                ListOffsetsPartition::default()
                    .with_partition_index(tp.partition)
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
                            .with_name(TopicName(StrBytes::from_string(t.to_owned())))
                            .with_partitions(ps)
                    })
                    .collect(),
            );
        let resp = match cluster.broker(leader).await {
            Ok(c) => c.request(&req).await,
            Err(e) => Err(e),
        };
        let resp = match resp {
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
                        out.insert(tp, p.offset);
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

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::ProducerId;
    use kafka_protocol::messages::fetch_response::AbortedTransaction;

    use super::*;

    /// A v2 batch with `n` records (values "0".."n-1") at `base`, with the
    /// given producer id and attributes (0x10 transactional, 0x20 control).
    fn batch(base: i64, n: i32, pid: i64, attributes: i16, control_type: Option<i16>) -> Vec<u8> {
        let mut body = Vec::new();
        for i in 0..n {
            let mut rec = vec![0u8]; // attributes
            rec.push(0); // timestamp delta 0
            rec.push((i as u8) << 1); // offset delta (zigzag)
            match control_type {
                Some(t) => {
                    rec.push(4 << 1); // key length 4
                    rec.extend_from_slice(&0i16.to_be_bytes());
                    rec.extend_from_slice(&t.to_be_bytes());
                }
                None => rec.push(1), // null key (-1 zigzag)
            }
            let v = i.to_string();
            rec.push((v.len() as u8) << 1);
            rec.extend_from_slice(v.as_bytes());
            rec.push(0); // no headers
            body.push((rec.len() as u8) << 1);
            body.extend_from_slice(&rec);
        }
        let mut tail = Vec::new();
        tail.extend_from_slice(&attributes.to_be_bytes());
        tail.extend_from_slice(&(n - 1).to_be_bytes());
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
