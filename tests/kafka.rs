//! The `kafka` writer through the facade, against the real Apache Kafka started by
//! `tests/brokers/kafka.sh`: every listener (PLAINTEXT, SSL through the common `tls` section,
//! mutual TLS, SASL PLAIN / SCRAM-SHA-256 / SCRAM-SHA-512 over plaintext and TLS), every
//! `compression_type`, consistency → acks, EXACTLY_ONCE without duplicates, and the errors
//! users meet. What was written is read back with Kafka's own Java console consumer and decoded
//! with `sinetstream::wire::Codec`.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use sinetstream::config::{Map, Value};
use sinetstream::wire::{Codec, WireConfig};
use sinetstream::{Error, MessageWriter, Writer};
use sinetstream_e2e::brokers::{Harness, kafka, repo_root, unique_topic};

/// The end of one record in the console consumer's output (its `line.separator`); long enough
/// never to occur inside the binary values.
const RECORD_END: &str = "<<sinetstream-e2e-record-end-7f3a9c>>\n";

/// One record as the Java console consumer printed it.
#[derive(Debug)]
struct Record {
    timestamp_ms: i64,
    offset: i64,
    value: Vec<u8>,
}

/// Runs a Kafka tool of the harness's version; stdout, or a panic with its output.
fn kafka_tool(alias: &str, args: &[&str]) -> Vec<u8> {
    kafka_tool_output(alias, args).0
}

