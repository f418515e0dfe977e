//! Byte streams for the sinetstream-rs protocol clients: TCP, TLS (rustls
//! with the ring provider, no OpenSSL) and WebSocket (`ws://`, `wss://`).
//!
//! This crate knows nothing of SINETStream configuration files; callers
//! translate their settings into [`ConnectOptions`] and [`TlsOptions`] and
//! get back one [`Stream`] type whatever the transport.
//!
//! ```no_run
//! # async fn demo() -> Result<(), sinetstream_net::NetError> {
//! use sinetstream_net::{CertSource, ConnectOptions, TlsOptions, WsOptions, connect};
//! use tokio::io::AsyncWriteExt;
//!
//! let opts = ConnectOptions {
//!     tls: Some(TlsOptions {
//!         ca_certs: Some(CertSource::File("ca.pem".into())),
//!         ..TlsOptions::default()
//!     }),
//!     websocket: Some(WsOptions {
//!         path: "/mqtt".into(),
//!         subprotocols: vec!["mqtt".into()],
//!         ..WsOptions::default()
//!     }),
//!     ..ConnectOptions::default()
//! };
//! let mut stream = connect("broker.example", 8084, &opts).await?;
//! stream.write_all(b"bytes").await.map_err(|source| sinetstream_net::NetError::Io {
//!     addr: stream.addr().to_owned(),
//!     source,
//! })?;
//! # Ok(()) }
//! ```

mod ciphers;
mod connect;
mod error;
mod https;
mod stream;
mod tls;
mod ws;

pub use connect::{ConnectOptions, connect};
pub use error::{NetError, Stage, TlsFailure};
pub use https::{MAX_BODY_BYTES, https_get};
pub use stream::{Stream, Transport};
pub use tls::{CertSource, TlsOptions, TlsVersion};
pub use ws::WsOptions;
