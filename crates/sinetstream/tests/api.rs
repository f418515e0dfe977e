//! The facade's behaviour over the in-process `memory` backend: errors, precedence, value
//! types, timeouts, seeking, metrics, the async API.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt as _;
use sinetstream::backend::{
    Backend, OpenContext, ReaderBackend, WriterBackend, memory::MemoryBackend, register_backend,
};
use sinetstream::{
    AT_LEAST_ONCE, Consistency, Error, MessageReader, MessageWriter, Payload, ValueType,
};

fn uniq(prefix: &str) -> String {
    format!("{prefix}-{}", uuid_like())
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn memory_cfg(service: &str, extra: &str) -> String {
    format!(
        "{service}:\n  type: memory\n  brokers: {}\n{extra}",
        uniq("ns")
    )
}

#[test]
fn seed_round_trip_through_memory() {
    let cfg = memory_cfg("service-1", "");
    let topic = uniq("topic");
    let w = MessageWriter::builder("service-1")
        .config_text(cfg.clone())
        .topic(&topic)
        .build()
        .expect("writer");
    let mut h = w.open().expect("open");
    h.publish(b"test message 001").expect("publish");
    h.publish(b"test message 002").expect("publish");
    drop(h);
    let r = MessageReader::builder("service-1")
        .config_text(cfg)
        .topic(&topic)
        .receive_timeout_ms(100)
        .build()
        .expect("reader");
    let values: Vec<Payload> = r
        .open()
        .expect("open")
        .map(|m| m.expect("message").value)
        .collect();
    assert_eq!(
        values,
        vec![
            Payload::from(b"test message 001"),
            Payload::from(b"test message 002")
        ]
    );
}

#[test]
fn errors_name_their_cause() {
    let cfg = memory_cfg("svc", "");
    // NoServiceError names the service and the ones defined.
    let e = MessageReader::builder("nope")
        .config_text(cfg.clone())
        .topic("t")
        .build()
        .expect_err("no service");
    assert!(matches!(e, Error::NoService(_)), "{e}");
    assert!(
        e.to_string().contains("nope") && e.to_string().contains("svc"),
        "{e}"
    );

    // NoConfigError: no file, empty file.
    let e = MessageReader::builder("svc")
        .config_file("/nonexistent/sinetstream.yml")
        .topic("t")
        .build()
        .expect_err("no file");
    assert!(matches!(e, Error::NoConfig(_)), "{e}");
    assert!(
        e.to_string().contains("/nonexistent/sinetstream.yml"),
        "{e}"
    );
    let e = MessageReader::builder("svc")
        .config_text("")
        .topic("t")
        .build()
        .expect_err("empty");
    assert!(matches!(e, Error::NoConfig(_)), "{e}");

    // InvalidConfigError: bad header, empty config.
    for bad in [
        "header: {version: 7}\nconfig: {svc: {type: memory}}\n",
        "header: {version: 3}\nconfig: {}\n",
    ] {
        let e = MessageReader::builder("svc")
            .config_text(bad)
            .topic("t")
            .build()
            .expect_err("invalid config");
        assert!(matches!(e, Error::InvalidConfig(_)), "{e}");
    }

    // UnsupportedServiceTypeError names the type.
    let e = MessageWriter::builder("svc")
        .config_text("svc: {type: carrier-pigeon, brokers: x}\n")
        .topic("t")
        .build()
        .expect_err("unsupported");
    assert!(matches!(e, Error::UnsupportedServiceType(_)), "{e}");
    assert!(e.to_string().contains("carrier-pigeon"), "{e}");

    // InvalidArgumentError: consistency, topics.
    let e = MessageWriter::builder("svc")
        .config_text(memory_cfg("svc", "  consistency: SOMETIMES\n"))
        .topic("t")
        .build()
        .expect_err("bad consistency");
    assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
    assert!(e.to_string().contains("SOMETIMES"), "{e}");
    let e = MessageWriter::builder("svc")
        .config_text(memory_cfg("svc", "  topic: [a, b]\n"))
        .build()
        .expect_err("two topics");
    assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
    let e = MessageWriter::builder("svc")
        .config_text(memory_cfg("svc", "  topic: []\n"))
        .build()
        .expect_err("no topics");
    assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
    let e = MessageWriter::builder("svc")
        .config_text(cfg.clone())
        .topic("")
        .build()
        .expect_err("empty topic");
    assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
    let e = MessageReader::builder("svc")
        .config_text(cfg.clone())
        .build()
        .expect_err("no topic");
    assert!(matches!(e, Error::InvalidArgument(_)), "{e}");

    // A writer topic list of exactly one is unwrapped.
    let w = MessageWriter::builder("svc")
        .config_text(memory_cfg("svc", "  topic: [only]\n"))
        .build()
        .expect("one-element list");
    assert_eq!(w.topic(), "only");

    // AlreadyConnectedError on a second open while the first handle lives.
    let w = MessageWriter::builder("svc")
        .config_text(cfg)
        .topic("t")
        .build()
        .expect("writer");
    let h = w.open().expect("first open");
    let e = w.open().expect_err("second open");
    assert!(matches!(e, Error::AlreadyConnected(_)), "{e}");
    drop(h);
    w.open().expect("open again after close");
}

#[test]
fn invalid_message_is_an_error_and_reading_goes_on() {
    let cfg = memory_cfg("svc", "");
    let topic = uniq("t");
    // A text reader receiving bytes that are not UTF-8.
    let mut w = MessageWriter::builder("svc")
        .config_text(cfg.clone())
        .topic(&topic)
        .build()
        .expect("writer")
        .open()
        .expect("open");
    w.publish(vec![0xff, 0xfe]).expect("publish");
    w.publish("fine").expect("publish");
    drop(w);
    let items: Vec<_> = MessageReader::builder("svc")
        .config_text(cfg)
        .topic(&topic)
        .value_type(ValueType::Text)
        .receive_timeout_ms(100)
        .build()
        .expect("reader")
        .open()
        .expect("open")
        .collect();
    assert_eq!(items.len(), 2);
    assert!(matches!(items[0], Err(Error::InvalidMessage(_))));
    assert_eq!(
        items[1].as_ref().expect("second ok").value,
        Payload::Text("fine".into())
    );
}

#[test]
fn garbage_on_the_wire_is_invalid_message_not_a_panic() {
    let cfg = memory_cfg("svc", "");
    let topic = uniq("t");
    // A raw writer (user_data_only) puts bytes that a v3 reader with encryption cannot decode.
    let mut w = MessageWriter::builder("svc")
        .config_text(cfg.clone())
        .topic(&topic)
        .param("user_data_only", true)
        .build()
        .expect("writer")
        .open()
        .expect("open");
    w.publish(b"\xdf\x03\x00\x00\x00\x01garbage")
        .expect("publish");
    drop(w);
    let mut crypto = sinetstream::Map::new();
    crypto.insert("algorithm", "AES");
    crypto.insert("key_length", 128);
    crypto.insert("mode", "GCM");
    crypto.insert("password", "pw");
    let items: Vec<_> = MessageReader::builder("svc")
        .config_text(cfg)
        .topic(&topic)
        .param("data_encryption", true)
        .param("crypto", crypto)
        .receive_timeout_ms(100)
        .build()
        .expect("reader")
        .open()
        .expect("open")
        .collect();
    assert_eq!(items.len(), 1);
    assert!(
        matches!(items[0], Err(Error::InvalidMessage(_))),
        "{:?}",
        items[0]
    );
}

#[test]
fn constructor_beats_file_beats_default() {
    let cfg = memory_cfg(
        "svc",
        "  consistency: AT_LEAST_ONCE\n  client_id: from-file\n  value_type: text\n  topic: file-topic\n",
    );
    // File beats default.
    let w = MessageWriter::builder("svc")
        .config_text(cfg.clone())
        .build()
        .expect("writer");
    assert_eq!(w.consistency(), Consistency::AtLeastOnce);
    assert_eq!(w.client_id(), "from-file");
    assert_eq!(w.value_type(), ValueType::Text);
    assert_eq!(w.topic(), "file-topic");
    // Constructor beats file.
    let w = MessageWriter::builder("svc")
        .config_text(cfg)
        .consistency(Consistency::ExactlyOnce)
        .client_id("from-ctor")
        .value_type(ValueType::ByteArray)
        .topic("ctor-topic")
        .build()
        .expect("writer");
    assert_eq!(w.consistency(), Consistency::ExactlyOnce);
    assert_eq!(w.client_id(), "from-ctor");
    assert_eq!(w.value_type(), ValueType::ByteArray);
    assert_eq!(w.topic(), "ctor-topic");
    // Defaults.
    let w = MessageWriter::builder("svc")
        .config_text(memory_cfg("svc", ""))
        .topic("t")
        .build()
        .expect("writer");
    assert_eq!(w.consistency(), Consistency::AtMostOnce);
    assert!(
        w.client_id().starts_with("sinetstream-"),
        "{}",
        w.client_id()
    );
    assert_eq!(w.value_type(), ValueType::ByteArray);
    let r = MessageReader::builder("svc")
        .config_text(memory_cfg("svc", ""))
        .topic("t")
        .build()
        .expect("reader");
    assert_eq!(r.receive_timeout(), None);
    // Empty client_id means generate.
    let w = MessageWriter::builder("svc")
        .config_text(memory_cfg("svc", ""))
        .topic("t")
        .client_id("")
        .build()
        .expect("writer");
    assert!(w.client_id().starts_with("sinetstream-"));
}

#[test]
fn reader_topics_argument_then_topics_then_topic() {
    let cfg = memory_cfg("svc", "  topics: [a, b]\n  topic: c\n");
    let r = MessageReader::builder("svc")
        .config_text(cfg.clone())
        .build()
        .expect("reader");
    assert_eq!(r.topics(), ["a", "b"]);
    let r = MessageReader::builder("svc")
        .config_text(cfg)
        .topics(["x", "y", "z"])
        .build()
        .expect("reader");
    assert_eq!(r.topics(), ["x", "y", "z"]);
    let r = MessageReader::builder("svc")
        .config_text(memory_cfg("svc", "  topic: c\n"))
        .build()
        .expect("reader");
    assert_eq!(r.topics(), ["c"]);
    // A constructor topic beats the file's topics.
    let r = MessageReader::builder("svc")
        .config_text(memory_cfg("svc", "  topics: [a, b]\n"))
        .topic("mine")
        .build()
        .expect("reader");
    assert_eq!(r.topics(), ["mine"]);
}

/// What the recorder saw: consistency, backend-view qos, constructor qos, common tls ca_certs.
type Seen = (Consistency, Option<i64>, Option<i64>, Option<String>);

/// A third-party backend that records what the facade hands it.
#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<Seen>>,
}