/// Runs a Kafka tool of the harness's version; (stdout, stderr), or a panic with its output.
fn kafka_tool_output(alias: &str, args: &[&str]) -> (Vec<u8>, String) {
    let h = kafka();
    let script = repo_root().join("tests/brokers/kafka.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg("tool")
        .arg(alias)
        .args(args)
        .env("KAFKA_VERSION", h.get("KAFKA_VERSION"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "kafka.sh tool {alias} {} failed ({}):\n{}\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.stdout, stderr)
}

/// Reads `n` records of `topic` from the beginning with the Java console consumer, through
/// the listener `bootstrap` with the client properties file `props` (in
/// `KAFKA_CLIENT_CONFIG_DIR`). Values are kept as raw bytes.
fn console_consume(bootstrap: &str, props: &str, topic: &str, n: usize) -> Vec<Record> {
    console_consume_attempt(bootstrap, props, topic, n, 1)
}

/// One Java console consumer at a time, so that JVM start-ups do not pile up on a 2-core
/// machine. (The empty reads once blamed on that were the broker deleting the tests' 2023-dated
/// records under a 24 h retention; the harness now keeps records forever.)
static JVM: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn console_consume_attempt(
    bootstrap: &str,
    props_file: &str,
    topic: &str,
    n: usize,
    attempt: u32,
) -> Vec<Record> {
    let one_jvm = JVM
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let h = kafka();
    let props = format!("{}/{props_file}", h.get("KAFKA_CLIENT_CONFIG_DIR"));
    let v4 = !h.get("KAFKA_VERSION").starts_with("3.");
    // Kafka 4.x renamed --consumer.config and --property.
    let (config_opt, prop_opt) = if v4 {
        ("--command-config", "--formatter-property")
    } else {
        ("--consumer.config", "--property")
    };
    let max = n.to_string();
    let sep = format!("line.separator={RECORD_END}");
    let (out, stderr) = kafka_tool_output(
        "console-consumer",
        &[
            "--bootstrap-server",
            bootstrap,
            "--topic",
            topic,
            "--from-beginning",
            "--max-messages",
            &max,
            "--timeout-ms",
            "60000",
            config_opt,
            &props,
            prop_opt,
            "print.timestamp=true",
            prop_opt,
            "print.offset=true",
            prop_opt,
            &sep,
        ],
    );
    let records = parse_records(&out);
    if records.len() != n && attempt < 3 {
        // The JVM tool now and then times out joining its group on a loaded machine; a fresh
        // process (and group) reads the same records again.
        eprintln!(
            "console consumer read {} of {n} records of {topic} (attempt {attempt}); retrying:\n{stderr}",
            records.len()
        );
        drop(one_jvm);
        // Read the same records through PLAINTEXT next: what is checked is what was written,
        // whatever listener the JVM client had trouble with.
        let plain = h.get("KAFKA_PLAINTEXT").to_owned();
        return console_consume_attempt(&plain, "plaintext.properties", topic, n, attempt + 1);
    }
    assert_eq!(
        records.len(),
        n,
        "the console consumer read {} of {n} records of {topic}; its stderr:\n{stderr}",
        records.len()
    );
    records
}

fn parse_records(out: &[u8]) -> Vec<Record> {
    let end = RECORD_END.as_bytes();
    let mut records = Vec::new();
    let mut rest = out;
    while let Some(pos) = rest.windows(end.len()).position(|w| w == end) {
        let rec = &rest[..pos];
        rest = &rest[pos + end.len()..];
        // CreateTime:<ms>\tOffset:<n>\t<value bytes>
        let mut fields = rec.splitn(3, |b| *b == b'\t');
        let ts = String::from_utf8_lossy(fields.next().unwrap_or_default()).into_owned();
        let off = String::from_utf8_lossy(fields.next().unwrap_or_default()).into_owned();
        let value = fields.next().unwrap_or_default().to_vec();
        let timestamp_ms = ts
            .strip_prefix("CreateTime:")
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("no CreateTime in {ts:?}"));
        let offset = off
            .strip_prefix("Offset:")
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("no Offset in {off:?}"));
        records.push(Record {
            timestamp_ms,
            offset,
            value,
        });
    }
    records
}

/// The service block for a listener: `plaintext`, `ssl`, `mtls`, `sasl_plaintext-<mech>`,
/// `sasl_ssl-<mech>` (mech in lower case, as the properties files are named). Returns the
/// YAML and the listener's bootstrap address.
fn service(listener: &str, extra: &str) -> (String, String) {
    let h = kafka();
    let ca = h.get("KAFKA_CA");
    let (user, pw) = (h.get("KAFKA_USER"), h.get("KAFKA_PASSWORD"));
    let (addr, body) = match listener {
        "plaintext" => (h.get("KAFKA_PLAINTEXT"), String::new()),
        "ssl" => (h.get("KAFKA_SSL"), format!("  tls:\n    ca_certs: {ca}\n")),
        "mtls" => (
            h.get("KAFKA_MTLS"),
            format!(
                "  tls:\n    ca_certs: {ca}\n    certfile: {}\n    keyfile: {}\n",
                h.get("KAFKA_CLIENT_CERT"),
                h.get("KAFKA_CLIENT_KEY")
            ),
        ),
        other => {
            let (proto, mech) = other.split_once('-').expect("sasl listener-mechanism");
            let mech = mech.to_ascii_uppercase();
            match proto {
                "sasl_plaintext" => (
                    h.get("KAFKA_SASL_PLAINTEXT"),
                    format!(
                        "  security_protocol: SASL_PLAINTEXT\n  sasl_mechanism: {mech}\n  sasl_plain_username: {user}\n  sasl_plain_password: {pw}\n"
                    ),
                ),
                // SASL_SSL from the tls section plus a mechanism, without security_protocol.
                "sasl_ssl" => (
                    h.get("KAFKA_SASL_SSL"),
                    format!(
                        "  tls: {{ca_certs: {ca}}}\n  sasl_mechanism: {mech}\n  sasl_plain_username: {user}\n  sasl_plain_password: {pw}\n"
                    ),
                ),
                _ => panic!("no listener {other}"),
            }
        }
    };
    (
        format!("svc:\n  type: kafka\n  brokers: {addr}\n{body}{extra}"),
        addr.to_owned(),
    )
}

fn open_writer(cfg: &str, topic: &str) -> sinetstream::Result<Writer> {
    MessageWriter::builder("svc")
        .config_text(cfg)
        .topic(topic)
        .build()?
        .open()
}

/// Writes `n` messages with distinct timestamps; returns (payload, timestamp µs) in order.
fn write_messages(cfg: &str, topic: &str, n: usize) -> Vec<(Vec<u8>, i64)> {
    let mut w = open_writer(cfg, topic).unwrap_or_else(|e| panic!("writer opens: {e}\n{cfg}"));
    let base = 1_700_000_000_000_000i64;
    let sent: Vec<(Vec<u8>, i64)> = (0..n)
        .map(|i| {
            let ts = base + i as i64 * 1_001_001; // distinct milliseconds, sub-ms digits too
            (format!("message {i} of {n} to {topic}").into_bytes(), ts)
        })
        .collect();
    for (m, ts) in &sent {
        w.publish_with_timestamp(m.clone(), *ts)
            .unwrap_or_else(|e| panic!("publish: {e}"));
    }
    w.close()
        .unwrap_or_else(|e| panic!("close delivers everything: {e}"));
    sent
}

/// Checks that the records are the messages, in order, with CreateTime = timestamp / 1000 and
/// values that decode (SINETStream v3 + Avro) to the payload and timestamp.
fn check_records(records: &[Record], sent: &[(Vec<u8>, i64)], codec: &Codec) {
    assert_eq!(records.len(), sent.len());
    for (i, (r, (payload, ts))) in records.iter().zip(sent).enumerate() {
        assert_eq!(r.offset, i as i64, "order");
        assert_eq!(r.timestamp_ms, ts / 1000, "CreateTime of record {i}");
        let d = codec
            .decode(&r.value)
            .unwrap_or_else(|e| panic!("record {i} does not decode: {e}"));
        assert_eq!(&d.payload, payload, "payload of record {i}");
        assert_eq!(
            d.timestamp_us,
            Some(*ts),
            "envelope timestamp of record {i}"
        );
    }
}

fn plain_codec() -> Codec {
    Codec::new(&WireConfig::default()).expect("codec")
}

fn props_of(listener: &str) -> String {
    format!("{listener}.properties")
}

#[test]
fn writes_on_every_listener_and_mechanism() {
    let codec = plain_codec();
    let mut listeners = vec!["plaintext".to_owned(), "ssl".into(), "mtls".into()];
    for proto in ["sasl_plaintext", "sasl_ssl"] {
        for mech in ["plain", "scram-sha-256", "scram-sha-512"] {
            listeners.push(format!("{proto}-{mech}"));
        }
    }
    for listener in &listeners {
        let (cfg, addr) = service(listener, "  consistency: AT_LEAST_ONCE\n");
        let topic = unique_topic(&format!("listener-{}", listener.replace('_', "-")));
        let sent = write_messages(&cfg, &topic, 20);
        let records = console_consume(&addr, &props_of(listener), &topic, sent.len());
        check_records(&records, &sent, &codec);
    }
}

#[test]
fn every_compression_type() {
    let codec = plain_codec();
    for ct in ["none", "gzip", "snappy", "lz4", "zstd"] {
        // Many records per batch, so that compression has something to work on.
        let (cfg, addr) = service(
            "plaintext",
            &format!("  compression_type: {ct}\n  linger_ms: 20\n  consistency: AT_LEAST_ONCE\n"),
        );
        let topic = unique_topic(&format!("compression-{ct}"));
        let w = open_writer(&cfg, &topic).expect("writer opens");
        let raw = w.metrics().raw.expect("backend metrics");
        assert_eq!(raw.get("compression_type"), Some(&Value::from(ct)));
        drop(w);
        let sent = write_messages(&cfg, &topic, 300);
        let records = console_consume(&addr, "plaintext.properties", &topic, sent.len());
        check_records(&records, &sent, &codec);
    }
}

/// (consistency, explicit acks or "", expected acks, expected idempotence)
#[test]
fn consistency_sets_acks_and_explicit_acks_wins() {
    let codec = plain_codec();
    let cases = [
        ("AT_MOST_ONCE", "", "0", false),
        ("AT_LEAST_ONCE", "", "all", false),
        ("EXACTLY_ONCE", "", "all", true),
        ("AT_LEAST_ONCE", "1", "1", false),
        ("AT_MOST_ONCE", "all", "all", false),
        ("EXACTLY_ONCE", "all", "all", true),
    ];
    for (consistency, acks, want_acks, want_idem) in cases {
        let mut extra = format!("  consistency: {consistency}\n");
        if !acks.is_empty() {
            extra.push_str(&format!("  acks: {acks}\n"));
        }
        let (cfg, addr) = service("plaintext", &extra);
        let topic = unique_topic("acks");
        let mut w = open_writer(&cfg, &topic).expect("writer opens");
        let raw = w.metrics().raw.expect("backend metrics");
        assert_eq!(
            raw.get("acks"),
            Some(&Value::from(want_acks)),
            "{consistency} acks {acks:?}"
        );
        assert_eq!(
            raw.get("enable_idempotence"),
            Some(&Value::Bool(want_idem)),
            "{consistency} acks {acks:?}"
        );
        w.publish_with_timestamp(b"x".to_vec(), 1_700_000_000_000_000)
            .expect("publish");
        w.close().expect("close");
        let records = console_consume(&addr, "plaintext.properties", &topic, 1);
        check_records(&records, &[(b"x".to_vec(), 1_700_000_000_000_000)], &codec);
    }

    // EXACTLY_ONCE needs acks all.
    let (cfg, _) = service("plaintext", "  consistency: EXACTLY_ONCE\n  acks: 1\n");
    let e = open_writer(&cfg, "t").expect_err("EXACTLY_ONCE with acks 1");
    assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
    // A constructor consistency beats the file's acks.
    let (cfg, _) = service("plaintext", "  acks: 0\n");
    let w = MessageWriter::builder("svc")
        .config_text(cfg)
        .topic(unique_topic("acks-ctor"))
        .consistency(sinetstream::Consistency::AtLeastOnce)
        .build()
        .expect("builds")
        .open()
        .expect("opens");
    let raw = w.metrics().raw.expect("backend metrics");
    assert_eq!(raw.get("acks"), Some(&Value::from("all")));
}

#[test]
fn exactly_once_writes_ten_thousand_records_once() {
    let h = kafka();
    let n = 10_000usize;
    let (cfg, addr) = service("plaintext", "  consistency: EXACTLY_ONCE\n");
    let topic = unique_topic("exactly-once");
    let mut w = open_writer(&cfg, &topic).expect("writer opens");
    for i in 0..n {
        w.publish(format!("{i}").into_bytes()).expect("publish");
    }
    w.flush().expect("flush");
    w.close().expect("close");

    // The log end offset counts every record stored (duplicates included).
    let out = kafka_tool(
        "get-offsets",
        &[
            "--bootstrap-server",
            h.get("KAFKA_PLAINTEXT"),
            "--topic",
            &topic,
        ],
    );
    let text = String::from_utf8_lossy(&out);
    let end: i64 = text
        .lines()
        .filter_map(|l| l.trim().rsplit(':').next()?.parse::<i64>().ok())
        .sum();
    assert_eq!(end, n as i64, "end offsets: {text}");

    // And each value once, in order.
    let codec = plain_codec();
    let records = console_consume(&addr, "plaintext.properties", &topic, n);
    for (i, r) in records.iter().enumerate() {
        let d = codec.decode(&r.value).expect("decodes");
        assert_eq!(d.payload, format!("{i}").into_bytes(), "record {i}");
    }
}

#[test]
fn v3_config_with_type_spec() {
    let h = kafka();
    let cfg = format!(
        "header: {{version: 3}}\nconfig:\n  svc:\n    type: kafka\n    brokers: [{}]\n    consistency: AT_LEAST_ONCE\n    tls: {{ca_certs: {}}}\n    type_spec:\n      compression_type: lz4\n      sasl_mechanism: SCRAM-SHA-256\n      sasl_plain_username: {}\n      sasl_plain_password: {}\n",
        h.get("KAFKA_SASL_SSL"),
        h.get("KAFKA_CA"),
        h.get("KAFKA_USER"),
        h.get("KAFKA_PASSWORD")
    );
    let topic = unique_topic("v3");
    let sent = write_messages(&cfg, &topic, 10);
    let records = console_consume(
        h.get("KAFKA_SASL_SSL"),
        "sasl_ssl-scram-sha-256.properties",
        &topic,
        10,
    );
    check_records(&records, &sent, &plain_codec());
}

#[test]
fn sasl_wrong_password_is_an_authorization_error() {
    let h = kafka();
    for (addr, proto) in [
        (h.get("KAFKA_SASL_PLAINTEXT"), "SASL_PLAINTEXT"),
        (h.get("KAFKA_SASL_SSL"), "SASL_SSL"),
    ] {
        for mech in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] {
            let cfg = format!(
                "svc:\n  type: kafka\n  brokers: {addr}\n  security_protocol: {proto}\n  ssl_cafile: {}\n  sasl_mechanism: {mech}\n  sasl_plain_username: {}\n  sasl_plain_password: wrong-secret-pw\n",
                h.get("KAFKA_CA"),
                h.get("KAFKA_USER")
            );
            let e = open_writer(&cfg, "t").expect_err("wrong password");
            assert!(matches!(e, Error::Authorization(_)), "{proto} {mech}: {e}");
            let all = format!("{e} {e:?}");
            assert!(!all.contains("wrong-secret-pw"), "secret leaked: {all}");
        }
    }
}

