//! ws:// and wss:// against a tokio-tungstenite server in the test.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use futures::{SinkExt, StreamExt};
use sinetstream_net::{ConnectOptions, NetError, Transport, WsOptions, connect};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};

/// What the server saw, for assertions.
#[derive(Debug)]
enum Seen {
    Path(String),
    Header(Option<String>),
    Message(Vec<u8>),
}

/// Upgrade: requires path `/mqtt`, picks subprotocol `mqtt` when offered.
/// Then: sends a ping and "abcdef" as one message, and echoes every binary
/// message back, reporting each to `seen`.
async fn serve_ws<S>(io: S, seen: mpsc::UnboundedSender<Seen>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let seen2 = seen.clone();
    // The callback type is tungstenite's, not ours to shrink.
    #[allow(clippy::result_large_err)]
    let callback = move |req: &Request, mut resp: Response| -> Result<Response, ErrorResponse> {
        let _ = seen2.send(Seen::Path(req.uri().path().to_owned()));
        let _ = seen2.send(Seen::Header(
            req.headers()
                .get("x-token")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        ));
        if req.uri().path() != "/mqtt" {
            let mut r = ErrorResponse::new(Some("no such path".into()));
            *r.status_mut() = StatusCode::NOT_FOUND;
            return Err(r);
        }
        let offered = req
            .headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if offered.split(',').any(|p| p.trim() == "mqtt") {
            resp.headers_mut()
                .insert("sec-websocket-protocol", HeaderValue::from_static("mqtt"));
        }
        Ok(resp)
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(io, callback).await else {
        return;
    };
    if ws
        .send(Message::Ping(Bytes::from_static(b"p")))
        .await
        .is_err()
    {
        return;
    }
    if ws
        .send(Message::Binary(Bytes::from_static(b"abcdef")))
        .await
        .is_err()
    {
        return;
    }
    while let Some(Ok(msg)) = ws.next().await {
        match msg {
            Message::Binary(b) => {
                let _ = seen.send(Seen::Message(b.to_vec()));
                if ws.send(Message::Binary(b)).await.is_err() {
                    return;
                }
            }
            // tungstenite queued the close reply; flushing sends it.
            Message::Close(_) => break,
            _ => {}
        }
    }
    let _ = ws.flush().await;
}

async fn ws_server(tls: bool) -> (SocketAddr, mpsc::UnboundedReceiver<Seen>) {
    ws_server_with(tls.then(|| default_server_config("server"))).await
}

async fn ws_server_with(
    tls: Option<Arc<rustls::ServerConfig>>,
) -> (SocketAddr, mpsc::UnboundedReceiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = mpsc::unbounded_channel();
    let acceptor = tls.map(TlsAcceptor::from);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let tx = tx.clone();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                match acceptor {
                    None => serve_ws(tcp, tx).await,
                    Some(a) => {
                        if let Ok(t) = a.accept(tcp).await {
                            serve_ws(t, tx).await;
                        }
                    }
                }
            });
        }
    });
    (addr, rx)
}

fn ws_opts(tls: bool, path: &str) -> ConnectOptions {
    ConnectOptions {
        connect_timeout: Duration::from_secs(10),
        tls: tls.then(|| trusting("ca.pem")),
        websocket: Some(WsOptions {
            path: path.into(),
            headers: vec![("X-Token".into(), "t0k3n".into())],
            subprotocols: vec!["mqtt".into()],
        }),
        ..ConnectOptions::default()
    }
}

