//! The crate's error type and the broker error codes.
//!
//! Broker codes are turned into [`ErrorCode`] once, at the edge, and the
//! retry policy ([`ErrorCode::is_retriable`], [`ErrorCode::invalidates_metadata`])
//! is decided here and nowhere else.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use sinetstream_net::{NetError, TlsFailure};

/// Result alias of this crate.
pub type Result<T, E = KafkaError> = std::result::Result<T, E>;

/// Everything that can go wrong talking to Kafka.
///
/// Cloneable, because one failed batch fails every record in it and each
/// record's delivery result gets its own copy. Messages never contain
/// passwords or key material.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum KafkaError {
    /// SASL authentication was refused (wrong user or password, mechanism
    /// not enabled on the listener, ...).
    #[error("authentication with {broker} using {mechanism} failed: {message}")]
    Authentication {
        /// `host:port` of the broker.
        broker: String,
        /// The SASL mechanism tried.
        mechanism: String,
        /// What the broker (or the SCRAM exchange) said.
        message: String,
    },

    /// TLS failed: untrusted CA, wrong host name, client certificate refused,
    /// bad TLS settings. [`KafkaError::tls_failure`] tells which.
    #[error("{source}")]
    Tls {
        /// The transport error, whose [`NetError::tls_failure`] is set.
        #[source]
        source: Arc<NetError>,
    },

    /// The broker could not be reached, or the connection broke.
    #[error("connection to {broker} failed: {detail}")]
    Connection {
        /// `host:port` of the broker.
        broker: String,
        /// What happened.
        detail: String,
        /// The underlying transport error, when there is one.
        #[source]
        source: Option<Arc<dyn std::error::Error + Send + Sync>>,
    },

    /// An operation did not finish in time.
    #[error("timed out after {timeout:?}: {what}")]
    Timeout {
        /// What was being waited for.
        what: String,
        /// The limit that ran out.
        timeout: Duration,
    },

    /// The broker answered with an error code.
    #[error("{context}: broker error {code}{}", .message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default())]
    Broker {
        /// The error code.
        code: ErrorCode,
        /// What the request was about (API, topic, partition, broker).
        context: String,
        /// The broker's error message, when it sent one.
        message: Option<String>,
    },

    /// The broker and this client share no version of an API we need.
    #[error("{broker} does not support {api} in a version this client speaks ({detail})")]
    UnsupportedVersion {
        /// `host:port` of the broker.
        broker: String,
        /// The API name.
        api: String,
        /// Broker and client version ranges.
        detail: String,
    },

    /// The broker sent bytes this client cannot make sense of.
    #[error("protocol error with {broker}: {detail}")]
    Protocol {
        /// `host:port` of the broker.
        broker: String,
        /// What was wrong.
        detail: String,
    },

    /// A setting or argument is invalid.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// Some records of a `flush` or `close` could not be delivered.
    #[error("{failed} record(s) could not be delivered; first error: {first}")]
    DeliveryFailed {
        /// How many records failed.
        failed: u64,
        /// The first failure seen.
        #[source]
        first: Box<KafkaError>,
    },

    /// The producer or connection was closed.
    #[error("closed: {0}")]
    Closed(String),

    /// A partition's log lost records the consumer had fetched (an unclean
    /// leader election), and `auto_offset_reset` is `none`, so the consumer
    /// does not pick a new position by itself.
    #[error(
        "the log of {partition} was truncated under the consumer's position {offset}: {}",
        match .divergent {
            Some(d) => format!("records from offset {d} on differ from those fetched; seek to go on"),
            None => "the leader no longer has the records before it; seek to go on".to_owned(),
        }
    )]
    LogTruncation {
        /// `topic-partition`.
        partition: String,
        /// The consumer's fetch position.
        offset: i64,
        /// The first offset whose record differs, when the leader could tell.
        divergent: Option<i64>,
    },
}

impl KafkaError {
    /// The kind of TLS failure, for [`KafkaError::Tls`].
    pub fn tls_failure(&self) -> Option<TlsFailure> {
        match self {
            KafkaError::Tls { source } => source.tls_failure(),
            _ => None,
        }
    }