#[test]
fn tls_errors_are_connection_errors() {
    let h = kafka();
    let pki = h.get("KAFKA_PKI_DIR");
    // A CA that did not sign the broker's certificate.
    let cfg = format!(
        "svc:\n  type: kafka\n  brokers: {}\n  tls: {{ca_certs: {pki}/other-ca.pem}}\n",
        h.get("KAFKA_SSL")
    );
    let e = open_writer(&cfg, "t").expect_err("untrusted CA");
    assert!(matches!(e, Error::Connection { .. }), "{e}");
    assert!(e.to_string().contains(h.get("KAFKA_SSL")), "{e}");

    // The broker's certificate is for localhost and 127.0.0.1; 127.0.0.2 forwards to it.
    let ssl_port = h.port_of("KAFKA_SSL");
    let fwd = forward("127.0.0.2", ssl_port);
    let cfg = format!(
        "svc:\n  type: kafka\n  brokers: {fwd}\n  tls: {{ca_certs: {}}}\n  request_timeout_ms: 10000\n",
        h.get("KAFKA_CA")
    );
    let e = open_writer(&cfg, "t").expect_err("wrong host name");
    assert!(matches!(e, Error::Connection { .. }), "{e}");
    assert!(e.to_string().contains("127.0.0.2"), "{e}");
    // ... accepted with check_hostname off (the chain is still verified).
    let cfg = format!(
        "svc:\n  type: kafka\n  brokers: {fwd}\n  tls: {{ca_certs: {}, check_hostname: false}}\n",
        h.get("KAFKA_CA")
    );
    let topic = unique_topic("no-hostname-check");
    let sent = write_messages(&cfg, &topic, 3);
    let records = console_consume(h.get("KAFKA_SSL"), "ssl.properties", &topic, 3);
    check_records(&records, &sent, &plain_codec());

    // The mTLS listener without a client certificate.
    let cfg = format!(
        "svc:\n  type: kafka\n  brokers: {}\n  tls: {{ca_certs: {}}}\n",
        h.get("KAFKA_MTLS"),
        h.get("KAFKA_CA")
    );
    let e = open_writer(&cfg, "t").expect_err("no client certificate");
    assert!(matches!(e, Error::Connection { .. }), "{e}");
}