async fn exercise(tls: bool) {
    let (addr, mut seen) = ws_server(tls).await;
    let mut s = connect("localhost", addr.port(), &ws_opts(tls, "/mqtt"))
        .await
        .expect("ws connect");
    assert_eq!(
        s.transport(),
        if tls { Transport::Wss } else { Transport::Ws }
    );

    assert!(matches!(seen.recv().await, Some(Seen::Path(p)) if p == "/mqtt"));
    assert!(matches!(seen.recv().await, Some(Seen::Header(Some(t))) if t == "t0k3n"));

    // One 6-byte message read through a 2-byte buffer, past a ping.
    let mut small = [0u8; 2];
    let mut got = Vec::new();
    while got.len() < 6 {
        let n = s.read(&mut small).await.expect("read");
        assert!(n > 0, "unexpected EOF");
        got.extend_from_slice(&small[..n]);
    }
    assert_eq!(got, b"abcdef");

    // Each write is one message; the bytes come back in order.
    s.write_all(b"hello ").await.expect("write");
    s.write_all(b"world").await.expect("write");
    s.flush().await.expect("flush");
    let mut back = [0u8; 11];
    s.read_exact(&mut back).await.expect("echo");
    assert_eq!(&back, b"hello world");
    assert!(matches!(seen.recv().await, Some(Seen::Message(m)) if m == b"hello "));
    assert!(matches!(seen.recv().await, Some(Seen::Message(m)) if m == b"world"));

    // A large write survives intact.
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    s.write_all(&big).await.expect("write big");
    let mut back = vec![0u8; big.len()];
    s.read_exact(&mut back).await.expect("echo big");
    assert!(back == big, "large message corrupted");

    // Closing: our close frame, the server's reply, then EOF.
    s.shutdown().await.expect("shutdown");
    let mut rest = Vec::new();
    let n = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest))
        .await
        .expect("EOF in time")
        .expect("read to end");
    assert_eq!(n, 0);
}

#[tokio::test]
async fn ws_echo() {
    exercise(false).await;
}

#[tokio::test]
async fn wss_echo() {
    exercise(true).await;
}

#[tokio::test]
async fn refused_upgrade_reports_the_status() {
    let (addr, _seen) = ws_server(false).await;
    let e = connect("127.0.0.1", addr.port(), &ws_opts(false, "/other"))
        .await
        .expect_err("404");
    match &e {
        NetError::WebSocket { status, .. } => assert_eq!(*status, Some(404), "{e}"),
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        e.to_string()
            .contains(&format!("127.0.0.1:{}", addr.port())),
        "{e}"
    );
}

#[tokio::test]
async fn wss_keeps_tls_error_kinds() {
    let (addr, _seen) = ws_server(true).await;
    let mut opts = ws_opts(true, "/mqtt");
    opts.tls = Some(trusting("other-ca.pem"));
    let e = connect("localhost", addr.port(), &opts)
        .await
        .expect_err("untrusted");
    assert_eq!(
        e.tls_failure(),
        Some(sinetstream_net::TlsFailure::UntrustedCertificate),
        "{e}"
    );
}

#[tokio::test]
async fn peer_close_reads_as_eof() {
    // A server that upgrades and closes at once.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (replied_tx, mut replied) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        if let Ok((tcp, _)) = listener.accept().await {
            if let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await {
                let _ = ws.close(None).await;
                while let Some(Ok(m)) = ws.next().await {
                    if matches!(m, Message::Close(_)) {
                        let _ = replied_tx.send(());
                    }
                }
            }
        }
    });
    let opts = ConnectOptions {
        websocket: Some(WsOptions::default()),
        ..ConnectOptions::default()
    };
    let mut s = connect("127.0.0.1", port, &opts).await.expect("connect");
    let mut buf = Vec::new();
    let n = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf))
        .await
        .expect("EOF in time")
        .expect("clean EOF");
    assert_eq!(n, 0);
    // The close handshake is completed without any further call.
    tokio::time::timeout(Duration::from_secs(5), replied.recv())
        .await
        .expect("close reply in time")
        .expect("server saw our close reply");
}

#[tokio::test]
async fn wss_missing_client_certificate_is_a_tls_error() {
    // With TLS 1.3 the server's verdict arrives during the WebSocket upgrade.
    let config = server_config(
        "server",
        true,
        &[&rustls::version::TLS12, &rustls::version::TLS13],
    );
    let (addr, _seen) = ws_server_with(Some(config)).await;
    let e = connect("localhost", addr.port(), &ws_opts(true, "/mqtt"))
        .await
        .expect_err("no client certificate");
    assert_eq!(
        e.tls_failure(),
        Some(sinetstream_net::TlsFailure::BadClientCertificate),
        "{e}"
    );
}
