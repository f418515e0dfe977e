//! SINETStream for Rust: one reader/writer API over Apache Kafka and MQTT, configured by named
//! services in a YAML file, exchanging messages byte-for-byte with Python/Java SINETStream 1.10.
//!
//! A service is a block of the config file (`.sinetstream_config.yml` in the current
//! directory, or `~/.config/sinetstream/config.yml`, or the file `SINETSTREAM_CONFIG_URL` points
//! at):
//!
//! ```yaml
//! service-1:
//!   type: kafka
//!   brokers: [kafka-1:9092, kafka-2:9092]
//! service-2:
//!   type: mqtt
//!   brokers: 192.168.2.105:1883
//!   username_pw_set: {username: user01, password: pass01}
//! ```
//!
//! Writing two messages (the seed's `MessageWriter` example) and reading them back (its
//! `MessageReader` loop), here through the in-process `memory` backend:
//!
//! ```
//! # fn main() -> sinetstream::Result<()> {
//! # let dir = tempfile::tempdir().map_err(|e| sinetstream::Error::connection(e))?;
//! # let path = dir.path().join("config.yml");
//! # std::fs::write(&path, "service-1:\n  type: memory\n  brokers: lib-doc\n").map_err(|e| sinetstream::Error::connection(e))?;
//! use sinetstream::{MessageReader, MessageWriter};
//!
//! let writer = MessageWriter::builder("service-1")
//! #   .config_file(&path)
//!     .topic("topic-001")
//!     .build()?;
//! let mut w = writer.open()?;
//! w.publish(b"test message 001")?;
//! w.publish(b"test message 002")?;
//! w.close()?;
//!
//! let reader = MessageReader::builder("service-1")
//! #   .config_file(&path)
//!     .topic("topic-001")
//!     .receive_timeout_ms(200) // without it the loop waits for messages forever
//!     .build()?;
//! let mut got = Vec::new();
//! for msg in reader.open()? {
//!     let msg = msg?;
//!     println!("{:?}", msg.value);
//!     got.push(msg.value.to_bytes().unwrap_or_default());
//! }
//! assert_eq!(got, [b"test message 001".to_vec(), b"test message 002".to_vec()]);
//! # Ok(()) }
//! ```
//!
//! [`MessageReader::new`] / [`MessageWriter::new`] are the short forms
//! (`MessageReader::new("service-1", "topic-001")?`). In async code use
//! [`MessageReader::open_async`] (an [`AsyncReader`] is a `futures::Stream`) and
//! [`MessageWriter::open_async`].
//!
//! Parameters merge with this precedence: constructor argument (builder setter) >
//! backend-specific key > common key > built-in default. A parameter of the wrong type is logged
//! (`tracing::warn!`) and ignored.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod backend;
pub mod builder;
pub mod config;
pub mod consistency;
pub mod error;
pub mod message;
pub mod metrics;
pub mod reader;
mod runtime;
mod setup;
pub mod value_type;
pub mod wire;
pub mod writer;

pub use backend::register_backend;
pub use builder::{ReaderBuilder, WriterBuilder};
pub use config::{ConfigSource, Map, Value};
pub use consistency::Consistency;
pub use error::{Error, Result};
pub use message::Message;
pub use metrics::Metrics;
pub use reader::{AsyncReader, MessageReader, Reader};
pub use value_type::{Payload, ValueType};
pub use writer::{AsyncWriter, MessageWriter, Writer};

/// `Consistency::AtMostOnce`, under its SINETStream name.
pub const AT_MOST_ONCE: Consistency = Consistency::AtMostOnce;
/// `Consistency::AtLeastOnce`, under its SINETStream name.
pub const AT_LEAST_ONCE: Consistency = Consistency::AtLeastOnce;
/// `Consistency::ExactlyOnce`, under its SINETStream name.
pub const EXACTLY_ONCE: Consistency = Consistency::ExactlyOnce;
