//! Failures a user must be able to tell apart, against the genuine broker.

mod common;

use std::time::{Duration, Instant};

use common::{Listener, unique_topic, var};
use sinetstream_kafka::{
    CertSource, ErrorCode, KafkaError, Password, Producer, ProducerConfig, ProducerRecord,
    SaslMechanism, TlsFailure,
};

async fn connect_err(cfg: sinetstream_kafka::ClientConfig) -> KafkaError {
    Producer::connect(ProducerConfig::new(cfg))
        .await
        .expect_err("connect must fail")
}

#[tokio::test]
async fn wrong_sasl_password_is_an_authentication_error() {
    for listener in [
        Listener::SaslPlaintext(SaslMechanism::Plain),
        Listener::SaslPlaintext(SaslMechanism::ScramSha256),
        Listener::SaslSsl(SaslMechanism::ScramSha512),
    ] {
        let mut cfg = listener.config();
        let secret = "not-the-password-4711";
        if let Some(s) = cfg.sasl.as_mut() {
            s.password = Password::new(secret);
        }
        assert!(
            !format!("{cfg:?}").contains(secret),
            "Debug shows the password"
        );
        let started = Instant::now();
        let e = connect_err(cfg).await;
        assert!(
            matches!(e, KafkaError::Authentication { .. }),
            "{listener:?}: {e:?}"
        );
        assert!(!e.is_retriable());
        assert!(!e.to_string().contains(secret), "{e}");
        assert!(!format!("{e:?}").contains(secret), "{e:?}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{listener:?} took {:?}",
            started.elapsed()
        );
        eprintln!("{listener:?}: {e}");
    }
}

#[tokio::test]
async fn unknown_user_is_an_authentication_error() {
    let mut cfg = Listener::SaslPlaintext(SaslMechanism::ScramSha256).config();
    if let Some(s) = cfg.sasl.as_mut() {
        s.username = "nobody".into();
    }
    let e = connect_err(cfg).await;
    assert!(matches!(e, KafkaError::Authentication { .. }), "{e:?}");
}

#[tokio::test]
async fn untrusted_ca_is_a_tls_error() {
    let mut cfg = Listener::Ssl.config();
    if let Some(t) = cfg.tls.as_mut() {
        t.ca_certs = Some(CertSource::File(
            format!("{}/other-ca.pem", var("KAFKA_PKI_DIR")).into(),
        ));
    }
    let e = connect_err(cfg).await;
    assert_eq!(
        e.tls_failure(),
        Some(TlsFailure::UntrustedCertificate),
        "{e:?}"
    );
    eprintln!("untrusted CA: {e}");
}

#[tokio::test]
async fn wrong_host_name_is_a_tls_error() {
    let mut cfg = Listener::Ssl.config();
    if let Some(t) = cfg.tls.as_mut() {
        t.server_name = Some("not-the-broker.example".into());
    }
    let e = connect_err(cfg).await;
    assert_eq!(e.tls_failure(), Some(TlsFailure::HostnameMismatch), "{e:?}");
    eprintln!("wrong host name: {e}");
}

#[tokio::test]
async fn hostname_check_can_be_disabled() {
    let mut cfg = Listener::Ssl.config();
    if let Some(t) = cfg.tls.as_mut() {
        t.server_name = Some("not-the-broker.example".into());
        t.check_hostname = false;
    }
    // The bootstrap works; the advertised `localhost` is then used as is.
    Producer::connect(ProducerConfig::new(cfg))
        .await
        .expect("connect without hostname check")
        .close()
        .await
        .expect("close");
}

#[tokio::test]
async fn mtls_without_client_certificate_is_a_tls_error() {
    let mut cfg = Listener::Mtls.config();
    if let Some(t) = cfg.tls.as_mut() {
        t.client_cert = None;
        t.client_key = None;
    }
    let e = connect_err(cfg).await;
    assert!(e.tls_failure().is_some(), "{e:?}");
    eprintln!("mTLS without certificate: {e}");
}

