//! MQTT publish throughput and round-trip latency: our client (`sinetstream-mqtt`, and the
//! facade with the SINETStream wire format) against rumqttc, on the same mosquitto, same run.
//!
//! `cargo bench -p sinetstream-benches --bench mqtt` (env `BENCH_N` = messages per run,
//! default 50,000; `BENCH_RTT` = round trips, default 2,000). With `BENCH_JSON=FILE` each
//! figure is also appended to FILE as one JSON line (see `sinetstream_benches::Measurement`).
//!
//! mosquitto's own CPU time per message is measured too, with how busy it was: mosquitto
//! runs on one thread, and once it is busy nearly all the time it sets the pace for every
//! client alike.

use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, MqttOptions as RumqttOptions, Packet, QoS as RQoS};
use sinetstream_benches::{
    Better, BrokerLoad, Measurement, Role, Row, emit_row, percentile, pid_in, print_table,
    process_cpu,
};
use sinetstream_e2e::brokers::{mosquitto, unique_topic};
use sinetstream_mqtt::{MqttClient, MqttOptions, QoS};

const PAYLOAD: usize = 100;

/// The clients' names in the `BENCH_JSON` lines.
const OURS: &str = "sinetstream-mqtt";
const RUMQTTC: &str = "rumqttc 0.25";

fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn port() -> u16 {
    mosquitto().port("MQTT_PLAIN_PORT")
}

fn our_opts(id: &str) -> MqttOptions {
    let mut o = MqttOptions::new("127.0.0.1", port(), id);
    o.max_inflight = 100;
    o.max_queued = 10_000;
    o
}

fn rumqttc_opts(id: &str) -> RumqttOptions {
    let mut o = RumqttOptions::new(id, "127.0.0.1", port());
    o.set_inflight(100);
    o.set_keep_alive(Duration::from_secs(60));
    o.set_max_packet_size(1 << 20, 1 << 20);
    o
}

/// Publishes `n` messages and waits until all are acknowledged (QoS 1) or written (QoS 0) and
/// received by a subscriber of the same kind: messages per second end to end.
async fn ours_throughput(n: usize, qos: QoS) -> f64 {
    let topic = unique_topic("bench-ours");
    let (sub, mut msgs) = MqttClient::connect(our_opts(&format!("bo-s-{}", rand_id())))
        .await
        .expect("subscriber");
    sub.subscribe(&[(topic.clone(), qos)])
        .await
        .expect("subscribe");
    let (pubc, _) = MqttClient::connect(our_opts(&format!("bo-p-{}", rand_id())))
        .await
        .expect("publisher");
    let payload = bytes::Bytes::from(vec![b'x'; PAYLOAD]);
    let t0 = Instant::now();
    let recv = tokio::spawn(async move {
        let mut got = 0;
        while got < n {
            match tokio::time::timeout(Duration::from_secs(30), msgs.recv()).await {
                Ok(Some(_)) => got += 1,
                _ => break,
            }
        }
        got
    });
    let mut handles = Vec::with_capacity(n);
    for _ in 0..n {
        handles.push(
            pubc.publish(topic.as_str(), qos, false, payload.clone())
                .await
                .expect("publish"),
        );
    }
    for h in handles {
        h.await.expect("ack");
    }
    let got = recv.await.expect("receiver");
    let secs = t0.elapsed().as_secs_f64();
    assert_eq!(got, n, "ours: subscriber received {got} of {n}");
    pubc.disconnect().await.ok();
    sub.disconnect().await.ok();
    n as f64 / secs
}

