//! TLS against a local rustls server using the certificates of pki.sh.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use sinetstream_net::{
    CertSource, ConnectOptions, NetError, Stage, TlsFailure, TlsOptions, TlsVersion, Transport,
    connect,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn with_tls(tls: TlsOptions) -> ConnectOptions {
    ConnectOptions {
        connect_timeout: Duration::from_secs(10),
        tls: Some(tls),
        ..ConnectOptions::default()
    }
}

fn tls12() -> Vec<&'static rustls::SupportedProtocolVersion> {
    vec![&rustls::version::TLS12]
}

fn both() -> Vec<&'static rustls::SupportedProtocolVersion> {
    vec![&rustls::version::TLS12, &rustls::version::TLS13]
}

#[tokio::test]
async fn trusted_ca_connects_by_name_and_by_ip() {
    let addr = tls_echo_server(default_server_config("server")).await;
    for host in ["localhost", "127.0.0.1"] {
        let mut s = connect(host, addr.port(), &with_tls(trusting("ca.pem")))
            .await
            .unwrap_or_else(|e| panic!("{host}: {e}"));
        assert_eq!(s.transport(), Transport::Tls);
        assert_eq!(s.tls_version(), Some(TlsVersion::Tls13));
        assert_eq!(
            echo_roundtrip(&mut s, b"hello").await.expect("echo"),
            b"hello"
        );
    }
}

#[tokio::test]
async fn inline_pem_sources_work() {
    let addr = tls_echo_server(server_config("server", true, &both())).await;
    let read = |n: &str| std::fs::read(pki_file(n)).expect("read pem");
    let tls = TlsOptions {
        ca_certs: Some(CertSource::Pem(read("ca.pem"))),
        client_cert: Some(CertSource::Pem(read("client.pem"))),
        client_key: Some(CertSource::Pem(read("client.key"))),
        ..TlsOptions::default()
    };
    let mut s = connect("localhost", addr.port(), &with_tls(tls))
        .await
        .expect("connect");
    assert_eq!(echo_roundtrip(&mut s, b"pem").await.expect("echo"), b"pem");
}

#[tokio::test]
async fn untrusted_ca_is_reported_as_such() {
    let addr = tls_echo_server(default_server_config("server")).await;
    let e = connect(
        "localhost",
        addr.port(),
        &with_tls(trusting("other-ca.pem")),
    )
    .await
    .expect_err("untrusted");
    assert_eq!(
        e.tls_failure(),
        Some(TlsFailure::UntrustedCertificate),
        "{e}"
    );
    let msg = e.to_string();
    assert!(
        msg.starts_with(&format!(
            "TLS handshake with localhost:{} failed",
            addr.port()
        )),
        "{msg}"
    );

    // The built-in Mozilla roots do not include the test CA either.
    let e = connect("localhost", addr.port(), &with_tls(TlsOptions::default()))
        .await
        .expect_err("untrusted by webpki-roots");
    assert_eq!(
        e.tls_failure(),
        Some(TlsFailure::UntrustedCertificate),
        "{e}"
    );
}

#[tokio::test]
async fn wrong_host_is_a_hostname_mismatch() {
    let addr = tls_echo_server(default_server_config("wronghost")).await;
    let e = connect("localhost", addr.port(), &with_tls(trusting("ca.pem")))
        .await
        .expect_err("wrong host");
    assert_eq!(e.tls_failure(), Some(TlsFailure::HostnameMismatch), "{e}");
    let msg = e.to_string();
    assert!(
        msg.starts_with(&format!(
            "TLS handshake with localhost:{} failed: certificate not valid for name \"localhost\"",
            addr.port()
        )),
        "{msg}"
    );
}

#[tokio::test]
async fn check_hostname_false_skips_only_the_name() {
    let addr = tls_echo_server(default_server_config("wronghost")).await;
    let tls = TlsOptions {
        check_hostname: false,
        ..trusting("ca.pem")
    };
    let mut s = connect("localhost", addr.port(), &with_tls(tls.clone()))
        .await
        .expect("name not checked");
    assert_eq!(echo_roundtrip(&mut s, b"x").await.expect("echo"), b"x");

    // The chain is still verified.
    let tls = TlsOptions {
        ca_certs: Some(CertSource::File(pki_file("other-ca.pem"))),
        ..tls
    };
    let e = connect("localhost", addr.port(), &with_tls(tls))
        .await
        .expect_err("chain still checked");
    assert_eq!(
        e.tls_failure(),
        Some(TlsFailure::UntrustedCertificate),
        "{e}"
    );
}

