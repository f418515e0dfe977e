//! Producing to the genuine Kafka broker on every listener, with every
//! codec and acks setting, read back with Kafka's Java console consumer.

mod common;

use std::time::{Duration, Instant};

use common::{Listener, console_consume, create_topic, unique_topic};
use sinetstream_kafka::{
    Acks, Client, Compression, Producer, ProducerConfig, ProducerRecord, SaslMechanism,
};

const TS_BASE: i64 = 1_700_000_000_000;

fn config(listener: Listener) -> ProducerConfig {
    ProducerConfig::new(listener.config())
}

/// Produces 6 records (keys, headers with a repeated key, explicit timestamps) and checks the
/// Java consumer sees them in order with everything intact.
async fn roundtrip(listener: Listener) {
    let topic = unique_topic("listener");
    let p = Producer::connect(config(listener))
        .await
        .unwrap_or_else(|e| panic!("{listener:?}: connect: {e}"));
    let mut deliveries = Vec::new();
    for i in 0..6i64 {
        let mut r = ProducerRecord::new(&topic, format!("value-{i}"))
            .with_timestamp(TS_BASE + i)
            .with_header("n", format!("{i}"))
            .with_header("via", format!("{listener:?}").replace(['(', ')'], "-"))
            // Kafka allows a key twice; both reach the consumer.
            .with_header("n", "again");
        if i % 2 == 0 {
            r = r.with_key(format!("key-{i}"));
        }
        deliveries.push(p.send(r).await.expect("send"));
    }
    let mut offsets = Vec::new();
    for d in deliveries {
        let m = d
            .await
            .unwrap_or_else(|e| panic!("{listener:?}: delivery: {e}"));
        assert_eq!(&*m.topic, topic.as_str());
        assert_eq!(m.partition, 0);
        offsets.push(m.offset);
    }
    assert_eq!(offsets, (0..6).collect::<Vec<i64>>(), "{listener:?}");
    p.close().await.expect("close");

    let got = console_consume(listener, &topic, 6);
    for (i, r) in got.iter().enumerate() {
        let i = i as i64;
        assert_eq!(r.value, format!("value-{i}"), "{listener:?}");
        assert_eq!(r.offset, i);
        assert_eq!(r.timestamp, TS_BASE + i);
        assert_eq!(r.key, (i % 2 == 0).then(|| format!("key-{i}")));
        assert_eq!(
            r.headers[0],
            ("n".to_owned(), format!("{i}")),
            "{listener:?}"
        );
        assert_eq!(r.headers.len(), 3, "{listener:?}: {:?}", r.headers);
        assert_eq!(r.headers[2], ("n".to_owned(), "again".to_owned()));
    }
}

#[tokio::test]
async fn plaintext() {
    roundtrip(Listener::Plaintext).await;
}

#[tokio::test]
async fn ssl() {
    roundtrip(Listener::Ssl).await;
}

#[tokio::test]
async fn mutual_tls() {
    roundtrip(Listener::Mtls).await;
}

#[tokio::test]
async fn sasl_plaintext_plain() {
    roundtrip(Listener::SaslPlaintext(SaslMechanism::Plain)).await;
}

#[tokio::test]
async fn sasl_plaintext_scram_sha_256() {
    roundtrip(Listener::SaslPlaintext(SaslMechanism::ScramSha256)).await;
}

#[tokio::test]
async fn sasl_plaintext_scram_sha_512() {
    roundtrip(Listener::SaslPlaintext(SaslMechanism::ScramSha512)).await;
}

#[tokio::test]
async fn sasl_ssl_plain() {
    roundtrip(Listener::SaslSsl(SaslMechanism::Plain)).await;
}

#[tokio::test]
async fn sasl_ssl_scram_sha_256() {
    roundtrip(Listener::SaslSsl(SaslMechanism::ScramSha256)).await;
}

#[tokio::test]
async fn sasl_ssl_scram_sha_512() {
    roundtrip(Listener::SaslSsl(SaslMechanism::ScramSha512)).await;
}

/// One topic, one producer per codec; the Java consumer must decompress
/// every batch.
#[tokio::test]
async fn every_compression_type() {
    let topic = unique_topic("codecs");
    let codecs = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];
    const N: usize = 300;
    for c in codecs {
        let p = Producer::connect(ProducerConfig {
            compression: c,
            linger: Duration::from_millis(20),
            ..config(Listener::Plaintext)
        })
        .await
        .expect("connect");
        let mut last = None;
        for i in 0..N {
            // Compressible values, and enough of them for several batches.
            let v = format!("{c}-{i:04}-{}", "abcdefgh".repeat(8));
            last = Some(p.send(ProducerRecord::new(&topic, v)).await.expect("send"));
        }
        p.flush()
            .await
            .unwrap_or_else(|e| panic!("{c}: flush: {e}"));
        last.expect("sent")
            .await
            .unwrap_or_else(|e| panic!("{c}: {e}"));
        p.close().await.expect("close");
    }
    let got = console_consume(Listener::Plaintext, &topic, N * codecs.len());
    for (ci, c) in codecs.iter().enumerate() {
        for i in 0..N {
            let r = &got[ci * N + i];
            assert_eq!(r.value, format!("{c}-{i:04}-{}", "abcdefgh".repeat(8)));
            assert_eq!(r.offset, (ci * N + i) as i64);
        }
    }
}

