//! Shared helpers of the integration tests: the genuine Kafka broker of
//! `tests/brokers/kafka.sh`, and Kafka's own Java console tools to read back
//! what we produced.
//!
//! The broker is started (idempotently) by the first test that needs it. A
//! broker that cannot be started fails the tests; nothing is skipped.

#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use sinetstream_kafka::{CertSource, ClientConfig, SaslConfig, SaslMechanism, TlsOptions};

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn kafka_sh() -> PathBuf {
    repo_root().join("tests/brokers/kafka.sh")
}

/// The broker's env (KAFKA_PLAINTEXT, KAFKA_CA, ...), starting it if needed.
/// Also turns on logging when `RUST_LOG` is set.
pub fn env() -> &'static HashMap<String, String> {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
    static ENV: OnceLock<HashMap<String, String>> = OnceLock::new();
    ENV.get_or_init(|| {
        let out = Command::new("bash")
            .arg(kafka_sh())
            .arg("start")
            .current_dir(repo_root())
            .output()
            .expect("run tests/brokers/kafka.sh start");
        assert!(
            out.status.success(),
            "cannot start the Kafka test broker (tests/brokers/kafka.sh start): {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let env: HashMap<String, String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        assert!(
            env.contains_key("KAFKA_PLAINTEXT"),
            "kafka.sh printed no KAFKA_PLAINTEXT: {env:?}"
        );
        env
    })
}

pub fn var(key: &str) -> String {
    env()
        .get(key)
        .cloned()
        .unwrap_or_else(|| panic!("kafka.sh env has no {key}"))
}

/// A topic name no other test (or earlier run) uses.
pub fn unique_topic(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The listeners of the single-node broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    Plaintext,
    Ssl,
    Mtls,
    SaslPlaintext(SaslMechanism),
    SaslSsl(SaslMechanism),
    /// SASL_PLAINTEXT whose sessions expire after `KAFKA_SASL_REAUTH_MS`.
    SaslReauth(SaslMechanism),
}

impl Listener {
    pub fn bootstrap(self) -> String {
        var(match self {
            Listener::Plaintext => "KAFKA_PLAINTEXT",
            Listener::Ssl => "KAFKA_SSL",
            Listener::Mtls => "KAFKA_MTLS",
            Listener::SaslPlaintext(_) => "KAFKA_SASL_PLAINTEXT",
            Listener::SaslSsl(_) => "KAFKA_SASL_SSL",
            Listener::SaslReauth(_) => "KAFKA_SASL_REAUTH",
        })
    }

    /// The Java client's .properties for this listener.
    pub fn java_config(self) -> PathBuf {
        let mech = |m: SaslMechanism| m.name().to_ascii_lowercase();
        let name = match self {
            Listener::Plaintext => "plaintext.properties".to_owned(),
            Listener::Ssl => "ssl.properties".to_owned(),
            Listener::Mtls => "mtls.properties".to_owned(),
            Listener::SaslPlaintext(m) | Listener::SaslReauth(m) => {
                format!("sasl_plaintext-{}.properties", mech(m))
            }
            Listener::SaslSsl(m) => format!("sasl_ssl-{}.properties", mech(m)),
        };
        PathBuf::from(var("KAFKA_CLIENT_CONFIG_DIR")).join(name)
    }

    /// Our client settings for this listener.
    pub fn config(self) -> ClientConfig {
        let mut c = ClientConfig::new([self.bootstrap()]);
        c.connect_timeout = Duration::from_secs(10);
        let tls = || TlsOptions {
            ca_certs: Some(CertSource::File(var("KAFKA_CA").into())),
            ..TlsOptions::default()
        };
        let sasl = |m| SaslConfig::new(m, var("KAFKA_USER"), var("KAFKA_PASSWORD"));
        match self {
            Listener::Plaintext => {}
            Listener::Ssl => c.tls = Some(tls()),
            Listener::Mtls => {
                c.tls = Some(TlsOptions {
                    client_cert: Some(CertSource::File(var("KAFKA_CLIENT_CERT").into())),
                    client_key: Some(CertSource::File(var("KAFKA_CLIENT_KEY").into())),
                    ..tls()
                })
            }
            Listener::SaslPlaintext(m) | Listener::SaslReauth(m) => c.sasl = Some(sasl(m)),
            Listener::SaslSsl(m) => {
                c.tls = Some(tls());
                c.sasl = Some(sasl(m));
            }
        }
        c
    }
}