#[test]
fn unreachable_broker_fails_within_the_timeout() {
    // A port nobody listens on.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let cfg =
        format!("svc:\n  type: kafka\n  brokers: 127.0.0.1:{port}\n  request_timeout_ms: 2000\n");
    let t0 = Instant::now();
    let e = open_writer(&cfg, "t").expect_err("closed port");
    assert!(matches!(e, Error::Connection { .. }), "{e}");
    assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");
    assert!(t0.elapsed() < Duration::from_secs(4), "{:?}", t0.elapsed());

    // A listener that accepts but never answers: the connect (ApiVersions) times out.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = silent.local_addr().expect("addr");
    let cfg = format!("svc:\n  type: kafka\n  brokers: {addr}\n  request_timeout_ms: 1500\n");
    let t0 = Instant::now();
    let e = open_writer(&cfg, "t").expect_err("silent broker");
    let took = t0.elapsed();
    assert!(matches!(e, Error::Connection { .. }), "{e}");
    assert!(e.to_string().contains(&addr.to_string()), "{e}");
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_secs(5),
        "{took:?}"
    );
    drop(silent);

    // No brokers at all.
    let e = open_writer("svc:\n  type: kafka\n", "t").expect_err("no brokers");
    assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
}

#[test]
fn delivery_failures_are_reported_by_flush() {
    let (cfg, _) = service(
        "plaintext",
        "  consistency: AT_LEAST_ONCE\n  max_request_size: 4000000\n  retries: 0\n",
    );
    let topic = unique_topic("too-large");
    let mut w = open_writer(&cfg, &topic).expect("writer opens");
    w.publish(b"small".to_vec()).expect("publish");
    w.flush().expect("the small record is stored");
    // Above the broker's message.max.bytes (1 MiB): refused by the broker.
    w.publish(vec![7u8; 2_000_000]).expect("queued");
    let e = w.flush().expect_err("the broker refuses the record");
    assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
    // The writer stays usable.
    w.publish(b"after".to_vec())
        .expect("publish after a failure");
    w.close().expect("close");

    // Above max_request_size: refused before sending.
    let (cfg, _) = service("plaintext", "  max_request_size: 10000\n");
    let mut w = open_writer(&cfg, &topic).expect("writer opens");
    let e = w.publish(vec![0u8; 20_000]).expect_err("too large");
    assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
}