#[tokio::test]
async fn acks_zero_one_and_all() {
    let topic = unique_topic("acks");
    for acks in [Acks::Zero, Acks::One, Acks::All] {
        let p = Producer::connect(ProducerConfig {
            acks,
            enable_idempotence: acks == Acks::All,
            ..config(Listener::Plaintext)
        })
        .await
        .expect("connect");
        let mut ds = Vec::new();
        for i in 0..50 {
            ds.push(
                p.send(ProducerRecord::new(&topic, format!("{acks:?}-{i}")))
                    .await
                    .expect("send"),
            );
        }
        for d in ds {
            let m = d.await.unwrap_or_else(|e| panic!("{acks:?}: {e}"));
            if acks == Acks::Zero {
                assert_eq!(m.offset, -1, "acks=0 has no offset");
            } else {
                assert!(m.offset >= 0);
            }
        }
        p.close().await.expect("close");
    }
    let got = console_consume(Listener::Plaintext, &topic, 150);
    let values: Vec<&str> = got.iter().map(|r| r.value.as_str()).collect();
    let want: Vec<String> = ["Zero", "One", "All"]
        .iter()
        .flat_map(|a| (0..50).map(move |i| format!("{a}-{i}")))
        .collect();
    assert_eq!(values, want);
}

/// Keys land where the Java client would put them (murmur2), records keep
/// their order per partition, and keyless records spread (sticky).
#[tokio::test]
async fn key_partitioning_matches_java_and_order_is_kept() {
    let topic = unique_topic("keys");
    create_topic(&topic, 3);
    let p = Producer::connect(ProducerConfig {
        batch_size: 1024,
        ..config(Listener::Plaintext)
    })
    .await
    .expect("connect");
    // Partitions from Java's Utils.toPositive(Utils.murmur2(key)) % 3.
    let java = [("key-0", 1), ("key-1", 0), ("k", 2), ("21", 0), ("abc", 0)];
    let mut ds = Vec::new();
    for round in 0..40 {
        for (k, _) in &java {
            ds.push(
                p.send(
                    ProducerRecord::new(&topic, format!("{k}|{round}"))
                        .with_key(k.as_bytes().to_vec()),
                )
                .await
                .expect("send"),
            );
        }
    }
    let mut keyless = Vec::new();
    for i in 0..400 {
        keyless.push(
            p.send(ProducerRecord::new(
                &topic,
                format!("nokey|{i}|{}", "x".repeat(50)),
            ))
            .await
            .expect("send"),
        );
    }
    for (i, d) in ds.into_iter().enumerate() {
        let m = d.await.expect("delivered");
        assert_eq!(
            m.partition,
            java[i % java.len()].1,
            "key {}",
            java[i % java.len()].0
        );
    }
    let mut used = std::collections::BTreeSet::new();
    for d in keyless {
        used.insert(d.await.expect("delivered").partition);
    }
    assert!(
        used.len() > 1,
        "sticky partitioning should move on: {used:?}"
    );
    p.close().await.expect("close");

    let got = console_consume(Listener::Plaintext, &topic, 200 + 400);
    for (k, part) in java {
        let rounds: Vec<i32> = got
            .iter()
            .filter(|r| r.key.as_deref() == Some(k))
            .map(|r| {
                assert_eq!(
                    r.partition, part,
                    "Java consumer sees {k} on its murmur2 partition"
                );
                r.value
                    .rsplit('|')
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("round")
            })
            .collect();
        assert_eq!(rounds, (0..40).collect::<Vec<_>>(), "order of {k}");
    }
}

/// `send` waits for buffer space up to max_block, then says so clearly.
#[tokio::test]
async fn full_buffer_blocks_then_times_out() {
    let topic = unique_topic("backpressure");
    let p = Producer::connect(ProducerConfig {
        buffer_memory: 4096,
        max_block: Duration::from_millis(300),
        // Batches never leave on their own: the buffer stays full.
        linger: Duration::from_secs(3600),
        batch_size: 1 << 20,
        ..config(Listener::Plaintext)
    })
    .await
    .expect("connect");
    let mut ds = Vec::new();
    let err = loop {
        match p.send(ProducerRecord::new(&topic, vec![b'x'; 500])).await {
            Ok(d) => ds.push(d),
            Err(e) => break e,
        }
        assert!(ds.len() < 100, "buffer_memory is not enforced");
    };
    assert!(
        matches!(err, sinetstream_kafka::KafkaError::Timeout { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("buffer_memory"), "{err}");
    // flush sends the lingering batch and frees the space.
    p.flush().await.expect("flush");
    for d in ds {
        d.await.expect("delivered");
    }
    let started = Instant::now();
    let _d = p
        .send(ProducerRecord::new(&topic, vec![b'x'; 500]))
        .await
        .expect("space again");
    assert!(started.elapsed() < Duration::from_millis(300));
    p.close().await.expect("close");
}

#[tokio::test]
async fn metadata_and_versions_are_visible() {
    let c = Client::connect(Listener::Plaintext.config())
        .await
        .expect("connect");
    let topic = unique_topic("meta");
    let m = c.refresh_metadata(&[&topic]).await.expect("metadata");
    assert!(m.brokers().count() >= 1);
    let id = m.brokers().next().map(|b| b.id).expect("a broker");
    let versions = c.api_versions(id).await.expect("versions");
    eprintln!(
        "negotiated with Kafka {}: {versions:?}",
        common::var("KAFKA_VERSION")
    );
    assert!(versions.iter().any(|(api, v)| api == "Produce" && *v >= 3));
    assert!(versions.iter().any(|(api, v)| api == "Metadata" && *v >= 4));
    c.close();
}
