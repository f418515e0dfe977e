//! The group state machine against a scripted TCP broker: the error paths
//! a genuine broker rarely produces on demand (coordinator not available,
//! NOT_COORDINATOR, MEMBER_ID_REQUIRED, REBALANCE_IN_PROGRESS on
//! SyncGroup, ILLEGAL_GENERATION on Heartbeat).

use std::sync::Arc;
use std::sync::Mutex as StdMutex;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponsePartition, OffsetFetchResponseTopic,
};
use kafka_protocol::messages::{
    ApiKey, BrokerId, FindCoordinatorResponse, HeartbeatResponse, JoinGroupRequest,
    JoinGroupResponse, MetadataResponse, OffsetFetchResponse, SyncGroupRequest, SyncGroupResponse,
    TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable};

use super::group::{Group, GroupSettings};
use super::*;
use crate::scripted;

/// What the scripted broker saw, in order: `(API, detail)`.
type Seen = Arc<StdMutex<Vec<String>>>;

fn encode<M: Encodable>(m: &M, version: i16, out: &mut BytesMut) {
    m.encode(out, version).expect("encode response");
}

/// Answers one request; `step` counts requests of the same API.
fn answer(
    key: ApiKey,
    version: i16,
    mut body: Bytes,
    step: usize,
    port: u16,
    seen: &Seen,
    out: &mut BytesMut,
) {
    let log = |s: String| seen.lock().expect("lock").push(s);
    match key {
        ApiKey::ApiVersions => {
            encode(&scripted::versions(crate::api::CLIENT_APIS), version, out);
        }
        ApiKey::Metadata => encode(
            &MetadataResponse::default()
                .with_brokers(vec![
                    MetadataResponseBroker::default()
                        .with_node_id(BrokerId(0))
                        .with_host("127.0.0.1".into())
                        .with_port(i32::from(port)),
                ])
                .with_topics(vec![
                    MetadataResponseTopic::default()
                        .with_name(Some(TopicName("t".into())))
                        .with_partitions(
                            (0..2)
                                .map(|p| {
                                    MetadataResponsePartition::default()
                                        .with_partition_index(p)
                                        .with_leader_id(BrokerId(0))
                                })
                                .collect(),
                        ),
                ]),
            version,
            out,
        ),
        ApiKey::FindCoordinator => {
            log(format!("FindCoordinator#{step}"));
            // First lookup: not available yet.
            let code = if step == 0 { 15 } else { 0 };
            let mut r = FindCoordinatorResponse::default();
            if version >= 4 {
                r.coordinators = vec![
                    kafka_protocol::messages::find_coordinator_response::Coordinator::default()
                        .with_key("g".into())
                        .with_error_code(code)
                        .with_node_id(BrokerId(0))
                        .with_host("127.0.0.1".into())
                        .with_port(i32::from(port)),
                ];
            } else {
                r = r
                    .with_error_code(code)
                    .with_node_id(BrokerId(0))
                    .with_host("127.0.0.1".into())
                    .with_port(i32::from(port));
            }
            encode(&r, version, out);
        }
        ApiKey::JoinGroup => {
            let req = JoinGroupRequest::decode(&mut body, version).expect("JoinGroup");
            log(format!(
                "JoinGroup#{step} member={:?}",
                req.member_id.as_str()
            ));
            let r = match step {
                // KIP-394: a new member must come back with its id.
                0 => JoinGroupResponse::default()
                    .with_error_code(79)
                    .with_member_id("m-1".into()),
                // The coordinator moved.
                1 => JoinGroupResponse::default().with_error_code(16),
                _ => JoinGroupResponse::default()
                    .with_generation_id(step as i32)
                    .with_protocol_type(Some("consumer".into()))
                    .with_protocol_name(Some("range".into()))
                    .with_leader("m-1".into())
                    .with_member_id("m-1".into())
                    .with_members(vec![
                        JoinGroupResponseMember::default()
                            .with_member_id("m-1".into())
                            .with_metadata(req.protocols[0].metadata.clone()),
                    ]),
            };
            encode(&r, version, out);
        }
        ApiKey::SyncGroup => {
            let req = SyncGroupRequest::decode(&mut body, version).expect("SyncGroup");
            log(format!(
                "SyncGroup#{step} generation={} assignments={}",
                req.generation_id,
                req.assignments.len()
            ));
            let r = if step == 0 {
                SyncGroupResponse::default().with_error_code(27)
            } else {
                SyncGroupResponse::default().with_assignment(
                    req.assignments
                        .first()
                        .map(|a| a.assignment.clone())
                        .unwrap_or_default(),
                )
            };
            encode(&r, version, out);
        }
        ApiKey::Heartbeat => {
            log(format!("Heartbeat#{step}"));
            let code = if step == 0 { 0 } else { 22 };
            encode(
                &HeartbeatResponse::default().with_error_code(code),
                version,
                out,
            );
        }
        ApiKey::OffsetFetch => {
            log("OffsetFetch".into());
            encode(
                &OffsetFetchResponse::default().with_topics(vec![
                    OffsetFetchResponseTopic::default()
                        .with_name(TopicName("t".into()))
                        .with_partitions(vec![
                            OffsetFetchResponsePartition::default()
                                .with_partition_index(0)
                                .with_committed_offset(5),
                            OffsetFetchResponsePartition::default()
                                .with_partition_index(1)
                                .with_committed_offset(-1),
                        ]),
                ]),
                version,
                out,
            );
        }
        other => panic!("unexpected {other:?}"),
    }
}

