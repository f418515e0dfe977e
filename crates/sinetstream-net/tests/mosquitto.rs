//! Every transport against a real mosquitto, started by
//! `tests/brokers/mosquitto.sh`: a hand-written MQTT 3.1.1 CONNECT must be
//! answered by a CONNACK. These tests fail (never skip) when the broker
//! cannot be started.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use sinetstream_net::{
    CertSource, ConnectOptions, NetError, Stream, TlsFailure, TlsOptions, Transport, WsOptions,
    connect,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Broker {
    env: HashMap<String, String>,
}

impl Broker {
    fn get(&self, key: &str) -> &str {
        self.env
            .get(key)
            .unwrap_or_else(|| panic!("{key} missing from the mosquitto.sh env: {:?}", self.env))
    }

    fn port(&self, key: &str) -> u16 {
        self.get(key)
            .parse()
            .unwrap_or_else(|e| panic!("{key}={}: {e}", self.get(key)))
    }

    fn pki(&self, name: &str) -> PathBuf {
        PathBuf::from(self.get("MQTT_PKI_DIR")).join(name)
    }
}

fn broker() -> &'static Broker {
    static B: OnceLock<Broker> = OnceLock::new();
    B.get_or_init(|| {
        let script = common::repo_root().join("tests/brokers/mosquitto.sh");
        let out = Command::new("bash")
            .arg(&script)
            .arg("start")
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "the mosquitto harness failed to start ({}):\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let env = stdout
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Broker { env }
    })
}

/// Remaining Length of MQTT: 7 bits a byte, high bit = more.
fn remaining_length(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let mut byte = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if n == 0 {
            break;
        }
    }
}

fn string(s: &str, out: &mut Vec<u8>) {
    let len = u16::try_from(s.len()).expect("short string");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// MQTT 3.1.1 CONNECT, clean session, keep-alive 60 s.
fn connect_packet(client_id: &str, login: Option<(&str, &str)>) -> Vec<u8> {
    let mut body = Vec::new();
    string("MQTT", &mut body);
    body.push(0x04); // protocol level 3.1.1
    let mut flags = 0x02; // clean session
    if login.is_some() {
        flags |= 0x80 | 0x40; // user name, password
    }
    body.push(flags);
    body.extend_from_slice(&60u16.to_be_bytes());
    string(client_id, &mut body);
    if let Some((user, pass)) = login {
        string(user, &mut body);
        string(pass, &mut body);
    }
    let mut packet = vec![0x10];
    remaining_length(body.len(), &mut packet);
    packet.extend_from_slice(&body);
    packet
}

/// Sends CONNECT, returns the CONNACK return code.
async fn mqtt_connect(stream: &mut Stream, client_id: &str, login: Option<(&str, &str)>) -> u8 {
    let what = format!("{:?} {}", stream.transport(), stream.addr());
    stream
        .write_all(&connect_packet(client_id, login))
        .await
        .unwrap_or_else(|e| panic!("{what}: write CONNECT: {e}"));
    stream
        .flush()
        .await
        .unwrap_or_else(|e| panic!("{what}: flush: {e}"));
    let mut ack = [0u8; 4];
    tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut ack))
        .await
        .unwrap_or_else(|_| panic!("{what}: no CONNACK within 10 s"))
        .unwrap_or_else(|e| panic!("{what}: read CONNACK: {e}"));
    assert_eq!(
        &ack[..3],
        &[0x20, 0x02, 0x00],
        "{what}: not a CONNACK: {ack:02x?}"
    );
    // A polite DISCONNECT so the broker log stays quiet.
    let _ = stream.write_all(&[0xe0, 0x00]).await;
    let _ = stream.flush().await;
    ack[3]
}

fn opts(tls: Option<TlsOptions>, ws: bool) -> ConnectOptions {
    ConnectOptions {
        connect_timeout: Duration::from_secs(10),
        tls,
        websocket: ws.then(|| WsOptions {
            path: "/mqtt".into(),
            subprotocols: vec!["mqtt".into()],
            ..WsOptions::default()
        }),
        ..ConnectOptions::default()
    }
}