#[test]
fn invalid_parameters() {
    for extra in [
        "  ssl_password: secret-key-pw\n  tls: true\n",
        "  compression_type: brotli\n",
        "  sasl_mechanism: GSSAPI\n",
        "  security_protocol: SASL_SSL\n",
        "  acks: 3\n",
    ] {
        let (cfg, _) = service("plaintext", extra);
        let e = open_writer(&cfg, "t").expect_err(extra);
        assert!(matches!(e, Error::InvalidArgument(_)), "{extra}: {e}");
        assert!(!e.to_string().contains("secret-key-pw"), "{e}");
    }
    let (cfg, _) = service("plaintext", "");
    let e = open_writer(&cfg, "not/a topic").expect_err("bad topic");
    assert!(matches!(e, Error::InvalidArgument(_)), "{e}");

    // Unknown, consumer-only and wrongly typed keys are ignored (with a warning).
    let (cfg, addr) = service(
        "plaintext",
        "  group_id: g\n  selector: x\n  socket_options: []\n  linger_ms: soon\n  api_version: [2, 6]\n",
    );
    let topic = unique_topic("ignored-keys");
    let sent = write_messages(&cfg, &topic, 2);
    let records = console_consume(&addr, "plaintext.properties", &topic, 2);
    check_records(&records, &sent, &plain_codec());
}