async fn scripted_broker(seen: Seen) -> u16 {
    let steps: Arc<StdMutex<HashMap<i16, usize>>> = Arc::default();
    scripted::serve(move |req| {
        let step = {
            let mut st = steps.lock().expect("lock");
            let n = st.entry(req.key as i16).or_default();
            *n += 1;
            *n - 1
        };
        let mut out = BytesMut::new();
        answer(
            req.key,
            req.version,
            req.body,
            step,
            req.port,
            &seen,
            &mut out,
        );
        std::future::ready(Some(out))
    })
    .await
}

#[tokio::test]
async fn join_survives_the_protocol_error_paths() {
    let seen: Seen = Arc::default();
    let port = scripted_broker(Arc::clone(&seen)).await;
    let mut client = ClientConfig::new([format!("127.0.0.1:{port}")]);
    client.retry_backoff = Duration::from_millis(5);
    client.retry_backoff_max = Duration::from_millis(20);
    let cluster = Cluster::connect(client).await.expect("connect");
    let group = Group::new(
        GroupSettings {
            group_id: "g".into(),
            instance_id: None,
            session_timeout: Duration::from_secs(10),
            rebalance_timeout: Duration::from_secs(10),
            heartbeat_interval: Duration::from_millis(20),
            max_poll_interval: Duration::from_secs(60),
            assignors: vec![Assignor::Range],
        },
        cluster,
    );
    let topics: BTreeSet<String> = ["t".to_owned()].into();
    let assigned = group.join(&topics, BTreeMap::new()).await.expect("join");
    assert!(!assigned.lost);
    assert_eq!(
        assigned.assignment.get("t"),
        Some(&vec![0, 1]),
        "the leader assigned both"
    );
    assert!(!group.needs_rejoin());
    let log = seen.lock().expect("lock").clone();
    assert_eq!(
        log,
        vec![
            "FindCoordinator#0",
            "FindCoordinator#1",
            "JoinGroup#0 member=\"\"",
            "JoinGroup#1 member=\"m-1\"",
            // NOT_COORDINATOR: find it again.
            "FindCoordinator#2",
            "JoinGroup#2 member=\"m-1\"",
            // The leader sends the assignment; REBALANCE_IN_PROGRESS: rejoin.
            "SyncGroup#0 generation=2 assignments=1",
            "JoinGroup#3 member=\"m-1\"",
            "SyncGroup#1 generation=3 assignments=1",
        ]
    );

    let committed = group
        .committed_with_epochs(&[TopicPartition::new("t", 0), TopicPartition::new("t", 1)])
        .await
        .expect("committed");
    assert_eq!(committed[&TopicPartition::new("t", 0)], Some((5, None)));
    assert_eq!(committed[&TopicPartition::new("t", 1)], None);

    // The first heartbeat is fine; the second says ILLEGAL_GENERATION: the
    // heartbeat task asks for a rejoin, with a fresh member id.
    let hb = tokio::spawn(Arc::clone(&group).heartbeat_loop());
    tokio::time::timeout(Duration::from_secs(5), group.wake.notified())
        .await
        .expect("rejoin requested");
    hb.abort();
    assert!(group.needs_rejoin());
    let log = seen.lock().expect("lock").clone();
    assert!(
        log.ends_with(&["Heartbeat#0".to_owned(), "Heartbeat#1".to_owned()]),
        "{log:?}"
    );
    // What it owned is lost, not revoked: the group forgot the member.
    let owned: BTreeMap<String, Vec<i32>> = [("t".to_owned(), vec![0, 1])].into();
    let again = group.join(&topics, owned).await.expect("rejoin");
    assert_eq!(again.assignment.get("t"), Some(&vec![0, 1]));
    assert!(again.lost);
    let log = seen.lock().expect("lock").clone();
    assert!(
        log.contains(&"JoinGroup#4 member=\"\"".to_owned()),
        "member id reset after ILLEGAL_GENERATION: {log:?}"
    );
}