impl Backend for Recorder {
    fn open_writer<'a>(
        &'a self,
        ctx: &'a OpenContext<'a>,
    ) -> futures::future::BoxFuture<'a, sinetstream::Result<Box<dyn WriterBackend>>> {
        let c = ctx.config;
        let tls = sinetstream::config::CommonTls::from_params(&c.common());
        self.seen.lock().expect("lock").push((
            ctx.consistency,
            c.backend().i64("qos"),
            c.args().i64("qos"),
            tls.and_then(|t| t.ca_certs),
        ));
        MemoryBackend.open_writer(ctx)
    }

    fn open_reader<'a>(
        &'a self,
        ctx: &'a OpenContext<'a>,
    ) -> futures::future::BoxFuture<'a, sinetstream::Result<Box<dyn ReaderBackend>>> {
        MemoryBackend.open_reader(ctx)
    }
}

#[test]
fn third_party_backend_sees_merged_parameters() {
    let rec = Arc::new(Recorder::default());
    register_backend("recorder", rec.clone());
    // v3: backend keys under type_spec; a constructor extra reaches the backend view.
    let cfg = "header: {version: 3}\nconfig:\n  svc:\n    type: recorder\n    brokers: rec\n    consistency: AT_MOST_ONCE\n    tls: {ca_certs: /file/ca.pem}\n    type_spec: {qos: 1}\n";
    let w = MessageWriter::builder("svc")
        .config_text(cfg)
        .topic("t")
        .consistency(AT_LEAST_ONCE)
        .build()
        .expect("writer");
    drop(w.open().expect("open"));
    let w = MessageWriter::builder("svc")
        .config_text(cfg)
        .topic("t")
        .param("qos", 2)
        .build()
        .expect("writer");
    drop(w.open().expect("open"));
    let seen = rec.seen.lock().expect("lock").clone();
    assert_eq!(
        seen,
        vec![
            (
                Consistency::AtLeastOnce,
                Some(1),
                None,
                Some("/file/ca.pem".into())
            ),
            (
                Consistency::AtMostOnce,
                Some(2),
                Some(2),
                Some("/file/ca.pem".into())
            ),
        ]
    );
}

