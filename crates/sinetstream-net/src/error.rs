//! The one error type of this crate, and the classification of TLS failures.

use std::fmt;
use std::io;
use std::time::Duration;

/// Why a connection, a TLS handshake or a download failed.
///
/// Every variant names the broker address (`host:port`) or URL it concerns, so
/// the message alone tells a user which endpoint is wrong. Callers that need
/// to react differently per cause match on the variant or use the accessors
/// ([`NetError::tls_failure`], [`NetError::is_timeout`], ...).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// The whole connect (resolve, TCP, TLS, WebSocket) or download did not
    /// finish within the allowed time.
    #[error("timed out after {timeout:?} connecting to {addr} (during {stage})")]
    Timeout {
        /// `host:port` (or URL) that was being reached.
        addr: String,
        /// The limit that ran out.
        timeout: Duration,
        /// What was under way when time ran out.
        stage: Stage,
    },

    /// The host name could not be resolved to any address.
    #[error("cannot resolve {addr}: {source}")]
    Resolve {
        /// `host:port` that was being resolved.
        addr: String,
        /// What the resolver said.
        #[source]
        source: io::Error,
    },

    /// No resolved address accepted a TCP connection.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// `host:port` that was being reached.
        addr: String,
        /// The error of the last address tried.
        #[source]
        source: io::Error,
    },

    /// The TLS settings are invalid, or the TLS handshake (or the first
    /// records after it) failed.
    #[error("{}", tls_message(.addr, *.kind, .detail))]
    Tls {
        /// `host:port` of the peer; empty when the settings were checked
        /// without a peer ([`crate::TlsOptions::validate`]).
        addr: String,
        /// What kind of failure this was.
        kind: TlsFailure,
        /// Human-readable detail (never contains key material).
        detail: String,
    },

    /// The WebSocket upgrade was refused or broke.
    #[error("{}", ws_message(.addr, *.status, .detail))]
    WebSocket {
        /// `host:port` of the peer.
        addr: String,
        /// HTTP status of the refused upgrade, when the server answered one.
        status: Option<u16>,
        /// Human-readable detail.
        detail: String,
    },

    /// An HTTP(S) download ([`crate::https_get`]) failed above the transport.
    #[error("{}", http_message(.url, *.status, .detail))]
    Http {
        /// The URL requested.
        url: String,
        /// Status code of the response, when one was received.
        status: Option<u16>,
        /// Human-readable detail.
        detail: String,
    },

    /// An argument is malformed (for example a URL or a header name).
    #[error("invalid {what}: {detail}")]
    InvalidArgument {
        /// Which argument.
        what: &'static str,
        /// What is wrong with it.
        detail: String,
    },

    /// An I/O error after the connection was set up.
    #[error("I/O error with {addr}: {source}")]
    Io {
        /// `host:port` of the peer.
        addr: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

/// The kinds of TLS failure that callers may want to tell apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TlsFailure {
    /// The server's certificate chain does not lead to a trusted CA, or is
    /// otherwise invalid (expired, bad signature, wrong purpose, ...).
    UntrustedCertificate,
    /// The server's certificate is valid but not for the name we connected to.
    HostnameMismatch,
    /// The handshake failed for another reason (no common cipher or version,
    /// the peer does not speak TLS, the connection dropped, ...).
    HandshakeFailure,
    /// The server rejected our client certificate, or required one that we
    /// did not send.
    BadClientCertificate,
    /// The TLS settings themselves are invalid (unreadable files, bad PEM,
    /// unknown cipher names, ...).
    Config,
}

/// The step of a connect that was under way, for timeout messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Stage {
    /// Looking up the host name.
    Resolve,
    /// Opening the TCP connection.
    TcpConnect,
    /// The TLS handshake.
    TlsHandshake,
    /// The WebSocket upgrade.
    WebSocketHandshake,
    /// Sending an HTTP request or reading its response.
    HttpExchange,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Resolve => "name resolution",
            Stage::TcpConnect => "TCP connect",
            Stage::TlsHandshake => "TLS handshake",
            Stage::WebSocketHandshake => "WebSocket handshake",
            Stage::HttpExchange => "HTTP exchange",
        })
    }
}