#[tokio::test]
async fn server_name_override_is_checked_instead_of_the_host() {
    let addr = tls_echo_server(default_server_config("wronghost")).await;
    let tls = TlsOptions {
        server_name: Some("wrong.example".into()),
        ..trusting("ca.pem")
    };
    let mut s = connect("127.0.0.1", addr.port(), &with_tls(tls))
        .await
        .expect("override name");
    assert_eq!(echo_roundtrip(&mut s, b"sni").await.expect("echo"), b"sni");
}

#[tokio::test]
async fn verify_false_accepts_anything() {
    let addr = tls_echo_server(default_server_config("wronghost")).await;
    let tls = TlsOptions {
        verify: false,
        ..trusting("other-ca.pem")
    };
    let mut s = connect("localhost", addr.port(), &with_tls(tls))
        .await
        .expect("insecure");
    assert_eq!(echo_roundtrip(&mut s, b"y").await.expect("echo"), b"y");
}

fn mtls(key: &str) -> TlsOptions {
    TlsOptions {
        client_cert: Some(CertSource::File(pki_file("client.pem"))),
        client_key: Some(CertSource::File(pki_file(key))),
        ..trusting("ca.pem")
    }
}

#[tokio::test]
async fn client_certificate_accepted_with_tls12_and_tls13() {
    for versions in [tls12(), both()] {
        let addr = tls_echo_server(server_config("server", true, &versions)).await;
        let mut s = connect("localhost", addr.port(), &with_tls(mtls("client.key")))
            .await
            .expect("mutual TLS");
        assert_eq!(echo_roundtrip(&mut s, b"m").await.expect("echo"), b"m");
    }
}

/// The error for a missing client certificate: at the handshake with TLS
/// 1.2, on the first read with TLS 1.3 (the server's verdict comes after the
/// client's Finished). Either way it is a `BadClientCertificate`.
async fn missing_client_cert_error(
    versions: Vec<&'static rustls::SupportedProtocolVersion>,
) -> NetError {
    let addr = tls_echo_server(server_config("server", true, &versions)).await;
    match connect("localhost", addr.port(), &with_tls(trusting("ca.pem"))).await {
        Err(e) => e,
        Ok(mut s) => {
            // The server's alert comes unprompted; writing first could
            // race with its close and turn the alert into a reset.
            let mut buf = [0u8; 1];
            let io = s.read(&mut buf).await.expect_err("rejected");
            let ne = NetError::from_io_error(&io)
                .unwrap_or_else(|| panic!("io error without NetError: {io:?}"));
            match ne {
                NetError::Tls { addr, kind, detail } => NetError::Tls {
                    addr: addr.clone(),
                    kind: *kind,
                    detail: detail.clone(),
                },
                other => panic!("unexpected {other}"),
            }
        }
    }
}

#[tokio::test]
async fn missing_client_certificate_is_reported() {
    for versions in [tls12(), both()] {
        let e = missing_client_cert_error(versions).await;
        assert_eq!(
            e.tls_failure(),
            Some(TlsFailure::BadClientCertificate),
            "{e}"
        );
        assert!(e.to_string().contains("localhost:"), "{e}");
    }
}