#[test]
fn receive_timeout_ends_iteration_and_seek_replays() {
    let cfg = memory_cfg("svc", "");
    let topic = uniq("t");
    let mut w = MessageWriter::builder("svc")
        .config_text(cfg.clone())
        .topic(&topic)
        .build()
        .expect("writer")
        .open()
        .expect("open");
    for i in 0..5 {
        w.publish(format!("m{i}")).expect("publish");
    }
    let r = MessageReader::builder("svc")
        .config_text(cfg.clone())
        .topic(&topic)
        .param("auto_offset_reset", "latest")
        .receive_timeout_ms(50)
        .build()
        .expect("reader");
    let mut h = r.open().expect("open");
    assert!(h.next().is_none(), "latest: nothing old is delivered");
    drop(h);
    let mut h = r.open().expect("reopen");
    h.seek_to_beginning().expect("seek");
    assert_eq!(h.by_ref().count(), 5);
    let mut h2 = MessageReader::builder("svc")
        .config_text(cfg)
        .topic(&topic)
        .receive_timeout_ms(50)
        .build()
        .expect("reader")
        .open()
        .expect("open");
    h2.seek_to_end().expect("seek");
    w.publish("after").expect("publish");
    let rest: Vec<_> = h2.map(|m| m.expect("ok").value).collect();
    assert_eq!(rest, vec![Payload::from(b"after")]);
}