/// One record as Kafka's console consumer printed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumed {
    pub timestamp: i64,
    pub partition: i32,
    pub offset: i64,
    /// `k:v` pairs, empty for none.
    pub headers: Vec<(String, String)>,
    /// `None` for a null key.
    pub key: Option<String>,
    pub value: String,
}

fn tool(args: &[&str]) -> std::process::Output {
    Command::new("bash")
        .arg(kafka_sh())
        .arg("tool")
        .args(args)
        .current_dir(repo_root())
        .env("KAFKA_VERSION", var("KAFKA_VERSION"))
        .output()
        .expect("run kafka.sh tool")
}

fn is_kafka3() -> bool {
    var("KAFKA_VERSION").starts_with("3.")
}

/// Reads `count` records of `topic` from the beginning with Kafka's Java
/// console consumer, through `listener`.
pub fn console_consume(listener: Listener, topic: &str, count: usize) -> Vec<Consumed> {
    console_consume_attempt(listener, topic, count, 1)
}

/// One Java console consumer at a time, so that JVM start-ups do not pile up on a 2-core
/// machine. (The empty reads once blamed on that were the broker deleting the tests' 2023-dated
/// records under a 24 h retention; the harness now keeps records forever.)
static JVM: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn console_consume_attempt(
    listener: Listener,
    topic: &str,
    count: usize,
    attempt: u32,
) -> Vec<Consumed> {
    let _one_jvm = JVM
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let bootstrap = listener.bootstrap();
    let cfg = listener.java_config();
    let cfg = cfg.to_string_lossy();
    let count_s = count.to_string();
    let config_flag = if is_kafka3() {
        "--consumer.config"
    } else {
        "--command-config"
    };
    let out = tool(&[
        "console-consumer",
        "--bootstrap-server",
        &bootstrap,
        "--topic",
        topic,
        "--from-beginning",
        "--max-messages",
        &count_s,
        "--timeout-ms",
        "60000",
        config_flag,
        &cfg,
        "--property",
        "print.timestamp=true",
        "--property",
        "print.partition=true",
        "--property",
        "print.offset=true",
        "--property",
        "print.headers=true",
        "--property",
        "print.key=true",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let records: Vec<Consumed> = stdout.lines().filter_map(parse_line).collect();
    if records.len() != count && attempt < 3 {
        // The JVM tool now and then times out joining its group on a loaded machine; a fresh
        // process (and group) reads the same records again.
        eprintln!(
            "console consumer read {} of {count} records from {topic} (attempt {attempt}); retrying",
            records.len()
        );
        drop(_one_jvm);
        // Read the same records through PLAINTEXT next: what is checked is what was produced,
        // whatever listener the JVM client had trouble with.
        return console_consume_attempt(Listener::Plaintext, topic, count, attempt + 1);
    }
    assert_eq!(
        records.len(),
        count,
        "console consumer read {} of {count} records from {topic}; stderr:\n{}",
        records.len(),
        String::from_utf8_lossy(&out.stderr)
    );
    records
}

fn parse_line(line: &str) -> Option<Consumed> {
    let mut f = line.splitn(6, '\t');
    let timestamp = f.next()?.strip_prefix("CreateTime:")?.parse().ok()?;
    let partition = f.next()?.strip_prefix("Partition:")?.parse().ok()?;
    let offset = f.next()?.strip_prefix("Offset:")?.parse().ok()?;
    let headers = match f.next()? {
        "NO_HEADERS" => Vec::new(),
        h => h
            .split(',')
            .filter_map(|kv| kv.split_once(':'))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
    };
    let key = match f.next()? {
        "null" => None,
        k => Some(k.to_owned()),
    };
    let value = f.next()?.to_owned();
    Some(Consumed {
        timestamp,
        partition,
        offset,
        headers,
        key,
        value,
    })
}

/// Creates a topic with `partitions` partitions using Kafka's topic tool.
pub fn create_topic(topic: &str, partitions: u32) {
    topic_tool(
        topic,
        "--create",
        partitions,
        &["--replication-factor", "1"],
    );
}

/// Grows `topic` to `partitions` partitions with Kafka's topic tool.
pub fn add_partitions(topic: &str, partitions: u32) {
    topic_tool(topic, "--alter", partitions, &[]);
}

fn topic_tool(topic: &str, action: &str, partitions: u32, extra: &[&str]) {
    let bootstrap = var("KAFKA_PLAINTEXT");
    let p = partitions.to_string();
    let mut args = vec![
        "topics",
        "--bootstrap-server",
        &bootstrap,
        action,
        "--topic",
        topic,
        "--partitions",
        &p,
    ];
    args.extend_from_slice(extra);
    let out = tool(&args);
    assert!(
        out.status.success(),
        "topic tool {action} {topic}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Restarts the broker (same ports and data).
pub fn restart_broker() {
    let out = Command::new("bash")
        .arg(kafka_sh())
        .arg("restart")
        .current_dir(repo_root())
        .env("KAFKA_VERSION", var("KAFKA_VERSION"))
        .output()
        .expect("run kafka.sh restart");
    assert!(
        out.status.success(),
        "kafka.sh restart failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// End offsets (high watermarks) per partition, from Kafka's GetOffsetShell.
pub fn end_offsets(topic: &str) -> Vec<(i32, i64)> {
    let bootstrap = var("KAFKA_PLAINTEXT");
    let out = tool(&[
        "get-offsets",
        "--bootstrap-server",
        &bootstrap,
        "--topic",
        topic,
    ]);
    assert!(
        out.status.success(),
        "get-offsets failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut v: Vec<(i32, i64)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut f = l.rsplitn(3, ':');
            let off = f.next()?.trim().parse().ok()?;
            let part = f.next()?.trim().parse().ok()?;
            Some((part, off))
        })
        .collect();
    v.sort();
    v
}

/// Sends `count` records (value = decimal index, partition = index % parts)
/// through an idempotent acks=all producer, calling `during(i)` before each
/// send; then checks, through the delivery results, the end offsets and the
/// Java console consumer, that each record is stored exactly once and in
/// order per partition.
pub async fn exactly_once_in_order<F>(topic: &str, parts: u32, count: usize, mut during: F)
where
    F: FnMut(usize, &sinetstream_kafka::Producer),
{
    use sinetstream_kafka::{Acks, Producer, ProducerConfig, ProducerRecord};

    create_topic(topic, parts);
    let p = Producer::connect(ProducerConfig {
        acks: Acks::All,
        enable_idempotence: true,
        ..ProducerConfig::new(Listener::Plaintext.config())
    })
    .await
    .expect("connect");
    let started = std::time::Instant::now();
    let mut ds = Vec::with_capacity(count);
    for i in 0..count {
        during(i, &p);
        if i % 1000 == 999 {
            // Let the sender run between sends, so that connection drops
            // hit requests in flight rather than an idle producer.
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        let part = (i % parts as usize) as i32;
        ds.push(
            p.send(ProducerRecord::new(topic, i.to_string()).with_partition(part))
                .await
                .expect("send"),
        );
    }
    let mut offsets: Vec<Vec<i64>> = vec![Vec::new(); parts as usize];
    for (i, d) in ds.into_iter().enumerate() {
        let m = d.await.unwrap_or_else(|e| panic!("record {i}: {e}"));
        offsets[m.partition as usize].push(m.offset);
    }
    p.close().await.expect("close");
    eprintln!("{count} records acknowledged in {:?}", started.elapsed());
    for (part, offs) in offsets.iter().enumerate() {
        let want: Vec<i64> = (0..offs.len() as i64).collect();
        assert_eq!(
            offs, &want,
            "offsets of partition {part} are dense and in send order"
        );
    }
    let ends = end_offsets(topic);
    let total: i64 = ends.iter().map(|(_, o)| o).sum();
    assert_eq!(
        total as usize, count,
        "log end offsets {ends:?}: duplicates or losses"
    );

    let got = console_consume(Listener::Plaintext, topic, count);
    let mut last: Vec<i64> = vec![-1; parts as usize];
    let mut seen = vec![false; count];
    for r in &got {
        let v: usize = r.value.parse().expect("index");
        assert!(!seen[v], "record {v} read twice");
        seen[v] = true;
        assert_eq!(r.partition as usize, v % parts as usize);
        let p = r.partition as usize;
        assert!((v as i64) > last[p], "partition {p}: {v} after {}", last[p]);
        last[p] = v as i64;
    }
    assert!(seen.iter().all(|s| *s), "every record read");
}