impl NetError {
    /// The TLS failure kind, if this is a TLS error.
    pub fn tls_failure(&self) -> Option<TlsFailure> {
        match self {
            NetError::Tls { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    /// Whether the operation ran out of time.
    pub fn is_timeout(&self) -> bool {
        matches!(self, NetError::Timeout { .. })
    }

    /// The `host:port` (or URL) this error concerns, if any.
    pub fn addr(&self) -> Option<&str> {
        match self {
            NetError::Timeout { addr, .. }
            | NetError::Resolve { addr, .. }
            | NetError::Connect { addr, .. }
            | NetError::Tls { addr, .. }
            | NetError::WebSocket { addr, .. }
            | NetError::Io { addr, .. } => Some(addr).filter(|a| !a.is_empty()).map(String::as_str),
            NetError::Http { url, .. } => Some(url),
            NetError::InvalidArgument { .. } => None,
        }
    }

    /// Finds a `NetError` carried inside an [`io::Error`].
    ///
    /// Reads and writes on a [`crate::Stream`] return plain `io::Error`s; when
    /// the cause is a TLS alert from the server (for example a missing client
    /// certificate, which TLS 1.3 reports only after the handshake), the
    /// `io::Error` wraps a [`NetError::Tls`] that this function returns.
    pub fn from_io_error(err: &io::Error) -> Option<&NetError> {
        err.get_ref()?.downcast_ref::<NetError>()
    }

    pub(crate) fn tls_config(detail: impl Into<String>) -> Self {
        NetError::Tls {
            addr: String::new(),
            kind: TlsFailure::Config,
            detail: detail.into(),
        }
    }

    /// Fills in the address of errors built before the peer was known.
    pub(crate) fn with_addr(mut self, peer: &str) -> Self {
        if let NetError::Tls { addr, .. } = &mut self {
            if addr.is_empty() {
                *addr = peer.to_owned();
            }
        }
        self
    }
}

fn tls_message(addr: &str, kind: TlsFailure, detail: &str) -> String {
    match (kind, addr.is_empty()) {
        (TlsFailure::Config, true) => format!("invalid TLS settings: {detail}"),
        (TlsFailure::Config, false) => format!("invalid TLS settings for {addr}: {detail}"),
        (_, true) => format!("TLS handshake failed: {detail}"),
        (_, false) => format!("TLS handshake with {addr} failed: {detail}"),
    }
}

fn ws_message(addr: &str, status: Option<u16>, detail: &str) -> String {
    match status {
        Some(s) => format!("WebSocket upgrade at {addr} refused with HTTP status {s}: {detail}"),
        None => format!("WebSocket handshake with {addr} failed: {detail}"),
    }
}

fn http_message(url: &str, status: Option<u16>, detail: &str) -> String {
    match status {
        Some(s) => format!("GET {url} returned HTTP status {s}: {detail}"),
        None => format!("GET {url} failed: {detail}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_address() {
        let e = NetError::Tls {
            addr: "localhost:8883".into(),
            kind: TlsFailure::HostnameMismatch,
            detail: "certificate not valid for name \"localhost\"".into(),
        };
        assert_eq!(
            e.to_string(),
            "TLS handshake with localhost:8883 failed: certificate not valid for name \"localhost\""
        );
        assert_eq!(e.tls_failure(), Some(TlsFailure::HostnameMismatch));
        assert_eq!(e.addr(), Some("localhost:8883"));

        let e = NetError::tls_config("no certificate in ca.pem").with_addr("h:1");
        assert_eq!(
            e.to_string(),
            "invalid TLS settings for h:1: no certificate in ca.pem"
        );
    }

    #[test]
    fn net_error_survives_io_wrapping() {
        let inner = NetError::Tls {
            addr: "h:1".into(),
            kind: TlsFailure::BadClientCertificate,
            detail: "x".into(),
        };
        let io = io::Error::new(io::ErrorKind::PermissionDenied, inner);
        let back = NetError::from_io_error(&io).and_then(NetError::tls_failure);
        assert_eq!(back, Some(TlsFailure::BadClientCertificate));
    }
}
