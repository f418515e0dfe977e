//! The `kafka` backend (cargo feature `kafka`), on `sinetstream-kafka`.
//!
//! Parameters use kafka-python's names (`acks`, `compression_type`, `linger_ms`,
//! `security_protocol`, `ssl_cafile`, `sasl_mechanism` ...); v3 files keep them under
//! `type_spec`. The common `tls` section turns on `SSL` (or `SASL_SSL` when a SASL mechanism is
//! set) and fills in the `ssl_*` keys, which win over it. `brokers` takes a list or a
//! comma-separated string; the default port is 9092.
//!
//! Consistency sets the producer's acknowledgements: AT_MOST_ONCE → `acks` 0, AT_LEAST_ONCE →
//! `acks` all, EXACTLY_ONCE → `acks` all with idempotence (no duplicates from retries, order
//! kept). An explicit `acks` wins, except that EXACTLY_ONCE with `acks` other than all is an
//! InvalidArgumentError. `api_version` is accepted and ignored: versions are negotiated with
//! each broker.
//!
//! `publish` queues the record (it waits only when `buffer_memory` is full) with the message
//! timestamp as its CreateTime; delivery failures are reported by the next `publish`, by
//! `flush` or by `close`, which wait for every acknowledgement. Python SINETStream instead waits
//! for each acknowledgement in `publish`: the result on the broker is the same, the throughput
//! is not.
//!
//! | parameter | client setting |
//! |---|---|
//! | `brokers` | `bootstrap_servers` (default port 9092) |
//! | `client_id` (common) | `client_id` (generated when absent) |
//! | `acks` (0, 1, -1/all) / `consistency` | `acks`; EXACTLY_ONCE also `enable_idempotence` |
//! | `enable_idempotence` | `enable_idempotence` (implied by EXACTLY_ONCE) |
//! | `compression_type` (gzip, snappy, lz4, zstd, none) | `compression` |
//! | `retries`, `batch_size`, `buffer_memory`, `max_request_size`, `max_in_flight_requests_per_connection` | the same |
//! | `linger_ms`, `max_block_ms`, `delivery_timeout_ms` | `linger`, `max_block`, `delivery_timeout` |
//! | `request_timeout_ms` | `request_timeout` and `connect_timeout` (as kafka-python bounds connects) |
//! | `retry_backoff_ms`, `reconnect_backoff_ms`, `reconnect_backoff_max_ms`, `metadata_max_age_ms` | `retry_backoff`, `reconnect_backoff`, `reconnect_backoff_max`, `metadata_max_age` |
//! | `send_buffer_bytes`, `receive_buffer_bytes` | `SO_SNDBUF`, `SO_RCVBUF` |
//! | `security_protocol` (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL) | TLS on/off, SASL on/off |
//! | `tls` (common) / `ssl_cafile`, `ssl_certfile`, `ssl_keyfile`, `ssl_ciphers`, `ssl_check_hostname` | TLS CA, client certificate and key, ciphers, host name check |
//! | `sasl_mechanism` (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512), `sasl_plain_username`, `sasl_plain_password` | SASL |
//! | `close_timeout_ms` | upper bound of `close` |
//! | `api_version`, `api_version_auto_timeout_ms`, `connections_max_idle_ms` | accepted, ignored |
//! | `ssl_password`, `ssl_crlfile`, `tls.keyfilePassword` (non-empty) | InvalidArgumentError: not supported |
//!
//! Unset keys take the client's defaults, which follow the Java client's: notably `retries`
//! is unbounded within `delivery_timeout_ms` (120 s) where kafka-python's is 0. `linger_ms` is
//! kafka-python's 0 (the Java client's is 5): a message goes out at once, and under load records
//! batch while earlier requests are in flight; set `linger_ms` for fuller batches at high rates.
//! Without `security_protocol`, a SASL mechanism alone means SASL_PLAINTEXT.
//! Other keys (`selector`, `metric_reporters`, consumer keys such as `group_id` ...) are warned
//! about and ignored. Invalid settings (an unreadable CA file, idempotence with `acks` 1 ...) are
//! InvalidArgumentErrors at open; refused credentials are AuthorizationErrors; unreachable
//! brokers, TLS failures and timeouts are ConnectionErrors naming the broker.
//!
//! The writer's `metrics().raw` has `pending` (deliveries not yet confirmed), `records_sent`,
//! and the effective `acks`, `enable_idempotence` and `compression_type`.
//!
//! The reader (see `reader.rs`) takes kafka-python's consumer names (`group_id`,
//! `auto_offset_reset`, `enable_auto_commit`, `fetch_*`, `session_timeout_ms`,
//! `partition_assignment_strategy`, `isolation_level` ...). AT_MOST_ONCE commits past each
//! fetched batch before handing out its first record, AT_LEAST_ONCE auto-commits exactly what
//! the application took, EXACTLY_ONCE adds `read_committed`. Without `group_id` each reader has
//! a group of its own, `<service>-group-<n>-<random>` as SINETStream Java names them: readers
//! share the work only when given the same `group_id`. Keys of the other role (a writer's
//! `acks`, a reader's `group_id`) are not warned about, since one service often serves both.

