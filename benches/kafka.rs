//! Kafka producer throughput: our client (`sinetstream-kafka`'s Producer directly, and the
//! facade writer with the SINETStream wire format) against librdkafka (the `rdkafka` crate,
//! built from source) and the Java client's `ProducerPerformance`, on the same broker
//! (`tests/brokers/kafka.sh`, PLAINTEXT), in the same run.
//!
//! `cargo bench -p sinetstream-benches --bench kafka`. Environment: `BENCH_N` records per run
//! for 100-byte records (default 200,000; 1 KB runs use half as many), `BENCH_BATCH` batch
//! size in bytes for every client (default 16,384, the Java default), `BENCH_LINGER_MS`
//! (default 5, the Java 4.x default), `BENCH_ROUNDS` (default 2; the best round is reported),
//! `BENCH_WORKERS` (default 2: the worker threads of the tokio runtime our clients run on).
//! A warm-up round of every client comes first and is not reported. With `BENCH_JSON=FILE`
//! each figure is also appended to FILE as one JSON line (see `sinetstream_benches::Measurement`).
//!
//! Every client gets the same settings: acks as the row says, idempotence on with acks=all
//! (the Java default) and off with acks=1, the batch size and linger above, no compression.
//! Each run writes to a new topic, created beforehand (by one record from our producer) so that
//! topic creation is not timed. Time runs from the first send to the last acknowledgement.
//! MB/s are MiB/s of record values, as ProducerPerformance counts them.
//!
//! A fifth column, the pre-encoded replay, is no client: the same batches, encoded before the
//! clock starts, written over one connection with 5 requests in flight by one thread that does
//! nothing else. It shows the broker's own pace for one producer connection (benches/README.md,
//! "Reading the figures"). It is in the printed table only, not in `BENCH_JSON`: the report
//! compares clients, and the replay is none.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig as RdConfig;
use rdkafka::error::{KafkaError as RdError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer as _, ProducerContext};
use sinetstream::MessageWriter;
use sinetstream_benches::{Better, BrokerLoad, Measurement, Role, pid_in, process_cpu};
use sinetstream_e2e::brokers::{kafka, repo_root, unique_topic};
use sinetstream_kafka::{Acks, ClientConfig, Producer, ProducerConfig, ProducerRecord};

fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Debug, Clone, Copy)]
struct Settings {
    size: usize,
    n: usize,
    acks_all: bool,
    batch: usize,
    linger_ms: u64,
}

impl Settings {
    fn acks(&self) -> &'static str {
        if self.acks_all { "all" } else { "1" }
    }
}

/// One client's result.
#[derive(Debug, Clone, Copy, Default)]
struct Run {
    records_per_s: f64,
    mib_per_s: f64,
    /// CPU time of this process per record, if measured (in-process clients).
    cpu_us_per_record: Option<f64>,
    /// The broker's CPU time per record (µs) and busy share of one core over the timed
    /// stretch, if measured (in-process clients).
    broker: Option<(f64, f64)>,
}

impl Run {
    fn from(s: &Settings, elapsed: Duration, cpu: Option<Duration>, broker: &BrokerLoad) -> Run {
        let secs = elapsed.as_secs_f64().max(1e-9);
        let rps = s.n as f64 / secs;
        Run {
            records_per_s: rps,
            mib_per_s: rps * s.size as f64 / (1024.0 * 1024.0),
            cpu_us_per_record: cpu.map(|c| c.as_secs_f64() * 1e6 / s.n as f64),
            broker: broker.finish(s.n),
        }
    }
}

/// The broker's pid, for its CPU time.
fn broker_pid() -> Option<u32> {
    pid_in(&format!("{}/kafka.pid", kafka().get("KAFKA_RUN_DIR")))
}

fn bootstrap() -> String {
    kafka().get("KAFKA_PLAINTEXT").to_owned()
}

fn our_config(s: &Settings) -> ProducerConfig {
    let mut p = ProducerConfig::new(ClientConfig::new([bootstrap()]));
    p.acks = if s.acks_all { Acks::All } else { Acks::One };
    p.enable_idempotence = s.acks_all;
    p.batch_size = s.batch;
    p.linger = Duration::from_millis(s.linger_ms);
    p
}

