//! Kafka consumer throughput and end-to-end latency: our client (`sinetstream-kafka`'s Consumer
//! directly, and the facade reader with the SINETStream wire format) against librdkafka (the
//! `rdkafka` crate, built from source) and the Java client's `ConsumerPerformance`, on the same
//! broker (`tests/brokers/kafka.sh`, PLAINTEXT), in the same run.
//!
//! `cargo bench -p sinetstream-benches --bench kafka_consumer`. Environment: `BENCH_N` records
//! per topic for 100-byte records (default 500,000; 1 KB topics hold half as many),
//! `BENCH_ROUNDS` (default 2; the best round is reported), `BENCH_RATE` records/s of the
//! latency runs (default 5,000), `BENCH_SECS` their length (default 5) and `BENCH_LAT_ROUNDS`
//! how many times each client's latency run is repeated, alternating clients (default 3);
//! `BENCH_RETRY_BACKOFF_MS` and `BENCH_MAX_POLL_RECORDS` override our consumer's
//! `retry_backoff` and `max_poll_records`, and `BENCH_FETCH_SESSIONS=0` turns its fetch sessions
//! off (diagnostics; the defaults are the library's).
//! With `BENCH_JSON=FILE` each figure is also appended to FILE as one JSON line (see
//! `sinetstream_benches::Measurement`).
//!
//! Throughput: each case (record size × partition count) gets one topic pre-filled with N
//! records by our Producer (round-robin over the partitions), read in full from the beginning by
//! every client in turn, with every client's default fetch settings (which agree: fetch.min.bytes
//! 1, fetch.max.wait 500 ms, 1 MiB per partition, 50 MiB per fetch). Ours uses `assign` +
//! earliest without a group; librdkafka a `BaseConsumer` with `assign` at the beginning, a fresh
//! group id and no commits; Java `ConsumerPerformance` subscribes with a fresh group and reports
//! `fetch.nMsg.sec` (its time without the group join). The facade reader reads a second topic,
//! pre-filled through `MessageWriter` so that its values decode. In-process clients are timed
//! from the first `recv`/`poll` (connected, metadata known; offset lookup included) to the N-th
//! record. MB/s are MiB/s of record values (user payload for the facade), as Java counts them.
//! Every client verifies record batch CRCs, as ours always does and the Java consumer does by
//! default: librdkafka's `check.crcs` (off by default) is turned on so that all do the same work.
//!
//! Latency: one producer (ours, linger 0, acks=1) writes 100-byte records at a fixed rate, the
//! send time (µs since the epoch, big-endian) in their first 8 bytes; a consumer (ours, then
//! librdkafka, one at a time, each on its own new topic and confirmed live by a warm-up record
//! first) computes now − send time for each. Each consumer has a thread to itself, apart from
//! the producer's runtime: librdkafka its own threads, ours a current-thread runtime. The
//! clients take turns, round after round, and each one's latencies are pooled over its rounds.

use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig as RdConfig;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::message::Message as _;
use rdkafka::{Offset, TopicPartitionList};
use sinetstream::{MessageReader, MessageWriter};
use sinetstream_benches::{
    Better, Measurement, Role, Row, emit_row, percentile, print_table, process_cpu,
};
use sinetstream_e2e::brokers::{kafka, repo_root, unique_topic};
use sinetstream_kafka::{
    Acks, ClientConfig, Consumer, ConsumerConfig, OffsetReset, Producer, ProducerConfig,
    ProducerRecord, TopicPartition,
};

/// How long any consumer may wait for a record before the run is declared stuck.
const STUCK: Duration = Duration::from_secs(60);

fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn bootstrap() -> String {
    kafka().get("KAFKA_PLAINTEXT").to_owned()
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// One throughput case: `n` records of `size` bytes over `partitions` partitions.
#[derive(Debug, Clone, Copy)]
struct Case {
    size: usize,
    n: usize,
    partitions: i32,
}

/// One client's result.
#[derive(Debug, Clone, Copy, Default)]
struct Run {
    records_per_s: f64,
    mib_per_s: f64,
    /// CPU time of this process per record, if measured (in-process clients).
    cpu_us_per_record: Option<f64>,
    /// From the first `recv`/`poll` to the first record, ms (in-process clients).
    first_ms: Option<f64>,
    /// Records/s after the first record (start-up excluded), in-process clients.
    steady_rps: Option<f64>,
}

impl Run {
    fn from(n: usize, bytes: usize, elapsed: Duration, cpu: Duration, first: Duration) -> Run {
        let secs = elapsed.as_secs_f64().max(1e-9);
        Run {
            records_per_s: n as f64 / secs,
            mib_per_s: bytes as f64 / secs / (1024.0 * 1024.0),
            cpu_us_per_record: Some(cpu.as_secs_f64() * 1e6 / n as f64),
            first_ms: Some(first.as_secs_f64() * 1e3),
            steady_rps: Some(
                n.saturating_sub(1) as f64 / (elapsed - first).as_secs_f64().max(1e-9),
            ),
        }
    }
}

/// The topics of this run, deleted at the end.
static TOPICS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

fn admin() -> AdminClient<DefaultClientContext> {
    RdConfig::new()
        .set("bootstrap.servers", bootstrap())
        .create()
        .expect("admin client")
}

/// Creates `topic` with `partitions` partitions.
async fn create_topic(topic: &str, partitions: i32) {
    TOPICS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(topic.to_owned());
    let t = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let res = admin()
        .create_topics([&t], &AdminOptions::new())
        .await
        .expect("create_topics");
    for r in res {
        r.unwrap_or_else(|(t, e)| panic!("creating {t}: {e}"));
    }
}

/// Fills `topic` with `c.n` records of `c.size` bytes, round-robin over its partitions.
async fn prefill(topic: &str, c: Case) {
    let mut cfg = ProducerConfig::new(ClientConfig::new([bootstrap()]));
    cfg.acks = Acks::One;
    cfg.enable_idempotence = false;
    cfg.linger = Duration::from_millis(5);
    let p = Producer::connect(cfg).await.expect("connect");
    let value = bytes::Bytes::from(vec![b'x'; c.size]);
    let mut deliveries = Vec::with_capacity(c.n);
    for i in 0..c.n {
        let part = (i % c.partitions as usize) as i32;
        deliveries.push(
            p.send(ProducerRecord::new(topic, value.clone()).with_partition(part))
                .await
                .expect("send"),
        );
    }
    p.flush().await.expect("flush");
    for d in deliveries {
        d.await.expect("delivered");
    }
    p.close().await.expect("close");
}

/// Fills `topic` with `c.n` SINETStream-encoded records through the facade writer.
async fn prefill_facade(topic: &str, c: Case) {
    let cfg = format!(
        "bench:\n  type: kafka\n  brokers: {}\n  acks: 1\n  linger_ms: 5\n",
        bootstrap()
    );
    let writer = MessageWriter::builder("bench")
        .config_text(cfg)
        .topic(topic)
        .build()
        .expect("writer");
    let mut w = writer.open_async().await.expect("writer opens");
    let value = vec![b'x'; c.size];
    for _ in 0..c.n {
        w.publish(value.clone()).await.expect("publish");
    }
    w.flush().await.expect("flush");
    w.close().await.expect("close");
}

fn our_consumer_config() -> ConsumerConfig {
    let mut cfg = ConsumerConfig::new(ClientConfig::new([bootstrap()]));
    cfg.auto_offset_reset = OffsetReset::Earliest;
    cfg.enable_auto_commit = false;
    // Diagnostic knob (default: the library's default).
    if let Some(ms) = std::env::var("BENCH_RETRY_BACKOFF_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        cfg.client.retry_backoff = Duration::from_millis(ms);
    }
    if std::env::var("BENCH_FETCH_SESSIONS").is_ok_and(|v| v == "0") {
        cfg.fetch_sessions = false;
    }
    if let Some(n) = std::env::var("BENCH_MAX_POLL_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        cfg.max_poll_records = n;
    }
    cfg
}

async fn ours(topic: &str, c: Case) -> Run {
    let mut con = Consumer::connect(our_consumer_config())
        .await
        .expect("connect");
    con.assign((0..c.partitions).map(|p| TopicPartition::new(topic, p)))
        .expect("assign");
    let cpu0 = process_cpu();
    let t0 = Instant::now();
    let mut bytes = 0;
    let mut first = Duration::ZERO;
    for i in 0..c.n {
        let r = tokio::time::timeout(STUCK, con.recv())
            .await
            .expect("ours: stuck")
            .expect("recv")
            .expect("a record");
        bytes += r.value.as_ref().map_or(0, |v| v.len());
        if i == 0 {
            first = t0.elapsed();
        }
    }
    let run = Run::from(c.n, bytes, t0.elapsed(), process_cpu() - cpu0, first);
    con.close().await.expect("close");
    run
}

async fn facade(topic: &str, c: Case) -> Run {
    let cfg = format!(
        "bench:\n  type: kafka\n  brokers: {}\n  auto_offset_reset: earliest\n  enable_auto_commit: false\n",
        bootstrap()
    );
    let reader = MessageReader::builder("bench")
        .config_text(cfg)
        .topic(topic)
        .build()
        .expect("reader");
    // Opening waits for the group's assignment.
    let mut r = reader.open_async().await.expect("reader opens");
    let cpu0 = process_cpu();
    let t0 = Instant::now();
    let mut bytes = 0;
    let mut first = Duration::ZERO;
    for i in 0..c.n {
        let m = tokio::time::timeout(STUCK, r.recv())
            .await
            .expect("facade: stuck")
            .expect("a message")
            .expect("recv");
        bytes += m.value().as_bytes().map_or(0, <[u8]>::len);
        if i == 0 {
            first = t0.elapsed();
        }
    }
    let run = Run::from(c.n, bytes, t0.elapsed(), process_cpu() - cpu0, first);
    r.close().await.expect("close");
    run
}

fn rd_consumer(topic: &str, partitions: i32) -> BaseConsumer {
    let con: BaseConsumer = RdConfig::new()
        .set("bootstrap.servers", bootstrap())
        .set("group.id", unique_topic("bench-rd-group"))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        // The same work as ours and Java's: batch CRCs verified.
        .set("check.crcs", "true")
        .create()
        .expect("librdkafka consumer");
    // Connected and metadata known before the clock starts, as ours after connect.
    con.fetch_metadata(Some(topic), Duration::from_secs(30))
        .expect("metadata");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .expect("tpl");
    }
    con.assign(&tpl).expect("assign");
    con
}