mod params;
mod reader;

pub use reader::KafkaMeta;

use std::time::Duration;

use futures::future::BoxFuture;
use sinetstream_kafka::{Acks, ErrorCode, KafkaError, Producer, ProducerRecord, TlsFailure};

use super::{Backend, OpenContext, OutgoingMessage, ReaderBackend, WriterBackend};
use crate::config::Map;
use crate::error::{Error, Result};

/// The `kafka` backend.
#[derive(Debug, Clone, Copy, Default)]
pub struct KafkaBackend;

/// The SINETStream class of a Kafka error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Authorization,
    InvalidArgument,
    Connection,
}

fn classify(e: &KafkaError) -> Class {
    match e {
        KafkaError::Authentication { .. } => Class::Authorization,
        KafkaError::InvalidArgument(_) => Class::InvalidArgument,
        KafkaError::Tls { .. } if e.tls_failure() == Some(TlsFailure::Config) => {
            Class::InvalidArgument
        }
        KafkaError::Broker { code, .. } => match code {
            ErrorCode::TopicAuthorizationFailed
            | ErrorCode::ClusterAuthorizationFailed
            | ErrorCode::TransactionalIdAuthorizationFailed
            | ErrorCode::GroupAuthorizationFailed
            | ErrorCode::SaslAuthenticationFailed => Class::Authorization,
            ErrorCode::MessageTooLarge
            | ErrorCode::RecordListTooLarge
            | ErrorCode::InvalidTopic
            | ErrorCode::InvalidRequiredAcks
            | ErrorCode::UnsupportedCompressionType
            | ErrorCode::InvalidTimestamp => Class::InvalidArgument,
            _ => Class::Connection,
        },
        KafkaError::DeliveryFailed { first, .. } => classify(first),
        _ => Class::Connection,
    }
}

/// Maps a client error to the SINETStream class: refused credentials or ACLs →
/// AuthorizationError, bad settings or records → InvalidArgumentError, everything else
/// (unreachable broker, TLS failures, timeouts) → ConnectionError naming the brokers.
pub(crate) fn map_error(service: &str, brokers: &str, e: KafkaError) -> Error {
    match classify(&e) {
        Class::Authorization => Error::Authorization(format!("service {service:?}: {e}")),
        Class::InvalidArgument => {
            let text = e.to_string();
            Error::InvalidArgument(format!(
                "service {service:?}: {}",
                text.trim_start_matches("invalid argument: ")
            ))
        }
        Class::Connection => {
            let text = e.to_string();
            let message = if text.contains(brokers) || brokers.split(',').any(|b| text.contains(b))
            {
                format!("service {service:?}: {text}")
            } else {
                format!("service {service:?}: brokers {brokers}: {text}")
            };
            Error::connection_with(message, e)
        }
    }
}

/// Kafka topic names: 1-249 of `[a-zA-Z0-9._-]`, not `.` or `..`.
fn check_topic(service: &str, topic: &str) -> Result<()> {
    let ok = !topic.is_empty()
        && topic.len() <= 249
        && topic != "."
        && topic != ".."
        && topic
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "service {service:?}: {topic:?} is not a valid Kafka topic name (1-249 of a-z A-Z 0-9 . _ -)"
        )))
    }
}

impl Backend for KafkaBackend {
    fn open_writer<'a>(
        &'a self,
        ctx: &'a OpenContext<'a>,
    ) -> BoxFuture<'a, Result<Box<dyn WriterBackend>>> {
        Box::pin(async move {
            let service = ctx.config.service().to_owned();
            for t in ctx.topics {
                check_topic(&service, t)?;
            }
            let p = params::writer_params(ctx)?;
            tracing::debug!(
                service = %service,
                brokers = %p.brokers,
                acks = ?p.producer.acks,
                idempotence = p.producer.enable_idempotence,
                compression = p.producer.compression.name(),
                "opening the Kafka writer"
            );
            let (p_acks, p_idempotence, p_compression) = (
                p.producer.acks,
                p.producer.enable_idempotence,
                p.producer.compression.name(),
            );
            let producer = Producer::connect(p.producer)
                .await
                .map_err(|e| map_error(&service, &p.brokers, e))?;
            Ok(Box::new(KafkaWriter {
                producer,
                failures_reported: 0,
                service,
                brokers: p.brokers,
                close_timeout: p.close_timeout,
                closed: false,
                acks: match p_acks {
                    Acks::Zero => "0",
                    Acks::One => "1",
                    _ => "all",
                },
                idempotence: p_idempotence,
                compression: p_compression,
                sent: 0,
            }) as Box<dyn WriterBackend>)
        })
    }

    fn open_reader<'a>(
        &'a self,
        ctx: &'a OpenContext<'a>,
    ) -> BoxFuture<'a, Result<Box<dyn ReaderBackend>>> {
        Box::pin(reader::open_reader(ctx))
    }
}

