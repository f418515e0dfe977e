//! The SINETStream message wire format, byte-compatible with SINETStream 1.10 (Python and Java).
//!
//! A writer turns a payload into wire bytes in this order (a reader reverses it):
//!
//! 1. compress (`data_compression`, see [`CompressionAlgorithm`]);
//! 2. wrap in the Avro envelope with the timestamp ([`encode_envelope`]) unless `user_data_only`;
//! 3. encrypt (`data_encryption`, see [`CipherMode`]): `salt ‖ IV ‖ ciphertext ‖ tag`;
//! 4. prefix the v3 header `DF 03 00 00 ‖ key version` ([`pack_header`]) when `message_format`
//!    is 3 and not `user_data_only`.
//!
//! A v3 reader takes a message without the marker as a v2 message (no header) and decrypts it
//! with the highest configured key version; a header whose key version disagrees with the
//! reader's `data_encryption` setting is an [`Error::InvalidMessage`].
//!
//! [`Codec`] does all of it for one reader or writer. Every failure to decode is an
//! [`Error::InvalidMessage`] with a message naming the layer at fault; decoding never panics.

use std::borrow::Cow;
use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

mod avro;
mod compression;
mod config;
mod crypto;
mod header;

pub use avro::{AVRO_MARKER, SCHEMA_FINGERPRINT, decode_envelope, encode_envelope};
pub use compression::{CompressionAlgorithm, CompressionConfig, MAX_DECOMPRESSED_LEN};
pub use config::WireConfig;
pub use crypto::{CipherMode, EncryptionConfig, Padding, Prf};
pub use header::{HEADER_LEN, KEY_VERSION_PLAIN, MARKER_V3, pack_header, unpack_header};

use crate::error::{Error, Result};
use crypto::Cipher;

/// An [`Error::InvalidMessage`] with `msg`.
pub(crate) fn invalid(msg: impl Into<String>) -> Error {
    Error::InvalidMessage(msg.into())
}

/// A decoded message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The payload, decompressed and decrypted: a slice of the wire bytes given to
    /// [`Codec::decode_shared`] when there was nothing to undo.
    pub payload: Bytes,
    /// The writer's timestamp in µs since the Unix epoch; `None` for `user_data_only` messages,
    /// which carry none.
    pub timestamp_us: Option<i64>,
}

/// Sizes of one message through the pipeline, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WireSizes {
    /// The payload before compression (after decompression).
    pub payload: usize,
    /// The payload after compression (equal to `payload` without compression).
    pub compressed: usize,
    /// The whole message on the wire.
    pub wire: usize,
}

/// A buffer the encoder appends to.
trait Sink: BufMut {
    /// Makes room for `n` more bytes.
    fn reserve_for(&mut self, n: usize);
}

impl Sink for Vec<u8> {
    fn reserve_for(&mut self, n: usize) {
        self.reserve_exact(n);
    }
}

impl Sink for BytesMut {
    fn reserve_for(&mut self, n: usize) {
        self.reserve(n);
    }
}

/// Encodes and decodes messages for one reader or writer.
///
/// `Send + Sync`. A writer draws one random salt on first use and derives the key once, as
/// Python does; keys derived for received salts are cached. `Debug` never shows key material.
pub struct Codec {
    message_format: u8,
    user_data_only: bool,
    compression: Option<CompressionConfig>,
    cipher: Option<Cipher>,
}

impl fmt::Debug for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Codec")
            .field("message_format", &self.message_format)
            .field("user_data_only", &self.user_data_only)
            .field("compression", &self.compression)
            .field("cipher", &self.cipher)
            .finish()
    }
}

impl Codec {
    /// A codec for `cfg`.
    pub fn new(cfg: &WireConfig) -> Result<Codec> {
        Ok(Codec {
            message_format: cfg.message_format,
            user_data_only: cfg.user_data_only,
            compression: cfg.compression,
            cipher: cfg.encryption.as_ref().map(Cipher::new),
        })
    }

    /// Whether the codec writes the v3 header.
    fn has_header(&self) -> bool {
        !self.user_data_only && self.message_format >= 3
    }

    /// Encodes `payload` written at `timestamp_us` (µs since the epoch; ignored for
    /// `user_data_only`), with the writer's salt and a fresh random IV/nonce.
    pub fn encode(&self, payload: &[u8], timestamp_us: i64) -> Result<Vec<u8>> {
        self.encode_measured(payload, timestamp_us).map(|(w, _)| w)
    }

    /// [`Codec::encode`], also returning the sizes for metrics.
    pub fn encode_measured(
        &self,
        payload: &[u8],
        timestamp_us: i64,
    ) -> Result<(Vec<u8>, WireSizes)> {
        let mut out = Vec::new();
        let sizes = self.encode_inner(payload, timestamp_us, None, &mut out)?;
        Ok((out, sizes))
    }

    /// [`Codec::encode_measured`] appending the wire bytes to `out` (reserving what they need):
    /// header, envelope and payload are written in one pass, with no intermediate buffer when
    /// there is no encryption.
    pub fn encode_into(
        &self,
        payload: &[u8],
        timestamp_us: i64,
        out: &mut BytesMut,
    ) -> Result<WireSizes> {
        self.encode_inner(payload, timestamp_us, None, out)
    }

