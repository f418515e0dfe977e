//! The messenger against scripted brokers over `tokio::io::duplex`.

use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, ProduceRequest,
    RequestHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

use super::*;
use crate::scripted::versions;

/// The broker side: reads one request frame, returns (header, body).
async fn read_request(s: &mut DuplexStream) -> Option<(RequestHeader, Bytes)> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).await.ok()?;
    let mut buf = vec![0u8; i32::from_be_bytes(len) as usize];
    s.read_exact(&mut buf).await.ok()?;
    let mut b = Bytes::from(buf);
    let key = ApiKey::try_from(i16::from_be_bytes([b[0], b[1]])).ok()?;
    let version = i16::from_be_bytes([b[2], b[3]]);
    let h = RequestHeader::decode(&mut b, key.request_header_version(version)).ok()?;
    Some((h, b))
}

/// Encodes an ApiVersions response (header v0) at `version`.
fn api_versions_frame(correlation_id: i32, version: i16, resp: &ApiVersionsResponse) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i32(0);
    b.put_i32(correlation_id);
    resp.encode(&mut b, version).expect("encode");
    let len = (b.len() - 4) as i32;
    b[..4].copy_from_slice(&len.to_be_bytes());
    b.freeze()
}

fn messenger(client: DuplexStream, timeout: Duration) -> Messenger {
    Messenger::new(client, "scripted:9092", Some("test"), 1 << 20, timeout)
}

/// Marks a response so the test can tell which request it answers.
fn tagged(tag: i16) -> ApiVersionsResponse {
    versions(&[(ApiKey::Produce, tag, tag)])
}

#[tokio::test]
async fn responses_are_routed_by_correlation_id() {
    let (client, mut broker) = tokio::io::duplex(64 * 1024);
    let m = messenger(client, Duration::from_secs(5));
    let script = tokio::spawn(async move {
        let mut reqs = Vec::new();
        for _ in 0..3 {
            reqs.push(read_request(&mut broker).await.expect("request"));
        }
        // Answer in reverse order; each answer carries the request's id as a tag.
        for (h, _) in reqs.iter().rev() {
            let f = api_versions_frame(h.correlation_id, 0, &tagged(h.correlation_id as i16));
            broker.write_all(&f).await.expect("write");
        }
        broker
    });
    let req = ApiVersionsRequest::default();
    let (a, b, c) = tokio::join!(
        m.request_at(&req, 0),
        m.request_at(&req, 0),
        m.request_at(&req, 0)
    );
    let tags: Vec<i16> = [a, b, c]
        .into_iter()
        .map(|r| r.expect("response").api_keys[0].min_version)
        .collect();
    let mut sorted = tags.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        3,
        "each request got its own response: {tags:?}"
    );
    let _broker = script.await.expect("script");
}

#[tokio::test]
async fn request_dropped_mid_write_leaves_no_half_frame() {
    // A tiny pipe: a large request cannot be written in one go.
    let (client, mut broker) = tokio::io::duplex(256);
    let m = messenger(client, Duration::from_secs(5));
    let big = MetadataRequest::default().with_topics(Some(
        (0..2000)
            .map(|i| {
                MetadataRequestTopic::default().with_name(Some(TopicName(StrBytes::from_string(
                    format!("topic-{i:05}"),
                ))))
            })
            .collect(),
    ));
    // The broker reads nothing yet, so this stalls mid-frame; drop it.
    let r = tokio::time::timeout(Duration::from_millis(50), m.request_at(&big, 4)).await;
    assert!(r.is_err(), "the request should still be writing");

    let script = tokio::spawn(async move {
        let (h1, body1) = read_request(&mut broker).await.expect("first frame");
        // The dropped request arrives whole and decodes.
        assert_eq!(h1.request_api_key, ApiKey::Metadata as i16);
        let mut body1 = body1;
        let decoded = MetadataRequest::decode(&mut body1, 4).expect("whole metadata request");
        assert_eq!(decoded.topics.map(|t| t.len()), Some(2000));
        // Its answer goes nowhere; the next request is answered.
        broker
            .write_all(&api_versions_frame(h1.correlation_id, 0, &tagged(1)))
            .await
            .expect("write");
        let (h2, _) = read_request(&mut broker).await.expect("second frame");
        assert_eq!(h2.request_api_key, ApiKey::ApiVersions as i16);
        broker
            .write_all(&api_versions_frame(h2.correlation_id, 0, &tagged(2)))
            .await
            .expect("write");
        broker
    });
    let resp = m
        .request_at(&ApiVersionsRequest::default(), 0)
        .await
        .expect("second request answered");
    assert_eq!(resp.api_keys[0].min_version, 2);
    assert!(!m.is_poisoned());
    let _broker = script.await.expect("script");
}