async fn rumqttc_throughput(n: usize, qos: RQoS) -> f64 {
    let topic = unique_topic("bench-rumqttc");
    let (sub, mut sub_loop) =
        AsyncClient::new(rumqttc_opts(&format!("br-s-{}", rand_id())), 10_000);
    sub.subscribe(topic.as_str(), qos).await.expect("subscribe");
    // Drive the subscriber until its SUBACK.
    loop {
        if let Event::Incoming(Packet::SubAck(_)) = sub_loop.poll().await.expect("sub poll") {
            break;
        }
    }
    let (pubc, mut pub_loop) =
        AsyncClient::new(rumqttc_opts(&format!("br-p-{}", rand_id())), 10_000);
    loop {
        if let Event::Incoming(Packet::ConnAck(_)) = pub_loop.poll().await.expect("pub poll") {
            break;
        }
    }
    let payload = vec![b'x'; PAYLOAD];
    let t0 = Instant::now();
    let recv = tokio::spawn(async move {
        let mut got = 0;
        while got < n {
            match tokio::time::timeout(Duration::from_secs(30), sub_loop.poll()).await {
                Ok(Ok(Event::Incoming(Packet::Publish(_)))) => got += 1,
                Ok(Ok(_)) => {}
                _ => break,
            }
        }
        got
    });
    let acks = tokio::spawn(async move {
        let mut acked = 0;
        let want = if qos == RQoS::AtMostOnce { 0 } else { n };
        while acked < want {
            match pub_loop.poll().await {
                Ok(Event::Incoming(Packet::PubAck(_))) => acked += 1,
                Ok(_) => {}
                Err(e) => panic!("rumqttc publisher: {e}"),
            }
        }
        // Keep polling so that queued QoS 0 publishes get written.
        if want == 0 {
            while pub_loop.poll().await.is_ok() {}
        }
        pub_loop
    });
    let publisher = pubc.clone();
    for _ in 0..n {
        publisher
            .publish(topic.as_str(), qos, false, payload.clone())
            .await
            .expect("publish");
    }
    let got = recv.await.expect("receiver");
    let secs = t0.elapsed().as_secs_f64();
    assert_eq!(got, n, "rumqttc: subscriber received {got} of {n}");
    if qos != RQoS::AtMostOnce {
        let _ = acks.await;
    } else {
        acks.abort();
    }
    pubc.disconnect().await.ok();
    sub.disconnect().await.ok();
    n as f64 / secs
}

/// QoS 1 publishes to a topic nobody reads: publish→PUBACK throughput of the client alone.
async fn ours_pub_only(n: usize) -> f64 {
    let topic = unique_topic("bench-po-ours");
    let (c, _) = MqttClient::connect(our_opts(&format!("bo-po-{}", rand_id())))
        .await
        .expect("publisher");
    let payload = bytes::Bytes::from(vec![b'x'; PAYLOAD]);
    let t0 = Instant::now();
    let mut handles = Vec::with_capacity(n);
    for _ in 0..n {
        handles.push(
            c.publish(topic.as_str(), QoS::AtLeastOnce, false, payload.clone())
                .await
                .expect("publish"),
        );
    }
    for h in handles {
        h.await.expect("ack");
    }
    let secs = t0.elapsed().as_secs_f64();
    c.disconnect().await.ok();
    n as f64 / secs
}

async fn rumqttc_pub_only(n: usize) -> f64 {
    let topic = unique_topic("bench-po-rumqttc");
    let (c, mut el) = AsyncClient::new(rumqttc_opts(&format!("br-po-{}", rand_id())), 10_000);
    loop {
        if let Event::Incoming(Packet::ConnAck(_)) = el.poll().await.expect("poll") {
            break;
        }
    }
    let payload = vec![b'x'; PAYLOAD];
    let t0 = Instant::now();
    let acks = tokio::spawn(async move {
        let mut acked = 0;
        while acked < n {
            match el.poll().await {
                Ok(Event::Incoming(Packet::PubAck(_))) => acked += 1,
                Ok(_) => {}
                Err(e) => panic!("rumqttc: {e}"),
            }
        }
        el
    });
    for _ in 0..n {
        c.publish(topic.as_str(), RQoS::AtLeastOnce, false, payload.clone())
            .await
            .expect("publish");
    }
    let _el = acks.await.expect("acks");
    let secs = t0.elapsed().as_secs_f64();
    c.disconnect().await.ok();
    n as f64 / secs
}

/// Round trips: publish one message, wait for it on the same client's subscription.
async fn ours_rtt(k: usize) -> Vec<Duration> {
    let topic = unique_topic("rtt-ours");
    let (c, mut msgs) = MqttClient::connect(our_opts(&format!("bo-r-{}", rand_id())))
        .await
        .expect("connect");
    c.subscribe(&[(topic.clone(), QoS::AtLeastOnce)])
        .await
        .expect("subscribe");
    let mut v = Vec::with_capacity(k);
    for _ in 0..k {
        let t0 = Instant::now();
        let h = c
            .publish(topic.as_str(), QoS::AtLeastOnce, false, vec![b'x'; PAYLOAD])
            .await
            .expect("publish");
        msgs.recv().await.expect("echo");
        v.push(t0.elapsed());
        h.await.expect("ack");
    }
    c.disconnect().await.ok();
    v.sort();
    v
}

