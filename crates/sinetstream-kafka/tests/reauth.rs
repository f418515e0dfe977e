//! SASL re-authentication (KIP-368) against the genuine Kafka broker of
//! `tests/brokers/kafka.sh`, whose SASL_REAUTH listener ends every SASL
//! session after `KAFKA_SASL_REAUTH_MS` (3 s): a broker closes a connection
//! used after its session expired. A producer and a consumer work through
//! several session lifetimes; every record arrives, and no connection is
//! lost on the way, because each re-authenticates in time on the same
//! connection.
//!
//! Its own test binary: it captures the crate's log to count connections.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Listener, unique_topic};
use sinetstream_kafka::{
    Consumer, ConsumerConfig, OffsetReset, Producer, ProducerConfig, ProducerRecord, SaslMechanism,
    TopicPartition,
};

/// The log, as text.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Log {
    /// The text logged since the last call.
    fn take(&self) -> String {
        let bytes = std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()));
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

fn capture() -> Log {
    let log = Log::default();
    let writer = log.clone();
    tracing_subscriber::fmt()
        .with_env_filter("sinetstream_kafka=debug")
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();
    log
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_renewed_on_live_connections() {
    let log = capture();
    let lifetime = Duration::from_millis(common::var("KAFKA_SASL_REAUTH_MS").parse().expect("ms"));
    for mech in [SaslMechanism::Plain, SaslMechanism::ScramSha512] {
        let listener = Listener::SaslReauth(mech);
        let topic = unique_topic("reauth");
        let producer = Producer::connect(ProducerConfig::new(listener.config()))
            .await
            .expect("producer");
        let mut consumer = Consumer::connect(ConsumerConfig {
            auto_offset_reset: OffsetReset::Earliest,
            ..ConsumerConfig::new(listener.config())
        })
        .await
        .expect("consumer");
        // Records for three and a half session lifetimes, one every 100 ms,
        // read as they come (the consumer's Fetches wait on the broker
        // while a re-authentication begins).
        let until = Instant::now() + lifetime.mul_f64(3.5);
        let mut sent = 0usize;
        let mut got = Vec::new();
        let mut assigned = false;
        while Instant::now() < until {
            producer
                .send(ProducerRecord::new(&topic, format!("r{sent}")))
                .await
                .expect("send")
                .await
                .unwrap_or_else(|e| panic!("{mech}: record {sent} not delivered: {e}"));
            sent += 1;
            if !assigned {
                consumer
                    .assign([TopicPartition::new(&topic, 0)])
                    .expect("assign");
                assigned = true;
            }
            while let Some(r) = consumer
                .poll(Duration::from_millis(100))
                .await
                .unwrap_or_else(|e| panic!("{mech}: consumer failed: {e}"))
            {
                got.push(r.offset);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while got.len() < sent && Instant::now() < deadline {
            if let Some(r) = consumer
                .poll(Duration::from_millis(200))
                .await
                .expect("poll")
            {
                got.push(r.offset);
            }
        }
        assert_eq!(
            got,
            (0..sent as i64).collect::<Vec<_>>(),
            "{mech}: every record once"
        );
        // Before closing (which ends connections on purpose).
        let text = log.take();
        let renewed = text.matches("SASL re-authenticated").count();
        let lost = text.matches("connection poisoned").count();
        eprintln!("{mech}: {sent} records, {renewed} re-authentications, {lost} connections lost");
        // The producer's and the consumer's broker connections each live
        // through about three renewals.
        assert!(
            renewed >= 2 * 2,
            "{mech}: too few re-authentications ({renewed}):\n{text}"
        );
        assert_eq!(lost, 0, "{mech}: connections were lost:\n{text}");
        producer.close().await.expect("close producer");
        consumer.close().await.expect("close consumer");
        log.take();
    }
}