#[test]
fn metrics_count_messages_and_bytes() {
    let cfg = memory_cfg(
        "svc",
        "  data_compression: true\n  compression: {algorithm: gzip}\n",
    );
    let topic = uniq("t");
    let mut w = MessageWriter::builder("svc")
        .config_text(cfg.clone())
        .topic(&topic)
        .build()
        .expect("writer")
        .open()
        .expect("open");
    let big = vec![b'a'; 10_000];
    w.publish(big.clone()).expect("publish");
    w.publish(big.clone()).expect("publish");
    let m = w.metrics();
    assert_eq!(m.msg_count_total, 2);
    assert_eq!(m.msg_uncompressed_bytes_total, 20_000);
    assert!(m.msg_compressed_bytes_total < 1_000, "{m:?}");
    assert!(m.msg_compression_ratio() < 0.1);
    assert!(m.msg_size_min.is_some() && m.msg_size_max >= m.msg_size_min);
    w.reset_metrics();
    assert_eq!(w.metrics().msg_count_total, 0);
    let r = MessageReader::builder("svc")
        .config_text(cfg)
        .topic(&topic)
        .receive_timeout_ms(50)
        .build()
        .expect("reader");
    let mut h = r.open().expect("open");
    let got: Vec<_> = h.by_ref().map(|m| m.expect("ok")).collect();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].value, Payload::Bytes(big.into()));
    assert!(got[0].timestamp_us > 1_600_000_000_000_000);
    assert_eq!(h.metrics().msg_count_total, 2);
}

