//! The `mqtt` backend through the facade, against the real mosquitto started by
//! `tests/brokers/mosquitto.sh`: every listener, MQTT 3.1 and 3.1.1, QoS 0/1/2, retained
//! messages, wills, and the errors users meet (bad password, untrusted CA, wrong host name,
//! missing client certificate).

use std::time::Duration;

use sinetstream::{Error, MessageReader, MessageWriter, Payload, Reader};
use sinetstream_e2e::brokers::{mosquitto, unique_topic};

/// A service block for one listener of the harness.
fn service(listener: &str, protocol: &str, qos: u8) -> String {
    let h = mosquitto();
    let ca = h.get("MQTT_CA");
    let user = h.get("MQTT_USER");
    let pw = h.get("MQTT_PASSWORD");
    let common = format!("  type: mqtt\n  protocol: {protocol}\n  qos: {qos}\n");
    let body = match listener {
        "plain" => format!("  brokers: 127.0.0.1:{}\n", h.port("MQTT_PLAIN_PORT")),
        "password" => format!(
            "  brokers: 127.0.0.1:{}\n  username_pw_set: {{username: {user}, password: {pw}}}\n",
            h.port("MQTT_PASSWORD_PORT")
        ),
        "tls" => format!(
            "  brokers: localhost:{}\n  tls: {{ca_certs: {ca}}}\n",
            h.port("MQTT_TLS_PORT")
        ),
        "mtls" => format!(
            "  brokers: 127.0.0.1:{}\n  tls:\n    ca_certs: {ca}\n    certfile: {}\n    keyfile: {}\n",
            h.port("MQTT_MTLS_PORT"),
            h.get("MQTT_CLIENT_CERT"),
            h.get("MQTT_CLIENT_KEY")
        ),
        "ws" => format!(
            "  brokers: 127.0.0.1:{}\n  transport: websockets\n",
            h.port("MQTT_WS_PORT")
        ),
        "wss" => format!(
            "  brokers: localhost:{}\n  transport: websockets\n  tls_set: {{ca_certs: {ca}}}\n  username_pw_set: {{username: {user}, password: {pw}}}\n",
            h.port("MQTT_WSS_PORT")
        ),
        other => panic!("no listener {other}"),
    };
    format!("svc:\n{common}{body}")
}

fn open_reader(cfg: &str, topic: &str, timeout_ms: u64) -> sinetstream::Result<Reader> {
    MessageReader::builder("svc")
        .config_text(cfg)
        .topic(topic)
        .receive_timeout_ms(timeout_ms)
        .build()?
        .open()
}

fn round_trip(cfg: &str, n: usize) {
    let topic = unique_topic("rt");
    let reader = open_reader(cfg, &topic, 5000).expect("reader opens");
    let writer = MessageWriter::builder("svc")
        .config_text(cfg)
        .topic(&topic)
        .build()
        .expect("writer builds");
    let mut w = writer.open().expect("writer opens");
    let sent: Vec<Vec<u8>> = (0..n)
        .map(|i| format!("message {i} of {n}").into_bytes())
        .collect();
    for m in &sent {
        w.publish(m.clone()).expect("publish");
    }
    w.close().expect("close delivers everything");
    let got: Vec<Vec<u8>> = reader
        .take(n)
        .map(|m| m.expect("message").value.to_bytes().expect("bytes"))
        .collect();
    assert_eq!(got, sent, "config:\n{cfg}");
}

#[test]
fn round_trip_on_every_listener_protocol_and_qos() {
    for listener in ["plain", "password", "tls", "mtls", "ws", "wss"] {
        for protocol in ["MQTTv31", "MQTTv311"] {
            for qos in 0..=2 {
                round_trip(&service(listener, protocol, qos), 20);
            }
        }
    }
}

#[test]
fn consistency_sets_qos_and_explicit_qos_wins() {
    let h = mosquitto();
    let base = format!(
        "svc:\n  type: mqtt\n  brokers: 127.0.0.1:{}\n  consistency: EXACTLY_ONCE\n",
        h.port("MQTT_PLAIN_PORT")
    );
    let topic = unique_topic("qos");
    let mut r = open_reader(&base, &topic, 5000).expect("reader");
    let mut w = MessageWriter::builder("svc")
        .config_text(base.clone())
        .topic(&topic)
        .build()
        .expect("writer")
        .open()
        .expect("open");
    w.publish(b"q2").expect("publish");
    w.flush().expect("flush");
    let m = r.next().expect("a message").expect("ok");
    let meta = m
        .raw
        .meta::<sinetstream::backend::mqtt::MqttMeta>()
        .expect("mqtt meta");
    assert_eq!(meta.qos, 2, "EXACTLY_ONCE is QoS 2");

    let bad = format!("{base}  qos: 3\n");
    let e = MessageWriter::builder("svc")
        .config_text(bad)
        .topic("t")
        .build()
        .expect("builds")
        .open()
        .expect_err("qos 3");
    assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
}