#[tokio::test]
async fn closed_port_is_a_connection_error_within_the_timeout() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let mut cfg = sinetstream_kafka::ClientConfig::new([format!("127.0.0.1:{port}")]);
    cfg.connect_timeout = Duration::from_secs(2);
    let started = Instant::now();
    let e = connect_err(cfg).await;
    assert!(matches!(e, KafkaError::Connection { .. }), "{e:?}");
    assert!(e.is_retriable());
    assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn silent_server_times_out_within_the_request_timeout() {
    // Accepts connections and never answers.
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = l.local_addr().expect("addr").port();
    let server = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    let mut cfg = sinetstream_kafka::ClientConfig::new([format!("127.0.0.1:{port}")]);
    cfg.request_timeout = Duration::from_millis(500);
    let started = Instant::now();
    let e = connect_err(cfg).await;
    assert!(matches!(e, KafkaError::Timeout { .. }), "{e:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    server.abort();
}

#[tokio::test]
async fn unresolvable_host_is_a_connection_error() {
    let mut cfg = sinetstream_kafka::ClientConfig::new(["no-such-broker.invalid:9092"]);
    cfg.connect_timeout = Duration::from_secs(3);
    let started = Instant::now();
    let e = connect_err(cfg).await;
    assert!(matches!(e, KafkaError::Connection { .. }), "{e:?}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn invalid_topic_fails_fast_with_the_broker_code() {
    let p = Producer::connect(ProducerConfig::new(Listener::Plaintext.config()))
        .await
        .expect("connect");
    let started = Instant::now();
    let e = p
        .send(ProducerRecord::new("bad topic name!", "x"))
        .await
        .expect_err("invalid topic");
    assert_eq!(e.code(), Some(ErrorCode::InvalidTopic), "{e:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // A partition that does not exist is refused before queuing.
    let topic = unique_topic("nopart");
    let e = p
        .send(ProducerRecord::new(&topic, "x").with_partition(7))
        .await
        .expect_err("no such partition");
    assert!(matches!(e, KafkaError::InvalidArgument(_)), "{e:?}");
    p.close().await.expect("close");
    let e = p
        .send(ProducerRecord::new(&topic, "x"))
        .await
        .expect_err("closed");
    assert!(matches!(e, KafkaError::Closed(_)), "{e:?}");
}

#[tokio::test]
async fn bad_settings_are_refused_before_connecting() {
    let mut cfg = ProducerConfig::new(Listener::Plaintext.config());
    cfg.acks = sinetstream_kafka::Acks::One;
    cfg.enable_idempotence = true;
    let e = Producer::connect(cfg)
        .await
        .expect_err("idempotence needs acks=all");
    assert!(matches!(e, KafkaError::InvalidArgument(_)), "{e:?}");
    let e = Producer::connect(ProducerConfig::new(sinetstream_kafka::ClientConfig::new([
        "nohostport",
    ])))
    .await
    .expect_err("bad address");
    assert!(matches!(e, KafkaError::InvalidArgument(_)), "{e:?}");
}

#[tokio::test]
async fn untracked_sends_report_failures_through_counts_and_flush() {
    let topic = unique_topic("untracked-fail");
    let p = Producer::connect(ProducerConfig {
        // Lets a record larger than the broker's message.max.bytes (1 MB)
        // leave the client: the broker refuses it with MESSAGE_TOO_LARGE.
        max_request_size: 8 << 20,
        buffer_memory: 32 << 20,
        ..ProducerConfig::new(Listener::Plaintext.config())
    })
    .await
    .expect("connect");
    p.send_untracked(ProducerRecord::new(&topic, "fine"))
        .await
        .expect("queued");
    p.flush().await.expect("a small record is delivered");
    assert_eq!(p.failed_records(), 0);

    let big = vec![b'x'; 2 << 20];
    // Queued without waiting (metadata known, buffer free): given back only
    // when it would have to wait.
    assert!(
        p.try_send_untracked(ProducerRecord::new(&topic, big))
            .expect("accepted")
            .is_none()
    );
    match p.flush().await {
        Err(KafkaError::DeliveryFailed { failed, first }) => {
            assert_eq!(failed, 1);
            assert_eq!(first.code(), Some(ErrorCode::MessageTooLarge), "{first:?}");
        }
        other => panic!("flush must report the refused record: {other:?}"),
    }
    assert_eq!(p.failed_records(), 1);
    assert_eq!(p.pending_records(), 0);
    assert!(p.failures_since(0).1.is_err());
    assert!(p.failures_since(1).1.is_ok());
    p.close().await.expect("close");
}
