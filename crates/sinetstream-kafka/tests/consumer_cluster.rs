//! The consumer on the 3-node cluster of `tests/brokers/kafka.sh start
//! cluster`: the leader of the partition is stopped mid-consume, and the
//! group consumer goes on from the new leader (and, if needed, the new
//! group coordinator) without losing or repeating a record; an unclean
//! leader election loses records consumers have read, and they notice
//! (KIP-320). The cluster is stopped at the end of each test (it costs
//! memory), so the tests take turns; a cluster that cannot be started
//! fails the test.

mod common;

use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{repo_root, unique_topic};
use sinetstream_kafka::{
    Acks, Client, ClientConfig, Consumer, ConsumerConfig, ConsumerRecord, KafkaError, OffsetReset,
    Producer, ProducerConfig, ProducerRecord, TopicPartition,
};

/// The tests stop the cluster they share when they end: one at a time.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn kafka_sh(args: &[&str]) -> String {
    let out = Command::new("bash")
        .arg(repo_root().join("tests/brokers/kafka.sh"))
        .args(args)
        .current_dir(repo_root())
        .output()
        .expect("run tests/brokers/kafka.sh");
    assert!(
        out.status.success(),
        "kafka.sh {args:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Stops the cluster when the test ends, passed or not.
struct Cluster {
    env: HashMap<String, String>,
}

impl Cluster {
    fn start() -> Cluster {
        let env = kafka_sh(&["start", "cluster"])
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect::<HashMap<_, _>>();
        assert!(
            env.contains_key("KAFKA_CLUSTER_BOOTSTRAP"),
            "kafka.sh start cluster printed no KAFKA_CLUSTER_BOOTSTRAP: {env:?}"
        );
        Cluster { env }
    }

    fn config(&self) -> ClientConfig {
        let mut c = ClientConfig::new(self.env["KAFKA_CLUSTER_BOOTSTRAP"].split(','));
        c.request_timeout = Duration::from_secs(10);
        c
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(repo_root().join("tests/brokers/kafka.sh"))
            .args(["stop", "cluster"])
            .current_dir(repo_root())
            .output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_follows_the_new_leader_without_loss() {
    const TOTAL: usize = 3000;
    let _turn = TURN.lock().await;
    let cluster = Cluster::start();
    let topic = unique_topic("consume-failover");
    let producer = Producer::connect(ProducerConfig {
        acks: Acks::All,
        ..ProducerConfig::new(cluster.config())
    })
    .await
    .expect("producer");
    // Auto-created: one partition, replication factor 3.
    producer
        .send(ProducerRecord::new(&topic, "0"))
        .await
        .expect("send")
        .await
        .expect("first record");
    let produced = Arc::new(AtomicUsize::new(1));
    let prod_task = {
        let topic = topic.clone();
        let produced = Arc::clone(&produced);
        tokio::spawn(async move {
            for i in 1..TOTAL {
                let d = producer
                    .send(ProducerRecord::new(&topic, i.to_string()))
                    .await
                    .expect("send");
                d.await.unwrap_or_else(|e| panic!("record {i}: {e}"));
                produced.store(i + 1, Ordering::SeqCst);
                if i % 100 == 0 {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            producer.close().await.expect("producer close");
        })
    };

    let mut consumer = Consumer::connect(ConsumerConfig {
        auto_offset_reset: OffsetReset::Earliest,
        session_timeout: Duration::from_secs(10),
        heartbeat_interval: Duration::from_secs(1),
        ..ConsumerConfig::with_group(cluster.config(), unique_topic("group-failover"))
    })
    .await
    .expect("consumer");
    consumer.subscribe([topic.clone()]).expect("subscribe");
    let client = Client::connect(cluster.config()).await.expect("client");
    let mut next = 0usize;
    let mut stopped: Option<i32> = None;
    let started = Instant::now();
    let mut stopped_at = None;
    let mut last_record = Instant::now();
    let mut longest_gap = Duration::ZERO;
    while next < TOTAL {
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "only {next} of {TOTAL} records consumed"
        );
        let Some(r) = consumer
            .poll(Duration::from_secs(1))
            .await
            .unwrap_or_else(|e| panic!("poll after {next} records: {e}"))
        else {
            continue;
        };
        let v: usize = String::from_utf8_lossy(r.value.as_deref().unwrap_or_default())
            .parse()
            .expect("decimal value");
        assert_eq!(v, next, "records in order, none lost or repeated");
        assert_eq!(r.offset, next as i64);
        if stopped.is_some() {
            longest_gap = longest_gap.max(last_record.elapsed());
        }
        last_record = Instant::now();
        next += 1;
        if next == 500 && stopped.is_none() {
            let meta = client.refresh_metadata(&[&topic]).await.expect("metadata");
            let leader = meta.leader(&topic, 0).expect("a leader");
            eprintln!("stopping node {leader} (leader of {topic}-0) after {next} records");
            kafka_sh(&["stop-node", &leader.to_string()]);
            stopped = Some(leader);
            stopped_at = Some(Instant::now());
        }
    }
    eprintln!(
        "{TOTAL} records consumed in {:?}, {:?} after the leader stopped; \
         longest gap between records after the stop: {longest_gap:?}",
        started.elapsed(),
        stopped_at.map(|t| t.elapsed())
    );
    prod_task.await.expect("producer task");
    assert_eq!(produced.load(Ordering::SeqCst), TOTAL);
    consumer.commit().await.expect("commit");
    consumer.close().await.expect("close");
    client.close();
    if let Some(n) = stopped {
        kafka_sh(&["start-node", &n.to_string()]);
    }
    drop(cluster);
}

impl Cluster {
    /// `host:port` of node `n`.
    fn node(&self, n: u8) -> String {
        self.env[&format!("KAFKA_NODE_{n}")].clone()
    }

    /// The Java topics tool against node 3 (which the election test
    /// never stops).
    fn topics(&self, args: &[&str]) -> String {
        let node3 = self.node(3);
        let mut all = vec!["tool", "topics", "--bootstrap-server", node3.as_str()];
        all.extend_from_slice(args);
        kafka_sh(&all)
    }

    /// Waits until partition 0 of `topic` has `leader` and exactly the
    /// in-sync replicas `isr` (in any order), as the Java topics tool
    /// describes it.
    fn wait_partition(&self, topic: &str, leader: &str, isr: &[&str]) {
        let started = Instant::now();
        loop {
            let out = self.topics(&["--describe", "--topic", topic]);
            let line = out.lines().find(|l| l.contains("Partition: 0"));
            let field = |name: &str| -> Option<String> {
                line?
                    .split('\t')
                    .find_map(|f| f.trim().strip_prefix(name).map(str::to_owned))
            };
            let mut in_sync: Vec<String> = field("Isr: ")
                .map(|l| l.split(',').map(str::to_owned).collect())
                .unwrap_or_default();
            in_sync.sort();
            if field("Leader: ").as_deref() == Some(leader) && in_sync == isr {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{topic}-0 never had leader {leader} and ISR {isr:?}: {line:?}"
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

async fn produce_values(config: ClientConfig, topic: &str, values: impl Iterator<Item = String>) {
    let producer = Producer::connect(ProducerConfig {
        acks: Acks::All,
        ..ProducerConfig::new(config)
    })
    .await
    .expect("producer");
    for v in values {
        producer
            .send(ProducerRecord::new(topic, v.clone()).with_partition(0))
            .await
            .expect("send")
            .await
            .unwrap_or_else(|e| panic!("record {v}: {e}"));
    }
    producer.close().await.expect("producer close");
}

/// The next `n` records of `c`, as `(offset, value)`.
async fn read(c: &mut Consumer, n: usize) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    let started = Instant::now();
    while out.len() < n {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "only {} of {n} records: {out:?}",
            out.len()
        );
        let r: Option<ConsumerRecord> = c
            .poll(Duration::from_secs(1))
            .await
            .unwrap_or_else(|e| panic!("poll after {} records: {e}", out.len()));
        if let Some(r) = r {
            let v = String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned();
            out.push((r.offset, v));
        }
    }
    out
}

fn expected(prefix: &str, offsets: std::ops::Range<i64>) -> Vec<(i64, String)> {
    offsets.map(|o| (o, format!("{prefix}-{o}"))).collect()
}

/// An unclean leader election loses records that consumers had read:
/// replicas on nodes 1 and 2, node 2 stopped, 50 records written to node 1
/// alone (`min.insync.replicas` 1) and read, node 1 stopped, node 2 elected
/// although out of sync. Its log ends at 100, and the next records take
/// offsets 100.. again. A consumer still at 150 must go back to 100, where
/// the logs diverge, or it skips 100..149 of the new records (what it did
/// before KIP-320 was implemented). The same for a group resuming from an
/// offset committed before the election; with `auto_offset_reset` none it
/// fails with `LogTruncation` instead, as the Java client does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_notice_records_lost_to_an_unclean_election() {
    let _turn = TURN.lock().await;
    let cluster = Cluster::start();
    let topic = unique_topic("consume-unclean");
    // Records acknowledged by node 1 alone count as written only with
    // min.insync.replicas 1 (the cluster's default is 2); the topic's own
    // unclean election setting makes the controller elect node 2 as soon
    // as it is back (Kafka 4's eligible leader replicas wait otherwise).
    cluster.topics(&[
        "--create",
        "--topic",
        &topic,
        "--replica-assignment",
        "1:2",
        "--config",
        "min.insync.replicas=1",
        "--config",
        "unclean.leader.election.enable=true",
    ]);
    cluster.wait_partition(&topic, "1", &["1", "2"]);
    produce_values(
        cluster.config(),
        &topic,
        (0..100).map(|i| format!("old-{i}")),
    )
    .await;
    let tp = TopicPartition::new(&topic, 0);

    // A reader without a group that stays open throughout, and two groups
    // that commit what they read and close.
    let mut live = Consumer::connect(ConsumerConfig {
        auto_offset_reset: OffsetReset::Earliest,
        ..ConsumerConfig::new(cluster.config())
    })
    .await
    .expect("consumer");
    live.assign([tp.clone()]).expect("assign");
    let group_config = |group: &str, reset| ConsumerConfig {
        auto_offset_reset: reset,
        enable_auto_commit: false,
        ..ConsumerConfig::with_group(cluster.config(), group)
    };
    let groups = [
        unique_topic("group-unclean"),
        unique_topic("group-unclean-none"),
    ];

    kafka_sh(&["stop-node", "2"]);
    cluster.wait_partition(&topic, "1", &["1"]);
    produce_values(
        cluster.config(),
        &topic,
        (100..150).map(|i| format!("lost-{i}")),
    )
    .await;
    let mut before = expected("old", 0..100);
    before.extend(expected("lost", 100..150));
    assert_eq!(read(&mut live, 150).await, before);
    for g in &groups {
        let mut c = Consumer::connect(group_config(g, OffsetReset::Earliest))
            .await
            .expect("group consumer");
        c.subscribe([topic.clone()]).expect("subscribe");
        assert_eq!(read(&mut c, 150).await, before, "group {g}");
        c.commit().await.expect("commit");
        c.close().await.expect("close");
    }

    // Node 1's shutdown is recorded while its controller still votes; the
    // quorum (nodes 2 and 3) is back once node 2 runs.
    kafka_sh(&["stop-node", "1"]);
    kafka_sh(&["start-node", "2"]);
    cluster.wait_partition(&topic, "2", &["2"]);
    produce_values(
        cluster.config(),
        &topic,
        (100..180).map(|i| format!("new-{i}")),
    )
    .await;

    assert_eq!(
        read(&mut live, 80).await,
        expected("new", 100..180),
        "the open reader goes back to where the logs diverge"
    );
    live.close().await.expect("close");

    let mut resumed = Consumer::connect(group_config(&groups[0], OffsetReset::Earliest))
        .await
        .expect("group consumer");
    resumed.subscribe([topic.clone()]).expect("subscribe");
    assert_eq!(
        read(&mut resumed, 80).await,
        expected("new", 100..180),
        "a group resumes where the logs diverge, not at its committed 150"
    );
    resumed.commit().await.expect("commit");
    resumed.close().await.expect("close");

    let mut strict = Consumer::connect(group_config(&groups[1], OffsetReset::None))
        .await
        .expect("group consumer");
    strict.subscribe([topic.clone()]).expect("subscribe");
    let e = match strict.poll(Duration::from_secs(30)).await {
        Err(e) => e,
        Ok(r) => panic!("auto_offset_reset none read past the truncation: {r:?}"),
    };
    match &e {
        KafkaError::LogTruncation {
            offset, divergent, ..
        } => {
            assert_eq!((*offset, *divergent), (150, Some(100)), "{e}");
        }
        other => panic!("not a LogTruncation: {other}"),
    }
    eprintln!("auto_offset_reset none: {e}");
    strict.close().await.expect("close");

    // Node 1 comes back as a follower and truncates its own log.
    kafka_sh(&["start-node", "1"]);
    cluster.wait_partition(&topic, "2", &["1", "2"]);
    cluster.topics(&["--delete", "--topic", &topic]);
    drop(cluster);
}
