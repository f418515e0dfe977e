//! Opening a [`Stream`]: resolve, TCP connect, TLS handshake, WebSocket
//! upgrade, all under one deadline.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};

use crate::error::{NetError, Stage};
use crate::stream::{Plain, Stream, TlsConn};
use crate::tls::{TlsOptions, classify};
use crate::ws::{WsOptions, WsStream};

/// How to connect: socket options, and optionally TLS and/or WebSocket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectOptions {
    /// Limit for the whole connect: name resolution, TCP, TLS handshake and
    /// WebSocket upgrade together. Default 30 s.
    pub connect_timeout: Duration,
    /// Local address to bind before connecting (port 0 for any port).
    /// Only resolved addresses of the same family are tried.
    pub bind_address: Option<SocketAddr>,
    /// Disable Nagle's algorithm (default `true`: protocol clients write
    /// whole packets and want them sent at once).
    pub tcp_nodelay: bool,
    /// `SO_SNDBUF`, when set.
    pub send_buffer_bytes: Option<usize>,
    /// `SO_RCVBUF`, when set.
    pub recv_buffer_bytes: Option<usize>,
    /// TLS settings; `None` for a plain connection.
    pub tls: Option<TlsOptions>,
    /// WebSocket settings; `None` for a raw byte stream. Combined with
    /// `tls` this gives `wss://`.
    pub websocket: Option<WsOptions>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            connect_timeout: Duration::from_secs(30),
            bind_address: None,
            tcp_nodelay: true,
            send_buffer_bytes: None,
            recv_buffer_bytes: None,
            tls: None,
            websocket: None,
        }
    }
}

/// `host:port`, with brackets around IPv6 literals.
pub(crate) fn authority(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Runs one step under the shared deadline.
pub(crate) struct Deadline<'a> {
    pub(crate) at: Instant,
    pub(crate) timeout: Duration,
    pub(crate) addr: &'a str,
}

impl Deadline<'_> {
    pub(crate) async fn run<T>(
        &self,
        stage: Stage,
        fut: impl Future<Output = Result<T, NetError>>,
    ) -> Result<T, NetError> {
        match tokio::time::timeout_at(self.at, fut).await {
            Ok(r) => r,
            Err(_) => Err(NetError::Timeout {
                addr: self.addr.to_owned(),
                timeout: self.timeout,
                stage,
            }),
        }
    }
}

/// Connects to `host:port` as `opts` says.
///
/// `host` may be a name, an IPv4 literal or an IPv6 literal (with or without
/// brackets). Every resolved address is tried in turn until one accepts;
/// the whole operation, including the TLS and WebSocket handshakes, must
/// finish within `opts.connect_timeout`.
///
/// Errors name `host:port`; TLS failures carry a
/// [`TlsFailure`](crate::TlsFailure) kind.
pub async fn connect(host: &str, port: u16, opts: &ConnectOptions) -> Result<Stream, NetError> {
    let addr = authority(host, port);
    let deadline = Deadline {
        at: Instant::now() + opts.connect_timeout,
        timeout: opts.connect_timeout,
        addr: &addr,
    };
    connect_within(host, port, opts, &deadline).await
}

pub(crate) async fn connect_within(
    host: &str,
    port: u16,
    opts: &ConnectOptions,
    deadline: &Deadline<'_>,
) -> Result<Stream, NetError> {
    let addr = deadline.addr;
    // Settings errors should not wait for the network.
    let tls = match &opts.tls {
        Some(t) => Some((
            t.client_config().map_err(|e| e.with_addr(addr))?,
            t.server_name_for(host).map_err(|e| e.with_addr(addr))?,
            t.has_client_cert(),
        )),
        None => None,
    };
    let ws_request = match &opts.websocket {
        Some(w) => Some(ws_request(w, addr, tls.is_some())?),
        None => None,
    };

    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let candidates = deadline
        .run(Stage::Resolve, resolve(bare, port, addr))
        .await?;
    let tcp = deadline
        .run(Stage::TcpConnect, connect_any(&candidates, opts, deadline))
        .await?;

    let plain = match tls {
        None => Plain::Tcp(tcp),
        Some((config, server_name, has_client_cert)) => {
            let handshake = async {
                TlsConnector::from(config)
                    .connect(server_name, tcp)
                    .await
                    .map_err(|e| classify(&e, addr, has_client_cert, true))
            };
            let io = deadline.run(Stage::TlsHandshake, handshake).await?;
            Plain::Tls(Box::new(TlsConn::new(io, addr, has_client_cert)))
        }
    };

    match ws_request {
        None => Ok(Stream::plain(plain, addr.to_owned())),
        Some(request) => {
            let upgrade = async {
                tokio_tungstenite::client_async(request, plain)
                    .await
                    .map_err(|e| ws_error(e, addr))
            };
            let (ws, response) = deadline.run(Stage::WebSocketHandshake, upgrade).await?;
            tracing::debug!(addr, status = %response.status(), "WebSocket upgraded");
            Ok(Stream::ws(WsStream::new(ws), addr.to_owned()))
        }
    }
}