#[tokio::test]
async fn client_certificate_from_another_ca_is_rejected() {
    // A self-made client cert signed by the untrusted CA.
    let dir = tempfile::tempdir().expect("tmp");
    let p = |n: &str| dir.path().join(n);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        &s(&p("c.key")),
        "-out",
        &s(&p("c.csr")),
        "-subj",
        "/CN=intruder",
    ]);
    // An extension file makes it a v3 certificate, which webpki requires.
    std::fs::write(p("c.ext"), "extendedKeyUsage=clientAuth\n").expect("ext");
    openssl(&[
        "x509",
        "-req",
        "-in",
        &s(&p("c.csr")),
        "-CA",
        &s(&pki_file("other-ca.pem")),
        "-CAkey",
        &s(&pki_file("other-ca.key")),
        "-CAserial",
        &s(&p("ca.srl")),
        "-CAcreateserial",
        "-out",
        &s(&p("c.pem")),
        "-days",
        "2",
        "-extfile",
        &s(&p("c.ext")),
    ]);
    let tls = TlsOptions {
        client_cert: Some(CertSource::File(p("c.pem"))),
        client_key: Some(CertSource::File(p("c.key"))),
        ..trusting("ca.pem")
    };
    let addr = tls_echo_server(server_config("server", true, &tls12())).await;
    let e = connect("localhost", addr.port(), &with_tls(tls))
        .await
        .expect_err("bad client cert");
    assert_eq!(
        e.tls_failure(),
        Some(TlsFailure::BadClientCertificate),
        "{e}"
    );
}

fn s(p: &std::path::Path) -> String {
    p.display().to_string()
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn pkcs1_and_sec1_client_keys_load() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = |n: &str| dir.path().join(n);

    // PKCS#1: the RSA client key in "traditional" form.
    openssl(&[
        "pkey",
        "-in",
        &s(&pki_file("client.key")),
        "-traditional",
        "-out",
        &s(&p("rsa1.key")),
    ]);
    let pem = std::fs::read_to_string(p("rsa1.key")).expect("read");
    assert!(pem.contains("BEGIN RSA PRIVATE KEY"), "{pem:.40}");

    // SEC1: a fresh EC key and a client cert for it from the test CA.
    openssl(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        &s(&p("ec.key")),
    ]);
    let pem = std::fs::read_to_string(p("ec.key")).expect("read");
    assert!(pem.contains("BEGIN EC PRIVATE KEY"), "{pem:.40}");
    openssl(&[
        "req",
        "-new",
        "-key",
        &s(&p("ec.key")),
        "-out",
        &s(&p("ec.csr")),
        "-subj",
        "/CN=ec-client",
    ]);
    std::fs::write(p("ec.ext"), "extendedKeyUsage=clientAuth\n").expect("ext");
    openssl(&[
        "x509",
        "-req",
        "-in",
        &s(&p("ec.csr")),
        "-CA",
        &s(&pki_file("ca.pem")),
        "-CAkey",
        &s(&pki_file("ca.key")),
        "-CAserial",
        &s(&p("ca.srl")),
        "-CAcreateserial",
        "-out",
        &s(&p("ec.pem")),
        "-days",
        "2",
        "-extfile",
        &s(&p("ec.ext")),
    ]);

    let addr = tls_echo_server(server_config("server", true, &both())).await;
    for (cert, key) in [
        (pki_file("client.pem"), p("rsa1.key")),
        (p("ec.pem"), p("ec.key")),
    ] {
        let tls = TlsOptions {
            client_cert: Some(CertSource::File(cert)),
            client_key: Some(CertSource::File(key.clone())),
            ..trusting("ca.pem")
        };
        let mut st = connect("localhost", addr.port(), &with_tls(tls))
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", key.display()));
        assert_eq!(echo_roundtrip(&mut st, b"k").await.expect("echo"), b"k");
    }
}

#[tokio::test]
async fn encrypted_key_gets_a_clear_error() {
    let dir = tempfile::tempdir().expect("tmp");
    let enc = dir.path().join("enc.key");
    openssl(&[
        "pkcs8",
        "-topk8",
        "-in",
        &s(&pki_file("client.key")),
        "-out",
        &s(&enc),
        "-passout",
        "pass:pw",
        "-v2",
        "aes-256-cbc",
    ]);
    let tls = TlsOptions {
        client_cert: Some(CertSource::File(pki_file("client.pem"))),
        client_key: Some(CertSource::File(enc)),
        ..trusting("ca.pem")
    };
    let e = tls.validate().expect_err("encrypted");
    assert_eq!(e.tls_failure(), Some(TlsFailure::Config));
    assert!(
        e.to_string()
            .contains("encrypted private keys are not supported"),
        "{e}"
    );
}