fn librdkafka(topic: &str, c: Case) -> Run {
    let con = rd_consumer(topic, c.partitions);
    let cpu0 = process_cpu();
    let t0 = Instant::now();
    let mut bytes = 0;
    let mut got = 0;
    let mut first = Duration::ZERO;
    while got < c.n {
        match con.poll(STUCK) {
            Some(Ok(m)) => {
                bytes += m.payload().map_or(0, <[u8]>::len);
                if got == 0 {
                    first = t0.elapsed();
                }
                got += 1;
            }
            Some(Err(e)) => panic!("librdkafka poll: {e}"),
            None => panic!("librdkafka: stuck after {got} records"),
        }
    }
    Run::from(c.n, bytes, t0.elapsed(), process_cpu() - cpu0, first)
}

/// The Java client's ConsumerPerformance; parses its CSV summary (header + one line) and
/// takes `fetch.nMsg.sec` / `fetch.MB.sec` (the run without the group join).
fn java(topic: &str, c: Case) -> Run {
    let h = kafka();
    let script = repo_root().join("tests/brokers/kafka.sh");
    let out = Command::new("bash")
        .arg(&script)
        .args(["tool", "consumer-perf", "--bootstrap-server"])
        .arg(bootstrap())
        .args(["--topic", topic])
        .args(["--num-records", &c.n.to_string()])
        .args(["--group", &unique_topic("bench-java-group")])
        .args(["--timeout", "60000"])
        .env("KAFKA_VERSION", h.get("KAFKA_VERSION"))
        .output()
        .expect("run consumer-perf");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "consumer-perf failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    let hi = lines
        .iter()
        .position(|l| l.contains("fetch.nMsg.sec"))
        .unwrap_or_else(|| panic!("no header in {stdout}"));
    let header: Vec<&str> = lines[hi].split(',').map(str::trim).collect();
    let values: Vec<&str> = lines
        .get(hi + 1)
        .unwrap_or_else(|| panic!("no summary in {stdout}"))
        .split(',')
        .map(str::trim)
        .collect();
    let field = |name: &str| -> f64 {
        header
            .iter()
            .position(|h| *h == name)
            .and_then(|i| values.get(i))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("cannot parse {name} in {stdout}"))
    };
    let consumed = field("data.consumed.in.nMsg");
    assert!(
        consumed >= c.n as f64,
        "consumer-perf read {consumed} of {} records",
        c.n
    );
    Run {
        records_per_s: field("fetch.nMsg.sec"),
        mib_per_s: field("fetch.MB.sec"),
        cpu_us_per_record: None,
        first_ms: None,
        steady_rps: None,
    }
}

