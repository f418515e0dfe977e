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
        .committed(&[TopicPartition::new("t", 0), TopicPartition::new("t", 1)])
        .await
        .expect("committed");
    assert_eq!(committed[&TopicPartition::new("t", 0)], Some(5));
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
