//! An MQTT 3.1 / 3.1.1 client for sinetstream-rs.
//!
//! The session state ([`state::MqttState`]: packet ids, the in-flight window, QoS 2 in both
//! directions) is a pure state machine; an event loop task owns the connection (TCP, TLS,
//! WebSocket via `sinetstream-net`), runs the keepalive, and reconnects with jittered backoff,
//! resending what was not acknowledged. Unlike most clients, [`MqttClient::publish`] returns a
//! [`PublishHandle`] that resolves when the broker acknowledged the message.
//!
//! This crate knows nothing of SINETStream configuration: the `sinetstream` facade translates
//! service parameters into [`MqttOptions`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), sinetstream_mqtt::MqttError> {
//! use sinetstream_mqtt::{MqttClient, MqttOptions, QoS};
//!
//! let (client, mut messages) = MqttClient::connect(MqttOptions::new("127.0.0.1", 1883, "demo")).await?;
//! client.subscribe(&[("sensors/#".to_string(), QoS::AtLeastOnce)]).await?;
//! let ack = client.publish("sensors/temp", QoS::AtLeastOnce, false, &b"21.5"[..]).await?;
//! ack.await?; // PUBACK received
//! if let Some(msg) = messages.recv().await {
//!     println!("{} {:?}", msg.topic, msg.payload);
//! }
//! client.disconnect().await?;
//! # Ok(()) }
//! ```

mod backoff;
mod client;
mod error;
mod eventloop;
mod options;
mod room;
pub mod state;

pub use client::{Messages, MqttClient, PublishHandle};
pub use error::MqttError;
pub use options::{Credentials, MqttOptions, Reconnect, Will};
pub use sinetstream_mqtt_codec::{
    ConnectReturnCode, MAX_CLIENT_ID_LEN_V31, Protocol, Publish, QoS,
};
pub use sinetstream_net::{CertSource, ConnectOptions, TlsOptions, WsOptions};