/// The topics of this run, deleted at the end.
static TOPICS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Creates `topic` by writing one record to it.
async fn create_topic(topic: &str) {
    TOPICS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(topic.to_owned());
    let p = Producer::connect(ProducerConfig::new(ClientConfig::new([bootstrap()])))
        .await
        .expect("connect");
    p.send(ProducerRecord::new(topic, &b"warm-up"[..]))
        .await
        .expect("send")
        .await
        .expect("warm-up record stored");
    p.close().await.expect("close");
}

async fn ours_direct(s: Settings) -> Run {
    let topic = unique_topic("bench-kafka-ours");
    create_topic(&topic).await;
    let p = Producer::connect(our_config(&s)).await.expect("connect");
    // The producer learns the topic's metadata before the clock starts.
    p.send(ProducerRecord::new(topic.as_str(), &b"warm-up"[..]))
        .await
        .expect("send")
        .await
        .expect("stored");
    let value = bytes::Bytes::from(vec![b'x'; s.size]);
    // One shared name for all records (ProducerRecord::new's documented idiom).
    let name: Arc<str> = Arc::from(topic.as_str());
    let cpu0 = process_cpu();
    let load = BrokerLoad::start(broker_pid());
    let t0 = Instant::now();
    let mut deliveries = Vec::with_capacity(s.n);
    for _ in 0..s.n {
        deliveries.push(
            p.send(ProducerRecord::new(&name, value.clone()))
                .await
                .expect("send"),
        );
    }
    p.flush().await.expect("flush");
    for d in deliveries {
        d.await.expect("delivered");
    }
    let run = Run::from(&s, t0.elapsed(), Some(process_cpu() - cpu0), &load);
    p.close().await.expect("close");
    run
}

async fn ours_facade(s: Settings) -> Run {
    let topic = unique_topic("bench-kafka-facade");
    create_topic(&topic).await;
    let cfg = format!(
        "bench:\n  type: kafka\n  brokers: {}\n  acks: {}\n  enable_idempotence: {}\n  batch_size: {}\n  linger_ms: {}\n",
        bootstrap(),
        s.acks(),
        s.acks_all,
        s.batch,
        s.linger_ms
    );
    let writer = MessageWriter::builder("bench")
        .config_text(cfg)
        .topic(&topic)
        .build()
        .expect("writer");
    let mut w = writer.open_async().await.expect("writer opens");
    w.publish(b"warm-up".to_vec()).await.expect("publish");
    w.flush().await.expect("flush");
    let value = vec![b'x'; s.size];
    let cpu0 = process_cpu();
    let load = BrokerLoad::start(broker_pid());
    let t0 = Instant::now();
    for _ in 0..s.n {
        w.publish(value.clone()).await.expect("publish");
    }
    w.flush().await.expect("flush");
    let run = Run::from(&s, t0.elapsed(), Some(process_cpu() - cpu0), &load);
    w.close().await.expect("close");
    run
}

struct Counter {
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
}

impl ClientContext for Counter {}

impl ProducerContext for Counter {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: Self::DeliveryOpaque) {
        match result {
            Ok(_) => self.ok.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.failed.fetch_add(1, Ordering::Relaxed),
        };
    }
}