/// One round over a case's topics: ours, librdkafka, Java, facade.
fn round(rt: &tokio::runtime::Runtime, raw: &str, fac: &str, c: Case) -> [Run; 4] {
    let o = rt.block_on(ours(raw, c));
    let rd = librdkafka(raw, c);
    let jv = java(raw, c);
    let f = rt.block_on(facade(fac, c));
    [o, rd, jv, f]
}

/// Latencies of `total` records written at `rate`/s, read by `consume` (started first, on its
/// own new topic): `consume(topic, live, total)` signals `live` once it has seen the warm-up
/// record and returns the latencies of the timed records.
fn latency_run<F>(
    rt: &tokio::runtime::Runtime,
    producer: &Producer,
    rate: usize,
    total: usize,
    consume: F,
) -> Vec<Duration>
where
    F: FnOnce(String, tokio::sync::oneshot::Sender<()>, usize) -> Vec<Duration> + Send + 'static,
{
    let topic = unique_topic("bench-kafka-latency");
    rt.block_on(create_topic(&topic, 1));
    let (live_tx, live_rx) = tokio::sync::oneshot::channel();
    let t = topic.clone();
    let consumer = std::thread::spawn(move || consume(t, live_tx, total));
    rt.block_on(async {
        // Warm-up record (send time 0), until the consumer is reading.
        producer
            .send(ProducerRecord::new(topic.as_str(), vec![0u8; 100]).with_partition(0))
            .await
            .expect("send")
            .await
            .expect("warm-up stored");
        tokio::time::timeout(STUCK, live_rx)
            .await
            .expect("consumer not live")
            .expect("consumer gone");
        let mut deliveries = Vec::with_capacity(total);
        let t0 = Instant::now();
        let mut sent = 0;
        while sent < total {
            let due = ((t0.elapsed().as_secs_f64() * rate as f64) as usize + 1).min(total);
            while sent < due {
                let mut v = vec![b'x'; 100];
                v[..8].copy_from_slice(&now_us().to_be_bytes());
                let rec = ProducerRecord::new(topic.as_str(), v).with_partition(0);
                deliveries.push(producer.send(rec).await.expect("send"));
                sent += 1;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        for d in deliveries {
            d.await.expect("delivered");
        }
    });
    let mut lat = consumer.join().expect("consumer thread");
    lat.sort();
    lat
}

/// The latency of one received value, `None` for the warm-up record.
fn latency_of(value: Option<&[u8]>) -> Option<Duration> {
    let v = value?;
    let sent = u64::from_be_bytes(v.get(..8)?.try_into().ok()?);
    (sent != 0).then(|| Duration::from_micros(now_us().saturating_sub(sent)))
}

/// Our consumer on its own thread with a runtime of its own, as librdkafka's consumer has
/// threads of its own. (On the producer's runtime its tasks queued behind the producer's:
/// p50 0.84x librdkafka's that way, at par on its own.)
fn ours_latency(
    topic: String,
    live: tokio::sync::oneshot::Sender<()>,
    total: usize,
) -> Vec<Duration> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("consumer runtime");
    rt.block_on(async move {
        let mut con = Consumer::connect(our_consumer_config())
            .await
            .expect("connect");
        con.assign([TopicPartition::new(topic, 0)]).expect("assign");
        let mut live = Some(live);
        let mut lat = Vec::with_capacity(total);
        while lat.len() < total {
            let r = tokio::time::timeout(STUCK, con.recv())
                .await
                .expect("ours: stuck")
                .expect("recv")
                .expect("a record");
            match latency_of(r.value.as_deref()) {
                Some(d) => lat.push(d),
                None => {
                    if let Some(l) = live.take() {
                        let _ = l.send(());
                    }
                }
            }
        }
        con.close().await.expect("close");
        lat
    })
}

fn rd_latency(
    topic: String,
    live: tokio::sync::oneshot::Sender<()>,
    total: usize,
) -> Vec<Duration> {
    let con = rd_consumer(&topic, 1);
    let mut live = Some(live);
    let mut lat = Vec::with_capacity(total);
    while lat.len() < total {
        match con.poll(STUCK) {
            Some(Ok(m)) => match latency_of(m.payload()) {
                Some(d) => lat.push(d),
                None => {
                    if let Some(l) = live.take() {
                        let _ = l.send(());
                    }
                }
            },
            Some(Err(e)) => panic!("librdkafka poll: {e}"),
            None => panic!("librdkafka: stuck after {} records", lat.len()),
        }
    }
    lat
}

/// Deletes the benchmark's topics.
fn delete_topics(rt: &tokio::runtime::Runtime) {
    let topics = std::mem::take(
        &mut *TOPICS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    match rt.block_on(admin().delete_topics(&names, &AdminOptions::new())) {
        Ok(results) => {
            let failed = results.iter().filter(|r| r.is_err()).count();
            if failed > 0 {
                eprintln!("kafka consumer bench: {failed} topic(s) not deleted");
            }
        }
        Err(e) => eprintln!("kafka consumer bench: deleting the topics failed: {e}"),
    }
}

/// Appends `r`'s figures to `BENCH_JSON` (if set). The facade reader's time to the first record
/// is left out: its `open` already waits for the group's assignment and starts fetching, so that
/// figure does not compare with the others'.
fn emit(c: &Case, client: &str, role: Role, r: &Run, with_first: bool) {
    let case = format!("{} B, {} partition(s)", c.size, c.partitions);
    let m = Measurement {
        bench: "kafka_consumer",
        case: &case,
        client,
        role,
        metric: "consumer throughput",
        value: r.records_per_s,
        unit: "records/s",
        better: Better::Higher,
    };
    m.emit();
    if let Some(v) = r.steady_rps {
        Measurement {
            metric: "consumer throughput after the 1st record",
            value: v,
            ..m
        }
        .emit();
    }
    if let Some(v) = r.cpu_us_per_record {
        Measurement {
            metric: "client CPU per record",
            value: v,
            unit: "µs",
            better: Better::Lower,
            ..m
        }
        .emit();
    }
    if let Some(v) = r.first_ms.filter(|_| with_first) {
        Measurement {
            metric: "time to the 1st record",
            value: v,
            unit: "ms",
            better: Better::Lower,
            ..m
        }
        .emit();
    }
}

fn fmt_run(r: &Run) -> String {
    format!("{:.0} ({:.1})", r.records_per_s, r.mib_per_s)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let h = kafka();
    let n100 = env_usize("BENCH_N", 500_000);
    let rounds = env_usize("BENCH_ROUNDS", 2).max(1);
    let rate = env_usize("BENCH_RATE", 5_000).max(1);
    let secs = env_usize("BENCH_SECS", 5).max(1);
    let lat_rounds = env_usize("BENCH_LAT_ROUNDS", 3).max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    let mut rows = Vec::new();
    // 1 KB topics hold half as many records: runs of a tenth of a second were mostly noise.
    for (size, n) in [(100usize, n100), (1024, (n100 / 2).max(1))] {
        for partitions in [1, 4] {
            let c = Case {
                size,
                n,
                partitions,
            };
            let raw = unique_topic("bench-kafka-consume");
            let fac = unique_topic("bench-kafka-consume-facade");
            eprintln!("kafka consumer bench: {size} B × {n}, {partitions} partition(s): filling");
            rt.block_on(async {
                create_topic(&raw, partitions).await;
                create_topic(&fac, partitions).await;
                prefill(&raw, c).await;
                prefill_facade(&fac, c).await;
            });
            let mut best = [Run::default(); 4];
            for r in 1..=rounds {
                eprintln!("kafka consumer bench: {size} B, {partitions} p, round {r}/{rounds}");
                for (b, x) in best.iter_mut().zip(round(&rt, &raw, &fac, c)) {
                    if x.records_per_s > b.records_per_s {
                        *b = x;
                    }
                }
            }
            rows.push((c, best));
            delete_topics(&rt);
        }
    }

    eprintln!("kafka consumer bench: latency, {rate} records/s for {secs} s");
    let producer = rt.block_on(async {
        let mut cfg = ProducerConfig::new(ClientConfig::new([bootstrap()]));
        cfg.acks = Acks::One;
        cfg.enable_idempotence = false;
        cfg.linger = Duration::ZERO;
        Producer::connect(cfg).await.expect("connect")
    });
    let total = rate * secs;
    // Interleaved rounds, pooled: a broker pause (GC, log roll) or a busy
    // neighbour then lands on both clients alike rather than on one run.
    let (mut lat_ours, mut lat_rd) = (Vec::new(), Vec::new());
    for r in 0..lat_rounds {
        let ours = |lat: &mut Vec<Duration>| {
            lat.extend(latency_run(&rt, &producer, rate, total, ours_latency));
        };
        let rd = |lat: &mut Vec<Duration>| {
            lat.extend(latency_run(&rt, &producer, rate, total, rd_latency));
        };
        eprintln!("kafka consumer bench: latency round {}/{lat_rounds}", r + 1);
        // Alternate who goes first.
        if r % 2 == 0 {
            ours(&mut lat_ours);
            rd(&mut lat_rd);
        } else {
            rd(&mut lat_rd);
            ours(&mut lat_ours);
        }
    }
    lat_ours.sort();
    lat_rd.sort();
    rt.block_on(producer.close()).expect("close");
    delete_topics(&rt);

    let librdkafka_name = format!("librdkafka {}", rdkafka::util::get_rdkafka_version().1);
    let java_name = format!("Java {} ConsumerPerformance", h.get("KAFKA_VERSION"));
    for (c, [o, rd, jv, f]) in &rows {
        emit(c, "sinetstream-kafka", Role::Ours, o, true);
        emit(c, "facade reader (v3 envelope)", Role::Ours, f, false);
        emit(c, &librdkafka_name, Role::Reference, rd, true);
        emit(c, &java_name, Role::Reference, jv, true);
    }

    println!(
        "\n### Kafka consumer throughput (Kafka {} single node, PLAINTEXT, each client's default fetch settings)\n",
        h.get("KAFKA_VERSION")
    );
    println!(
        "records/s (MiB/s), best of {rounds} rounds, reading all records from the beginning; ratios are ours / reference (>1 = ours faster); CPU = this process's CPU µs per record\n"
    );
    println!(
        "| record | partitions | records | sinetstream-kafka | librdkafka | Java ConsumerPerformance | facade reader | kafka/librdkafka | kafka/Java | facade/librdkafka | kafka/librdkafka after 1st record | CPU µs/rec: kafka / librdkafka / facade | ms to 1st record: kafka / librdkafka / facade |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (c, [o, rd, jv, f]) in &rows {
        let ratio = |a: &Run, b: &Run| a.records_per_s / b.records_per_s;
        let cpu = |r: &Run| {
            r.cpu_us_per_record
                .map_or_else(|| "-".to_owned(), |c| format!("{c:.2}"))
        };
        let first = |r: &Run| {
            r.first_ms
                .map_or_else(|| "-".to_owned(), |m| format!("{m:.0}"))
        };
        println!(
            "| {} B | {} | {} | {} | {} | {} | {} | {:.2}x | {:.2}x | {:.2}x | {:.2}x | {} / {} / {} | {} / {} / {} |",
            c.size,
            c.partitions,
            c.n,
            fmt_run(o),
            fmt_run(rd),
            fmt_run(jv),
            fmt_run(f),
            ratio(o, rd),
            ratio(o, jv),
            ratio(f, rd),
            o.steady_rps.unwrap_or(0.0) / rd.steady_rps.unwrap_or(f64::NAN),
            cpu(o),
            cpu(rd),
            cpu(f),
            first(o),
            first(rd),
            first(f)
        );
    }
    println!(
        "\nThe facade reader's topic holds SINETStream v3 records (header + Avro envelope, +~20 B each); its MiB/s count the user payload."
    );

    let lat_rows: Vec<Row> = [("p50", 50.0), ("p99", 99.0), ("p99.9", 99.9)]
        .into_iter()
        .map(|(name, p)| Row {
            name: format!("end-to-end latency {name}"),
            unit: "ms",
            ours: ms(percentile(&lat_ours, p)),
            reference: ms(percentile(&lat_rd, p)),
            higher_is_better: false,
        })
        .chain(std::iter::once(Row {
            name: "end-to-end latency max".to_owned(),
            unit: "ms",
            ours: ms(lat_ours.last().copied().unwrap_or_default()),
            reference: ms(lat_rd.last().copied().unwrap_or_default()),
            higher_is_better: false,
        }))
        .collect();
    let lat_case = format!(
        "end-to-end latency, {rate} records/s × {secs} s × {lat_rounds} interleaved rounds, 100 B, 1 partition"
    );
    for (row, metric) in lat_rows.iter().zip(["p50", "p99", "p99.9", "max"]) {
        emit_row(
            "kafka_consumer",
            &lat_case,
            metric,
            row,
            ["sinetstream-kafka", &librdkafka_name],
        );
    }
    print_table(
        &format!(
            "Kafka end-to-end latency ({rate} records/s × {secs} s × {lat_rounds} interleaved rounds, pooled; 100 B, 1 partition, same producer: sinetstream-kafka linger 0 acks=1)"
        ),
        "librdkafka",
        &lat_rows,
    );
}