    /// The broker error code, for [`KafkaError::Broker`].
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            KafkaError::Broker { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether trying again later may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            KafkaError::Connection { .. } | KafkaError::Timeout { .. } => true,
            KafkaError::Broker { code, .. } => code.is_retriable(),
            _ => false,
        }
    }

    /// Whether the error says the cached cluster metadata may be wrong.
    pub(crate) fn invalidates_metadata(&self) -> bool {
        match self {
            KafkaError::Connection { .. } | KafkaError::Timeout { .. } => true,
            KafkaError::Broker { code, .. } => code.invalidates_metadata(),
            _ => false,
        }
    }

    /// Whether this is a problem of settings or credentials rather than of
    /// reachability: trying other brokers will not help.
    pub(crate) fn is_config_problem(&self) -> bool {
        matches!(
            self,
            KafkaError::Authentication { .. }
                | KafkaError::Tls { .. }
                | KafkaError::InvalidArgument(_)
        )
    }

    pub(crate) fn broker(
        code: ErrorCode,
        context: impl Into<String>,
        message: Option<String>,
    ) -> Self {
        KafkaError::Broker {
            code,
            context: context.into(),
            message,
        }
    }

    pub(crate) fn protocol(broker: &str, detail: impl Into<String>) -> Self {
        KafkaError::Protocol {
            broker: broker.to_owned(),
            detail: detail.into(),
        }
    }

    pub(crate) fn connection(broker: &str, detail: impl Into<String>) -> Self {
        KafkaError::Connection {
            broker: broker.to_owned(),
            detail: detail.into(),
            source: None,
        }
    }

    /// Maps a transport error: TLS failures stay TLS errors (so that an
    /// untrusted CA is not reported as a mere connection failure), the rest
    /// are connection errors.
    pub(crate) fn from_net(broker: &str, e: NetError) -> Self {
        if e.tls_failure().is_some() {
            return KafkaError::Tls {
                source: Arc::new(e),
            };
        }
        let detail = e.to_string();
        KafkaError::Connection {
            broker: broker.to_owned(),
            detail,
            source: Some(Arc::new(e)),
        }
    }

    /// Maps an I/O error on an open connection. With TLS 1.3 the broker
    /// rejects a client certificate only after the handshake, so the TLS
    /// cause may first show up here, wrapped in the `io::Error`.
    pub(crate) fn from_io(broker: &str, e: std::io::Error) -> Self {
        if let Some(NetError::Tls { addr, kind, detail }) = NetError::from_io_error(&e) {
            return KafkaError::Tls {
                source: Arc::new(NetError::Tls {
                    addr: if addr.is_empty() {
                        broker.to_owned()
                    } else {
                        addr.clone()
                    },
                    kind: *kind,
                    detail: detail.clone(),
                }),
            };
        }
        KafkaError::Connection {
            broker: broker.to_owned(),
            detail: e.to_string(),
            source: Some(Arc::new(e)),
        }
    }
}

macro_rules! error_codes {
    ($( $code:literal => $name:ident, $text:literal, retriable: $retry:literal, metadata: $meta:literal; )*) => {
        /// A Kafka broker error code (see the protocol guide's error table).
        ///
        /// Codes this crate does not name are kept as [`ErrorCode::Unknown`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $(
                #[doc = concat!("`", $text, "` (", stringify!($code), ")")]
                $name,
            )*
            /// A code not listed above.
            Unknown(i16),
        }

        impl ErrorCode {
            /// The enum for a wire code; `None` for 0 (no error).
            pub fn from_code(code: i16) -> Option<ErrorCode> {
                match code {
                    0 => None,
                    $( $code => Some(ErrorCode::$name), )*
                    other => Some(ErrorCode::Unknown(other)),
                }
            }

            /// The wire code.
            pub fn code(self) -> i16 {
                match self {
                    $( ErrorCode::$name => $code, )*
                    ErrorCode::Unknown(c) => c,
                }
            }

            /// Kafka's name for the code, e.g. `NOT_LEADER_OR_FOLLOWER`.
            pub fn name(self) -> &'static str {
                match self {
                    $( ErrorCode::$name => $text, )*
                    ErrorCode::Unknown(_) => "UNKNOWN",
                }
            }

            /// Whether the same request may succeed later (Kafka's
            /// `RetriableException` family).
            pub fn is_retriable(self) -> bool {
                match self {
                    $( ErrorCode::$name => $retry, )*
                    ErrorCode::Unknown(_) => false,
                }
            }

            /// Whether the error means our view of leaders or topics is out of
            /// date, so metadata must be refreshed before retrying.
            pub fn invalidates_metadata(self) -> bool {
                match self {
                    $( ErrorCode::$name => $meta, )*
                    ErrorCode::Unknown(_) => false,
                }
            }
        }
    };
}