/// librdkafka through `rdkafka`'s BaseProducer, polled from this thread.
fn librdkafka(s: Settings, topic: &str) -> Run {
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let p: BaseProducer<Counter> = RdConfig::new()
        .set("bootstrap.servers", bootstrap())
        .set("acks", s.acks())
        .set("enable.idempotence", s.acks_all.to_string())
        .set("batch.size", s.batch.to_string())
        .set("linger.ms", s.linger_ms.to_string())
        .set("queue.buffering.max.kbytes", (32 * 1024).to_string())
        .create_with_context(Counter {
            ok: Arc::clone(&ok),
            failed: Arc::clone(&failed),
        })
        .expect("librdkafka producer");
    // Metadata and connection before the clock starts.
    p.send(BaseRecord::<(), [u8]>::to(topic).payload(&b"warm-up"[..]))
        .map_err(|(e, _)| e)
        .expect("warm-up");
    p.flush(Duration::from_secs(30)).expect("warm-up flush");
    ok.store(0, Ordering::Relaxed);
    let value = vec![b'x'; s.size];
    let cpu0 = process_cpu();
    let load = BrokerLoad::start(broker_pid());
    let t0 = Instant::now();
    for i in 0..s.n {
        let mut rec = BaseRecord::<(), [u8]>::to(topic).payload(&value[..]);
        loop {
            match p.send(rec) {
                Ok(()) => break,
                Err((RdError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    rec = r;
                    p.poll(Duration::from_millis(1));
                }
                Err((e, _)) => panic!("librdkafka send: {e}"),
            }
        }
        if i % 1024 == 0 {
            p.poll(Duration::ZERO);
        }
    }
    p.flush(Duration::from_secs(120)).expect("flush");
    let run = Run::from(&s, t0.elapsed(), Some(process_cpu() - cpu0), &load);
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "librdkafka delivery failures"
    );
    assert_eq!(
        ok.load(Ordering::Relaxed),
        s.n as u64,
        "librdkafka deliveries"
    );
    run
}

/// The Java client's ProducerPerformance; parses its summary line:
/// `N records sent, R records/sec (M MB/sec), ...`.
fn java(s: Settings, topic: &str) -> Run {
    let h = kafka();
    let script = repo_root().join("tests/brokers/kafka.sh");
    let out = Command::new("bash")
        .arg(&script)
        .args(["tool", "producer-perf", "--topic", topic])
        .args(["--num-records", &s.n.to_string()])
        .args(["--record-size", &s.size.to_string()])
        .args(["--throughput", "-1", "--producer-props"])
        .arg(format!("bootstrap.servers={}", bootstrap()))
        .arg(format!("acks={}", s.acks()))
        .arg(format!("enable.idempotence={}", s.acks_all))
        .arg(format!("batch.size={}", s.batch))
        .arg(format!("linger.ms={}", s.linger_ms))
        .env("KAFKA_VERSION", h.get("KAFKA_VERSION"))
        .output()
        .expect("run producer-perf");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "producer-perf failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.contains("records sent") && l.contains("records/sec"))
        .unwrap_or_else(|| panic!("no summary in {stdout}"));
    let num_before = |marker: &str| -> f64 {
        let head = &line[..line.find(marker).unwrap_or_else(|| panic!("{line}"))];
        head.trim_end()
            .rsplit([' ', '('])
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("cannot parse {marker} in {line}"))
    };
    Run {
        records_per_s: num_before("records/sec"),
        mib_per_s: num_before("MB/sec"),
        cpu_us_per_record: None,
        broker: None,
    }
}

/// The Produce version the replay speaks: flexible, and within what Kafka 3.9 and 4.x
/// accept (3..=12). Our producer negotiates the highest the broker offers (v12 with Kafka 4.x);
/// probes of it pinned to v9 or v10 moved neither its throughput nor the broker's CPU beyond
/// the noise.
const REPLAY_PRODUCE_VERSION: i16 = 9;

/// How many `s.size`-byte records fill one batch of at most `s.batch` bytes, as the clients
/// fill theirs (`DumpLogSegments` showed 148 per batch for ours and 147 for librdkafka at
/// 100 B; 15 for both at 1 KB).
fn records_per_batch(s: &Settings) -> usize {
    let mut k = 1;
    while encoded_batch(s, k + 1, 0).len() <= s.batch {
        k += 1;
    }
    k
}

