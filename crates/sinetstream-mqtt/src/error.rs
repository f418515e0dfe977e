//! Client errors.

use sinetstream_mqtt_codec::ConnectReturnCode;
use sinetstream_net::NetError;

/// What can go wrong talking to an MQTT broker.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum MqttError {
    /// The broker answered CONNECT with a refusal.
    #[error("broker {broker} refused the connection: {} (CONNACK code {})", describe(*.code), .code.as_u8())]
    ConnectionRefused {
        /// `host:port`.
        broker: String,
        /// The CONNACK return code.
        code: ConnectReturnCode,
    },
    /// Reaching the broker failed (resolve, TCP, TLS, WebSocket).
    #[error("{0}")]
    Net(std::sync::Arc<NetError>),
    /// Reading or writing the connection failed.
    #[error("connection to {broker} lost: {detail}")]
    ConnectionLost {
        /// `host:port`.
        broker: String,
        /// What happened.
        detail: String,
    },
    /// The broker broke the protocol (a malformed or unexpected packet).
    #[error("protocol error from {broker}: {detail}")]
    Protocol {
        /// `host:port`.
        broker: String,
        /// What was wrong.
        detail: String,
    },
    /// The broker did not answer in time.
    #[error("{0}")]
    Timeout(String),
    /// A subscription was refused (SUBACK 0x80).
    #[error("broker {broker} refused the subscription to {filter:?}")]
    SubscriptionRefused {
        /// `host:port`.
        broker: String,
        /// The topic filter.
        filter: String,
    },
    /// An argument is unusable (bad topic, client id too long for 3.1 ...).
    #[error("{0}")]
    InvalidArgument(String),
    /// The client was closed; the request was not (or not known to be) delivered.
    #[error("the MQTT client is closed{}", .0.as_deref().map(|r| format!(": {r}")).unwrap_or_default())]
    Closed(Option<String>),
}

impl MqttError {
    /// Whether this is the broker refusing credentials or permission (CONNACK 4 or 5).
    pub fn is_authorization(&self) -> bool {
        matches!(
            self,
            MqttError::ConnectionRefused {
                code: ConnectReturnCode::BadUsernameOrPassword | ConnectReturnCode::NotAuthorized,
                ..
            }
        )
    }
}

impl From<NetError> for MqttError {
    fn from(e: NetError) -> Self {
        MqttError::Net(std::sync::Arc::new(e))
    }
}

fn describe(code: ConnectReturnCode) -> &'static str {
    match code.as_u8() {
        0 => "accepted",
        1 => "unacceptable protocol version",
        2 => "client identifier rejected",
        3 => "server unavailable",
        4 => "bad user name or password",
        5 => "not authorized",
        _ => "unknown reason",
    }
}
