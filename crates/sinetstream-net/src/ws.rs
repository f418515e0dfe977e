//! WebSocket transport: the upgrade options and an adapter that turns binary
//! WebSocket messages into a plain byte stream.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use futures::{Sink, Stream as _};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// Settings for carrying the byte stream inside a WebSocket connection
/// (`ws://`, or `wss://` when TLS is also set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsOptions {
    /// Request path, for example `/mqtt`. A missing leading `/` is added.
    pub path: String,
    /// Extra request headers (for example `Authorization`). Values are never
    /// logged.
    pub headers: Vec<(String, String)>,
    /// Subprotocols to offer in `Sec-WebSocket-Protocol`, in preference
    /// order (MQTT brokers expect `mqtt`). When non-empty, the server must
    /// pick one of them.
    pub subprotocols: Vec<String>,
}

impl Default for WsOptions {
    fn default() -> Self {
        WsOptions {
            path: "/".to_owned(),
            headers: Vec::new(),
            subprotocols: Vec::new(),
        }
    }
}

/// Byte-stream view of a WebSocket connection.
///
/// Reads return the payloads of binary messages in order, split or joined
/// as the caller's buffers require; pings are answered by tungstenite and a
/// close frame reads as end of stream. Each `poll_write` sends one binary
/// message holding exactly the bytes it accepted, so callers that write a
/// whole protocol packet at once get one message per packet.
#[derive(Debug)]
pub(crate) struct WsStream<S> {
    ws: WebSocketStream<S>,
    pending: Bytes,
    eof: bool,
}

impl<S> WsStream<S> {
    pub(crate) fn new(ws: WebSocketStream<S>) -> Self {
        WsStream {
            ws,
            pending: Bytes::new(),
            eof: false,
        }
    }

    pub(crate) fn get_ref(&self) -> &S
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        self.ws.get_ref()
    }
}

fn to_io(e: WsError) -> io::Error {
    match e {
        WsError::Io(e) => e,
        WsError::ConnectionClosed | WsError::AlreadyClosed => io::Error::new(
            io::ErrorKind::NotConnected,
            "WebSocket connection is closed",
        ),
        WsError::Protocol(p) => io::Error::new(io::ErrorKind::InvalidData, p),
        WsError::Capacity(c) => io::Error::new(io::ErrorKind::InvalidData, c),
        other => io::Error::other(other),
    }
}

impl<S> AsyncRead for WsStream<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if !this.pending.is_empty() {
                let n = this.pending.len().min(buf.remaining());
                buf.put_slice(&this.pending[..n]);
                this.pending.advance(n);
                return Poll::Ready(Ok(()));
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            match ready!(Pin::new(&mut this.ws).poll_next(cx)) {
                // An empty message must not be mistaken for end of stream,
                // so it just loops.
                Some(Ok(Message::Binary(b))) => this.pending = b,
                Some(Ok(Message::Text(_))) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "unexpected WebSocket text message on a binary stream",
                    )));
                }
                Some(Ok(Message::Close(_))) => {
                    this.eof = true;
                    // Send tungstenite's queued close reply now: a caller
                    // that sees EOF usually just drops the stream.
                    let _ = Pin::new(&mut this.ws).poll_flush(cx);
                }
                None => this.eof = true,
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                Some(Err(WsError::ConnectionClosed | WsError::AlreadyClosed)) => this.eof = true,
                Some(Err(e)) => return Poll::Ready(Err(to_io(e))),
            }
        }
    }
}

impl<S> AsyncWrite for WsStream<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let ws = &mut self.ws;
        ready!(Pin::new(&mut *ws).poll_ready(cx)).map_err(to_io)?;
        Pin::new(&mut *ws)
            .start_send(Message::Binary(Bytes::copy_from_slice(buf)))
            .map_err(to_io)?;
        // Push the frame out now so callers that never flush (a plain TCP
        // habit) still get their bytes sent; Pending just leaves it queued
        // for the next write, flush or read.
        if let Poll::Ready(Err(e)) = Pin::new(&mut *ws).poll_flush(cx) {
            return Poll::Ready(Err(to_io(e)));
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.ws).poll_flush(cx).map_err(to_io)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match ready!(Pin::new(&mut self.ws).poll_close(cx)) {
            Ok(()) | Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => Poll::Ready(Ok(())),
            Err(e) => Poll::Ready(Err(to_io(e))),
        }
    }
}