#[test]
fn config_defaults_follow_java_and_validate() {
    let c = ConsumerConfig::new(ClientConfig::new(["h:9092"]));
    c.validate().expect("defaults are valid");
    assert_eq!(c.session_timeout, Duration::from_secs(45));
    assert_eq!(c.heartbeat_interval, Duration::from_secs(3));
    assert_eq!(c.max_poll_interval, Duration::from_secs(300));
    assert_eq!(c.auto_commit_interval, Duration::from_secs(5));
    assert_eq!(c.max_partition_fetch_bytes, 1024 * 1024);
    assert_eq!(c.auto_offset_reset, OffsetReset::Latest);
    for bad in [
        ConsumerConfig {
            heartbeat_interval: c.session_timeout,
            ..c.clone()
        },
        ConsumerConfig {
            group_id: Some(String::new()),
            ..c.clone()
        },
        ConsumerConfig {
            max_poll_interval: Duration::MAX,
            ..c.clone()
        },
        ConsumerConfig {
            max_poll_records: 0,
            ..c.clone()
        },
    ] {
        assert!(bad.validate().is_err(), "{bad:?}");
    }
    assert_eq!(
        "Earliest".parse::<OffsetReset>().ok(),
        Some(OffsetReset::Earliest)
    );
    assert!("first".parse::<OffsetReset>().is_err());
    assert_eq!(
        Assignor::from_name("roundrobin"),
        Some(Assignor::RoundRobin)
    );
    assert_eq!(Assignor::from_name("uniform"), None);
}

/// Batches of two records each at offsets 0, 2, 4, 6 (values "o<offset>"),
/// the one at `corrupt` failing its CRC.
fn fetch_data(corrupt: Option<i64>) -> Vec<(i64, Bytes)> {
    use crate::compression::Compression;
    use crate::records::{BatchRecord, ProducerIdentity, encode_batch};
    (0..4)
        .map(|i| {
            let base: i64 = i * 2;
            let recs: Vec<BatchRecord> = (base..base + 2)
                .map(|o| BatchRecord {
                    key: None,
                    value: Some(Bytes::from(format!("o{o}"))),
                    headers: Vec::new(),
                    timestamp: 0,
                })
                .collect();
            let b = encode_batch(&recs, ProducerIdentity::NONE, Compression::None).expect("encode");
            let mut b = BytesMut::from(&b[..]);
            b[..8].copy_from_slice(&base.to_be_bytes());
            if corrupt == Some(base) {
                let last = b.len() - 1;
                b[last] ^= 1;
            }
            (base, b.freeze())
        })
        .collect()
}

