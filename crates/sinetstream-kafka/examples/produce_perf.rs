//! Producer throughput, comparable to Kafka's `ProducerPerformance`:
//!
//! ```text
//! cargo run --release -p sinetstream-kafka --example produce_perf -- \
//!     127.0.0.1:9092 [records=100000] [size=100] [acks=1] [compression=none]
//! ```
//!
//! Records go to a fresh topic; the time runs from the first `send` to the
//! last acknowledgement.

use std::time::Instant;

use sinetstream_kafka::{
    Acks, ClientConfig, Compression, Producer, ProducerConfig, ProducerRecord,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bootstrap = args
        .first()
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:9092".into());
    let count: usize = args.get(1).map_or(Ok(100_000), |s| s.parse())?;
    let size: usize = args.get(2).map_or(Ok(100), |s| s.parse())?;
    let acks: Acks = args.get(3).map_or(Ok(Acks::One), |s| s.parse())?;
    let compression: Compression = args.get(4).map_or(Ok(Compression::None), |s| s.parse())?;
    let topic = format!(
        "perf-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis()
    );

    let producer = Producer::connect(ProducerConfig {
        acks,
        enable_idempotence: acks == Acks::All,
        compression,
        ..ProducerConfig::new(ClientConfig::new([bootstrap]))
    })
    .await?;
    // Create the topic and warm the connection outside the measurement.
    producer
        .send(ProducerRecord::new(&topic, "warm-up"))
        .await?
        .await?;

    let payload = bytes::Bytes::from(vec![b'x'; size]);
    let started = Instant::now();
    let mut deliveries = Vec::with_capacity(count);
    for _ in 0..count {
        deliveries.push(
            producer
                .send(ProducerRecord::new(&topic, payload.clone()))
                .await?,
        );
    }
    let queued = started.elapsed();
    let mut failed = 0usize;
    for d in deliveries {
        if d.await.is_err() {
            failed += 1;
        }
    }
    let elapsed = started.elapsed();
    producer.close().await?;
    let secs = elapsed.as_secs_f64().max(f64::EPSILON);
    println!(
        "{count} records of {size} B, acks={acks:?}, compression={compression}: {:.0} records/s, {:.2} MB/s, {:.3} s (all queued after {:.3} s), {failed} failed",
        count as f64 / secs,
        (count * size) as f64 / secs / 1e6,
        secs,
        queued.as_secs_f64()
    );
    Ok(())
}
