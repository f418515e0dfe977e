//! `https_get` against a tiny HTTPS server in the test.

mod common;

use std::time::Duration;

use common::*;
use sinetstream_net::{MAX_BODY_BYTES, NetError, TlsFailure, https_get};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

const CONFIG: &[u8] = b"service-1:\n  type: mqtt\n  brokers: localhost:1883\n";

fn chunked(body: &[u8], chunk: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for c in body.chunks(chunk) {
        out.extend_from_slice(format!("{:x};ext=1\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\nX-Trailer: y\r\n\r\n");
    out
}

/// The response for a request target.
fn respond(target: &str) -> Vec<u8> {
    let mut r = Vec::new();
    match target {
        "/length" | "/length?token=abc" => {
            r.extend_from_slice(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
                    CONFIG.len()
                )
                .as_bytes(),
            );
            r.extend_from_slice(CONFIG);
        }
        "/chunked" => {
            r.extend_from_slice(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
            r.extend_from_slice(&chunked(CONFIG, 7));
        }
        "/continue" => {
            r.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
            r.extend_from_slice(
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n",
                    CONFIG.len()
                )
                .as_bytes(),
            );
            r.extend_from_slice(CONFIG);
        }
        "/close" => {
            r.extend_from_slice(b"HTTP/1.0 200 OK\r\nContent-Type: text/yaml\r\n\r\n");
            r.extend_from_slice(CONFIG);
        }
        "/redirect" => {
            r.extend_from_slice(
                b"HTTP/1.1 302 Found\r\nLocation: https://elsewhere.example/x\r\nContent-Length: 0\r\n\r\n",
            );
        }
        "/truncated" => {
            r.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b");
        }
        "/huge-length" => {
            r.extend_from_slice(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
                    MAX_BODY_BYTES + 1
                )
                .as_bytes(),
            );
        }
        "/huge-chunked" => {
            r.extend_from_slice(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
            let body = vec![b'a'; MAX_BODY_BYTES + 1];
            r.extend_from_slice(&chunked(&body, 1 << 20));
        }
        "/garbage" => r.extend_from_slice(b"SSH-2.0-OpenSSH\r\n\r\n"),
        _ => r.extend_from_slice(b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found"),
    }
    r
}

/// Serves requests; `close_notify` decides whether TLS is closed cleanly.
async fn https_server(cert: &str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let acceptor = TlsAcceptor::from(default_server_config(cert));
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&req).into_owned();
                let target = text.split(' ').nth(1).unwrap_or("").to_owned();
                assert!(text.contains("\r\nHost: localhost:"), "{text}");
                let _ = tls.write_all(&respond(&target)).await;
                if target == "/close" {
                    // no close_notify: many servers just drop the socket
                    let _ = tls.flush().await;
                    drop(tls);
                } else {
                    let _ = tls.shutdown().await;
                }
            });
        }
    });
    port
}

const T: Duration = Duration::from_secs(10);

#[tokio::test]
async fn bodies_by_length_chunked_and_close() {
    let port = https_server("server").await;
    for path in [
        "/length",
        "/length?token=abc",
        "/chunked",
        "/continue",
        "/close",
    ] {
        let url = format!("https://localhost:{port}{path}");
        let body = https_get(&url, &trusting("ca.pem"), T)
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(body, CONFIG, "{path}");
    }
}

#[tokio::test]
async fn non_200_is_an_error_with_the_status() {
    let port = https_server("server").await;
    let e = https_get(
        &format!("https://localhost:{port}/nope"),
        &trusting("ca.pem"),
        T,
    )
    .await
    .expect_err("404");
    assert!(
        matches!(
            e,
            NetError::Http {
                status: Some(404),
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("404"), "{e}");

    let e = https_get(
        &format!("https://localhost:{port}/redirect"),
        &trusting("ca.pem"),
        T,
    )
    .await
    .expect_err("302");
    assert!(
        matches!(
            e,
            NetError::Http {
                status: Some(302),
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("https://elsewhere.example/x"), "{e}");
}

#[tokio::test]
async fn query_is_kept_out_of_errors() {
    let port = https_server("server").await;
    let e = https_get(
        &format!("https://localhost:{port}/nope?token=s3cret"),
        &trusting("ca.pem"),
        T,
    )
    .await
    .expect_err("404");
    assert!(!e.to_string().contains("s3cret"), "{e}");
}

#[tokio::test]
async fn truncated_oversized_and_garbage_responses_fail() {
    let port = https_server("server").await;
    for path in ["/truncated", "/huge-length", "/huge-chunked", "/garbage"] {
        let e = https_get(
            &format!("https://localhost:{port}{path}"),
            &trusting("ca.pem"),
            T,
        )
        .await
        .expect_err(path);
        assert!(
            matches!(e, NetError::Http { status: None, .. }),
            "{path}: {e:?}"
        );
        if path.starts_with("/huge") {
            assert!(e.to_string().contains("larger than"), "{e}");
        }
    }
}

#[tokio::test]
async fn tls_failures_keep_their_kind() {
    let port = https_server("server").await;
    let e = https_get(
        &format!("https://localhost:{port}/length"),
        &trusting("other-ca.pem"),
        T,
    )
    .await
    .expect_err("untrusted");
    assert_eq!(
        e.tls_failure(),
        Some(TlsFailure::UntrustedCertificate),
        "{e}"
    );

    let port = https_server("wronghost").await;
    let e = https_get(
        &format!("https://localhost:{port}/length"),
        &trusting("ca.pem"),
        T,
    )
    .await
    .expect_err("wrong host");
    assert_eq!(e.tls_failure(), Some(TlsFailure::HostnameMismatch), "{e}");
}

#[tokio::test]
async fn stalled_server_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let acceptor = TlsAcceptor::from(default_server_config("server"));
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            // handshake, then never answer
            if let Ok(tls) = acceptor.accept(tcp).await {
                held.push(tls);
            }
        }
    });
    let e = https_get(
        &format!("https://localhost:{port}/"),
        &trusting("ca.pem"),
        Duration::from_millis(500),
    )
    .await
    .expect_err("timeout");
    assert!(e.is_timeout(), "{e:?}");
}