#[tokio::test]
async fn broker_close_fails_every_waiter_and_later_requests() {
    let (client, mut broker) = tokio::io::duplex(64 * 1024);
    let m = messenger(client, Duration::from_secs(5));
    let script = tokio::spawn(async move {
        read_request(&mut broker).await.expect("one");
        read_request(&mut broker).await.expect("two");
        drop(broker);
    });
    let req = ApiVersionsRequest::default();
    let (a, b) = tokio::join!(m.request_at(&req, 0), m.request_at(&req, 0));
    script.await.expect("script");
    for r in [a, b] {
        let e = r.expect_err("closed");
        assert!(matches!(e, KafkaError::Connection { .. }), "{e:?}");
        assert!(e.is_retriable());
    }
    assert!(m.is_poisoned());
    let e = m.request_at(&req, 0).await.expect_err("poisoned");
    assert!(matches!(e, KafkaError::Connection { .. }), "{e:?}");
}

#[tokio::test]
async fn oversized_response_poisons_without_allocating() {
    let (client, mut broker) = tokio::io::duplex(64 * 1024);
    let m = messenger(client, Duration::from_secs(5));
    let script = tokio::spawn(async move {
        read_request(&mut broker).await.expect("request");
        broker
            .write_all(&0x7fff_fff0i32.to_be_bytes())
            .await
            .expect("write");
        broker
    });
    let e = m
        .request_at(&ApiVersionsRequest::default(), 0)
        .await
        .expect_err("too large");
    assert!(matches!(e, KafkaError::Protocol { .. }), "{e:?}");
    assert!(e.to_string().contains("exceeds"), "{e}");
    let _broker = script.await.expect("script");
}

#[tokio::test]
async fn unanswered_request_times_out_and_poisons() {
    let (client, mut broker) = tokio::io::duplex(64 * 1024);
    let m = messenger(client, Duration::from_millis(100));
    let script = tokio::spawn(async move {
        read_request(&mut broker).await.expect("request");
        broker
    });
    let e = m
        .request_at(&ApiVersionsRequest::default(), 0)
        .await
        .expect_err("timeout");
    assert!(matches!(e, KafkaError::Timeout { .. }), "{e:?}");
    assert!(m.is_poisoned());
    let _broker = script.await.expect("script");
}

#[tokio::test]
async fn negotiation_falls_back_when_the_broker_is_older() {
    let (client, mut broker) = tokio::io::duplex(64 * 1024);
    let m = messenger(client, Duration::from_secs(5));
    let script = tokio::spawn(async move {
        // An old broker: ApiVersions up to v3 only, so our v4 gets a v0 error.
        let (h, _) = read_request(&mut broker).await.expect("first");
        assert_eq!(h.request_api_version, 4);
        let refusal = versions(&[(ApiKey::ApiVersions, 0, 3)]).with_error_code(35);
        broker
            .write_all(&api_versions_frame(h.correlation_id, 0, &refusal))
            .await
            .expect("write");
        let (h, _) = read_request(&mut broker).await.expect("second");
        assert_eq!(h.request_api_version, 3);
        let ok = versions(&[
            (ApiKey::ApiVersions, 0, 3),
            (ApiKey::Metadata, 0, 12),
            (ApiKey::Produce, 0, 2),
            (ApiKey::SaslHandshake, 0, 1),
        ]);
        broker
            .write_all(&api_versions_frame(h.correlation_id, 3, &ok))
            .await
            .expect("write");
        broker
    });
    m.negotiate().await.expect("negotiated");
    assert_eq!(m.version_for(ApiKey::ApiVersions).ok(), Some(3));
    assert_eq!(m.version_for(ApiKey::Metadata).ok(), Some(12));
    assert_eq!(m.version_for(ApiKey::SaslHandshake).ok(), Some(1));
    // Produce 0..=2 and our 3..=12 do not meet.
    let e = m
        .version_for(ApiKey::Produce)
        .expect_err("no common version");
    assert!(matches!(e, KafkaError::UnsupportedVersion { .. }), "{e:?}");
    assert!(e.to_string().contains("broker 0..=2, client 3..=12"), "{e}");
    let e = m
        .request(&ProduceRequest::default())
        .await
        .expect_err("no common version");
    assert!(matches!(e, KafkaError::UnsupportedVersion { .. }), "{e:?}");
    let e = m.version_for(ApiKey::Fetch).expect_err("not offered");
    assert!(e.to_string().contains("not offered by the broker"), "{e}");
    let _broker = script.await.expect("script");
}