/// A broker leading `t-0` and `t-1` whose Fetch answers for `t-0` hold
/// `batches` from the one containing the fetch offset on (high watermark
/// 8); `t-1` has no records to give, its high watermark is `t1_end`. Logs
/// each Fetch as `t-0@<offset> t-1@<offset> wait=<max wait ms>`.
async fn fetch_broker(batches: Vec<(i64, Bytes)>, t1_end: i64, seen: Seen) -> u16 {
    use kafka_protocol::messages::FetchRequest;
    use kafka_protocol::messages::FetchResponse;
    use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
    let batches = Arc::new(batches);
    scripted::serve(move |req| {
        let batches = Arc::clone(&batches);
        let seen = Arc::clone(&seen);
        async move {
            let mut out = BytesMut::new();
            match req.key {
                ApiKey::Fetch => {
                    let f =
                        FetchRequest::decode(&mut req.body.clone(), req.version).expect("Fetch");
                    let mut any = false;
                    let mut parts = Vec::new();
                    let mut line = Vec::new();
                    for p in f.topics.iter().flat_map(|t| t.partitions.iter()) {
                        line.push(format!("t-{}@{}", p.partition, p.fetch_offset));
                        let mut data = BytesMut::new();
                        if p.partition == 0 {
                            for (base, b) in batches.iter() {
                                if base + 1 >= p.fetch_offset {
                                    data.extend_from_slice(b);
                                }
                            }
                        }
                        any |= !data.is_empty();
                        parts.push(
                            PartitionData::default()
                                .with_partition_index(p.partition)
                                .with_high_watermark(if p.partition == 0 { 8 } else { t1_end })
                                .with_records(Some(data.freeze())),
                        );
                    }
                    line.push(format!("wait={}", f.max_wait_ms));
                    seen.lock().expect("lock").push(line.join(" "));
                    if !any {
                        // As a broker waits fetch.max.wait for data.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    let r = FetchResponse::default().with_responses(vec![
                        FetchableTopicResponse::default()
                            .with_topic(TopicName("t".into()))
                            .with_partitions(parts),
                    ]);
                    encode(&r, req.version, &mut out);
                }
                ApiKey::ListOffsets => {
                    use kafka_protocol::messages::ListOffsetsResponse;
                    use kafka_protocol::messages::list_offsets_response::{
                        ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
                    };
                    let r = ListOffsetsResponse::default().with_topics(vec![
                        ListOffsetsTopicResponse::default()
                            .with_name(TopicName("t".into()))
                            .with_partitions(vec![
                                ListOffsetsPartitionResponse::default()
                                    .with_partition_index(1)
                                    .with_offset(0),
                            ]),
                    ]);
                    encode(&r, req.version, &mut out);
                }
                key => answer(
                    key,
                    req.version,
                    req.body,
                    0,
                    req.port,
                    &Arc::default(),
                    &mut out,
                ),
            }
            Some(out)
        }
    })
    .await
}

/// A consumer of `partitions` of `t`, from offset 0.
async fn fetch_consumer(port: u16, partitions: i32, partition_bytes: i32) -> Consumer {
    let mut client = ClientConfig::new([format!("127.0.0.1:{port}")]);
    client.retry_backoff = Duration::from_millis(5);
    let mut c = Consumer::connect(ConsumerConfig {
        max_partition_fetch_bytes: partition_bytes,
        ..ConsumerConfig::new(client)
    })
    .await
    .expect("connect");
    let tps: Vec<TopicPartition> = (0..partitions)
        .map(|p| TopicPartition::new("t", p))
        .collect();
    c.assign(tps.clone()).expect("assign");
    for tp in &tps {
        c.seek(tp, 0).expect("seek");
    }
    c
}

async fn next_offset(c: &mut Consumer) -> i64 {
    tokio::time::timeout(Duration::from_secs(5), c.recv())
        .await
        .expect("a record in time")
        .expect("recv")
        .expect("assigned")
        .offset
}

#[tokio::test]
async fn a_bad_batch_fails_recv_after_the_records_before_it() {
    let seen: Seen = Arc::default();
    let port = fetch_broker(fetch_data(Some(4)), 0, Arc::clone(&seen)).await;
    let mut c = fetch_consumer(port, 1, 1 << 20).await;
    let tp = TopicPartition::new("t", 0);
    assert_eq!(next_offset(&mut c).await, 0);
    // Fetching goes on from past the whole response at once.
    assert_eq!(c.fetch_position(&tp), Some(8));
    assert_eq!(c.position(&tp), Some(1));
    for o in 1..4 {
        assert_eq!(next_offset(&mut c).await, o);
    }
    assert_eq!(c.position(&tp), Some(4), "the bad batch is next");
    for _ in 0..2 {
        let e = tokio::time::timeout(Duration::from_secs(5), c.recv())
            .await
            .expect("in time")
            .expect_err("bad batch");
        let msg = e.to_string();
        assert!(matches!(e, KafkaError::Protocol { .. }), "{msg}");
        assert!(
            msg.contains("broker 0") && msg.contains("t-0 at 4"),
            "{msg}"
        );
        assert!(msg.contains("CRC"), "{msg}");
        // Back at the bad batch: a repeat recv fetches it again.
        assert_eq!(c.fetch_position(&tp), Some(4));
        assert_eq!(c.position(&tp), Some(4));
    }
    let log = seen.lock().expect("lock").clone();
    assert!(
        log.iter().any(|f| f.starts_with("t-0@4 ")),
        "fetched again from the bad batch: {log:?}"
    );
    c.seek(&tp, 6).expect("seek");
    assert_eq!(next_offset(&mut c).await, 6);
}