type WsRequest = tokio_tungstenite::tungstenite::handshake::client::Request;

fn ws_request(w: &WsOptions, authority: &str, tls: bool) -> Result<WsRequest, NetError> {
    let scheme = if tls { "wss" } else { "ws" };
    let path = if w.path.starts_with('/') {
        w.path.clone()
    } else {
        format!("/{}", w.path)
    };
    let url = format!("{scheme}://{authority}{path}");
    let mut req = url
        .as_str()
        .into_client_request()
        .map_err(|e| NetError::InvalidArgument {
            what: "WebSocket URL",
            detail: format!("{url}: {e}"),
        })?;
    for (name, value) in &w.headers {
        let n = HeaderName::from_bytes(name.as_bytes()).map_err(|e| NetError::InvalidArgument {
            what: "WebSocket header name",
            detail: format!("{name:?}: {e}"),
        })?;
        let v = HeaderValue::from_str(value).map_err(|_| NetError::InvalidArgument {
            what: "WebSocket header value",
            // the value may be a credential: name the header only
            detail: format!("the value of header {name:?} is not valid in HTTP"),
        })?;
        req.headers_mut().append(n, v);
    }
    if !w.subprotocols.is_empty() {
        let list = w.subprotocols.join(", ");
        let v = HeaderValue::from_str(&list).map_err(|e| NetError::InvalidArgument {
            what: "WebSocket subprotocols",
            detail: format!("{list:?}: {e}"),
        })?;
        req.headers_mut().insert("Sec-WebSocket-Protocol", v);
    }
    Ok(req)
}

fn ws_error(e: WsError, addr: &str) -> NetError {
    match e {
        WsError::Http(resp) => {
            let status = resp.status();
            let body = resp
                .body()
                .as_deref()
                .map(|b| String::from_utf8_lossy(&b[..b.len().min(200)]).into_owned())
                .unwrap_or_default();
            NetError::WebSocket {
                addr: addr.to_owned(),
                status: Some(status.as_u16()),
                detail: format!(
                    "{}{}{}",
                    status.canonical_reason().unwrap_or(""),
                    if body.trim().is_empty() { "" } else { ": " },
                    body.trim()
                ),
            }
        }
        WsError::Io(io) => {
            let detail = io.to_string();
            // TLS failures below the WebSocket keep their own error.
            match io.into_inner().map(|inner| inner.downcast::<NetError>()) {
                Some(Ok(ne)) => *ne,
                _ => NetError::WebSocket {
                    addr: addr.to_owned(),
                    status: None,
                    detail,
                },
            }
        }
        other => NetError::WebSocket {
            addr: addr.to_owned(),
            status: None,
            detail: other.to_string(),
        },
    }
}

async fn resolve(host: &str, port: u16, addr: &str) -> Result<Vec<SocketAddr>, NetError> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let found: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|source| NetError::Resolve {
            addr: addr.to_owned(),
            source,
        })?
        .collect();
    if found.is_empty() {
        return Err(NetError::Resolve {
            addr: addr.to_owned(),
            source: io::Error::new(io::ErrorKind::NotFound, "no addresses found"),
        });
    }
    Ok(found)
}

