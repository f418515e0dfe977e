//! QoS 1 and 2 across a broker restart: 10,000 messages written while mosquitto is restarted
//! mid-stream, with persistent sessions (clean_session false) on both sides. The reader must
//! get every message; at QoS 2 none twice.
//!
//! Its own test binary: restarting the broker would disturb the other MQTT tests running in
//! parallel threads of one binary (cargo runs binaries one after another).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sinetstream::{MessageReader, MessageWriter};
use sinetstream_e2e::brokers::{mosquitto, restart_mosquitto, unique_topic};

const N: usize = 10_000;

fn run(qos: u8) {
    let h = mosquitto();
    let tag = rand::random::<u32>();
    let cfg = format!(
        "svc:\n  type: mqtt\n  brokers: 127.0.0.1:{}\n  qos: {qos}\n  clean_session: false\n  reconnect_delay_set: {{min_delay: 0.1, max_delay: 1}}\n  connect: {{keepalive: 10}}\n",
        h.port("MQTT_PLAIN_PORT")
    );
    let topic = unique_topic(&format!("restart-q{qos}"));
    let reader = MessageReader::builder("svc")
        .config_text(cfg.clone())
        .topic(&topic)
        .client_id(format!("rr-{qos}-{tag}"))
        .receive_timeout_ms(30_000)
        .build()
        .expect("reader");
    let mut r = reader.open().expect("reader opens");

    let sent = Arc::new(AtomicUsize::new(0));
    let writer_sent = sent.clone();
    let writer_cfg = cfg.clone();
    let writer_topic = topic.clone();
    let writer = std::thread::spawn(move || {
        let mut w = MessageWriter::builder("svc")
            .config_text(writer_cfg)
            .topic(&writer_topic)
            .client_id(format!("rw-{qos}-{tag}"))
            .build()
            .expect("writer")
            .open()
            .expect("writer opens");
        for i in 0..N {
            w.publish(i.to_string()).expect("publish");
            writer_sent.store(i + 1, Ordering::Relaxed);
        }
        w.close().expect("every message acknowledged at close");
    });
    let restarter = {
        let sent = sent.clone();
        std::thread::spawn(move || {
            let t0 = Instant::now();
            while sent.load(Ordering::Relaxed) < N / 3 && t0.elapsed() < Duration::from_secs(60) {
                std::thread::sleep(Duration::from_millis(5));
            }
            restart_mosquitto();
        })
    };

    let mut seen: HashMap<usize, usize> = HashMap::new();
    while seen.len() < N {
        match r.next() {
            Some(Ok(m)) => {
                let text = String::from_utf8(m.value.to_bytes().expect("bytes")).expect("utf8");
                let i: usize = text.parse().expect("a sequence number");
                *seen.entry(i).or_default() += 1;
            }
            Some(Err(e)) => panic!("reader error: {e}"),
            None => break,
        }
    }
    restarter.join().expect("restart thread");
    writer.join().expect("writer thread");
    let missing: Vec<usize> = (0..N).filter(|i| !seen.contains_key(i)).take(10).collect();
    assert!(
        missing.is_empty(),
        "QoS {qos}: {} of {N} received; first missing: {missing:?}",
        seen.len()
    );
    if qos == 2 {
        let dups: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).take(10).collect();
        assert!(dups.is_empty(), "QoS 2 delivered twice: {dups:?}");
    }
}

#[test]
fn qos1_and_qos2_survive_a_broker_restart() {
    // The reconnects are the interesting part of this test: show them (RUST_LOG overrides).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "sinetstream_mqtt=info".into()),
        )
        .with_test_writer()
        .try_init();
    run(1);
    run(2);
}