struct KafkaWriter {
    producer: Producer,
    /// The producer's failed-record count up to which failures were reported: records are
    /// sent untracked (no future per record), so failures surface by this count, at the next
    /// publish, flush or close.
    failures_reported: u64,
    service: String,
    brokers: String,
    close_timeout: Option<Duration>,
    closed: bool,
    acks: &'static str,
    idempotence: bool,
    compression: &'static str,
    /// Records handed to the producer.
    sent: u64,
}

impl KafkaWriter {
    fn err(&self, e: KafkaError) -> Error {
        map_error(&self.service, &self.brokers, e)
    }

    /// Reports deliveries that failed since the last report, once.
    fn check_failures(&mut self) -> Result<()> {
        let (now, failures) = self.producer.failures_since(self.failures_reported);
        self.failures_reported = now;
        failures.map_err(|e| self.err(e))
    }

    /// Reports earlier failures, then queues `msg` if that needs no waiting (most records go
    /// in so: no send future is built for them, which is large and showed in profiles); gives
    /// the record back when it must wait for metadata or buffer space.
    fn try_queue(&mut self, msg: OutgoingMessage) -> Result<Option<ProducerRecord>> {
        self.check_failures()?;
        let record = ProducerRecord::new(msg.topic, msg.payload)
            .with_timestamp(msg.timestamp_us.div_euclid(1000));
        match self.producer.try_send_untracked(record) {
            Ok(None) => {
                self.sent += 1;
                Ok(None)
            }
            Ok(Some(record)) => Ok(Some(record)),
            Err(e) => Err(self.err(e)),
        }
    }

    async fn close_inner(&mut self) -> Result<()> {
        // close() reports failures during the close; check_failures the ones before.
        let closed = self.producer.close().await;
        let earlier = self.check_failures();
        closed.map_err(|e| self.err(e))?;
        earlier
    }
}

impl WriterBackend for KafkaWriter {
    fn publish(&mut self, msg: OutgoingMessage) -> BoxFuture<'_, Result<()>> {
        match self.try_queue(msg) {
            Ok(None) => Box::pin(std::future::ready(Ok(()))),
            Ok(Some(record)) => Box::pin(async move {
                self.producer
                    .send_untracked(record)
                    .await
                    .map_err(|e| self.err(e))?;
                self.sent += 1;
                Ok(())
            }),
            Err(e) => Box::pin(std::future::ready(Err(e))),
        }
    }

    fn try_publish(&mut self, msg: OutgoingMessage) -> Result<Option<OutgoingMessage>> {
        let timestamp_us = msg.timestamp_us;
        Ok(self.try_queue(msg)?.map(|record| {
            OutgoingMessage::new(record.topic, record.value.unwrap_or_default(), timestamp_us)
        }))
    }

    fn flush(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            // Sends what lingers now and waits for every record; failures before the flush
            // began are reported too.
            let flushed = self.producer.flush().await;
            let failures = self.check_failures();
            flushed.map_err(|e| self.err(e))?;
            failures
        })
    }

    fn close(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            if self.closed {
                return Ok(());
            }
            self.closed = true;
            match self.close_timeout {
                None => self.close_inner().await,
                Some(limit) => {
                    let n = self.producer.pending_records();
                    match tokio::time::timeout(limit, self.close_inner()).await {
                        Ok(r) => r,
                        Err(_) => Err(Error::connection(format!(
                            "service {:?}: brokers {}: {n} record(s) not acknowledged within {limit:?} at close",
                            self.service, self.brokers
                        ))),
                    }
                }
            }
        })
    }

    fn pooled_payloads(&self) -> bool {
        // The producer drops each record once its batch is acknowledged or failed.
        true
    }

    fn metrics(&self) -> Option<Map> {
        let mut m = Map::new();
        m.insert(
            "pending",
            i64::try_from(self.producer.pending_records()).unwrap_or(i64::MAX),
        );
        m.insert("records_sent", i64::try_from(self.sent).unwrap_or(i64::MAX));
        m.insert("acks", self.acks);
        m.insert("enable_idempotence", self.idempotence);
        m.insert("compression_type", self.compression);
        Some(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names() {
        for ok in ["a", "sensor.data_1-x", &"x".repeat(249)] {
            assert!(check_topic("s", ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "a b", "ä", &"x".repeat(250)] {
            assert!(
                matches!(check_topic("s", bad), Err(Error::InvalidArgument(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn error_classes() {
        let auth = KafkaError::Authentication {
            broker: "b:1".into(),
            mechanism: "PLAIN".into(),
            message: "bad".into(),
        };
        assert!(matches!(
            map_error("s", "b:1", auth.clone()),
            Error::Authorization(_)
        ));
        let failed = KafkaError::DeliveryFailed {
            failed: 2,
            first: Box::new(auth),
        };
        assert!(matches!(
            map_error("s", "b:1", failed),
            Error::Authorization(_)
        ));
        let e = map_error(
            "s",
            "b:1",
            KafkaError::Timeout {
                what: "metadata".into(),
                timeout: Duration::from_secs(1),
            },
        );
        assert!(matches!(e, Error::Connection { .. }));
        assert!(e.to_string().contains("b:1"), "{e}");
        assert!(matches!(
            map_error("s", "b:1", KafkaError::InvalidArgument("x".into())),
            Error::InvalidArgument(_)
        ));
    }
}