#[tokio::test]
async fn seeks_and_reassignments_drop_undecoded_data() {
    let seen: Seen = Arc::default();
    let port = fetch_broker(fetch_data(None), 0, Arc::clone(&seen)).await;
    let mut c = fetch_consumer(port, 1, 1 << 20).await;
    let tp = TopicPartition::new("t", 0);
    assert_eq!(next_offset(&mut c).await, 0);
    let old_epoch = c.parts[&tp].epoch;
    assert!(c.parts[&tp].pending_bytes > 0, "later batches not decoded");
    c.seek(&tp, 5).expect("seek");
    assert!(c.pending.is_empty() && c.parts[&tp].pending_bytes == 0);
    assert_eq!(next_offset(&mut c).await, 5);

    // Data that came for the old position is never decoded, even if it
    // were still queued.
    let stale: Vec<u8> = fetch_data(None)
        .iter()
        .flat_map(|(_, b)| b.to_vec())
        .collect();
    let (chunk, _) = fetcher::Chunk::new(
        &tp,
        kafka_protocol::messages::fetch_response::PartitionData::default()
            .with_records(Some(Bytes::from(stale))),
        0,
        IsolationLevel::ReadUncommitted,
        old_epoch,
        0,
    );
    c.buffer.clear();
    c.parts.get_mut(&tp).expect("assigned").buffered = 0;
    c.pending.push_front(chunk.expect("data"));
    assert_eq!(next_offset(&mut c).await, 6, "not 0 from the stale chunk");

    // A reassignment keeps what was fetched for the partitions kept...
    let before = c.parts[&tp].pending_bytes;
    c.assign([tp.clone(), TopicPartition::new("t", 1)])
        .expect("assign");
    assert_eq!(c.parts[&tp].pending_bytes, before);
    assert_eq!(next_offset(&mut c).await, 7);
    // ... and drops it for the others.
    c.seek(&tp, 0).expect("seek");
    assert_eq!(next_offset(&mut c).await, 0);
    assert!(!c.pending.is_empty());
    c.assign([TopicPartition::new("t", 1)]).expect("assign");
    assert!(c.pending.is_empty() && c.buffer.is_empty());
    c.close().await.expect("close");
}

/// Waits until the broker has seen `n` Fetches; returns them.
async fn fetches_seen(seen: &Seen, n: usize) -> Vec<String> {
    for _ in 0..500 {
        let log = seen.lock().expect("lock").clone();
        if log.len() >= n {
            return log;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("not {n} fetches: {:?}", seen.lock().expect("lock"));
}

/// While a partition waits for its undecoded data to be worked through,
/// its broker's Fetch does not wait for data (`t-1` has records to come:
/// a long poll would hold the broker while `t-0` runs dry), or is not sent
/// at all when it could only bring new records (`t-1` caught up).
#[tokio::test]
async fn partitions_held_back_keep_their_broker_free() {
    // Half the fetch size is 2.5 batches: `t-0` is held back until two of
    // its four batches are decoded.
    let batch = fetch_data(None)[0].1.len();
    let half = batch * 5 / 2;
    for t1_end in [5, 0] {
        let seen: Seen = Arc::default();
        let port = fetch_broker(fetch_data(None), t1_end, Arc::clone(&seen)).await;
        let mut c = fetch_consumer(port, 2, (batch * 5) as i32).await;
        let tp = TopicPartition::new("t", 0);
        assert_eq!(next_offset(&mut c).await, 0);
        assert_eq!(
            fetches_seen(&seen, 1).await[0],
            "t-0@0 t-1@0 wait=500",
            "both at first"
        );
        assert!(c.parts[&tp].pending_bytes > half);
        assert_eq!(c.try_recv().expect("try_recv").map(|r| r.offset), Some(1));
        if t1_end > 0 {
            let log = fetches_seen(&seen, 2).await;
            assert_eq!(log[1], "t-1@0 wait=0", "{log:?}");
            // Its (empty) answer is taken once the rest is handed out.
        } else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let log = seen.lock().expect("lock").clone();
            assert_eq!(log.len(), 1, "nothing to fetch but new records: {log:?}");
            // Below half: both go again, the broker may wait for data.
            assert_eq!(c.try_recv().expect("try_recv").map(|r| r.offset), Some(2));
            assert!(c.parts[&tp].pending_bytes <= half);
            let log = fetches_seen(&seen, 2).await;
            assert_eq!(log[1], "t-0@8 t-1@0 wait=500", "{log:?}");
        }
        for o in 2..8 {
            if t1_end > 0 || o > 2 {
                assert_eq!(next_offset(&mut c).await, o);
            }
        }
    }
}
