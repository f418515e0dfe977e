//! Interop over a real broker: Python SINETStream 1.10 (`sinetstream-mqtt`) writes and our
//! reader reads, and the reverse, with message format 3, compression and encryption on.

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Command, Stdio};

use serde_json::json;
use sinetstream::{MessageReader, MessageWriter};
use sinetstream_e2e::brokers::{mosquitto, unique_topic};
use sinetstream_e2e::python::{scripts_dir, venv_python};

/// The shared config file: both sides read the same YAML.
fn config_file(dir: &std::path::Path, extra: &str) -> std::path::PathBuf {
    let h = mosquitto();
    let text = format!(
        "header:\n  version: 3\nconfig:\n  svc:\n    type: mqtt\n    brokers: 127.0.0.1:{}\n    consistency: AT_LEAST_ONCE\n    message_format: 3\n{extra}",
        h.port("MQTT_PLAIN_PORT")
    );
    let path = dir.join("sinetstream_config.yml");
    std::fs::write(&path, text).expect("config written");
    path
}

const VARIANTS: &[(&str, &str)] = &[
    ("plain", ""),
    (
        "gzip",
        "    data_compression: true\n    compression: {algorithm: gzip}\n",
    ),
    (
        "zstd",
        "    data_compression: true\n    compression: {algorithm: zstd}\n",
    ),
    (
        "lz4",
        "    data_compression: true\n    compression: {algorithm: lz4}\n",
    ),
    (
        "gcm+zstd",
        "    data_compression: true\n    compression: {algorithm: zstd}\n    data_encryption: true\n    crypto: {algorithm: AES, key_length: 256, mode: GCM, password: interop-secret}\n",
    ),
    (
        "cbc",
        "    data_encryption: true\n    crypto: {algorithm: AES, key_length: 128, mode: CBC, padding: pkcs7, password: interop-secret}\n",
    ),
];

fn payloads() -> Vec<Vec<u8>> {
    let mut v = vec![Vec::new(), b"hello from the other side".to_vec()];
    v.push((0..=255u8).cycle().take(70_000).collect());
    v.push((0..2000).map(|_| rand::random::<u8>()).collect());
    v
}

fn python(request: &serde_json::Value) -> std::process::Child {
    let mut child = Command::new(venv_python())
        .arg(scripts_dir().join("mqtt_peer.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python starts");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(request.to_string().as_bytes())
        .expect("request written");
    drop(stdin);
    child
}

#[test]
fn python_writes_rust_reads() {
    for (name, extra) in VARIANTS {
        let dir = tempfile::tempdir().expect("tmp");
        let cfg = config_file(dir.path(), extra);
        let topic = unique_topic("py2rs");
        let sent = payloads();
        let mut reader = MessageReader::builder("svc")
            .config_file(&cfg)
            .topic(&topic)
            .receive_timeout_ms(15_000)
            .build()
            .expect("reader")
            .open()
            .expect("reader opens");
        let mut child = python(&json!({
            "mode": "write", "config_file": cfg, "service": "svc", "topic": topic,
            "messages_hex": sent.iter().map(hex::encode).collect::<Vec<_>>(),
        }));
        let status = child.wait().expect("python ran");
        let mut out = String::new();
        std::io::Read::read_to_string(&mut child.stdout.take().expect("stdout"), &mut out)
            .expect("output");
        assert!(
            status.success() && out.contains("\"ok\""),
            "{name}: python writer: {out}"
        );
        for (i, want) in sent.iter().enumerate() {
            let m = reader
                .next()
                .unwrap_or_else(|| panic!("{name}: message {i} not received"))
                .unwrap_or_else(|e| panic!("{name}: message {i}: {e}"));
            assert_eq!(
                &m.value.to_bytes().expect("bytes"),
                want,
                "{name}: message {i}"
            );
            assert!(m.timestamp_us > 1_600_000_000_000_000, "{name}: timestamp");
        }
    }
}

#[test]
fn rust_writes_python_reads() {
    for (name, extra) in VARIANTS {
        let dir = tempfile::tempdir().expect("tmp");
        let cfg = config_file(dir.path(), extra);
        let topic = unique_topic("rs2py");
        let sent = payloads();
        let mut child = python(&json!({
            "mode": "read", "config_file": cfg, "service": "svc", "topic": topic,
            "count": sent.len(), "timeout_ms": 15_000,
        }));
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let first = lines.next().and_then(Result::ok).unwrap_or_default();
        assert_eq!(first, "READY", "{name}: python reader did not start");
        let mut w = MessageWriter::builder("svc")
            .config_file(&cfg)
            .topic(&topic)
            .build()
            .expect("writer")
            .open()
            .expect("writer opens");
        let mut stamps = Vec::new();
        for (i, p) in sent.iter().enumerate() {
            let ts = 1_700_000_000_000_000 + i as i64;
            stamps.push(ts);
            w.publish_with_timestamp(p.clone(), ts).expect("publish");
        }
        w.close().expect("delivered");
        let got: Vec<serde_json::Value> = lines
            .map_while(Result::ok)
            .map(|l| serde_json::from_str(&l).unwrap_or_else(|_| json!({ "raw": l })))
            .collect();
        let _ = child.wait();
        let msgs: Vec<&serde_json::Value> = got
            .iter()
            .filter(|v| v.get("payload_hex").is_some())
            .collect();
        assert_eq!(msgs.len(), sent.len(), "{name}: python got {got:?}");
        for (i, m) in msgs.iter().enumerate() {
            assert_eq!(
                m["payload_hex"],
                json!(hex::encode(&sent[i])),
                "{name}: message {i}"
            );
            assert_eq!(m["timestamp_us"], json!(stamps[i]), "{name}: timestamp {i}");
        }
    }
}
