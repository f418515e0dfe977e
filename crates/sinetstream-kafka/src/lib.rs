//! A pure-Rust Kafka client for sinetstream-rs: broker connections (TCP or
//! TLS through `sinetstream-net`, SASL PLAIN and SCRAM with re-authentication
//! before the broker ends the session), cluster metadata,
//! a producer with batching, compression and idempotence, and a consumer
//! with consumer groups (see [`consumer`]). No C libraries: no librdkafka,
//! no OpenSSL, no zlib/lz4/zstd bindings.
//!
//! This crate knows nothing of SINETStream configuration files; the facade
//! translates its (kafka-python style) parameters into [`ClientConfig`]
//! and [`ProducerConfig`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), sinetstream_kafka::KafkaError> {
//! use sinetstream_kafka::{Acks, ClientConfig, Compression, Producer, ProducerConfig, ProducerRecord};
//! use sinetstream_kafka::{SaslConfig, SaslMechanism};
//!
//! let mut client = ClientConfig::new(["broker1:9092", "broker2:9092"]);
//! client.sasl = Some(SaslConfig::new(SaslMechanism::ScramSha512, "user", "password"));
//! let producer = Producer::connect(ProducerConfig {
//!     acks: Acks::All,
//!     compression: Compression::Zstd,
//!     ..ProducerConfig::new(client)
//! })
//! .await?;
//!
//! // `send` waits only for buffer space; the returned future resolves when
//! // the broker has acknowledged the record.
//! let delivery = producer
//!     .send(ProducerRecord::new("sensor-data", &b"21.5"[..]).with_key(&b"room-1"[..]))
//!     .await?;
//! let meta = delivery.await?;
//! println!("stored at {}-{} offset {}", meta.topic, meta.partition, meta.offset);
//! producer.close().await?;
//! # Ok(()) }
//! ```
//!
//! Design notes: one connection per broker routes responses by correlation
//! id (many requests in flight) and is cancellation-safe; metadata is cached
//! with generations so that concurrent failures cause one refresh; errors
//! are [`KafkaError`], with broker codes as [`ErrorCode`] and retriability
//! decided in one place. API versions are negotiated per connection (the
//! highest both sides speak), so brokers from Kafka 3.x to 4.x work.

mod api;
mod backoff;
mod cluster;
mod compression;
mod config;
mod connection;
pub mod consumer;
mod error;
mod frame;
mod messenger;
mod metadata;
mod producer;
mod records;
mod sasl;
#[cfg(test)]
mod scripted;
#[cfg(test)]
mod test_rng;

pub use cluster::Client;
pub use compression::Compression;
pub use config::ClientConfig;
pub use consumer::{
    Assignor, Consumer, ConsumerConfig, ConsumerRecord, IsolationLevel, OffsetReset, TopicPartition,
};
pub use error::{ErrorCode, KafkaError, Result};
pub use metadata::{BrokerInfo, ClusterMetadata, PartitionMetadata, TopicMetadata};
pub use producer::{
    Acks, DeliveryFuture, IntoTopic, Producer, ProducerConfig, ProducerRecord, RecordMetadata,
};
pub use records::Header;
pub use sasl::{Password, SaslConfig, SaslMechanism};
pub use sinetstream_net::{CertSource, TlsFailure, TlsOptions, TlsVersion};

/// Entry points for the fuzz targets: the decoders the client uses, fed
/// arbitrary bytes. Not a stable API.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::producer::partitioner::murmur2;

    /// Decodes `data` as a response frame (correlation id first) of API
    /// `api_key` at `version`, the way the client decodes responses.
    /// Returns whether decoding succeeded; unknown APIs return `false`.
    pub fn decode_response(api_key: i16, version: i16, data: &[u8]) -> bool {
        crate::api::fuzz_decode(api_key, version, bytes::Bytes::copy_from_slice(data))
    }

    /// Decodes record batches with every compression codec, decompressing
    /// at most `limit` bytes per batch. Returns the number of records.
    pub fn decode_record_batches(data: &[u8], limit: usize) -> Result<usize, String> {
        let sets = crate::records::decode_batches(bytes::Bytes::copy_from_slice(data), limit)?;
        Ok(sets.iter().map(|s| s.records.len()).sum())
    }

    /// Builds a v2 record batch around `payload` (records, compressed with
    /// codec `codec % 5` first if `compress`), with a valid CRC, so that
    /// fuzzed bytes get past the checksum into decompression and record
    /// parsing.
    pub fn batch_with_payload(
        codec: u8,
        record_count: i32,
        payload: &[u8],
        compress: bool,
    ) -> Vec<u8> {
        use kafka_protocol::records::Compression as W;
        let wire = [W::None, W::Gzip, W::Snappy, W::Lz4, W::Zstd][usize::from(codec % 5)];
        let body = if compress {
            let mut input = bytes::BytesMut::from(payload);
            let mut out = bytes::BytesMut::new();
            if crate::compression::compress(&mut input, &mut out, wire).is_err() {
                return Vec::new();
            }
            out.to_vec()
        } else {
            payload.to_vec()
        };
        // From attributes to the end: what the CRC covers.
        let mut tail = Vec::with_capacity(body.len() + 40);
        tail.extend_from_slice(&(wire as i16).to_be_bytes()); // attributes
        tail.extend_from_slice(&(record_count - 1).to_be_bytes()); // last offset delta
        tail.extend_from_slice(&0i64.to_be_bytes()); // first timestamp
        tail.extend_from_slice(&0i64.to_be_bytes()); // max timestamp
        tail.extend_from_slice(&(-1i64).to_be_bytes()); // producer id
        tail.extend_from_slice(&(-1i16).to_be_bytes()); // producer epoch
        tail.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
        tail.extend_from_slice(&record_count.to_be_bytes());
        tail.extend_from_slice(&body);
        let mut out = Vec::with_capacity(tail.len() + 21);
        out.extend_from_slice(&0i64.to_be_bytes()); // base offset
        let len = i32::try_from(tail.len() + 9).unwrap_or(i32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&(-1i32).to_be_bytes()); // partition leader epoch
        out.push(2); // magic
        out.extend_from_slice(&crc32c::crc32c(&tail).to_be_bytes());
        out.extend_from_slice(&tail);
        out
    }

    /// Decodes `data` as the consumer-group protocol bytes other members
    /// send through JoinGroup (a subscription) and SyncGroup (an
    /// assignment), and as sticky assignor user data. Returns the topic
    /// count and assigned partition count when decoding succeeded.
    pub fn decode_group_protocol(data: &[u8]) -> (Option<usize>, Option<usize>) {
        use crate::consumer::assignor::{
            Assignor, decode_assignment, decode_sticky_user_data, decode_subscription,
        };
        let _ = decode_sticky_user_data(data);
        (
            decode_subscription(data).ok().map(|s| {
                // Interpreting it the sticky ways must not fail either.
                let _ = s.for_assignor(Assignor::Sticky);
                let _ = s.for_assignor(Assignor::CooperativeSticky);
                s.topics.len()
            }),
            decode_assignment(data)
                .ok()
                .map(|a| a.values().map(Vec::len).sum()),
        )
    }

    /// The client's supported APIs: `(api_key, min_version, max_version)`.
    pub fn client_apis() -> Vec<(i16, i16, i16)> {
        crate::api::CLIENT_APIS
            .iter()
            .map(|(k, lo, hi)| (*k as i16, *lo, *hi))
            .collect()
    }
}
