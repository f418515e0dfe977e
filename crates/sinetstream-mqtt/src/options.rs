//! Client options: what to connect to and how the session behaves.

use std::time::Duration;

use bytes::Bytes;
use sinetstream_mqtt_codec::{Protocol, QoS};
use sinetstream_net::ConnectOptions;

/// A will message, published by the broker when the client dies without DISCONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Will {
    /// Topic of the will.
    pub topic: String,
    /// Payload of the will.
    pub payload: Bytes,
    /// QoS of the will.
    pub qos: QoS,
    /// Whether the broker retains the will.
    pub retain: bool,
}

/// User name and password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password, if any.
    pub password: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

/// Reconnect delays (paho's `reconnect_delay_set`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reconnect {
    /// First delay.
    pub min_delay: Duration,
    /// Largest delay.
    pub max_delay: Duration,
}

impl Default for Reconnect {
    fn default() -> Self {
        // paho-mqtt's defaults.
        Reconnect {
            min_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(120),
        }
    }
}

/// Everything the client needs to connect.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MqttOptions {
    /// Broker host.
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// MQTT 3.1 or 3.1.1.
    pub protocol: Protocol,
    /// Client identifier (3.1 allows 1 to 23 bytes).
    pub client_id: String,
    /// Start a fresh session (true) or resume the broker's (false).
    pub clean_session: bool,
    /// Keepalive interval; zero disables it.
    pub keep_alive: Duration,
    /// User name and password.
    pub credentials: Option<Credentials>,
    /// Last will.
    pub will: Option<Will>,
    /// Transport: TCP, TLS, WebSocket; bind address; connect timeout.
    pub transport: ConnectOptions,
    /// Most QoS 1/2 messages awaiting an acknowledgement at once.
    pub max_inflight: u16,
    /// Most requests queued in the client before `publish` waits for room.
    pub max_queued: usize,
    /// Reconnect when the connection is lost (None: fail instead).
    pub reconnect: Option<Reconnect>,
    /// Largest packet accepted from the broker.
    pub max_packet_size: usize,
}

impl MqttOptions {
    /// Options for `host:port` with paho-like defaults: MQTT 3.1.1, clean session, keepalive 60 s,
    /// 20 in flight, reconnect from 1 s to 120 s.
    pub fn new(host: impl Into<String>, port: u16, client_id: impl Into<String>) -> Self {
        MqttOptions {
            host: host.into(),
            port,
            protocol: Protocol::V311,
            client_id: client_id.into(),
            clean_session: true,
            keep_alive: Duration::from_secs(60),
            credentials: None,
            will: None,
            transport: ConnectOptions::default(),
            max_inflight: 20,
            max_queued: 1000,
            reconnect: Some(Reconnect::default()),
            max_packet_size: 256 * 1024 * 1024,
        }
    }

    /// `host:port`, for messages.
    pub fn broker(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}
