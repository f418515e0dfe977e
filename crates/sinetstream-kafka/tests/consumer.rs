//! The consumer against the genuine Kafka broker of `tests/brokers/kafka.sh`:
//! reading without a group (every codec), groups (resume after reopen,
//! two members splitting a topic, takeover when one leaves, with the eager
//! and cooperative protocols, next to Java members), seeks, and every
//! listener. Test data comes from this crate's producer.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Listener, unique_topic};
use sinetstream_kafka::{
    Assignor, Client, ClientConfig, Compression, Consumer, ConsumerConfig, ConsumerRecord,
    ErrorCode, OffsetReset, Producer, ProducerConfig, ProducerRecord, SaslMechanism,
    TopicPartition,
};

/// Produces `values` to `topic` (partition = index % parts when `parts`
/// is set) and waits for every acknowledgement.
async fn produce(
    client: ClientConfig,
    topic: &str,
    parts: Option<i32>,
    compression: Compression,
    values: &[String],
) {
    let p = Producer::connect(ProducerConfig {
        compression,
        ..ProducerConfig::new(client)
    })
    .await
    .expect("producer connect");
    let mut ds = Vec::new();
    for (i, v) in values.iter().enumerate() {
        let mut r = ProducerRecord::new(topic, v.clone())
            .with_key(format!("k{i}"))
            .with_header("i", i.to_string());
        if let Some(n) = parts {
            r = r.with_partition(i as i32 % n);
        }
        ds.push(p.send(r).await.expect("send"));
    }
    for d in ds {
        d.await.expect("delivery");
    }
    p.close().await.expect("producer close");
}

/// Creates `topic` with `partitions` partitions through the crate's own
/// admin call (faster than the Java topic tool).
async fn create(topic: &str, partitions: i32) {
    let c = Client::connect(Listener::Plaintext.config())
        .await
        .expect("client");
    c.create_topic(topic, partitions, None)
        .await
        .unwrap_or_else(|e| panic!("create {topic}: {e}"));
    let meta = c.metadata();
    assert_eq!(
        meta.topic(topic).map(|t| t.partitions.len()),
        Some(partitions as usize)
    );
    let again = c.create_topic(topic, partitions, None).await;
    assert_eq!(
        again.err().and_then(|e| e.code()),
        Some(ErrorCode::TopicAlreadyExists)
    );
    c.close();
}

/// Produces `prefix0`, `prefix1` ... (the `range`) to `topic` over PLAINTEXT, uncompressed,
/// as [`produce`] does.
async fn fill(topic: &str, parts: Option<i32>, prefix: &str, range: std::ops::Range<usize>) {
    produce(
        Listener::Plaintext.config(),
        topic,
        parts,
        Compression::None,
        &values(prefix, range),
    )
    .await;
}

fn values(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix}{i}")).collect()
}

fn value(r: &ConsumerRecord) -> String {
    String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned()
}

fn group_config(client: ClientConfig, group: &str) -> ConsumerConfig {
    ConsumerConfig {
        auto_offset_reset: OffsetReset::Earliest,
        session_timeout: Duration::from_secs(10),
        heartbeat_interval: Duration::from_millis(500),
        ..ConsumerConfig::with_group(client, group)
    }
}