#[test]
fn user_serializer_and_deserializer_win_over_value_type() {
    let cfg = memory_cfg("svc", "  value_type: text\n");
    let topic = uniq("t");
    let mut w = MessageWriter::builder("svc")
        .config_text(cfg.clone())
        .topic(&topic)
        .value_serializer(|p| {
            p.downcast_ref::<u32>()
                .map(|n| n.to_be_bytes().to_vec())
                .ok_or_else(|| Error::InvalidMessage("not a u32".into()))
        })
        .build()
        .expect("writer")
        .open()
        .expect("open");
    w.publish(Payload::other(7u32)).expect("publish");
    assert!(matches!(w.publish("text"), Err(Error::InvalidMessage(_))));
    let got: Vec<u32> = MessageReader::builder("svc")
        .config_text(cfg)
        .topic(&topic)
        .receive_timeout_ms(50)
        .value_deserializer(|b| {
            let arr: [u8; 4] = b
                .try_into()
                .map_err(|_| Error::InvalidMessage("want 4 bytes".into()))?;
            Ok(Payload::other(u32::from_be_bytes(arr)))
        })
        .build()
        .expect("reader")
        .open()
        .expect("open")
        .map(|m| *m.expect("ok").value.downcast_ref::<u32>().expect("u32"))
        .collect();
    assert_eq!(got, vec![7]);
}

#[tokio::test]
async fn async_writer_and_stream_reader() {
    let cfg = memory_cfg("svc", "  value_type: text\n");
    let topic = uniq("t");
    let reader = MessageReader::builder("svc")
        .config_text(cfg.clone())
        .topic(&topic)
        .receive_timeout(Duration::from_millis(300))
        .build()
        .expect("reader");
    let mut stream = reader.open_async().await.expect("open");
    let writer = MessageWriter::builder("svc")
        .config_text(cfg)
        .topic(&topic)
        .build()
        .expect("writer");
    let mut w = writer.open_async().await.expect("open");
    let task = tokio::spawn(async move {
        for i in 0..3 {
            w.publish(format!("hello {i}")).await.expect("publish");
        }
        w.close().await.expect("close");
    });
    let mut got = Vec::new();
    while let Some(m) = stream.next().await {
        got.push(m.expect("ok").value.as_text().expect("text").to_owned());
    }
    task.await.expect("task");
    assert_eq!(got, ["hello 0", "hello 1", "hello 2"]);
    stream.close().await.expect("close");
}

#[test]
fn inline_data_files_live_as_long_as_the_handle() {
    let cfg = memory_cfg(
        "svc",
        "  tls:\n    ca_certs_data: |\n      -----BEGIN CERTIFICATE-----\n      xyz\n",
    );
    let w = MessageWriter::builder("svc")
        .config_text(cfg)
        .topic("t")
        .build()
        .expect("writer");
    let path = w
        .config()
        .common()
        .map_of("tls")
        .and_then(|t| t.str("ca_certs"))
        .expect("ca_certs path")
        .to_owned();
    assert!(
        std::fs::read_to_string(&path)
            .expect("file")
            .contains("xyz")
    );
    let h = w.open().expect("open");
    drop(w);
    assert!(
        std::path::Path::new(&path).exists(),
        "kept while the handle lives"
    );
    drop(h);
    assert!(
        !std::path::Path::new(&path).exists(),
        "removed with the last handle"
    );
}