/// One uncompressed, non-idempotent record batch of `k` records of `s.size` bytes.
fn encoded_batch(s: &Settings, k: usize, timestamp: i64) -> bytes::Bytes {
    use kafka_protocol::records::{
        Compression, NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE,
        Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };
    let value = bytes::Bytes::from(vec![b'x'; s.size]);
    let records: Vec<Record> = (0..k)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // kafka-protocol starts a new batch where `offset - sequence` changes, and writes
            // the first record's sequence as the batch's: NO_SEQUENCE (-1) for the first, then
            // counting up keeps one batch with no sequence.
            sequence: NO_SEQUENCE + i as i32,
            timestamp,
            key: None,
            value: Some(value.clone()),
            headers: Default::default(),
        })
        .collect();
    let mut buf = bytes::BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .expect("encode the batch");
    buf.freeze()
}

/// One Produce request frame (length prefix included) for `topic`'s partition 0, carrying
/// `batch`; its correlation id is at bytes 8..12.
fn produce_frame(s: &Settings, topic: &str, batch: bytes::Bytes) -> Vec<u8> {
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::{ApiKey, ProduceRequest, RequestHeader, TopicName};
    use kafka_protocol::protocol::{Encodable, StrBytes};
    let v = REPLAY_PRODUCE_VERSION;
    let header = RequestHeader::default()
        .with_request_api_key(ApiKey::Produce as i16)
        .with_request_api_version(v)
        .with_client_id(Some(StrBytes::from_static_str("replay")));
    let req = ProduceRequest::default()
        .with_acks(if s.acks_all { -1 } else { 1 })
        .with_timeout_ms(30_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_owned())))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(batch)),
                ]),
        ]);
    let mut body = bytes::BytesMut::new();
    header
        .encode(&mut body, ApiKey::Produce.request_header_version(v))
        .expect("encode the header");
    req.encode(&mut body, v).expect("encode the request");
    let len = u32::try_from(body.len()).expect("frame length");
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(&body);
    frame
}

/// The pre-encoded replay, the broker's pace for one connection without a client: the same
/// batches as the clients send (records per batch as above, one partition), encoded before the
/// clock starts and written back to back over one TCP connection with up to 5 requests in
/// flight (the clients' default), from one thread that only writes and reads (no hand-over
/// between threads, no encoding). It is not idempotent, even at acks=all (with one replica the
/// broker's work differs by a sequence check). Responses are decoded and checked for errors.
fn replay(s: Settings, topic: &str) -> Run {
    use kafka_protocol::messages::{ApiKey, ProduceResponse, ResponseHeader};
    use kafka_protocol::protocol::Decodable;
    use std::io::{Read, Write};

    let per_batch = records_per_batch(&s);
    let requests = s.n.div_ceil(per_batch);
    eprintln!("kafka bench: replay of {requests} requests of {per_batch} records");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let mut frame = produce_frame(&s, topic, encoded_batch(&s, per_batch, now_ms));
    let stream = std::net::TcpStream::connect(bootstrap()).expect("replay: connect");
    stream.set_nodelay(true).expect("nodelay");
    let mut reader =
        std::io::BufReader::with_capacity(64 * 1024, stream.try_clone().expect("clone"));
    let mut writer = stream;
    let v = REPLAY_PRODUCE_VERSION;
    let mut read_response = || {
        let mut len = [0u8; 4];
        reader
            .read_exact(&mut len)
            .expect("replay: response length");
        let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
        reader.read_exact(&mut body).expect("replay: response");
        let mut b = bytes::Bytes::from(body);
        ResponseHeader::decode(&mut b, ApiKey::Produce.response_header_version(v))
            .expect("replay: response header");
        let r = ProduceResponse::decode(&mut b, v).expect("replay: response body");
        for t in &r.responses {
            for p in &t.partition_responses {
                assert_eq!(
                    p.error_code, 0,
                    "replay: Produce error {} ({:?}, {:?})",
                    p.error_code, p.error_message, p.record_errors
                );
            }
        }
    };
    let load = BrokerLoad::start(broker_pid());
    let t0 = Instant::now();
    let (mut sent, mut answered) = (0, 0);
    while answered < requests {
        // The broker reads a connection's next request only after answering the previous
        // one, and the socket buffers hold 5 frames, so these writes do not wait on it.
        while sent < requests && sent - answered < 5 {
            frame[8..12].copy_from_slice(&(sent as i32).to_be_bytes());
            writer.write_all(&frame).expect("replay: write");
            sent += 1;
        }
        read_response();
        answered += 1;
    }
    let sent = Settings {
        n: requests * per_batch,
        ..s
    };
    Run::from(&sent, t0.elapsed(), None, &load)
}