async fn rumqttc_rtt(k: usize) -> Vec<Duration> {
    let topic = unique_topic("rtt-rumqttc");
    let (c, mut el) = AsyncClient::new(rumqttc_opts(&format!("br-r-{}", rand_id())), 100);
    c.subscribe(topic.as_str(), RQoS::AtLeastOnce)
        .await
        .expect("subscribe");
    loop {
        if let Event::Incoming(Packet::SubAck(_)) = el.poll().await.expect("poll") {
            break;
        }
    }
    let mut v = Vec::with_capacity(k);
    for _ in 0..k {
        let t0 = Instant::now();
        c.publish(
            topic.as_str(),
            RQoS::AtLeastOnce,
            false,
            vec![b'x'; PAYLOAD],
        )
        .await
        .expect("publish");
        loop {
            if let Event::Incoming(Packet::Publish(_)) = el.poll().await.expect("poll") {
                break;
            }
        }
        v.push(t0.elapsed());
    }
    c.disconnect().await.ok();
    v.sort();
    v
}

/// The facade: MessageWriter (SINETStream v3 envelope) at AT_LEAST_ONCE, MessageReader.
async fn facade_throughput(n: usize) -> f64 {
    let cfg = format!(
        "svc:\n  type: mqtt\n  brokers: 127.0.0.1:{}\n  consistency: AT_LEAST_ONCE\n  max_inflight_messages_set: {{inflight: 100}}\n  max_queued_messages_set: {{queue_size: 10000}}\n",
        port()
    );
    let topic = unique_topic("bench-facade");
    let reader = sinetstream::MessageReader::builder("svc")
        .config_text(cfg.clone())
        .topic(&topic)
        .receive_timeout_ms(30_000)
        .build()
        .expect("reader");
    let mut r = reader.open_async().await.expect("reader opens");
    let writer = sinetstream::MessageWriter::builder("svc")
        .config_text(cfg)
        .topic(&topic)
        .build()
        .expect("writer");
    let mut w = writer.open_async().await.expect("writer opens");
    let payload = vec![b'x'; PAYLOAD];
    let t0 = Instant::now();
    let recv = tokio::spawn(async move {
        let mut got = 0;
        while got < n {
            match r.recv().await {
                Some(Ok(_)) => got += 1,
                _ => break,
            }
        }
        got
    });
    for _ in 0..n {
        w.publish(payload.clone()).await.expect("publish");
    }
    w.flush().await.expect("flush");
    let got = recv.await.expect("receiver");
    let secs = t0.elapsed().as_secs_f64();
    assert_eq!(got, n);
    w.close().await.ok();
    n as f64 / secs
}