/// Tries each address in turn. All but the last get an equal share of the
/// remaining time, so one black-holed address cannot eat the whole budget.
async fn connect_any(
    candidates: &[SocketAddr],
    opts: &ConnectOptions,
    deadline: &Deadline<'_>,
) -> Result<TcpStream, NetError> {
    let addr = deadline.addr;
    let usable: Vec<SocketAddr> = candidates
        .iter()
        .copied()
        .filter(|c| opts.bind_address.is_none_or(|b| b.is_ipv4() == c.is_ipv4()))
        .collect();
    if usable.is_empty() {
        return Err(NetError::Connect {
            addr: addr.to_owned(),
            source: io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                format!(
                    "no resolved address ({}) matches the family of bind address {}",
                    join(candidates),
                    opts.bind_address.map(|b| b.to_string()).unwrap_or_default()
                ),
            ),
        });
    }

    let mut last_err = None;
    for (i, target) in usable.iter().enumerate() {
        let left = u32::try_from(usable.len() - i).unwrap_or(u32::MAX);
        let remaining = deadline.at.saturating_duration_since(Instant::now());
        let share = remaining / left;
        match tokio::time::timeout(share, connect_one(*target, opts)).await {
            Ok(Ok(s)) => {
                tracing::debug!(addr, peer = %target, "TCP connected");
                return Ok(s);
            }
            Ok(Err(e)) => {
                tracing::debug!(addr, peer = %target, error = %e, "TCP connect failed");
                last_err = Some(io::Error::new(e.kind(), format!("{target}: {e}")));
            }
            Err(_) => {
                tracing::debug!(addr, peer = %target, "TCP connect timed out");
                last_err = Some(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("{target}: timed out"),
                ));
            }
        }
    }
    Err(NetError::Connect {
        addr: addr.to_owned(),
        source: last_err
            .unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no addresses to try")),
    })
}

fn join(addrs: &[SocketAddr]) -> String {
    addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

async fn connect_one(target: SocketAddr, opts: &ConnectOptions) -> io::Result<TcpStream> {
    let sock = if target.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(n) = opts.send_buffer_bytes {
        sock.set_send_buffer_size(u32::try_from(n).unwrap_or(u32::MAX))?;
    }
    if let Some(n) = opts.recv_buffer_bytes {
        sock.set_recv_buffer_size(u32::try_from(n).unwrap_or(u32::MAX))?;
    }
    if let Some(b) = opts.bind_address {
        sock.bind(b)?;
    }
    let stream = sock.connect(target).await?;
    stream.set_nodelay(opts.tcp_nodelay)?;
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authority_brackets_ipv6() {
        assert_eq!(authority("::1", 80), "[::1]:80");
        assert_eq!(authority("[::1]", 80), "[::1]:80");
        assert_eq!(authority("localhost", 1883), "localhost:1883");
    }

    #[test]
    fn ws_request_has_path_headers_and_subprotocols() {
        let w = WsOptions {
            path: "mqtt".into(),
            headers: vec![("X-Token".into(), "abc".into())],
            subprotocols: vec!["mqtt".into(), "mqttv3.1".into()],
        };
        let r = ws_request(&w, "localhost:9001", true).expect("request");
        assert_eq!(r.uri().to_string(), "wss://localhost:9001/mqtt");
        assert_eq!(r.headers()["x-token"], "abc");
        assert_eq!(r.headers()["sec-websocket-protocol"], "mqtt, mqttv3.1");
    }

    #[test]
    fn bad_header_value_does_not_echo_it() {
        let w = WsOptions {
            headers: vec![("Authorization".into(), "secret\nvalue".into())],
            ..WsOptions::default()
        };
        let e = ws_request(&w, "h:1", false).expect_err("bad value");
        assert!(!e.to_string().contains("secret"), "{e}");
    }

    #[tokio::test]
    async fn refused_port_is_a_connect_error_naming_the_address() {
        // Bind then drop to get a port that is (almost certainly) closed.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port()
        };
        let e = connect("127.0.0.1", port, &ConnectOptions::default())
            .await
            .expect_err("refused");
        assert!(matches!(e, NetError::Connect { .. }), "{e:?}");
        assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");
    }

    #[tokio::test]
    async fn unresolvable_host_is_a_resolve_error() {
        let e = connect("no-such-host.invalid", 1, &ConnectOptions::default())
            .await
            .expect_err("unresolvable");
        assert!(
            matches!(e, NetError::Resolve { .. } | NetError::Timeout { .. }),
            "{e:?}"
        );
        assert!(e.to_string().contains("no-such-host.invalid:1"), "{e}");
    }
}