/// Reads `n` records, failing after `limit`.
async fn take(c: &mut Consumer, n: usize, limit: Duration) -> Vec<ConsumerRecord> {
    let deadline = Instant::now() + limit;
    let mut out = Vec::new();
    while out.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "only {} of {n} records within {limit:?}",
            out.len()
        );
        if let Some(r) = c.poll(left).await.expect("poll") {
            out.push(r);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_group_reads_every_compression() {
    let started = Instant::now();
    for compression in [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let topic = unique_topic("consume-codec");
        let vs = values(&format!("{compression:?}-"), 0..50);
        produce(Listener::Plaintext.config(), &topic, None, compression, &vs).await;
        let mut c = Consumer::connect(ConsumerConfig {
            auto_offset_reset: OffsetReset::Earliest,
            ..ConsumerConfig::new(Listener::Plaintext.config())
        })
        .await
        .expect("connect");
        c.assign([TopicPartition::new(&topic, 0)]).expect("assign");
        let got = take(&mut c, 50, Duration::from_secs(30)).await;
        for (i, r) in got.iter().enumerate() {
            assert_eq!(&*r.topic, topic.as_str());
            assert_eq!(r.offset, i as i64, "{compression:?}");
            assert_eq!(value(r), vs[i], "{compression:?}");
            assert_eq!(r.key.as_deref(), Some(format!("k{i}").as_bytes()));
            assert_eq!(r.headers.len(), 1);
            assert_eq!(r.headers[0].key, "i");
            assert!(r.timestamp > 0);
        }
        assert!(
            c.poll(Duration::from_millis(300))
                .await
                .expect("poll")
                .is_none()
        );
        // Commits need a group.
        assert!(c.commit().await.is_err());
        c.close().await.expect("close");
    }
    eprintln!("five codecs consumed in {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_reset_skips_existing_records() {
    let topic = unique_topic("consume-latest");
    fill(&topic, None, "old", 0..5).await;
    let mut c = Consumer::connect(ConsumerConfig::new(Listener::Plaintext.config()))
        .await
        .expect("connect");
    c.assign([TopicPartition::new(&topic, 0)]).expect("assign");
    // Resolves the start (the end now) before new records arrive.
    c.seek_to_end().await.expect("seek_to_end");
    assert_eq!(c.position(&TopicPartition::new(&topic, 0)), Some(5));
    fill(&topic, None, "new", 0..3).await;
    let got = take(&mut c, 3, Duration::from_secs(30)).await;
    assert_eq!(
        got.iter().map(value).collect::<Vec<_>>(),
        values("new", 0..3)
    );
    c.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_resumes_from_committed_offsets() {
    let started = Instant::now();
    let topic = unique_topic("consume-resume");
    create(&topic, 3).await;
    let all = values("v", 0..60);
    produce(
        Listener::Plaintext.config(),
        &topic,
        Some(3),
        Compression::Lz4,
        &all,
    )
    .await;
    let group = unique_topic("group-resume");
    let mut seen: Vec<String> = Vec::new();

    // 1. Auto commit: close commits exactly what was taken, though more
    //    is buffered.
    let mut c = Consumer::connect(group_config(Listener::Plaintext.config(), &group))
        .await
        .expect("connect");
    c.subscribe([topic.clone()]).expect("subscribe");
    seen.extend(
        take(&mut c, 20, Duration::from_secs(60))
            .await
            .iter()
            .map(value),
    );
    assert_eq!(c.assignment().len(), 3);
    c.close().await.expect("close");

    // 2. Manual commit of what was taken; then a close without commit.
    let mut c = Consumer::connect(ConsumerConfig {
        enable_auto_commit: false,
        ..group_config(Listener::Plaintext.config(), &group)
    })
    .await
    .expect("connect");
    c.subscribe([topic.clone()]).expect("subscribe");
    seen.extend(
        take(&mut c, 15, Duration::from_secs(60))
            .await
            .iter()
            .map(value),
    );
    c.commit().await.expect("commit");
    let extra = take(&mut c, 5, Duration::from_secs(10)).await; // not committed
    c.close().await.expect("close");

    // 3. Reads the rest: the 5 uncommitted ones again, nothing else twice.
    let mut c = Consumer::connect(group_config(Listener::Plaintext.config(), &group))
        .await
        .expect("connect");
    c.subscribe([topic.clone()]).expect("subscribe");
    let rest = take(&mut c, 25, Duration::from_secs(60)).await;
    let rest_values: BTreeSet<String> = rest.iter().map(value).collect();
    for r in &extra {
        assert!(
            rest_values.contains(&value(r)),
            "uncommitted {} is read again",
            value(r)
        );
    }
    seen.extend(rest.iter().map(value));
    assert!(
        c.poll(Duration::from_secs(1))
            .await
            .expect("poll")
            .is_none(),
        "nothing more"
    );
    c.close().await.expect("close");
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), 60, "every record read");
    // `extra` (taken, not committed) is in `rest` again, nothing else twice.
    assert_eq!(seen.len(), 60, "no committed record read twice");
    // The last close committed everything: 20 records per partition.
    let c = Consumer::connect(group_config(Listener::Plaintext.config(), &group))
        .await
        .expect("connect");
    let committed = c
        .committed(
            &(0..3)
                .map(|p| TopicPartition::new(&topic, p))
                .collect::<Vec<_>>(),
        )
        .await
        .expect("committed");
    assert!(committed.values().all(|o| *o == Some(20)), "{committed:?}");
    c.close().await.expect("close");
    eprintln!("resume test in {:?}", started.elapsed());
}

type Log = Arc<Mutex<Vec<(String, ConsumerRecord)>>>;

/// The values of every record logged so far, in the order logged.
fn logged(log: &Log) -> Vec<String> {
    log.lock()
        .expect("lock")
        .iter()
        .map(|(_, r)| value(r))
        .collect()
}

/// Runs a consumer in a task that polls until told to stop, logging every
/// record under `name` and publishing its assignment.
fn run_member(
    name: &str,
    c: Consumer,
    log: Log,
    assignment: Arc<Mutex<HashMap<String, Vec<TopicPartition>>>>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<Consumer> {
    run_member_watched(
        name,
        c,
        log,
        assignment,
        stop,
        None,
        Duration::from_millis(200),
    )
}

/// [`run_member`], also noting the assignment size after every poll in
/// `history` when it changed, polling with `poll` as time limit (a short
/// one drops `recv` in the middle of rebalances and commits).
fn run_member_watched(
    name: &str,
    mut c: Consumer,
    log: Log,
    assignment: Arc<Mutex<HashMap<String, Vec<TopicPartition>>>>,
    stop: tokio::sync::watch::Receiver<bool>,
    history: Option<Arc<Mutex<Vec<usize>>>>,
    poll: Duration,
) -> tokio::task::JoinHandle<Consumer> {
    let name = name.to_owned();
    tokio::spawn(async move {
        while !*stop.borrow() {
            let r = c.poll(poll).await.expect("poll");
            let now = c.assignment();
            if let Some(h) = &history {
                let mut h = h.lock().expect("lock");
                if h.last() != Some(&now.len()) {
                    h.push(now.len());
                }
            }
            assignment.lock().expect("lock").insert(name.clone(), now);
            if let Some(r) = r {
                log.lock().expect("lock").push((name.clone(), r));
            }
        }
        c
    })
}

/// Whether `who` owns `n` partitions in the published `assignment`.
fn owns(assignment: &Mutex<HashMap<String, Vec<TopicPartition>>>, who: &str, n: usize) -> bool {
    assignment
        .lock()
        .expect("lock")
        .get(who)
        .is_some_and(|v| v.len() == n)
}

async fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !cond() {
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    started.elapsed()
}

/// Produces 40 more records (`prefix`0..40, over 4 partitions) and waits
/// until the members together have seen `total` distinct values.
async fn produce_and_see(topic: &str, prefix: &str, log: &Log, total: usize) {
    fill(topic, Some(4), prefix, 0..40).await;
    wait_for(&format!("{total} records"), Duration::from_secs(60), || {
        logged(log).into_iter().collect::<BTreeSet<_>>().len() == total
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_members_split_and_one_takes_over() {
    split_and_take_over(Assignor::Range).await;
}

/// The same with the incremental protocol, b joining once a owns all:
/// a keeps consuming through the rebalance (it never owns nothing) and
/// gives up only the two partitions b gets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cooperative_members_split_and_one_takes_over() {
    split_and_take_over(Assignor::CooperativeSticky).await;
}

/// And with the eager `sticky` assignor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sticky_members_split_and_one_takes_over() {
    split_and_take_over(Assignor::Sticky).await;
}

async fn split_and_take_over(assignor: Assignor) {
    let cooperative = assignor == Assignor::CooperativeSticky;
    let topic = unique_topic("consume-split");
    create(&topic, 4).await;
    let group = unique_topic("group-split");
    fill(&topic, Some(4), "a", 0..40).await;
    let log: Log = Arc::default();
    let assignment: Arc<Mutex<HashMap<String, Vec<TopicPartition>>>> = Arc::default();
    let (stop_a, rx_a) = tokio::sync::watch::channel(false);
    let (stop_b, rx_b) = tokio::sync::watch::channel(false);
    let config = || ConsumerConfig {
        partition_assignment_strategy: vec![assignor],
        ..group_config(Listener::Plaintext.config(), &group)
    };
    let mut ca = Consumer::connect(config()).await.expect("connect a");
    ca.subscribe([topic.clone()]).expect("subscribe");
    let mut cb = Consumer::connect(config()).await.expect("connect b");
    cb.subscribe([topic.clone()]).expect("subscribe");
    let history: Arc<Mutex<Vec<usize>>> = Arc::default();
    let a = run_member_watched(
        "a",
        ca,
        Arc::clone(&log),
        Arc::clone(&assignment),
        rx_a,
        Some(Arc::clone(&history)),
        // Cooperative: a's rebalances run while it consumes; polls of 1 ms
        // cut `recv` short in the middle of them.
        Duration::from_millis(if cooperative { 1 } else { 200 }),
    );
    let mut a_alone = Vec::new();
    if cooperative {
        wait_for("a owns all 4", Duration::from_secs(60), || {
            owns(&assignment, "a", 4)
        })
        .await;
        a_alone = assignment.lock().expect("lock")["a"].clone();
    }
    let b = run_member("b", cb, Arc::clone(&log), Arc::clone(&assignment), rx_b);

    let split = wait_for("a 2/2 split", Duration::from_secs(60), || {
        let a = assignment.lock().expect("lock");
        let (x, y) = (
            a.get("a").map_or(0, Vec::len),
            a.get("b").map_or(0, Vec::len),
        );
        x == 2 && y == 2
    })
    .await;
    eprintln!("split 2/2 after {split:?}");
    {
        let a = assignment.lock().expect("lock");
        let all: BTreeSet<&TopicPartition> = a.values().flatten().collect();
        assert_eq!(all.len(), 4, "disjoint assignment: {a:?}");
        if cooperative {
            assert!(a["a"].iter().all(|tp| a_alone.contains(tp)));
            let h = history.lock().expect("lock");
            let first = h.iter().position(|n| *n == 4).expect("a owned 4");
            assert!(
                h[first..].iter().all(|n| *n >= 2),
                "a gave up more than it had to: {h:?}"
            );
        }
    }
    produce_and_see(&topic, "b", &log, 80).await;

    // b leaves (closing commits what it took); a must take everything
    // within the session timeout.
    stop_b.send_replace(true);
    let cb = b.await.expect("b task");
    let left = Instant::now();
    cb.close().await.expect("close b");
    let takeover = wait_for("a takes all 4", Duration::from_secs(10), || {
        owns(&assignment, "a", 4)
    })
    .await;
    eprintln!(
        "takeover after {:?} ({takeover:?} after close)",
        left.elapsed()
    );
    produce_and_see(&topic, "c", &log, 120).await;
    stop_a.send_replace(true);
    let ca = a.await.expect("a task");
    ca.close().await.expect("close a");

    let l = log.lock().expect("lock");
    let mut by_value: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (who, r) in l.iter() {
        by_value.entry(value(r)).or_default().push(who);
    }
    let twice: Vec<_> = by_value.iter().filter(|(_, w)| w.len() > 1).collect();
    assert!(
        twice.is_empty(),
        "records delivered more than once: {twice:?}"
    );
    assert_eq!(by_value.len(), 120);
    assert!(l.iter().any(|(w, _)| w == "b"), "b consumed something");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seek_to_beginning_replays_and_seek_to_end_skips() {
    let topic = unique_topic("consume-seek");
    create(&topic, 2).await;
    produce(
        Listener::Plaintext.config(),
        &topic,
        Some(2),
        Compression::Gzip,
        &values("s", 0..10),
    )
    .await;
    let group = unique_topic("group-seek");
    let mut c = Consumer::connect(group_config(Listener::Plaintext.config(), &group))
        .await
        .expect("connect");
    c.subscribe([topic.clone()]).expect("subscribe");
    // Before any recv: waits for the assignment, then seeks.
    c.seek_to_beginning().await.expect("seek_to_beginning");
    assert_eq!(c.assignment().len(), 2);
    let first: BTreeSet<String> = take(&mut c, 10, Duration::from_secs(30))
        .await
        .iter()
        .map(value)
        .collect();
    assert_eq!(first.len(), 10);
    c.seek_to_beginning().await.expect("seek_to_beginning");
    let again: BTreeSet<String> = take(&mut c, 10, Duration::from_secs(30))
        .await
        .iter()
        .map(value)
        .collect();
    assert_eq!(first, again, "replayed");
    // seek to a given offset
    let tp = TopicPartition::new(&topic, 1);
    c.seek(&tp, 3).expect("seek");
    assert_eq!(c.position(&tp), Some(3));
    assert!(c.seek(&TopicPartition::new(&topic, 9), 0).is_err());
    c.seek_to_end().await.expect("seek_to_end");
    produce(
        Listener::Plaintext.config(),
        &topic,
        Some(2),
        Compression::Gzip,
        &values("late", 0..4),
    )
    .await;
    let late: BTreeSet<String> = take(&mut c, 4, Duration::from_secs(30))
        .await
        .iter()
        .map(value)
        .collect();
    assert_eq!(late, values("late", 0..4).into_iter().collect());
    c.close().await.expect("close");
}

/// A group consumer round trip on `listener`.
async fn listener_roundtrip(listener: Listener) {
    let topic = unique_topic("consume-listener");
    produce(
        listener.config(),
        &topic,
        None,
        Compression::Zstd,
        &values("l", 0..5),
    )
    .await;
    let group = unique_topic("group-listener");
    let mut c = Consumer::connect(group_config(listener.config(), &group))
        .await
        .unwrap_or_else(|e| panic!("{listener:?}: connect: {e}"));
    c.subscribe([topic.clone()]).expect("subscribe");
    let got = take(&mut c, 5, Duration::from_secs(60)).await;
    assert_eq!(
        got.iter().map(value).collect::<Vec<_>>(),
        values("l", 0..5),
        "{listener:?}"
    );
    c.commit()
        .await
        .unwrap_or_else(|e| panic!("{listener:?}: commit: {e}"));
    let committed = c
        .committed(&[TopicPartition::new(&topic, 0)])
        .await
        .expect("committed");
    assert_eq!(
        committed.get(&TopicPartition::new(&topic, 0)),
        Some(&Some(5))
    );
    c.close().await.expect("close");
}

#[tokio::test]
async fn ssl() {
    listener_roundtrip(Listener::Ssl).await;
}

#[tokio::test]
async fn mutual_tls() {
    listener_roundtrip(Listener::Mtls).await;
}

#[tokio::test]
async fn sasl_plaintext_scram_sha_256() {
    listener_roundtrip(Listener::SaslPlaintext(SaslMechanism::ScramSha256)).await;
}

#[tokio::test]
async fn sasl_ssl() {
    listener_roundtrip(Listener::SaslSsl(SaslMechanism::ScramSha512)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashed_member_is_replaced_after_the_session_timeout() {
    let topic = unique_topic("consume-crash");
    create(&topic, 2).await;
    let group = unique_topic("group-crash");
    fill(&topic, Some(2), "x", 0..20).await;
    let log: Log = Arc::default();
    let assignment: Arc<Mutex<HashMap<String, Vec<TopicPartition>>>> = Arc::default();
    let (stop_a, rx_a) = tokio::sync::watch::channel(false);
    let (_stop_b, rx_b) = tokio::sync::watch::channel(false);
    let mut members = Vec::new();
    for (name, rx) in [("a", rx_a), ("b", rx_b)] {
        let mut c = Consumer::connect(group_config(Listener::Plaintext.config(), &group))
            .await
            .expect("connect");
        c.subscribe([topic.clone()]).expect("subscribe");
        members.push(run_member(
            name,
            c,
            Arc::clone(&log),
            Arc::clone(&assignment),
            rx,
        ));
    }
    wait_for("a 1/1 split", Duration::from_secs(60), || {
        let a = assignment.lock().expect("lock");
        a.get("a").is_some_and(|v| v.len() == 1) && a.get("b").is_some_and(|v| v.len() == 1)
    })
    .await;
    // b "crashes": its consumer is dropped without LeaveGroup or commit.
    let b = members.pop().expect("b");
    b.abort();
    let _ = b.await;
    let crashed = Instant::now();
    let took = wait_for("a takes both partitions", Duration::from_secs(25), || {
        owns(&assignment, "a", 2)
    })
    .await;
    eprintln!("takeover {took:?} after the crash (session timeout 10 s)");
    assert!(
        crashed.elapsed() >= Duration::from_secs(5),
        "not before the session expired"
    );
    fill(&topic, Some(2), "y", 0..20).await;
    wait_for("all 40 records", Duration::from_secs(60), || {
        logged(&log).into_iter().collect::<BTreeSet<_>>().len() == 40
    })
    .await;
    stop_a.send_replace(true);
    let a = members.pop().expect("a").await.expect("a task");
    a.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_that_stops_polling_leaves_and_rejoins() {
    let topic = unique_topic("consume-pollgap");
    create(&topic, 2).await;
    let group = unique_topic("group-pollgap");
    fill(&topic, Some(2), "p", 0..10).await;
    let config = ConsumerConfig {
        max_poll_interval: Duration::from_secs(2),
        rebalance_timeout: Duration::from_secs(5),
        ..group_config(Listener::Plaintext.config(), &group)
    };
    let mut a = Consumer::connect(config.clone()).await.expect("connect a");
    a.subscribe([topic.clone()]).expect("subscribe");
    let log: Log = Arc::default();
    let assignment: Arc<Mutex<HashMap<String, Vec<TopicPartition>>>> = Arc::default();
    let (stop_b, rx_b) = tokio::sync::watch::channel(false);
    let mut cb = Consumer::connect(config).await.expect("connect b");
    cb.subscribe([topic.clone()]).expect("subscribe");
    let b = run_member("b", cb, Arc::clone(&log), Arc::clone(&assignment), rx_b);
    let started = Instant::now();
    while a.assignment().len() != 1
        || assignment
            .lock()
            .expect("lock")
            .get("b")
            .is_none_or(|v| v.len() != 1)
    {
        assert!(started.elapsed() < Duration::from_secs(60), "no 1/1 split");
        a.poll(Duration::from_millis(100)).await.expect("poll a");
    }
    // a stops polling: after max_poll_interval it leaves, b gets both.
    let took = wait_for("b takes both", Duration::from_secs(15), || {
        owns(&assignment, "b", 2)
    })
    .await;
    eprintln!("b took over {took:?} after a stopped polling");
    // a polls again: it rejoins and gets one partition back.
    let started = Instant::now();
    while a.assignment().len() != 1 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "a did not rejoin"
        );
        a.poll(Duration::from_millis(100))
            .await
            .expect("poll a after the gap");
    }
    stop_b.send_replace(true);
    b.await.expect("b task").close().await.expect("close b");
    a.close().await.expect("close a");
}

/// Our consumer and Kafka's Java console consumer in one group (classic
/// protocol): the Java member must decode our subscription and
/// assignment (or we theirs, whoever leads) and the partitions split 1/1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shares_a_group_with_the_java_consumer() {
    // The Java default, [range, cooperative-sticky], runs eager range
    // with our member.
    share_with_java(Assignor::Range, None).await;
}

/// Java's `CooperativeStickyAssignor` and ours in one group: our leader
/// reads the Java member's subscription (version 3, owned partitions),
/// the Java member reads our assignment, and both take part in the
/// follow-up rebalance that hands over the revoked partition.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shares_a_cooperative_group_with_the_java_consumer() {
    share_with_java(
        Assignor::CooperativeSticky,
        Some("org.apache.kafka.clients.consumer.CooperativeStickyAssignor"),
    )
    .await;
}

/// Kafka's Java console consumer as a member of `group` (classic protocol,
/// from the earliest offset, `property` added), printing each record's
/// partition, and giving up after 40 s without a record.
fn java_group_member(
    bootstrap: &str,
    topic: &str,
    group: &str,
    property: &str,
) -> std::process::Command {
    let mut c = std::process::Command::new("bash");
    c.arg(common::repo_root().join("tests/brokers/kafka.sh"))
        .args([
            "tool",
            "console-consumer",
            "--bootstrap-server",
            bootstrap,
            "--topic",
            topic,
            "--group",
            group,
            "--consumer-property",
            "group.protocol=classic",
            "--consumer-property",
            "auto.offset.reset=earliest",
            "--consumer-property",
            property,
            "--timeout-ms",
            "40000",
            "--property",
            "print.partition=true",
        ])
        .current_dir(common::repo_root())
        .env("KAFKA_VERSION", common::var("KAFKA_VERSION"));
    c
}

async fn share_with_java(assignor: Assignor, java_assignor: Option<&str>) {
    let topic = unique_topic("consume-java");
    create(&topic, 2).await;
    let group = unique_topic("group-java");
    fill(&topic, Some(2), "j", 0..20).await;
    let log: Log = Arc::default();
    let assignment: Arc<Mutex<HashMap<String, Vec<TopicPartition>>>> = Arc::default();
    let (stop, rx) = tokio::sync::watch::channel(false);
    let mut c = Consumer::connect(ConsumerConfig {
        partition_assignment_strategy: vec![assignor],
        ..group_config(Listener::Plaintext.config(), &group)
    })
    .await
    .expect("connect");
    c.subscribe([topic.clone()]).expect("subscribe");
    let ours = run_member("rust", c, Arc::clone(&log), Arc::clone(&assignment), rx);
    let strategy = java_assignor.map_or("client.id=java-member".to_owned(), |a| {
        format!("partition.assignment.strategy={a}")
    });
    wait_for("our member owns both", Duration::from_secs(60), || {
        owns(&assignment, "rust", 2)
    })
    .await;
    let bootstrap = Listener::Plaintext.bootstrap();
    let java = {
        let (topic, group) = (topic.clone(), group.clone());
        std::thread::spawn(move || {
            // Generous: on a loaded 2-core machine the JVM can take many seconds
            // between joining and its first fetch.
            java_group_member(&bootstrap, &topic, &group, &strategy)
                .output()
                .expect("run the Java console consumer")
        })
    };
    let split = wait_for(
        "a 1/1 split with the Java member",
        Duration::from_secs(60),
        || owns(&assignment, "rust", 1),
    )
    .await;
    eprintln!("Java member took a partition after {split:?}");
    // Our share during the split: once the Java member exits (idle timeout) ours takes both
    // partitions back, so the assignment at the end says nothing about the split.
    let mine: Vec<TopicPartition> = assignment
        .lock()
        .expect("lock")
        .get("rust")
        .cloned()
        .unwrap_or_default();
    fill(&topic, Some(2), "k", 0..20).await;
    let out = tokio::task::spawn_blocking(move || java.join().expect("java thread"))
        .await
        .expect("join");
    stop.send_replace(true);
    let c = ours.await.expect("our task");
    c.close().await.expect("close");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let theirs: Vec<(i32, String)> = stdout
        .lines()
        .filter_map(|l| {
            let (p, v) = l.split_once('\t')?;
            Some((p.strip_prefix("Partition:")?.parse().ok()?, v.to_owned()))
        })
        .collect();
    assert!(
        !theirs.is_empty(),
        "the Java member consumed nothing; stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(mine.len(), 1);
    assert!(
        theirs.iter().all(|(p, _)| *p != mine[0].partition),
        "the Java member read our partition"
    );
    let mut all = logged(&log);
    all.extend(theirs.into_iter().map(|(_, v)| v));
    let unique: BTreeSet<&String> = all.iter().collect();
    assert_eq!(unique.len(), 40, "every record read by one of the two");
    assert_eq!(all.len(), 40, "no record read by both");
}

/// The reverse of `shares_a_cooperative_group_with_the_java_consumer`: the
/// Java console consumer (`CooperativeStickyAssignor`) joins first, owns
/// both partitions and so leads the group when ours joins. Its
/// cooperative protocol first revokes one partition from itself, then
/// hands it to our member in the follow-up rebalance: we must follow the
/// Java leader's assignments of both rounds (one partition in the end,
/// never both while it lives), resume from its committed offsets, and
/// the two members read every record exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn java_leader_hands_a_partition_to_our_cooperative_member() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::{Command, Stdio};

    /// Waits until the group committed offset `n` on every one of `parts`
    /// (the unsubscribed `probe` only asks; it never joins).
    async fn committed_reach(probe: &Consumer, parts: &[TopicPartition], n: i64) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let committed = probe.committed(parts).await.expect("committed");
            if committed.values().all(|o| *o == Some(n)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "offsets not committed up to {n}: {committed:?}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    let started = Instant::now();
    let topic = unique_topic("consume-javalead");
    create(&topic, 2).await;
    let group = unique_topic("group-javalead");
    let parts: Vec<TopicPartition> = (0..2).map(|p| TopicPartition::new(&topic, p)).collect();
    // "j": before our member joins, all of them the Java member's.
    fill(&topic, Some(2), "j", 0..20).await;
    // Its 40 s idle timeout (since its last record) keeps it in the group
    // through both rebalances on a loaded machine, and a failing test leaves
    // no process behind for long. The test ends it earlier.
    let mut java = java_group_member(
        &Listener::Plaintext.bootstrap(),
        &topic,
        &group,
        "partition.assignment.strategy=org.apache.kafka.clients.consumer.CooperativeStickyAssignor",
    )
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("run the Java console consumer");
    // Read its output as it comes (the console consumer flushes every
    // record) to know what it read before and after the split.
    let theirs: Arc<Mutex<Vec<(i32, String)>>> = Arc::default();
    let stdout = java.stdout.take().expect("piped stdout");
    let reader = {
        let theirs = Arc::clone(&theirs);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let parsed = line.split_once('\t').and_then(|(p, v)| {
                    Some((p.strip_prefix("Partition:")?.parse().ok()?, v.to_owned()))
                });
                if let Some(r) = parsed {
                    theirs.lock().expect("lock").push(r);
                }
            }
        })
    };
    // Drained so that a chatty JVM never blocks on a full pipe, and shown
    // when the Java member fails.
    let mut stderr = java.stderr.take().expect("piped stderr");
    let errors = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let java_read = |prefix: &str| -> Vec<(i32, String)> {
        theirs
            .lock()
            .expect("lock")
            .iter()
            .filter(|(_, v)| v.starts_with(prefix))
            .cloned()
            .collect()
    };
    // The JVM can take many seconds to start and join on a loaded machine.
    let deadline = Instant::now() + Duration::from_secs(60);
    while java_read("j").len() < 20 {
        if let Some(status) = java.try_wait().expect("java status") {
            let stderr = errors.join().expect("stderr reader");
            panic!("the Java member exited ({status}) before reading the j records:\n{stderr}");
        }
        assert!(
            Instant::now() < deadline,
            "the Java member read {:?} within 60 s",
            java_read("j")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "the Java member read the j records {:?} in",
        started.elapsed()
    );
    assert_eq!(
        java_read("j")
            .iter()
            .map(|(p, _)| *p)
            .collect::<BTreeSet<_>>(),
        BTreeSet::from([0, 1]),
        "alone in the group, the Java member owns both partitions"
    );
    // Its auto-commit (every 5 s) of both partitions: our member then
    // resumes after the j records whenever the handover happens, so a
    // re-read one would be ours to blame.
    let probe = Consumer::connect(group_config(Listener::Plaintext.config(), &group))
        .await
        .expect("connect probe");
    committed_reach(&probe, &parts, 10).await;
    assert!(
        java.try_wait().expect("java status").is_none(),
        "the Java member exited before ours joined"
    );

    // Ours joins the group the Java member leads.
    let log: Log = Arc::default();
    let assignment: Arc<Mutex<HashMap<String, Vec<TopicPartition>>>> = Arc::default();
    let history: Arc<Mutex<Vec<usize>>> = Arc::default();
    let (stop, rx) = tokio::sync::watch::channel(false);
    let mut c = Consumer::connect(ConsumerConfig {
        partition_assignment_strategy: vec![Assignor::CooperativeSticky],
        ..group_config(Listener::Plaintext.config(), &group)
    })
    .await
    .expect("connect");
    c.subscribe([topic.clone()]).expect("subscribe");
    let ours = run_member_watched(
        "rust",
        c,
        Arc::clone(&log),
        Arc::clone(&assignment),
        rx,
        Some(Arc::clone(&history)),
        Duration::from_millis(200),
    );
    let split = wait_for(
        "the Java leader hands us a partition",
        Duration::from_secs(60),
        || owns(&assignment, "rust", 1),
    )
    .await;
    eprintln!("our member got its partition {split:?} after joining");
    let mine = assignment.lock().expect("lock")["rust"][0].partition;

    // "k": after the split, each member reads its own partition's.
    fill(&topic, Some(2), "k", 0..20).await;
    wait_for("all 40 records read", Duration::from_secs(30), || {
        let mut seen: BTreeSet<String> = logged(&log).into_iter().collect();
        seen.extend(theirs.lock().expect("lock").iter().map(|(_, v)| v.clone()));
        seen.len() == 40
    })
    .await;
    // Both members commit what they read; then a re-read after the Java
    // member leaves would be a duplicate of ours, not a missed commit.
    committed_reach(&probe, &parts, 20).await;
    probe.close().await.expect("close probe");
    // The Java member still in the group (idling): our share must still be
    // the one partition, and it never was two.
    assert!(
        java.try_wait().expect("java status").is_none(),
        "the Java member left before the check"
    );
    {
        let a = assignment.lock().expect("lock");
        assert_eq!(
            a["rust"].iter().map(|tp| tp.partition).collect::<Vec<_>>(),
            vec![mine],
            "ours owns exactly the handed-over partition next to the Java member"
        );
        let h = history.lock().expect("lock");
        assert!(
            h.iter().all(|n| *n <= 1),
            "ours owned both while the Java member held one: {h:?}"
        );
    }

    // End the Java member now rather than after its idle timeout (observed
    // to take 40 s or, about every other run, 80 s). kafka.sh execs the JVM,
    // so the child is the JVM: SIGTERM runs its shutdown hook, which closes
    // the consumer (LeaveGroup) before exiting.
    let term = Command::new("kill")
        .args(["-TERM", &java.id().to_string()])
        .status()
        .expect("run kill");
    assert!(term.success(), "kill -TERM the Java member: {term}");
    let status = tokio::task::spawn_blocking(move || java.wait())
        .await
        .expect("join")
        .expect("wait for the Java member");
    reader.join().expect("stdout reader");
    let stderr = errors.join().expect("stderr reader");
    // 143: the JVM's exit status after SIGTERM (128 + 15).
    assert!(
        status.success() || status.code() == Some(143),
        "the Java member failed: {status}\n{stderr}"
    );
    // It left the group: ours takes both partitions back.
    wait_for("ours takes both back", Duration::from_secs(30), || {
        owns(&assignment, "rust", 2)
    })
    .await;
    stop.send_replace(true);
    let c = ours.await.expect("our task");
    c.close().await.expect("close");

    let theirs = theirs.lock().expect("lock").clone();
    let after: Vec<&(i32, String)> = theirs.iter().filter(|(_, v)| v.starts_with('k')).collect();
    assert!(
        after.iter().all(|(p, _)| *p != mine),
        "the Java member read our partition {mine} after the split: {after:?}"
    );
    assert_eq!(
        after.len(),
        10,
        "the Java member read its partition: {after:?}"
    );
    let mut all = logged(&log);
    assert!(
        all.iter().all(|v| v.starts_with('k')),
        "ours read a record the Java member had committed: {all:?}"
    );
    all.extend(theirs.into_iter().map(|(_, v)| v));
    let unique: BTreeSet<&String> = all.iter().collect();
    assert_eq!(unique.len(), 40, "every record read by one of the two");
    assert_eq!(all.len(), 40, "no record read by both");
    eprintln!("Java-led cooperative test in {:?}", started.elapsed());
}

/// Committed transactions from Kafka's Java producer-perf tool leave
/// commit markers (control records) in the log: read_committed and
/// read_uncommitted both see exactly the 100 records, none of the markers.
/// (Aborted transactions cannot be produced with the Java tools or our
/// producer; their filtering is unit-tested in `consumer::fetcher`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_records_of_java_transactions_are_skipped() {
    use sinetstream_kafka::IsolationLevel;
    let topic = unique_topic("consume-txn");
    let bootstrap = Listener::Plaintext.bootstrap();
    let out = std::process::Command::new("bash")
        .arg(common::repo_root().join("tests/brokers/kafka.sh"))
        .args([
            "tool",
            "producer-perf",
            "--topic",
            &topic,
            "--num-records",
            "100",
            "--throughput",
            "-1",
            "--payload-monotonic",
            "--transactional-id",
            &format!("tx-{topic}"),
            "--transaction-duration-ms",
            "20",
            "--producer-props",
            &format!("bootstrap.servers={bootstrap}"),
        ])
        .current_dir(common::repo_root())
        .env("KAFKA_VERSION", common::var("KAFKA_VERSION"))
        .output()
        .expect("run producer-perf");
    assert!(
        out.status.success(),
        "producer-perf failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let end: i64 = common::end_offsets(&topic).iter().map(|(_, o)| o).sum();
    assert!(end > 100, "commit markers in the log (end offset {end})");
    for isolation in [
        IsolationLevel::ReadCommitted,
        IsolationLevel::ReadUncommitted,
    ] {
        let mut c = Consumer::connect(ConsumerConfig {
            auto_offset_reset: OffsetReset::Earliest,
            isolation_level: isolation,
            ..ConsumerConfig::new(Listener::Plaintext.config())
        })
        .await
        .expect("connect");
        let tp = TopicPartition::new(&topic, 0);
        c.assign([tp.clone()]).expect("assign");
        let got = take(&mut c, 100, Duration::from_secs(30)).await;
        let vs: Vec<String> = got.iter().map(value).collect();
        assert_eq!(
            vs,
            (0..100).map(|i| i.to_string()).collect::<Vec<_>>(),
            "{isolation:?}"
        );
        assert!(
            c.poll(Duration::from_millis(800))
                .await
                .expect("poll")
                .is_none(),
            "{isolation:?}: no control record shown"
        );
        assert_eq!(
            c.position(&tp),
            Some(end),
            "{isolation:?}: markers skipped over"
        );
        c.close().await.expect("close");
    }
}

/// A transaction left open by a killed Java producer is aborted by the
/// broker (transaction timeout): read_committed never shows its records,
/// read_uncommitted does; records after the abort marker reach both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_committed_skips_aborted_transactions() {
    use sinetstream_kafka::IsolationLevel;
    let topic = unique_topic("consume-abort");
    create(&topic, 1).await;
    let bootstrap = Listener::Plaintext.bootstrap();
    // Never commits (transaction duration 10 min); killed after a while,
    // so the broker aborts the transaction after transaction.timeout.ms.
    let mut perf = std::process::Command::new("bash")
        .arg(common::repo_root().join("tests/brokers/kafka.sh"))
        .args([
            "tool",
            "producer-perf",
            "--topic",
            &topic,
            "--num-records",
            "100000",
            "--throughput",
            "200",
            "--payload-monotonic",
            "--transactional-id",
            &format!("tx-{topic}"),
            "--transaction-duration-ms",
            "600000",
            "--producer-props",
            &format!("bootstrap.servers={bootstrap}"),
            "transaction.timeout.ms=2000",
            "linger.ms=0",
        ])
        .current_dir(common::repo_root())
        .env("KAFKA_VERSION", common::var("KAFKA_VERSION"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start producer-perf");
    let tp = TopicPartition::new(&topic, 0);
    let started = Instant::now();
    while common::end_offsets(&topic)
        .first()
        .is_none_or(|(_, o)| *o < 20)
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "producer-perf wrote nothing"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    perf.kill().expect("kill producer-perf");
    let _ = perf.wait();

    let mut committed = Consumer::connect(ConsumerConfig {
        auto_offset_reset: OffsetReset::Earliest,
        isolation_level: IsolationLevel::ReadCommitted,
        ..ConsumerConfig::new(Listener::Plaintext.config())
    })
    .await
    .expect("connect");
    committed.assign([tp.clone()]).expect("assign");
    // Nothing is visible until the broker has aborted the transaction;
    // then only what comes after.
    let after = values("after", 0..5);
    let mut produced_after = false;
    let mut got = Vec::new();
    let started = Instant::now();
    while got.len() < after.len() {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "read_committed got {got:?}"
        );
        if !produced_after
            && common::end_offsets(&topic)
                .first()
                .is_some_and(|(_, o)| *o > 0)
        {
            // Once the abort marker is in, the LSO moves past the
            // transaction; our records follow it.
            if committed.position(&tp).is_some_and(|p| p > 0) {
                produce(
                    Listener::Plaintext.config(),
                    &topic,
                    None,
                    Compression::None,
                    &after,
                )
                .await;
                produced_after = true;
            }
        }
        if let Some(r) = committed
            .poll(Duration::from_millis(500))
            .await
            .expect("poll")
        {
            got.push(value(&r));
        }
    }
    assert_eq!(
        got, after,
        "read_committed: only records after the aborted transaction"
    );
    committed.close().await.expect("close");

    let mut all = Consumer::connect(ConsumerConfig {
        auto_offset_reset: OffsetReset::Earliest,
        ..ConsumerConfig::new(Listener::Plaintext.config())
    })
    .await
    .expect("connect");
    all.assign([tp.clone()]).expect("assign");
    let mut seen = Vec::new();
    while seen.last() != after.last() {
        let r = all.poll(Duration::from_secs(10)).await.expect("poll");
        seen.push(value(&r.expect("read_uncommitted record")));
    }
    assert!(
        seen.len() >= 20 + after.len(),
        "read_uncommitted sees the aborted records"
    );
    assert_eq!(seen[0], "0");
    all.close().await.expect("close");
}

/// Static membership: a member with a `group_instance_id` does not leave
/// the group on close, and coming back with the same id takes its
/// partitions at once (no wait for the old session to expire).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_member_comes_back_without_waiting() {
    let topic = unique_topic("consume-static");
    create(&topic, 2).await;
    let group = unique_topic("group-static");
    fill(&topic, Some(2), "s", 0..20).await;
    let config = ConsumerConfig {
        group_instance_id: Some("instance-1".into()),
        rebalance_timeout: Duration::from_secs(20),
        ..group_config(Listener::Plaintext.config(), &group)
    };
    let mut c = Consumer::connect(config.clone()).await.expect("connect");
    c.subscribe([topic.clone()]).expect("subscribe");
    let first: Vec<String> = take(&mut c, 8, Duration::from_secs(30))
        .await
        .iter()
        .map(value)
        .collect();
    c.close().await.expect("close");
    let reopened = Instant::now();
    let mut c = Consumer::connect(config).await.expect("connect");
    c.subscribe([topic.clone()]).expect("subscribe");
    let rest: Vec<String> = take(&mut c, 12, Duration::from_secs(30))
        .await
        .iter()
        .map(value)
        .collect();
    let took = reopened.elapsed();
    eprintln!("static member back and 12 records read in {took:?}");
    assert!(
        took < Duration::from_secs(8),
        "rejoin waited for the old session: {took:?}"
    );
    let all: BTreeSet<String> = first.iter().chain(&rest).cloned().collect();
    assert_eq!(
        all.len(),
        20,
        "resumed from the committed offsets, nothing twice"
    );
    c.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_partitions_of_a_subscribed_topic_get_assigned() {
    let topic = unique_topic("consume-grow");
    create(&topic, 2).await;
    let group = unique_topic("group-grow");
    let mut client = Listener::Plaintext.config();
    // The leader notices the new count at the next metadata refresh.
    client.metadata_max_age = Duration::from_secs(1);
    let mut c = Consumer::connect(group_config(client, &group))
        .await
        .expect("connect");
    c.subscribe([topic.clone()]).expect("subscribe");
    fill(&topic, Some(2), "before", 0..2).await;
    let got = take(&mut c, 2, Duration::from_secs(60)).await;
    assert_eq!(got.len(), 2);

    tokio::task::spawn_blocking({
        let topic = topic.clone();
        move || common::add_partitions(&topic, 4)
    })
    .await
    .expect("alter");
    let p = Producer::connect(ProducerConfig::new(Listener::Plaintext.config()))
        .await
        .expect("producer");
    let d = p
        .send(ProducerRecord::new(&topic, "after").with_partition(3))
        .await
        .expect("send");
    assert_eq!(d.await.expect("delivered").partition, 3);
    p.close().await.expect("close");

    let r = take(&mut c, 1, Duration::from_secs(60)).await;
    assert_eq!((value(&r[0]).as_str(), r[0].partition), ("after", 3));
    assert_eq!(c.assignment().len(), 4, "{:?}", c.assignment());
    c.close().await.expect("close");
}

/// Fetch sessions (KIP-227) leave idle partitions out of Fetches and their
/// answers, name a partition again when its position moves, and drop
/// partitions held back (buffered) from the session until they are fetched
/// again. Six partitions, records in rounds to one or two at a time, pauses
/// longer than `fetch_max_wait` (empty incremental answers) and a seek:
/// every record is read once, in order per partition. With the default
/// `max_poll_records` a partition with news is fetched on at once (a
/// moved position left out of the session would stall it: the broker
/// fetches from the offset it was last sent); with a small one partitions
/// are held back and come back. And the same without sessions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_sessions_follow_idle_held_back_and_seeked_partitions() {
    for (sessions, max_poll_records) in [(true, 500), (true, 20), (false, 500)] {
        let topic = unique_topic("consume-session");
        create(&topic, 6).await;
        let mut c = Consumer::connect(ConsumerConfig {
            auto_offset_reset: OffsetReset::Earliest,
            max_poll_records,
            fetch_max_wait: Duration::from_millis(100),
            fetch_sessions: sessions,
            ..ConsumerConfig::new(Listener::Plaintext.config())
        })
        .await
        .expect("connect");
        c.assign((0..6).map(|p| TopicPartition::new(&topic, p)))
            .expect("assign");
        let p = Producer::connect(ProducerConfig::new(Listener::Plaintext.config()))
            .await
            .expect("producer");
        // Per partition: the next offset expected.
        let mut next = [0i64; 6];
        let rounds: [&[i32]; 8] = [&[3], &[3], &[0, 5], &[1], &[3, 2], &[4], &[0], &[5, 1]];
        for (round, parts) in rounds.iter().enumerate() {
            let mut ds = Vec::new();
            for &part in *parts {
                for i in 0..100 {
                    let r = ProducerRecord::new(&topic, format!("{round}-{part}-{i}"))
                        .with_partition(part);
                    ds.push(p.send(r).await.expect("send"));
                }
            }
            for d in ds {
                d.await.expect("delivery");
            }
            for r in take(&mut c, 100 * parts.len(), Duration::from_secs(30)).await {
                let part = usize::try_from(r.partition).expect("partition");
                assert!(parts.contains(&r.partition), "round {round}: {r:?}");
                assert_eq!(r.offset, next[part], "sessions {sessions}, round {round}");
                next[part] += 1;
            }
            if round == 4 {
                // Back to the middle of partition 3: its new position goes
                // into the session.
                c.seek(&TopicPartition::new(&topic, 3), 150).expect("seek");
                let again = take(&mut c, 150, Duration::from_secs(30)).await;
                assert_eq!(again[0].offset, 150);
                assert_eq!(again[149].offset, 299);
                assert_eq!(value(&again[0]), "1-3-50");
            }
            if round % 2 == 1 {
                // Longer than fetch_max_wait: Fetches with nothing new.
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
        assert_eq!(next, [200, 200, 100, 300, 100, 200]);
        assert!(
            c.poll(Duration::from_millis(500))
                .await
                .expect("poll")
                .is_none(),
            "nothing more"
        );
        p.close().await.expect("producer close");
        c.close().await.expect("close");
    }
}