fn ca(b: &Broker) -> TlsOptions {
    TlsOptions {
        ca_certs: Some(CertSource::File(b.pki("ca.pem"))),
        ..TlsOptions::default()
    }
}

fn login(b: &Broker) -> Option<(&str, &str)> {
    Some((b.get("MQTT_USER"), b.get("MQTT_PASSWORD")))
}

#[tokio::test]
async fn plain_tcp() {
    let b = broker();
    let mut s = connect(
        b.get("MQTT_HOST"),
        b.port("MQTT_PLAIN_PORT"),
        &opts(None, false),
    )
    .await
    .expect("connect");
    assert_eq!(s.transport(), Transport::Tcp);
    assert_eq!(mqtt_connect(&mut s, "net-plain", None).await, 0);
}

#[tokio::test]
async fn password_listener_checks_the_password() {
    let b = broker();
    let port = b.port("MQTT_PASSWORD_PORT");
    let mut s = connect("localhost", port, &opts(None, false))
        .await
        .expect("connect");
    assert_eq!(mqtt_connect(&mut s, "net-pw", login(b)).await, 0);
    let mut s = connect("localhost", port, &opts(None, false))
        .await
        .expect("connect");
    // 5 = not authorized
    assert_eq!(
        mqtt_connect(&mut s, "net-pw-bad", Some(("sinet", "wrong"))).await,
        5
    );
}

#[tokio::test]
async fn tls() {
    let b = broker();
    let port = b.port("MQTT_TLS_PORT");
    for host in ["localhost", "127.0.0.1"] {
        let mut s = connect(host, port, &opts(Some(ca(b)), false))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.transport(), Transport::Tls);
        assert_eq!(mqtt_connect(&mut s, "net-tls", None).await, 0);
    }
    let untrusted = TlsOptions {
        ca_certs: Some(CertSource::File(b.pki("other-ca.pem"))),
        ..TlsOptions::default()
    };
    let e = connect("localhost", port, &opts(Some(untrusted), false))
        .await
        .expect_err("untrusted CA");
    assert_eq!(
        e.tls_failure(),
        Some(TlsFailure::UntrustedCertificate),
        "{e}"
    );
}

#[tokio::test]
async fn mutual_tls() {
    let b = broker();
    let port = b.port("MQTT_MTLS_PORT");
    let with_cert = TlsOptions {
        client_cert: Some(CertSource::File(b.pki("client.pem"))),
        client_key: Some(CertSource::File(b.pki("client.key"))),
        ..ca(b)
    };
    let mut s = connect("localhost", port, &opts(Some(with_cert), false))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(mqtt_connect(&mut s, "net-mtls", None).await, 0);

    // Without a certificate: refused at the handshake (TLS 1.2) or by an
    // alert right after it (TLS 1.3).
    let e = match connect("localhost", port, &opts(Some(ca(b)), false)).await {
        Err(e) => e.to_string(),
        Ok(mut s) => {
            let mut buf = [0u8; 1];
            let io = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
                .await
                .expect("refusal within 10 s")
                .expect_err("refused");
            let ne =
                NetError::from_io_error(&io).unwrap_or_else(|| panic!("no NetError inside {io:?}"));
            assert_eq!(
                ne.tls_failure(),
                Some(TlsFailure::BadClientCertificate),
                "{ne}"
            );
            ne.to_string()
        }
    };
    assert!(e.contains(&format!("localhost:{port}")), "{e}");
    assert!(e.contains("client certificate"), "{e}");
}

#[tokio::test]
async fn websocket() {
    let b = broker();
    let mut s = connect("localhost", b.port("MQTT_WS_PORT"), &opts(None, true))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.transport(), Transport::Ws);
    assert_eq!(mqtt_connect(&mut s, "net-ws", None).await, 0);
}

#[tokio::test]
async fn websocket_tls_with_password() {
    let b = broker();
    let port = b.port("MQTT_WSS_PORT");
    let mut s = connect("localhost", port, &opts(Some(ca(b)), true))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.transport(), Transport::Wss);
    assert_eq!(mqtt_connect(&mut s, "net-wss", login(b)).await, 0);

    let mut s = connect("localhost", port, &opts(Some(ca(b)), true))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(mqtt_connect(&mut s, "net-wss-anon", None).await, 5);
}