/// SASL re-authentication on a live connection: requests queued before
/// the exclusive stretch go first, the stretch's own requests go alone,
/// and a request made meanwhile waits until the stretch ends.
#[tokio::test]
async fn exclusive_stretch_holds_other_requests_back() {
    let (client, mut broker) = tokio::io::duplex(64 * 1024);
    let m = Arc::new(messenger(client, Duration::from_secs(5)));
    let script = tokio::spawn(async move {
        let mut order = Vec::new();
        while let Some((h, _)) = read_request(&mut broker).await {
            order.push(h.correlation_id);
            let f = api_versions_frame(h.correlation_id, 0, &tagged(0));
            broker.write_all(&f).await.expect("write");
            if order.len() == 4 {
                break;
            }
        }
        order
    });
    let req = ApiVersionsRequest::default();
    let before = {
        let m = Arc::clone(&m);
        let req = req.clone();
        tokio::spawn(async move { m.request_at(&req, 0).await })
    };
    // Let `before` queue its frame (correlation id 1) first.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let during = m
        .exclusively(async {
            m.request_exclusive_at(&req, 0).await?; // 2
            let during = {
                let m = Arc::clone(&m);
                let req = req.clone();
                tokio::spawn(async move { m.request_at(&req, 0).await }) // 3
            };
            tokio::time::sleep(Duration::from_millis(50)).await;
            assert!(
                !during.is_finished(),
                "a request got through the exclusive stretch"
            );
            m.request_exclusive_at(&req, 0).await?; // 4
            Ok(during)
        })
        .await
        .expect("exchange");
    before.await.expect("task").expect("before");
    during.await.expect("task").expect("during");
    assert_eq!(script.await.expect("script"), vec![1, 2, 4, 3]);
}

/// A count on the wire sizes no allocation beyond the frame: a few bytes claiming billions of
/// entries are an error, not an allocation failure that aborts the process (the vendored
/// kafka-protocol patch, vendor/kafka-protocol/PATCHED.md).
#[test]
fn huge_counts_in_a_short_response_are_errors() {
    // A Metadata response: correlation id, tagged fields (none) if flexible, throttle time,
    // then `rest`.
    let metadata = |version: i16, rest: &[u8]| {
        let mut f = BytesMut::new();
        f.put_i32(7);
        if version >= 9 {
            f.put_u8(0);
        }
        f.put_i32(0);
        f.put_slice(rest);
        decode_response::<MetadataRequest>(f.freeze(), version, "127.0.0.1:9092")
    };
    let u32_max_varint = [0xff, 0xff, 0xff, 0xff, 0x0f];
    // Brokers: an array of i32::MAX entries.
    assert!(metadata(4, &i32::MAX.to_be_bytes()).is_err(), "array");
    // Brokers: a compact array of u32::MAX - 1 entries.
    assert!(metadata(12, &u32_max_varint).is_err(), "compact array");
    // One broker (node id 1) whose host is a compact string of u32::MAX - 2 bytes.
    let mut host = vec![2, 0, 0, 0, 1];
    host.extend_from_slice(&u32_max_varint);
    assert!(metadata(12, &host).is_err(), "compact string");
}