#[tokio::test]
async fn cipher_selection_is_applied() {
    let addr = tls_echo_server(default_server_config("server")).await;
    let tls = TlsOptions {
        ciphers: Some("ECDHE-RSA-AES128-GCM-SHA256".into()),
        max_version: Some(TlsVersion::Tls12),
        ..trusting("ca.pem")
    };
    let s = connect("localhost", addr.port(), &with_tls(tls))
        .await
        .expect("tls12 cipher");
    assert_eq!(s.tls_version(), Some(TlsVersion::Tls12));
    assert_eq!(
        s.tls_cipher_suite().as_deref(),
        Some("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")
    );

    let tls = TlsOptions {
        ciphers: Some("TLS_CHACHA20_POLY1305_SHA256".into()),
        ..trusting("ca.pem")
    };
    let s = connect("localhost", addr.port(), &with_tls(tls))
        .await
        .expect("tls13 cipher");
    assert_eq!(
        s.tls_cipher_suite().as_deref(),
        Some("TLS13_CHACHA20_POLY1305_SHA256")
    );

    // An ECDSA-only suite cannot work with an RSA server certificate.
    let tls = TlsOptions {
        ciphers: Some("ECDHE-ECDSA-AES128-GCM-SHA256".into()),
        max_version: Some(TlsVersion::Tls12),
        ..trusting("ca.pem")
    };
    let e = connect("localhost", addr.port(), &with_tls(tls))
        .await
        .expect_err("no common suite");
    assert_eq!(e.tls_failure(), Some(TlsFailure::HandshakeFailure), "{e}");

    let tls = TlsOptions {
        ciphers: Some("NOT-A-CIPHER".into()),
        ..trusting("ca.pem")
    };
    let e = connect("localhost", addr.port(), &with_tls(tls))
        .await
        .expect_err("unknown cipher");
    assert_eq!(e.tls_failure(), Some(TlsFailure::Config));
    assert!(e.to_string().contains("\"NOT-A-CIPHER\""), "{e}");
    assert!(
        e.to_string()
            .contains(&format!("localhost:{}", addr.port())),
        "{e}"
    );
}

#[tokio::test]
async fn non_tls_peer_is_a_handshake_failure() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let mut buf = [0u8; 512];
            let _ = tcp.read(&mut buf).await;
            let _ = tcp
                .write_all(b"HTTP/1.0 400 Bad Request\r\n\r\nnot tls\r\n")
                .await;
        }
    });
    let e = connect("127.0.0.1", port, &with_tls(trusting("ca.pem")))
        .await
        .expect_err("not TLS");
    assert_eq!(e.tls_failure(), Some(TlsFailure::HandshakeFailure), "{e}");
    assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");
}

#[tokio::test]
async fn silent_peer_times_out_in_the_tls_handshake() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let _keep = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            held.push(tcp);
        }
    });
    let opts = ConnectOptions {
        connect_timeout: Duration::from_millis(300),
        ..with_tls(trusting("ca.pem"))
    };
    let e = connect("127.0.0.1", port, &opts)
        .await
        .expect_err("timeout");
    assert!(
        matches!(
            e,
            NetError::Timeout {
                stage: Stage::TlsHandshake,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");
}

#[tokio::test]
async fn socket_options_are_accepted() {
    let addr = tls_echo_server(default_server_config("server")).await;
    let opts = ConnectOptions {
        bind_address: Some("127.0.0.1:0".parse().expect("addr")),
        tcp_nodelay: false,
        send_buffer_bytes: Some(64 * 1024),
        recv_buffer_bytes: Some(64 * 1024),
        ..with_tls(trusting("ca.pem"))
    };
    let mut st = connect("localhost", addr.port(), &opts)
        .await
        .expect("connect");
    assert_eq!(st.peer_addr().expect("peer"), addr);
    assert!(st.local_addr().expect("local").ip().is_loopback());
    assert_eq!(echo_roundtrip(&mut st, b"o").await.expect("echo"), b"o");

    // An IPv6 bind address cannot reach an IPv4-only target.
    let opts = ConnectOptions {
        bind_address: Some("[::1]:0".parse().expect("addr")),
        ..with_tls(trusting("ca.pem"))
    };
    let e = connect("127.0.0.1", addr.port(), &opts)
        .await
        .expect_err("family");
    assert!(matches!(e, NetError::Connect { .. }), "{e:?}");
}
