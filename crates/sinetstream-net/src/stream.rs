//! The connected byte stream handed to protocol clients.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::tls::{TlsVersion, classify, is_tls_error};
use crate::ws::WsStream;

/// Which transport a [`Stream`] runs over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transport {
    /// Plain TCP.
    Tcp,
    /// TLS over TCP.
    Tls,
    /// WebSocket over TCP (`ws://`).
    Ws,
    /// WebSocket over TLS (`wss://`).
    Wss,
}

/// A TLS session plus what is needed to explain its failures.
pub(crate) struct TlsConn {
    io: TlsStream<TcpStream>,
    addr: String,
    has_client_cert: bool,
}

impl TlsConn {
    pub(crate) fn new(io: TlsStream<TcpStream>, addr: &str, has_client_cert: bool) -> Self {
        TlsConn {
            io,
            addr: addr.to_owned(),
            has_client_cert,
        }
    }

    /// TLS 1.3 servers report a rejected or missing client certificate only
    /// after the handshake, on the first read; wrapping the rustls error in
    /// a [`crate::NetError`] keeps that diagnosable.
    fn explain(&self, r: io::Result<()>) -> io::Result<()> {
        match r {
            Err(e) if is_tls_error(&e) => Err(io::Error::new(
                e.kind(),
                classify(&e, &self.addr, self.has_client_cert, false),
            )),
            r => r,
        }
    }
}

/// TCP or TLS: what a WebSocket runs on, and what a non-WebSocket
/// [`Stream`] is.
pub(crate) enum Plain {
    Tcp(TcpStream),
    Tls(Box<TlsConn>),
}

impl fmt::Debug for Plain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Plain::Tcp(_) => "Tcp",
            Plain::Tls(_) => "Tls",
        })
    }
}

impl Plain {
    fn tcp(&self) -> &TcpStream {
        match self {
            Plain::Tcp(t) => t,
            Plain::Tls(t) => t.io.get_ref().0,
        }
    }

    fn tls(&self) -> Option<&rustls::ClientConnection> {
        match self {
            Plain::Tcp(_) => None,
            Plain::Tls(t) => Some(t.io.get_ref().1),
        }
    }
}

impl AsyncRead for Plain {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Plain::Tcp(t) => Pin::new(t).poll_read(cx, buf),
            Plain::Tls(t) => {
                let r = ready!(Pin::new(&mut t.io).poll_read(cx, buf));
                Poll::Ready(t.explain(r))
            }
        }
    }
}

impl AsyncWrite for Plain {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Plain::Tcp(t) => Pin::new(t).poll_write(cx, buf),
            Plain::Tls(t) => match ready!(Pin::new(&mut t.io).poll_write(cx, buf)) {
                Ok(n) => Poll::Ready(Ok(n)),
                Err(e) => Poll::Ready(t.explain(Err(e)).map(|()| 0)),
            },
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Plain::Tcp(t) => Pin::new(t).poll_flush(cx),
            Plain::Tls(t) => {
                let r = ready!(Pin::new(&mut t.io).poll_flush(cx));
                Poll::Ready(t.explain(r))
            }
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Plain::Tcp(t) => Pin::new(t).poll_shutdown(cx),
            Plain::Tls(t) => Pin::new(&mut t.io).poll_shutdown(cx),
        }
    }
}

enum Inner {
    Plain(Plain),
    Ws(Box<WsStream<Plain>>),
}

/// A connected byte stream over TCP, TLS, `ws://` or `wss://`.
///
/// Made by [`crate::connect`]. It reads and writes bytes whatever the
/// transport; I/O errors caused by the TLS layer carry a [`crate::NetError`]
/// (see [`crate::NetError::from_io_error`]).
pub struct Stream {
    inner: Inner,
    addr: String,
}

impl fmt::Debug for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stream")
            .field("transport", &self.transport())
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Stream {
    pub(crate) fn plain(p: Plain, addr: String) -> Self {
        Stream {
            inner: Inner::Plain(p),
            addr,
        }
    }

    pub(crate) fn ws(w: WsStream<Plain>, addr: String) -> Self {
        Stream {
            inner: Inner::Ws(Box::new(w)),
            addr,
        }
    }

    fn base(&self) -> &Plain {
        match &self.inner {
            Inner::Plain(p) => p,
            Inner::Ws(w) => w.get_ref(),
        }
    }

    /// The transport in use.
    pub fn transport(&self) -> Transport {
        match &self.inner {
            Inner::Plain(Plain::Tcp(_)) => Transport::Tcp,
            Inner::Plain(Plain::Tls(_)) => Transport::Tls,
            Inner::Ws(w) => match w.get_ref() {
                Plain::Tcp(_) => Transport::Ws,
                Plain::Tls(_) => Transport::Wss,
            },
        }
    }

    /// The `host:port` this stream was opened to, as given to
    /// [`crate::connect`].
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The remote socket address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.base().tcp().peer_addr()
    }

    /// The local socket address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.base().tcp().local_addr()
    }

    /// The negotiated TLS version, for TLS and `wss://` streams.
    pub fn tls_version(&self) -> Option<TlsVersion> {
        match self.base().tls()?.protocol_version()? {
            rustls::ProtocolVersion::TLSv1_2 => Some(TlsVersion::Tls12),
            rustls::ProtocolVersion::TLSv1_3 => Some(TlsVersion::Tls13),
            _ => None,
        }
    }

    /// The IANA name of the negotiated cipher suite (for example
    /// `TLS13_AES_128_GCM_SHA256`), for TLS and `wss://` streams.
    pub fn tls_cipher_suite(&self) -> Option<String> {
        let s = self.base().tls()?.negotiated_cipher_suite()?;
        Some(format!("{:?}", s.suite()))
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().inner {
            Inner::Plain(p) => Pin::new(p).poll_read(cx, buf),
            Inner::Ws(w) => Pin::new(&mut **w).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().inner {
            Inner::Plain(p) => Pin::new(p).poll_write(cx, buf),
            Inner::Ws(w) => Pin::new(&mut **w).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().inner {
            Inner::Plain(p) => Pin::new(p).poll_flush(cx),
            Inner::Ws(w) => Pin::new(&mut **w).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().inner {
            Inner::Plain(p) => Pin::new(p).poll_shutdown(cx),
            Inner::Ws(w) => Pin::new(&mut **w).poll_shutdown(cx),
        }
    }
}