#[test]
fn constructor_parameters_win() {
    let h = kafka();
    // The file says plaintext to the SASL port; the constructor adds SASL.
    let cfg = format!(
        "svc:\n  type: kafka\n  brokers: {}\n  security_protocol: PLAINTEXT\n",
        h.get("KAFKA_SASL_PLAINTEXT")
    );
    let mut args = Map::new();
    args.insert("security_protocol", "SASL_PLAINTEXT");
    args.insert("sasl_mechanism", "SCRAM-SHA-512");
    args.insert("sasl_plain_username", h.get("KAFKA_USER2"));
    args.insert("sasl_plain_password", h.get("KAFKA_PASSWORD2"));
    let topic = unique_topic("ctor");
    let mut w = MessageWriter::builder("svc")
        .config_text(cfg)
        .topic(&topic)
        .params(&args)
        .build()
        .expect("builds")
        .open()
        .expect("opens with SASL");
    w.publish(b"from ctor".to_vec()).expect("publish");
    w.close().expect("close");
}

/// Forwards TCP connections from `host:<free port>` to 127.0.0.1:`port`; returns the address.
fn forward(host: &str, port: u16) -> String {
    let l = TcpListener::bind((host, 0)).expect("bind the forwarder");
    let addr = l.local_addr().expect("addr");
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(client) = conn else { break };
            let Ok(server) = TcpStream::connect(("127.0.0.1", port)) else {
                continue;
            };
            for (mut from, mut to) in [
                (
                    client.try_clone().expect("clone"),
                    server.try_clone().expect("clone"),
                ),
                (server, client),
            ] {
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16 * 1024];
                    loop {
                        match from.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                if to.write_all(&buf[..n]).is_err() {
                                    break;
                                }
                            }
                        }
                    }
                    let _ = to.shutdown(Shutdown::Write);
                });
            }
        }
    });
    addr.to_string()
}

trait PortOf {
    fn port_of(&self, key: &str) -> u16;
}

impl PortOf for Harness {
    /// The port of a `host:port` value.
    fn port_of(&self, key: &str) -> u16 {
        let v = self.get(key);
        v.rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("{key}={v} has no port"))
    }
}

// ---- the reader ----

fn open_reader(cfg: &str, topic: &str, timeout_ms: u64) -> sinetstream::Reader {
    sinetstream::MessageReader::builder("svc")
        .config_text(cfg)
        .topic(topic)
        .receive_timeout_ms(timeout_ms)
        .build()
        .unwrap_or_else(|e| panic!("reader builds: {e}\n{cfg}"))
        .open()
        .unwrap_or_else(|e| panic!("reader opens: {e}\n{cfg}"))
}

fn payloads(r: &mut sinetstream::Reader, n: usize) -> Vec<Vec<u8>> {
    r.by_ref()
        .take(n)
        .map(|m| {
            m.unwrap_or_else(|e| panic!("message: {e}"))
                .value
                .to_bytes()
                .expect("bytes")
        })
        .collect()
}

