//! The Kafka APIs this client uses, tied to their response types and to the
//! version range the client implements.
//!
//! kafka-protocol's own `Request` trait is only implemented with both its
//! `client` and `broker` features; we need neither the broker half nor its
//! full version ranges (e.g. Produce v13 identifies topics by id, which this
//! producer does not do), hence this small trait.

use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, CreateTopicsRequest, CreateTopicsResponse,
    FetchRequest, FetchResponse, FindCoordinatorRequest, FindCoordinatorResponse, HeartbeatRequest,
    HeartbeatResponse, InitProducerIdRequest, InitProducerIdResponse, JoinGroupRequest,
    JoinGroupResponse, LeaveGroupRequest, LeaveGroupResponse, ListOffsetsRequest,
    ListOffsetsResponse, MetadataRequest, MetadataResponse, OffsetCommitRequest,
    OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse, OffsetForLeaderEpochRequest,
    OffsetForLeaderEpochResponse, ProduceRequest, ProduceResponse, SaslAuthenticateRequest,
    SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse, SyncGroupRequest,
    SyncGroupResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable};

/// A request this client sends.
pub(crate) trait Api: Encodable + Send + Sync {
    /// The API key.
    const KEY: ApiKey;
    /// Lowest and highest version this client implements.
    const VERSIONS: (i16, i16);
    /// What the broker answers.
    type Response: Decodable + Send + 'static;
}

macro_rules! apis {
    ($( $req:ty => $resp:ty, $key:ident, $min:literal ..= $max:literal; )*) => {
        $(
            impl Api for $req {
                const KEY: ApiKey = ApiKey::$key;
                const VERSIONS: (i16, i16) = ($min, $max);
                type Response = $resp;
            }
        )*

        /// Every API of the client with its version range, for negotiation.
        pub(crate) const CLIENT_APIS: &[(ApiKey, i16, i16)] = &[
            $( (ApiKey::$key, $min, $max), )*
        ];
    };
}

apis! {
    // v3+ is what Kafka 4 accepts; v4 is the newest kafka-protocol knows.
    ApiVersionsRequest => ApiVersionsResponse, ApiVersions, 0..=4;
    // v0 would mean raw (unframed) SASL tokens: only v1 is implemented.
    SaslHandshakeRequest => SaslHandshakeResponse, SaslHandshake, 1..=1;
    SaslAuthenticateRequest => SaslAuthenticateResponse, SaslAuthenticate, 0..=2;
    // v4 added allow_auto_topic_creation; v13 only adds a top-level error.
    MetadataRequest => MetadataResponse, Metadata, 4..=12;
    // v13 addresses topics by id instead of name.
    ProduceRequest => ProduceResponse, Produce, 3..=12;
    InitProducerIdRequest => InitProducerIdResponse, InitProducerId, 0..=5;
    // v13+ addresses topics by id.
    FetchRequest => FetchResponse, Fetch, 4..=12;
    ListOffsetsRequest => ListOffsetsResponse, ListOffsets, 1..=8;
    // v3 added the consumer's replica id -1 (Kafka 2.3); older brokers
    // leave positions unvalidated.
    OffsetForLeaderEpochRequest => OffsetForLeaderEpochResponse, OffsetForLeaderEpoch, 3..=4;
    // Consumer groups (classic protocol). v4+ batches coordinator keys;
    // both forms are handled.
    FindCoordinatorRequest => FindCoordinatorResponse, FindCoordinator, 1..=6;
    // Kafka 4 accepts JoinGroup v2+ and OffsetCommit v2+.
    JoinGroupRequest => JoinGroupResponse, JoinGroup, 2..=9;
    SyncGroupRequest => SyncGroupResponse, SyncGroup, 0..=5;
    HeartbeatRequest => HeartbeatResponse, Heartbeat, 0..=4;
    LeaveGroupRequest => LeaveGroupResponse, LeaveGroup, 0..=5;
    // v8+ batches groups; one group per request is all we need.
    OffsetFetchRequest => OffsetFetchResponse, OffsetFetch, 1..=7;
    // v10 addresses topics by id.
    OffsetCommitRequest => OffsetCommitResponse, OffsetCommit, 2..=9;
    // Admin: Kafka 4 accepts v2+.
    CreateTopicsRequest => CreateTopicsResponse, CreateTopics, 2..=7;
}

/// A readable name for an API key (`Produce`, `Metadata`, ...).
pub(crate) fn api_name(key: ApiKey) -> String {
    format!("{key:?}")
}

/// Decodes a response frame of any client API, for the fuzz target.
pub(crate) fn fuzz_decode(api_key: i16, version: i16, raw: bytes::Bytes) -> bool {
    fn one<A: Api>(version: i16, raw: bytes::Bytes) -> bool {
        if version < A::VERSIONS.0 || version > A::VERSIONS.1 {
            return false;
        }
        crate::messenger::decode_response::<A>(raw, version, "fuzz").is_ok()
    }
    let Ok(key) = ApiKey::try_from(api_key) else {
        return false;
    };
    match key {
        ApiKey::ApiVersions => crate::messenger::decode_api_versions(raw, version, "fuzz").is_ok(),
        ApiKey::SaslHandshake => one::<SaslHandshakeRequest>(version, raw),
        ApiKey::SaslAuthenticate => one::<SaslAuthenticateRequest>(version, raw),
        ApiKey::Metadata => match one::<MetadataRequest>(version, raw.clone()) {
            // Also through the snapshot builder, as the client does.
            true => crate::messenger::decode_response::<MetadataRequest>(raw, version, "fuzz")
                .map(|r| crate::metadata::ClusterMetadata::from_response(&r))
                .is_ok(),
            false => false,
        },
        ApiKey::Produce => one::<ProduceRequest>(version, raw),
        ApiKey::InitProducerId => one::<InitProducerIdRequest>(version, raw),
        ApiKey::Fetch => one::<FetchRequest>(version, raw),
        ApiKey::ListOffsets => one::<ListOffsetsRequest>(version, raw),
        ApiKey::OffsetForLeaderEpoch => one::<OffsetForLeaderEpochRequest>(version, raw),
        ApiKey::FindCoordinator => one::<FindCoordinatorRequest>(version, raw),
        ApiKey::JoinGroup => one::<JoinGroupRequest>(version, raw),
        ApiKey::SyncGroup => one::<SyncGroupRequest>(version, raw),
        ApiKey::Heartbeat => one::<HeartbeatRequest>(version, raw),
        ApiKey::LeaveGroup => one::<LeaveGroupRequest>(version, raw),
        ApiKey::OffsetFetch => one::<OffsetFetchRequest>(version, raw),
        ApiKey::OffsetCommit => one::<OffsetCommitRequest>(version, raw),
        ApiKey::CreateTopics => one::<CreateTopicsRequest>(version, raw),
        _ => false,
    }
}
