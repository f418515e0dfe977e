//! Interop over the real Kafka broker of `tests/brokers/kafka.sh`: our writer → Python
//! SINETStream 1.10's MessageReader (`sinetstream-kafka` on kafka-python-ng), and Python's
//! MessageWriter → records that our `sinetstream::wire::Codec` decodes. Message format 3, with
//! SINETStream compression, AES-GCM encryption and Kafka batch compression. Both sides read the
//! same config file.

use serde_json::json;
use sinetstream::config::{ConfigSource, Map, ServiceConfig};
use sinetstream::wire::{Codec, WireConfig};
use sinetstream::{MessageWriter, Value};
use sinetstream_e2e::brokers::{kafka, unique_topic};
use sinetstream_e2e::python::run_json;

/// (name, extra service keys, the writer's `type_spec` keys). Python passes `type_spec` to
/// kafka-python.
const VARIANTS: &[(&str, &str, &str)] = &[
    ("plain", "", ""),
    (
        "zstd+kafka-gzip",
        "    data_compression: true\n    compression: {algorithm: zstd}\n",
        "      compression_type: gzip\n",
    ),
    (
        "gzip+kafka-lz4",
        "    data_compression: true\n    compression: {algorithm: gzip}\n",
        "      compression_type: lz4\n",
    ),
    (
        "aes-gcm",
        "    data_encryption: true\n    crypto: {algorithm: AES, key_length: 128, mode: GCM, password: kafka-interop-secret}\n",
        "",
    ),
    (
        "aes-gcm+lz4+kafka-zstd",
        "    data_compression: true\n    compression: {algorithm: lz4}\n    data_encryption: true\n    crypto: {algorithm: AES, key_length: 256, mode: GCM, password: kafka-interop-secret}\n",
        "      compression_type: zstd\n",
    ),
];

/// The shared v3 config file: service `w` for writers, `r` for readers, with the same common
/// keys. kafka-python refuses parameters of the other role, hence two services.
fn config_file(dir: &std::path::Path, extra: &str, spec: &str) -> std::path::PathBuf {
    let h = kafka();
    let block = |name: &str, spec: &str| {
        let spec = if spec.is_empty() {
            "    type_spec: {}\n".to_owned()
        } else {
            format!("    type_spec:\n{spec}")
        };
        format!(
            "  {name}:\n    type: kafka\n    brokers: {}\n    consistency: AT_LEAST_ONCE\n    message_format: 3\n{extra}{spec}",
            h.get("KAFKA_PLAINTEXT")
        )
    };
    let text = format!(
        "header:\n  version: 3\nconfig:\n{}{}",
        block("w", spec),
        block("r", "      auto_offset_reset: earliest\n")
    );
    let path = dir.join("sinetstream_config.yml");
    std::fs::write(&path, text).expect("config written");
    path
}

fn payloads() -> Vec<Vec<u8>> {
    let mut v = vec![Vec::new(), b"hello from the other side".to_vec()];
    v.push((0..=255u8).cycle().take(70_000).collect());
    v.push((0..2000).map(|_| rand::random::<u8>()).collect());
    v
}

fn array<'a>(v: &'a serde_json::Value, key: &str) -> &'a Vec<serde_json::Value> {
    v.get(key)
        .and_then(serde_json::Value::as_array)
        .unwrap_or_else(|| panic!("no {key} in {v}"))
}

fn hex_field(v: &serde_json::Value, key: &str) -> Vec<u8> {
    hex::decode(
        v.get(key)
            .and_then(serde_json::Value::as_str)
            .unwrap_or("-"),
    )
    .unwrap_or_else(|e| panic!("{key} in {v}: {e}"))
}

