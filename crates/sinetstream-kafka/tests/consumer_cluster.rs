//! The consumer on the 3-node cluster of `tests/brokers/kafka.sh start
//! cluster`: the leader of the partition is stopped mid-consume, and the
//! group consumer goes on from the new leader (and, if needed, the new
//! group coordinator) without losing or repeating a record. The cluster
//! is stopped at the end (it costs memory); a cluster that cannot be
//! started fails the test.

mod common;

use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{repo_root, unique_topic};
use sinetstream_kafka::{
    Acks, Client, ClientConfig, Consumer, ConsumerConfig, OffsetReset, Producer, ProducerConfig,
    ProducerRecord,
};

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