    /// Deterministic [`Codec::encode`] for reproducible tests: `salt` (of `salt_bytes`) and `iv`
    /// (16 bytes: the IV, nonce or initial counter; for OPENPGP the clear IV) are given. Both are
    /// ignored when encryption is off.
    pub fn encode_with(
        &self,
        payload: &[u8],
        timestamp_us: i64,
        salt: &[u8],
        iv: &[u8],
    ) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.encode_inner(payload, timestamp_us, Some((salt, iv)), &mut out)?;
        Ok(out)
    }

    /// Appends the wire bytes to `out`, reserving exactly what they need.
    fn encode_inner<B: Sink>(
        &self,
        payload: &[u8],
        timestamp_us: i64,
        salt_iv: Option<(&[u8], &[u8])>,
        out: &mut B,
    ) -> Result<WireSizes> {
        let compressed: Cow<'_, [u8]> = match &self.compression {
            Some(c) => Cow::Owned(c.compress(payload)?),
            None => Cow::Borrowed(payload),
        };
        let header_len = if self.has_header() { HEADER_LEN } else { 0 };
        let wire = match &self.cipher {
            None => {
                // Everything is written straight into `out`.
                let body_len = if self.user_data_only {
                    compressed.len()
                } else {
                    avro::envelope_len(compressed.len(), timestamp_us)
                };
                let wire = header_len + body_len;
                out.reserve_for(wire);
                if header_len > 0 {
                    header::put_header(KEY_VERSION_PLAIN, out);
                }
                if self.user_data_only {
                    out.put_slice(&compressed);
                } else {
                    avro::put_envelope(&compressed, timestamp_us, out);
                }
                wire
            }
            Some(c) => {
                let body: Cow<'_, [u8]> = if self.user_data_only {
                    Cow::Borrowed(&compressed)
                } else {
                    Cow::Owned(encode_envelope(&compressed, timestamp_us))
                };
                let enc = match salt_iv {
                    Some((salt, iv)) => c.encrypt_with(&body, salt, iv)?,
                    None => c.encrypt(&body)?,
                };
                let wire = header_len + enc.len();
                out.reserve_for(wire);
                if header_len > 0 {
                    header::put_header(c.max_key_version(), out);
                }
                out.put_slice(&enc);
                wire
            }
        };
        Ok(WireSizes {
            payload: payload.len(),
            compressed: compressed.len(),
            wire,
        })
    }

    /// Decodes wire bytes.
    pub fn decode(&self, wire: &[u8]) -> Result<Decoded> {
        self.decode_measured(wire).map(|(d, _)| d)
    }

    /// [`Codec::decode`], also returning the sizes for metrics.
    pub fn decode_measured(&self, wire: &[u8]) -> Result<(Decoded, WireSizes)> {
        self.decode_from(wire, None)
    }

    /// [`Codec::decode_measured`] of shared bytes: without compression and encryption the
    /// payload is a slice of `wire` (no copy).
    pub fn decode_shared(&self, wire: &Bytes) -> Result<(Decoded, WireSizes)> {
        self.decode_from(wire, Some(wire))
    }

    /// `shared`, when given, holds the same bytes as `wire`.
    fn decode_from(&self, wire: &[u8], shared: Option<&Bytes>) -> Result<(Decoded, WireSizes)> {
        let default_version = self
            .cipher
            .as_ref()
            .map_or(KEY_VERSION_PLAIN, Cipher::max_key_version);
        let (key_version, body) = if self.has_header() {
            match unpack_header(wire) {
                Some((KEY_VERSION_PLAIN, _)) if self.cipher.is_some() => {
                    return Err(invalid(
                        "invalid key_version=0 in received message: it is not encrypted \
                         but data_encryption is on",
                    ));
                }
                Some((v, _)) if v != KEY_VERSION_PLAIN && self.cipher.is_none() => {
                    return Err(invalid(format!(
                        "invalid key_version={v} in received message: it is encrypted \
                         but data_encryption is off"
                    )));
                }
                Some((v, body)) => (v, body),
                // no v3 marker: a v2 message
                None => (default_version, wire),
            }
        } else {
            (default_version, wire)
        };
        let plain: Cow<'_, [u8]> = match &self.cipher {
            Some(c) => Cow::Owned(c.decrypt(body, key_version)?),
            None => Cow::Borrowed(body),
        };
        let (timestamp_us, msg) = if self.user_data_only {
            (None, &plain[..])
        } else {
            let (t, m) = decode_envelope(&plain)?;
            (Some(t), m)
        };
        let compressed = msg.len();
        let payload = match (&self.compression, &plain, shared) {
            (Some(c), _, _) => Bytes::from(c.decompress(msg)?),
            // `msg` lies within `wire`, which `shared` holds: slice_ref cannot panic.
            (None, Cow::Borrowed(_), Some(b)) => b.slice_ref(msg),
            (None, _, _) => Bytes::copy_from_slice(msg),
        };
        let sizes = WireSizes {
            payload: payload.len(),
            compressed,
            wire: wire.len(),
        };
        Ok((
            Decoded {
                payload,
                timestamp_us,
            },
            sizes,
        ))
    }
}

#[cfg(test)]
mod tests;