#[test]
fn rust_writes_python_reads() {
    for (name, extra, spec) in VARIANTS {
        let dir = tempfile::tempdir().expect("tmp");
        let cfg = config_file(dir.path(), extra, spec);
        let topic = unique_topic("rs2py");
        let sent = payloads();
        let mut w = MessageWriter::builder("w")
            .config_file(&cfg)
            .topic(&topic)
            .build()
            .expect("writer")
            .open()
            .expect("writer opens");
        let stamps: Vec<i64> = (0..sent.len())
            .map(|i| 1_700_000_000_000_000 + i as i64 * 1_234)
            .collect();
        for (p, ts) in sent.iter().zip(&stamps) {
            w.publish_with_timestamp(p.clone(), *ts).expect("publish");
        }
        w.close().expect("delivered");

        let out = run_json(
            "kafka_peer.py",
            &json!({
                "mode": "read", "config_file": cfg, "service": "r", "topic": topic,
                "count": sent.len(), "timeout_ms": 20_000,
            }),
        );
        let got = array(&out, "messages");
        assert_eq!(got.len(), sent.len(), "{name}: python read {out}");
        for (i, m) in got.iter().enumerate() {
            assert_eq!(hex_field(m, "payload_hex"), sent[i], "{name}: message {i}");
            assert_eq!(
                m.get("timestamp_us").and_then(serde_json::Value::as_i64),
                Some(stamps[i]),
                "{name}: timestamp of message {i}"
            );
            assert_eq!(
                m.get("topic").and_then(serde_json::Value::as_str),
                Some(topic.as_str())
            );
        }
    }
}

#[test]
fn python_writes_rust_decodes_and_reads() {
    let h = kafka();
    for (name, extra, spec) in VARIANTS {
        let dir = tempfile::tempdir().expect("tmp");
        let cfg = config_file(dir.path(), extra, spec);
        let topic = unique_topic("py2rs");
        let sent = payloads();
        let out = run_json(
            "kafka_peer.py",
            &json!({
                "mode": "write", "config_file": cfg, "service": "w", "topic": topic,
                "messages_hex": sent.iter().map(hex::encode).collect::<Vec<_>>(),
            }),
        );
        assert_eq!(
            out.get("ok"),
            Some(&json!(true)),
            "{name}: python writer: {out}"
        );

        let out = run_json(
            "kafka_peer.py",
            &json!({
                "mode": "read_raw", "bootstrap": h.get("KAFKA_PLAINTEXT"), "topic": topic,
                "count": sent.len(), "timeout_ms": 20_000,
            }),
        );
        let records = array(&out, "records");
        assert_eq!(records.len(), sent.len(), "{name}: raw records {out}");

        // Our codec, configured from the same file.
        let defaults: Map = [("consistency".to_owned(), Value::from("AT_MOST_ONCE"))]
            .into_iter()
            .collect();
        let svc = ServiceConfig::load(
            &ConfigSource::File(cfg.clone()),
            Some("w"),
            &defaults,
            &Map::new(),
        )
        .expect("config loads");
        let codec = Codec::new(&WireConfig::from_params(&svc.common()).expect("wire config"))
            .expect("codec");
        for (i, r) in records.iter().enumerate() {
            let wire = hex_field(r, "value_hex");
            assert_eq!(&wire[..4], &[0xDF, 0x03, 0x00, 0x00], "{name}: v3 header");
            let d = codec
                .decode(&wire)
                .unwrap_or_else(|e| panic!("{name}: record {i} does not decode: {e}"));
            assert_eq!(d.payload, sent[i], "{name}: record {i}");
            let ts = d.timestamp_us.expect("envelope timestamp");
            assert!(ts > 1_600_000_000_000_000, "{name}: timestamp {ts}");
        }

        // And through our reader (service `r`: earliest, its own group).
        let mut reader = sinetstream::MessageReader::builder("r")
            .config_file(&cfg)
            .topic(&topic)
            .receive_timeout_ms(20_000)
            .build()
            .expect("reader builds")
            .open()
            .expect("reader opens");
        for (i, want) in sent.iter().enumerate() {
            let m = reader
                .next()
                .unwrap_or_else(|| panic!("{name}: message {i} not read"))
                .unwrap_or_else(|e| panic!("{name}: message {i}: {e}"));
            assert_eq!(
                &m.value.to_bytes().expect("bytes"),
                want,
                "{name}: message {i}"
            );
        }
    }
}

#[test]
fn python_versions_in_use() {
    // Written to the test output, so that a run records what it was checked against.
    let out = run_json("kafka_peer.py", &json!({"mode": "versions"}));
    eprintln!(
        "Python peer: {out}; Kafka broker {}",
        kafka().get("KAFKA_VERSION")
    );
    assert_eq!(out.get("sinetstream"), Some(&json!("1.10.0")));
    assert_eq!(out.get("sinetstream-kafka"), Some(&json!("1.10.0")));
}