error_codes! {
    -1 => UnknownServerError, "UNKNOWN_SERVER_ERROR", retriable: false, metadata: false;
    1 => OffsetOutOfRange, "OFFSET_OUT_OF_RANGE", retriable: false, metadata: false;
    2 => CorruptMessage, "CORRUPT_MESSAGE", retriable: true, metadata: false;
    3 => UnknownTopicOrPartition, "UNKNOWN_TOPIC_OR_PARTITION", retriable: true, metadata: true;
    4 => InvalidFetchSize, "INVALID_FETCH_SIZE", retriable: false, metadata: false;
    5 => LeaderNotAvailable, "LEADER_NOT_AVAILABLE", retriable: true, metadata: true;
    6 => NotLeaderOrFollower, "NOT_LEADER_OR_FOLLOWER", retriable: true, metadata: true;
    7 => RequestTimedOut, "REQUEST_TIMED_OUT", retriable: true, metadata: false;
    8 => BrokerNotAvailable, "BROKER_NOT_AVAILABLE", retriable: false, metadata: false;
    9 => ReplicaNotAvailable, "REPLICA_NOT_AVAILABLE", retriable: true, metadata: true;
    10 => MessageTooLarge, "MESSAGE_TOO_LARGE", retriable: false, metadata: false;
    11 => StaleControllerEpoch, "STALE_CONTROLLER_EPOCH", retriable: false, metadata: false;
    12 => OffsetMetadataTooLarge, "OFFSET_METADATA_TOO_LARGE", retriable: false, metadata: false;
    13 => NetworkException, "NETWORK_EXCEPTION", retriable: true, metadata: true;
    14 => CoordinatorLoadInProgress, "COORDINATOR_LOAD_IN_PROGRESS", retriable: true, metadata: false;
    15 => CoordinatorNotAvailable, "COORDINATOR_NOT_AVAILABLE", retriable: true, metadata: false;
    16 => NotCoordinator, "NOT_COORDINATOR", retriable: true, metadata: false;
    17 => InvalidTopic, "INVALID_TOPIC_EXCEPTION", retriable: false, metadata: false;
    18 => RecordListTooLarge, "RECORD_LIST_TOO_LARGE", retriable: false, metadata: false;
    19 => NotEnoughReplicas, "NOT_ENOUGH_REPLICAS", retriable: true, metadata: false;
    20 => NotEnoughReplicasAfterAppend, "NOT_ENOUGH_REPLICAS_AFTER_APPEND", retriable: true, metadata: false;
    21 => InvalidRequiredAcks, "INVALID_REQUIRED_ACKS", retriable: false, metadata: false;
    22 => IllegalGeneration, "ILLEGAL_GENERATION", retriable: false, metadata: false;
    23 => InconsistentGroupProtocol, "INCONSISTENT_GROUP_PROTOCOL", retriable: false, metadata: false;
    24 => InvalidGroupId, "INVALID_GROUP_ID", retriable: false, metadata: false;
    25 => UnknownMemberId, "UNKNOWN_MEMBER_ID", retriable: false, metadata: false;
    26 => InvalidSessionTimeout, "INVALID_SESSION_TIMEOUT", retriable: false, metadata: false;
    27 => RebalanceInProgress, "REBALANCE_IN_PROGRESS", retriable: false, metadata: false;
    28 => InvalidCommitOffsetSize, "INVALID_COMMIT_OFFSET_SIZE", retriable: false, metadata: false;
    29 => TopicAuthorizationFailed, "TOPIC_AUTHORIZATION_FAILED", retriable: false, metadata: false;
    30 => GroupAuthorizationFailed, "GROUP_AUTHORIZATION_FAILED", retriable: false, metadata: false;
    31 => ClusterAuthorizationFailed, "CLUSTER_AUTHORIZATION_FAILED", retriable: false, metadata: false;
    32 => InvalidTimestamp, "INVALID_TIMESTAMP", retriable: false, metadata: false;
    33 => UnsupportedSaslMechanism, "UNSUPPORTED_SASL_MECHANISM", retriable: false, metadata: false;
    34 => IllegalSaslState, "ILLEGAL_SASL_STATE", retriable: false, metadata: false;
    35 => UnsupportedVersion, "UNSUPPORTED_VERSION", retriable: false, metadata: false;
    36 => TopicAlreadyExists, "TOPIC_ALREADY_EXISTS", retriable: false, metadata: false;
    37 => InvalidPartitions, "INVALID_PARTITIONS", retriable: false, metadata: false;
    38 => InvalidReplicationFactor, "INVALID_REPLICATION_FACTOR", retriable: false, metadata: false;
    39 => InvalidReplicaAssignment, "INVALID_REPLICA_ASSIGNMENT", retriable: false, metadata: false;
    40 => InvalidConfig, "INVALID_CONFIG", retriable: false, metadata: false;
    41 => NotController, "NOT_CONTROLLER", retriable: true, metadata: true;
    42 => InvalidRequest, "INVALID_REQUEST", retriable: false, metadata: false;
    43 => UnsupportedForMessageFormat, "UNSUPPORTED_FOR_MESSAGE_FORMAT", retriable: false, metadata: false;
    44 => PolicyViolation, "POLICY_VIOLATION", retriable: false, metadata: false;
    45 => OutOfOrderSequenceNumber, "OUT_OF_ORDER_SEQUENCE_NUMBER", retriable: false, metadata: false;
    46 => DuplicateSequenceNumber, "DUPLICATE_SEQUENCE_NUMBER", retriable: false, metadata: false;
    47 => InvalidProducerEpoch, "INVALID_PRODUCER_EPOCH", retriable: false, metadata: false;
    48 => InvalidTxnState, "INVALID_TXN_STATE", retriable: false, metadata: false;
    49 => InvalidProducerIdMapping, "INVALID_PRODUCER_ID_MAPPING", retriable: false, metadata: false;
    50 => InvalidTransactionTimeout, "INVALID_TRANSACTION_TIMEOUT", retriable: false, metadata: false;
    51 => ConcurrentTransactions, "CONCURRENT_TRANSACTIONS", retriable: true, metadata: false;
    52 => TransactionCoordinatorFenced, "TRANSACTION_COORDINATOR_FENCED", retriable: false, metadata: false;
    53 => TransactionalIdAuthorizationFailed, "TRANSACTIONAL_ID_AUTHORIZATION_FAILED", retriable: false, metadata: false;
    54 => SecurityDisabled, "SECURITY_DISABLED", retriable: false, metadata: false;
    55 => OperationNotAttempted, "OPERATION_NOT_ATTEMPTED", retriable: false, metadata: false;
    56 => KafkaStorageError, "KAFKA_STORAGE_ERROR", retriable: true, metadata: true;
    57 => LogDirNotFound, "LOG_DIR_NOT_FOUND", retriable: false, metadata: false;
    58 => SaslAuthenticationFailed, "SASL_AUTHENTICATION_FAILED", retriable: false, metadata: false;
    59 => UnknownProducerId, "UNKNOWN_PRODUCER_ID", retriable: false, metadata: false;
    60 => ReassignmentInProgress, "REASSIGNMENT_IN_PROGRESS", retriable: false, metadata: false;
    70 => FetchSessionIdNotFound, "FETCH_SESSION_ID_NOT_FOUND", retriable: true, metadata: false;
    71 => InvalidFetchSessionEpoch, "INVALID_FETCH_SESSION_EPOCH", retriable: true, metadata: false;
    72 => ListenerNotFound, "LISTENER_NOT_FOUND", retriable: true, metadata: true;
    74 => FencedLeaderEpoch, "FENCED_LEADER_EPOCH", retriable: true, metadata: true;
    75 => UnknownLeaderEpoch, "UNKNOWN_LEADER_EPOCH", retriable: true, metadata: true;
    76 => UnsupportedCompressionType, "UNSUPPORTED_COMPRESSION_TYPE", retriable: false, metadata: false;
    78 => OffsetNotAvailable, "OFFSET_NOT_AVAILABLE", retriable: true, metadata: false;
    79 => MemberIdRequired, "MEMBER_ID_REQUIRED", retriable: false, metadata: false;
    80 => PreferredLeaderNotAvailable, "PREFERRED_LEADER_NOT_AVAILABLE", retriable: true, metadata: true;
    82 => FencedInstanceId, "FENCED_INSTANCE_ID", retriable: false, metadata: false;
    87 => InvalidRecord, "INVALID_RECORD", retriable: false, metadata: false;
    88 => UnstableOffsetCommit, "UNSTABLE_OFFSET_COMMIT", retriable: true, metadata: false;
    89 => ThrottlingQuotaExceeded, "THROTTLING_QUOTA_EXCEEDED", retriable: true, metadata: false;
    90 => ProducerFenced, "PRODUCER_FENCED", retriable: false, metadata: false;
    100 => UnknownTopicId, "UNKNOWN_TOPIC_ID", retriable: true, metadata: true;
    103 => InconsistentTopicId, "INCONSISTENT_TOPIC_ID", retriable: true, metadata: true;
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_classify() {
        assert_eq!(ErrorCode::from_code(0), None);
        let nl = ErrorCode::from_code(6).expect("error");
        assert_eq!(nl, ErrorCode::NotLeaderOrFollower);
        assert!(nl.is_retriable() && nl.invalidates_metadata());
        assert_eq!(nl.code(), 6);
        assert_eq!(ErrorCode::from_code(999), Some(ErrorCode::Unknown(999)));
        assert_eq!(ErrorCode::Unknown(999).code(), 999);
        assert!(!ErrorCode::SaslAuthenticationFailed.is_retriable());
        assert_eq!(
            ErrorCode::OutOfOrderSequenceNumber.to_string(),
            "OUT_OF_ORDER_SEQUENCE_NUMBER (45)"
        );
    }

    #[test]
    fn broker_error_message() {
        let e = KafkaError::broker(
            ErrorCode::NotLeaderOrFollower,
            "Produce to t-0 on 127.0.0.1:9092",
            Some("moved".into()),
        );
        assert_eq!(
            e.to_string(),
            "Produce to t-0 on 127.0.0.1:9092: broker error NOT_LEADER_OR_FOLLOWER (6) (moved)"
        );
        assert!(e.is_retriable());
    }
}