/// One run of every client: ours direct, the facade, librdkafka, Java, and the pre-encoded
/// replay; in the reverse order when `reverse` (results always in that order). Alternating
/// rounds give every client the first and the last place: the first run after a row's topics
/// were deleted shares the broker with the deletion, and with best-of-rounds a fixed order
/// favoured whoever came later.
fn run_all(rt: &tokio::runtime::Runtime, s: Settings, reverse: bool) -> [Run; 5] {
    let mut out = [Run::default(); 5];
    let mut order = [0usize, 1, 2, 3, 4];
    if reverse {
        order.reverse();
    }
    for i in order {
        out[i] = match i {
            0 => rt.block_on(ours_direct(s)),
            1 => rt.block_on(ours_facade(s)),
            2 => {
                let topic = unique_topic("bench-kafka-rdkafka");
                rt.block_on(create_topic(&topic));
                librdkafka(s, &topic)
            }
            3 => {
                let topic = unique_topic("bench-kafka-java");
                rt.block_on(create_topic(&topic));
                java(s, &topic)
            }
            _ => {
                let topic = unique_topic("bench-kafka-replay");
                rt.block_on(create_topic(&topic));
                replay(s, &topic)
            }
        };
    }
    out
}

/// Deletes the benchmark's topics (they hold gigabytes), with librdkafka's admin client.
fn delete_topics(rt: &tokio::runtime::Runtime) {
    let topics = std::mem::take(
        &mut *TOPICS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    let admin: AdminClient<DefaultClientContext> = RdConfig::new()
        .set("bootstrap.servers", bootstrap())
        .create()
        .expect("admin client");
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    match rt.block_on(admin.delete_topics(&names, &AdminOptions::new())) {
        Ok(results) => {
            let failed = results.iter().filter(|r| r.is_err()).count();
            if failed > 0 {
                eprintln!("kafka bench: {failed} topic(s) not deleted");
            }
        }
        Err(e) => eprintln!("kafka bench: deleting the topics failed: {e}"),
    }
}

/// Appends `r`'s figures to `BENCH_JSON` (if set).
fn emit(s: &Settings, client: &str, role: Role, r: &Run) {
    let case = format!("{} B, acks={}", s.size, s.acks());
    let m = Measurement {
        bench: "kafka",
        case: &case,
        client,
        role,
        metric: "producer throughput",
        value: r.records_per_s,
        unit: "records/s",
        better: Better::Higher,
    };
    m.emit();
    if let Some(cpu) = r.cpu_us_per_record {
        Measurement {
            metric: "client CPU per record",
            value: cpu,
            unit: "µs",
            better: Better::Lower,
            ..m
        }
        .emit();
    }
    if let Some((cpu, _)) = r.broker {
        Measurement {
            metric: "broker CPU per record",
            value: cpu,
            unit: "µs",
            better: Better::Lower,
            ..m
        }
        .emit();
    }
}

fn fmt_run(r: &Run) -> String {
    format!("{:.0} ({:.1})", r.records_per_s, r.mib_per_s)
}

fn main() {
    let h = kafka();
    let n100 = env_usize("BENCH_N", 200_000);
    let batch = env_usize("BENCH_BATCH", 16_384);
    let linger_ms = env_usize("BENCH_LINGER_MS", 5) as u64;
    let rounds = env_usize("BENCH_ROUNDS", 2).max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(env_usize("BENCH_WORKERS", 2).max(1))
        .enable_all()
        .build()
        .expect("runtime");

    // A warm-up round (broker JIT, page cache, our allocators), not reported.
    let warm = Settings {
        size: 100,
        n: (n100 / 4).max(1),
        acks_all: false,
        batch,
        linger_ms,
    };
    eprintln!("kafka bench: warm-up, {} records per client", warm.n);
    run_all(&rt, warm, false);

    let mut rows = Vec::new();
    for size in [100usize, 1024] {
        let n = if size == 100 { n100 } else { (n100 / 2).max(1) };
        for acks_all in [false, true] {
            let s = Settings {
                size,
                n,
                acks_all,
                batch,
                linger_ms,
            };
            // Best of `rounds`, the clients interleaved within each round, in turns of order.
            let mut best = [Run::default(); 5];
            for round in 1..=rounds {
                eprintln!(
                    "kafka bench: {size} B, acks={}, {n} records, round {round}/{rounds}",
                    s.acks()
                );
                for (b, r) in best.iter_mut().zip(run_all(&rt, s, round % 2 == 0)) {
                    if r.records_per_s > b.records_per_s {
                        *b = r;
                    }
                }
            }
            rows.push((s, best[0], best[1], best[2], best[3], best[4]));
            delete_topics(&rt);
        }
    }

    let librdkafka_name = format!("librdkafka {}", rdkafka::util::get_rdkafka_version().1);
    let java_name = format!("Java {} ProducerPerformance", h.get("KAFKA_VERSION"));
    for (s, d, f, rd, jv, _) in &rows {
        emit(s, "sinetstream-kafka", Role::Ours, d);
        emit(s, "facade writer (v3 envelope)", Role::Ours, f);
        emit(s, &librdkafka_name, Role::Reference, rd);
        emit(s, &java_name, Role::Reference, jv);
    }

    println!(
        "\n### Kafka producer throughput (Kafka {} single node, PLAINTEXT, batch {batch} B, linger {linger_ms} ms)\n",
        h.get("KAFKA_VERSION")
    );
    println!(
        "records/s (MiB/s), best of {rounds} rounds; ratios are ours / reference (>1 = ours faster); CPU = this process's CPU µs per record\n"
    );
    println!(
        "| record | acks | records | sinetstream-kafka | facade writer | librdkafka | Java ProducerPerformance | pre-encoded replay | kafka/librdkafka | kafka/Java | facade/librdkafka | facade/Java | share of replay: kafka / librdkafka / Java | CPU µs/rec: kafka / facade / librdkafka | broker CPU µs/rec (busy): kafka / facade / librdkafka / replay |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (s, d, f, rd, jv, cl) in &rows {
        let ratio = |a: &Run, b: &Run| a.records_per_s / b.records_per_s;
        let cpu = |r: &Run| {
            r.cpu_us_per_record
                .map_or_else(|| "-".to_owned(), |c| format!("{c:.2}"))
        };
        let broker = |r: &Run| {
            r.broker.map_or_else(
                || "-".to_owned(),
                |(c, busy)| format!("{c:.2} ({:.0}%)", busy * 100.0),
            )
        };
        println!(
            "| {} B | {} | {} | {} | {} | {} | {} | {} | {:.2}x | {:.2}x | {:.2}x | {:.2}x | {:.0}% / {:.0}% / {:.0}% | {} / {} / {} | {} / {} / {} / {} |",
            s.size,
            s.acks(),
            s.n,
            fmt_run(d),
            fmt_run(f),
            fmt_run(rd),
            fmt_run(jv),
            fmt_run(cl),
            ratio(d, rd),
            ratio(d, jv),
            ratio(f, rd),
            ratio(f, jv),
            ratio(d, cl) * 100.0,
            ratio(rd, cl) * 100.0,
            ratio(jv, cl) * 100.0,
            cpu(d),
            cpu(f),
            cpu(rd),
            broker(d),
            broker(f),
            broker(rd),
            broker(cl)
        );
    }
    println!(
        "\nPre-encoded replay: the clients' batches, encoded before the clock starts and written back to back over one connection with 5 requests in flight, by one thread that does nothing else: the pace of the broker for one producer connection (it reads a connection's next request only after answering the previous one).\n\nBroker CPU: the broker process's CPU time per record over the timed stretch, and its share of one core (busy); 100% is one of the machine's cores.\n\nThe facade writer's records carry the SINETStream v3 header and Avro envelope (+~20 B per record); its MiB/s count the user payload."
    );
}