/// A client id suffix unique within this run (ids must differ between clients).
fn rand_id() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn main() {
    let n = env_usize("BENCH_N", 50_000);
    let k = env_usize("BENCH_RTT", 2_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    if std::env::var("BENCH_ONLY").as_deref() == Ok("facade") {
        // For profiling the facade path alone.
        rt.block_on(async {
            for _ in 0..3 {
                println!("facade: {:.0} msg/s", facade_throughput(n).await);
            }
        });
        return;
    }
    rt.block_on(async {
        // Warm up both clients and the broker once.
        ours_throughput(n / 10, QoS::AtLeastOnce).await;
        rumqttc_throughput(n / 10, RQoS::AtLeastOnce).await;

        let mut rows = Vec::new();
        // Each figure: best of three alternating runs, to damp noise on a shared 2-core machine;
        // CPU per message is the whole process's CPU time over the run (clients, not broker).
        let mut cpu_rows = Vec::new();
        let mut broker_rows = Vec::new();
        let broker = pid_in(mosquitto().get("MQTT_PID_FILE"));
        for (label, q, rq) in [
            (
                "QoS 0 publish→receive",
                Some(QoS::AtMostOnce),
                RQoS::AtMostOnce,
            ),
            (
                "QoS 1 publish→ack+receive",
                Some(QoS::AtLeastOnce),
                RQoS::AtLeastOnce,
            ),
            ("QoS 1 publish→ack, no subscriber", None, RQoS::AtLeastOnce),
        ] {
            let (mut o, mut r) = (0f64, 0f64);
            let (mut oc, mut rc) = (f64::MAX, f64::MAX);
            // mosquitto's CPU per message (least of the runs) and busy share (most).
            let (mut ob, mut rb) = ((f64::MAX, 0f64), (f64::MAX, 0f64));
            let worst = |acc: &mut (f64, f64), load: Option<(f64, f64)>| {
                if let Some((per, busy)) = load {
                    *acc = (acc.0.min(per), acc.1.max(busy));
                }
            };
            for _ in 0..3 {
                let c0 = process_cpu();
                let b = BrokerLoad::start(broker);
                let x = match q {
                    Some(q) => ours_throughput(n, q).await,
                    None => ours_pub_only(n).await,
                };
                worst(&mut ob, b.finish(n));
                let c1 = process_cpu();
                let b = BrokerLoad::start(broker);
                let y = match q {
                    Some(_) => rumqttc_throughput(n, rq).await,
                    None => rumqttc_pub_only(n).await,
                };
                worst(&mut rb, b.finish(n));
                let c2 = process_cpu();
                o = o.max(x);
                r = r.max(y);
                oc = oc.min((c1 - c0).as_secs_f64() * 1e6 / n as f64);
                rc = rc.min((c2 - c1).as_secs_f64() * 1e6 / n as f64);
            }
            let case = format!("{label}, {PAYLOAD} B");
            let row = Row {
                name: case.clone(),
                unit: "msg/s",
                ours: o,
                reference: r,
                higher_is_better: true,
            };
            emit_row("mqtt", &case, "throughput", &row, [OURS, RUMQTTC]);
            rows.push(row);
            let cpu_row = Row {
                name: format!("client CPU per message, {label}"),
                unit: "µs",
                ours: oc,
                reference: rc,
                higher_is_better: false,
            };
            emit_row(
                "mqtt",
                &case,
                "client CPU per message",
                &cpu_row,
                [OURS, RUMQTTC],
            );
            cpu_rows.push(cpu_row);
            if broker.is_some() {
                // Its busy shares (ours / rumqttc's run) in the name: near 100%, mosquitto
                // set the pace of both.
                let busy = format!(
                    "mosquitto busy {:.0}% / {:.0}% of a core",
                    ob.1 * 100.0,
                    rb.1 * 100.0
                );
                let broker_row = Row {
                    name: format!("mosquitto CPU per message, {label} ({busy})"),
                    unit: "µs",
                    ours: ob.0,
                    reference: rb.0,
                    higher_is_better: false,
                };
                emit_row(
                    "mqtt",
                    &case,
                    &format!("broker CPU per message ({busy})"),
                    &broker_row,
                    [OURS, RUMQTTC],
                );
                broker_rows.push(broker_row);
            }
        }
        rows.extend(cpu_rows);
        rows.extend(broker_rows);
        let ro = ours_rtt(k).await;
        let rr = rumqttc_rtt(k).await;
        for (p, name) in [(50.0, "round trip p50"), (99.0, "round trip p99")] {
            let row = Row {
                name: format!("QoS 1 {name}"),
                unit: "µs",
                ours: percentile(&ro, p).as_secs_f64() * 1e6,
                reference: percentile(&rr, p).as_secs_f64() * 1e6,
                higher_is_better: false,
            };
            emit_row(
                "mqtt",
                &format!("QoS 1 round trip, {PAYLOAD} B ({k} round trips)"),
                name,
                &row,
                [OURS, RUMQTTC],
            );
            rows.push(row);
        }
        let f = facade_throughput(n).await;
        // Compared with rumqttc's QoS 1 figure above (same case and metric).
        Measurement {
            bench: "mqtt",
            case: &format!("QoS 1 publish→ack+receive, {PAYLOAD} B"),
            client: "facade writer+reader (v3 envelope)",
            role: Role::Ours,
            metric: "throughput",
            value: f,
            unit: "msg/s",
            better: Better::Higher,
        }
        .emit();
        let r1 = rows[1].reference;
        rows.push(Row {
            name: format!("facade AT_LEAST_ONCE (v3 envelope) vs rumqttc QoS 1, {PAYLOAD} B"),
            unit: "msg/s",
            ours: f,
            reference: r1,
            higher_is_better: true,
        });
        print_table(
            &format!("MQTT on mosquitto (N = {n}, {k} round trips)"),
            "rumqttc 0.25",
            &rows,
        );
    });
}