#[test]
fn reader_round_trip_on_every_listener() {
    for listener in [
        "plaintext",
        "ssl",
        "mtls",
        "sasl_plaintext-plain",
        "sasl_plaintext-scram-sha-256",
        "sasl_ssl-scram-sha-512",
    ] {
        let (cfg, _) = service(listener, "  consistency: AT_LEAST_ONCE\n");
        let topic = unique_topic("read-listener");
        // Opened first: with `latest` it must still see what is written after open returns.
        let mut r = open_reader(&cfg, &topic, 20_000);
        let sent = write_messages(&cfg, &topic, 20);
        for (i, (payload, ts)) in sent.iter().enumerate() {
            let m = r
                .next()
                .unwrap_or_else(|| panic!("{listener}: message {i} not received"))
                .unwrap_or_else(|e| panic!("{listener}: message {i}: {e}"));
            assert_eq!(&m.value.to_bytes().expect("bytes"), payload, "{listener}");
            assert_eq!(m.timestamp_us, *ts, "{listener}: the writer's timestamp");
            let meta = m
                .raw
                .meta::<sinetstream::backend::kafka::KafkaMeta>()
                .expect("kafka meta");
            assert_eq!(meta.offset, i as i64, "{listener}");
        }
    }
}

#[test]
fn reader_resumes_from_committed_offsets_without_loss_or_repeat() {
    let topic = unique_topic("resume");
    let (cfg, _) = service(
        "plaintext",
        &format!(
            "  consistency: AT_LEAST_ONCE\n  group_id: g-{topic}\n  auto_offset_reset: earliest\n"
        ),
    );
    let sent: Vec<Vec<u8>> = write_messages(&cfg, &topic, 30)
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    let mut r = open_reader(&cfg, &topic, 20_000);
    let first = payloads(&mut r, 10);
    drop(r); // close commits exactly what was taken
    let mut r = open_reader(&cfg, &topic, 3_000);
    let rest: Vec<Vec<u8>> = r
        .by_ref()
        .map(|m| m.expect("message").value.to_bytes().expect("bytes"))
        .collect();
    assert_eq!(first, sent[..10]);
    assert_eq!(rest, sent[10..], "resumed exactly after what was taken");
}

#[test]
fn at_most_once_reader_never_delivers_a_record_twice() {
    let topic = unique_topic("amo");
    let (cfg, _) = service(
        "plaintext",
        &format!("  group_id: g-{topic}\n  auto_offset_reset: earliest\n"),
    );
    write_messages(&cfg, &topic, 50);
    let mut r = open_reader(&cfg, &topic, 20_000);
    let first = payloads(&mut r, 5);
    drop(r);
    let mut r = open_reader(&cfg, &topic, 2_000);
    let again: Vec<Vec<u8>> = r
        .by_ref()
        .map(|m| m.expect("message").value.to_bytes().expect("bytes"))
        .collect();
    assert!(
        first.iter().all(|p| !again.contains(p)),
        "AT_MOST_ONCE delivered a record twice"
    );
}

#[test]
fn seek_to_beginning_replays_and_seek_to_end_skips() {
    let topic = unique_topic("seek");
    let (cfg, _) = service("plaintext", "");
    let sent: Vec<Vec<u8>> = write_messages(&cfg, &topic, 10)
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    let mut r = open_reader(&cfg, &topic, 3_000);
    r.seek_to_beginning().expect("seek to beginning");
    assert_eq!(payloads(&mut r, 10), sent);
    let mut r = open_reader(&cfg, &topic, 1_500);
    r.seek_to_end().expect("seek to end");
    let more = write_messages(&cfg, &topic, 2);
    let got = payloads(&mut r, 5);
    let want: Vec<Vec<u8>> = more.into_iter().map(|(p, _)| p).collect();
    assert_eq!(got, want, "only what came after seek_to_end");
}

#[test]
fn readers_without_group_id_each_see_everything() {
    let topic = unique_topic("groups");
    let (cfg, _) = service("plaintext", "  auto_offset_reset: earliest\n");
    write_messages(&cfg, &topic, 10);
    let mut a = open_reader(&cfg, &topic, 3_000);
    let mut b = open_reader(&cfg, &topic, 3_000);
    assert_eq!(payloads(&mut a, 10).len(), 10);
    assert_eq!(
        payloads(&mut b, 10).len(),
        10,
        "a generated group per reader"
    );
}