#[test]
fn retained_message_reaches_a_late_subscriber() {
    let cfg = format!("{}  retain: true\n", service("plain", "MQTTv311", 1));
    let topic = unique_topic("retain");
    let mut w = MessageWriter::builder("svc")
        .config_text(cfg.clone())
        .topic(&topic)
        .build()
        .expect("writer")
        .open()
        .expect("open");
    w.publish(b"kept").expect("publish");
    w.close().expect("close");
    let mut r = open_reader(&cfg, &topic, 3000).expect("reader");
    let m = r.next().expect("retained message").expect("ok");
    assert_eq!(m.value, Payload::from(b"kept"));
    let meta = m
        .raw
        .meta::<sinetstream::backend::mqtt::MqttMeta>()
        .expect("meta");
    assert!(meta.retain);
    // Clear the retained message so reruns start clean.
    let mut w = MessageWriter::builder("svc")
        .config_text(cfg)
        .topic(&topic)
        .param("user_data_only", true)
        .build()
        .expect("writer")
        .open()
        .expect("open");
    w.publish(Vec::new()).expect("clear");
}

#[test]
fn errors_users_meet() {
    let h = mosquitto();
    let ca = h.get("MQTT_CA");
    let pki = h.get("MQTT_PKI_DIR");
    let open = |cfg: String| {
        MessageWriter::builder("svc")
            .config_text(cfg)
            .topic("t")
            .build()
            .expect("builds")
            .open()
            .map(drop)
    };

    let e = open(format!(
        "svc:\n  type: mqtt\n  brokers: 127.0.0.1:{}\n  username_pw_set: {{username: sinet, password: wrong-password}}\n",
        h.port("MQTT_PASSWORD_PORT")
    ))
    .expect_err("wrong password");
    assert!(matches!(e, Error::Authorization(_)), "{e}");
    assert!(
        !e.to_string().contains("wrong-password"),
        "secret leaked: {e}"
    );

    let e = open(format!(
        "svc:\n  type: mqtt\n  brokers: localhost:{}\n  tls: {{ca_certs: {pki}/other-ca.pem}}\n",
        h.port("MQTT_TLS_PORT")
    ))
    .expect_err("untrusted CA");
    assert!(matches!(e, Error::Connection { .. }), "{e}");

    // The websocket listeners listen on every address; 127.0.0.2 is not in the certificate.
    let wrong_host = format!(
        "svc:\n  type: mqtt\n  brokers: 127.0.0.2:{}\n  transport: websockets\n  tls: {{ca_certs: {ca}}}\n  username_pw_set: {{username: sinet, password: sinet-pass}}\n",
        h.port("MQTT_WSS_PORT")
    );
    let e = open(wrong_host.clone()).expect_err("wrong host name");
    assert!(matches!(e, Error::Connection { .. }), "{e}");
    assert!(e.to_string().contains("127.0.0.2"), "{e}");
    // ... and accepted with check_hostname off.
    open(wrong_host.replace(
        &format!("tls: {{ca_certs: {ca}}}"),
        &format!("tls: {{ca_certs: {ca}, check_hostname: false}}"),
    ))
    .expect("check_hostname false");

    let e = open(format!(
        "svc:\n  type: mqtt\n  brokers: localhost:{}\n  tls: {{ca_certs: {ca}}}\n",
        h.port("MQTT_MTLS_PORT")
    ))
    .expect_err("no client certificate");
    assert!(matches!(e, Error::Connection { .. }), "{e}");

    let e = open("svc:\n  type: mqtt\n  brokers: [a:1, b:2]\n".into()).expect_err("two brokers");
    assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
    let e = open(format!(
        "svc:\n  type: mqtt\n  brokers: 127.0.0.1:{}\n  protocol: MQTTv7\n",
        h.port("MQTT_PLAIN_PORT")
    ))
    .expect_err("bad protocol");
    assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
    let e = open(format!(
        "svc:\n  type: mqtt\n  brokers: 127.0.0.1:{}\n  transport: carrier-pigeon\n",
        h.port("MQTT_PLAIN_PORT")
    ))
    .expect_err("bad transport");
    assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
}

/// Run as a child process by `will_is_delivered_when_a_client_dies`: connects with a will and
/// waits to be killed.
#[test]
#[ignore = "helper process for will_is_delivered_when_a_client_dies"]
fn will_child() {
    let Ok(cfg) = std::env::var("WILL_CHILD_CONFIG") else {
        return;
    };
    let w = MessageWriter::builder("svc")
        .config_text(cfg)
        .topic("will-child")
        .build()
        .expect("writer");
    let _h = w.open().expect("open");
    println!("WILL-CHILD-CONNECTED");
    std::thread::sleep(Duration::from_secs(60));
}

#[test]
fn will_is_delivered_when_a_client_dies() {
    use std::io::BufRead as _;
    let base = service("plain", "MQTTv311", 1);
    let will_topic = unique_topic("will");
    let cfg = format!(
        "{base}  will_set:\n    topic: {will_topic}\n    payload: client died\n    qos: 1\n    value_type: text\n"
    );
    let mut r = MessageReader::builder("svc")
        .config_text(base)
        .topic(&will_topic)
        .value_type(sinetstream::ValueType::Text)
        .receive_timeout_ms(10_000)
        .build()
        .expect("reader")
        .open()
        .expect("open");
    let mut child = std::process::Command::new(std::env::current_exe().expect("exe"))
        .args(["--exact", "will_child", "--ignored", "--nocapture"])
        .env("WILL_CHILD_CONFIG", &cfg)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("child");
    let stdout = child.stdout.take().expect("stdout");
    let connected = std::io::BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|l| l.contains("WILL-CHILD-CONNECTED"));
    assert!(connected, "child did not connect");
    child.kill().expect("kill -9");
    let _ = child.wait();
    let m = r.next().expect("the will").expect("decodes");
    assert_eq!(m.value, Payload::Text("client died".into()));
    assert_eq!(m.timestamp_us, 0, "Python encodes wills with timestamp 0");
}
