//! Reading the wire settings out of a service's parameters.

use std::collections::BTreeMap;
use std::fmt;

use zeroize::Zeroizing;

use super::compression::{CompressionAlgorithm, CompressionConfig};
use super::crypto::{CipherMode, EncryptionConfig, KeySource, Padding, Prf};
use crate::config::{Params, Value};
use crate::error::{Error, Result};

/// Default `crypto.key_derivation.salt_bytes`.
const DEFAULT_SALT_BYTES: u32 = 8;
/// Default `crypto.key_derivation.iteration`.
const DEFAULT_ITERATIONS: u32 = 10_000;
/// Upper bound for `salt_bytes`, to keep a typo from allocating huge salts.
const MAX_SALT_BYTES: u32 = 1024;

/// How messages are laid out on the wire: format version, envelope, compression, encryption.
///
/// Build it with [`WireConfig::from_params`] (or [`WireConfig::default`]: v3, no compression, no
/// encryption). `Debug` never shows keys or passwords.
#[derive(Clone)]
pub struct WireConfig {
    pub(crate) message_format: u8,
    pub(crate) user_data_only: bool,
    pub(crate) compression: Option<CompressionConfig>,
    pub(crate) encryption: Option<EncryptionConfig>,
}

impl Default for WireConfig {
    fn default() -> Self {
        WireConfig {
            message_format: 3,
            user_data_only: false,
            compression: None,
            encryption: None,
        }
    }
}

impl fmt::Debug for WireConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WireConfig")
            .field("message_format", &self.message_format)
            .field("user_data_only", &self.user_data_only)
            .field("compression", &self.compression)
            .field("encryption", &self.encryption)
            .finish()
    }
}

fn bad(msg: impl Into<String>) -> Error {
    Error::InvalidArgument(msg.into())
}

impl WireConfig {
    /// Reads `message_format`, `user_data_only`, `data_compression` + `compression{algorithm,
    /// level}` and `data_encryption` + `crypto{algorithm, key_length, mode, padding, key,
    /// password, key_derivation{algorithm, salt_bytes, iteration, prf}, _keys}` from a service's
    /// merged parameters.
    ///
    /// Parameters of the wrong type are warned about and ignored (the [`Params`] rule); values
    /// SINETStream cannot use (unknown mode, key of the wrong length, ...) are
    /// [`Error::InvalidArgument`] naming the parameter, never its secret value.
    pub fn from_params(p: &Params<'_>) -> Result<WireConfig> {
        let message_format = match p.i64("message_format") {
            None | Some(3) => 3,
            Some(2) => 2,
            Some(n) => return Err(bad(format!("message_format must be 2 or 3, got {n}"))),
        };
        let user_data_only = p.bool("user_data_only").unwrap_or(false);
        let compression = if p.bool("data_compression").unwrap_or(false) {
            Some(compression_from(p)?)
        } else {
            None
        };
        let encryption = if p.bool("data_encryption").unwrap_or(false) {
            Some(encryption_from(&p.map_or_empty("crypto"))?)
        } else {
            None
        };
        Ok(WireConfig {
            message_format,
            user_data_only,
            compression,
            encryption,
        })
    }

    /// The message format: 3 (v3 header) or 2 (no header).
    pub fn message_format(&self) -> u8 {
        self.message_format
    }

    /// Whether messages are the bare payload (no header, no Avro envelope, no timestamp).
    pub fn user_data_only(&self) -> bool {
        self.user_data_only
    }

    /// The compression settings, when `data_compression` is on.
    pub fn compression(&self) -> Option<&CompressionConfig> {
        self.compression.as_ref()
    }

    /// The encryption settings, when `data_encryption` is on.
    pub fn encryption(&self) -> Option<&EncryptionConfig> {
        self.encryption.as_ref()
    }
}

fn compression_from(p: &Params<'_>) -> Result<CompressionConfig> {
    let c = p.map_or_empty("compression");
    let name = c.str("algorithm").unwrap_or("gzip");
    let algorithm = CompressionAlgorithm::from_name(name).ok_or_else(|| {
        bad(format!(
            "compression.algorithm {name:?} is not supported (gzip, zstd, lz4)"
        ))
    })?;
    let level = match c.i64("level") {
        None => None,
        Some(l) => Some(i32::try_from(l).map_err(|_| {
            bad(format!(
                "compression.level {l} is out of range for {algorithm}"
            ))
        })?),
    };
    if c.contains(name) {
        tracing::warn!(
            service = p.service(),
            "service {:?}: compression.{name} (library-specific compressor options) is ignored",
            p.service()
        );
    }
    CompressionConfig::new(algorithm, level)
}

fn encryption_from(c: &Params<'_>) -> Result<EncryptionConfig> {
    match c.str("algorithm") {
        Some("AES") => {}
        Some(other) => {
            return Err(bad(format!(
                "crypto.algorithm {other:?} is not supported (only AES)"
            )));
        }
        None => return Err(bad("crypto.algorithm must be specified (AES)")),
    }
    let key_bits = c.i64("key_length").unwrap_or(128);
    if ![128, 192, 256].contains(&key_bits) {
        return Err(bad(format!(
            "crypto.key_length must be 128, 192 or 256, got {key_bits}"
        )));
    }
    let key_len = (key_bits / 8) as usize;
    let mode_name = c
        .str("mode")
        .ok_or_else(|| bad("crypto.mode must be specified (CBC, CFB, OFB, CTR, EAX, GCM)"))?;
    let mode = CipherMode::from_name(mode_name).ok_or_else(|| {
        bad(format!(
            "crypto.mode {mode_name:?} is not supported (CBC, CFB, OFB, CTR, EAX, GCM, OPENPGP)"
        ))
    })?;
    let padding = match c.raw("padding") {
        None | Some(Value::Null) => Padding::None,
        Some(Value::Str(s)) if s == "none" || s == "NoPadding" => Padding::None,
        Some(Value::Str(s)) if s == "pkcs7" => Padding::Pkcs7,
        Some(Value::Str(s)) => {
            return Err(bad(format!(
                "crypto.padding {s:?} is not supported (none, NoPadding, pkcs7)"
            )));
        }
        Some(v) => {
            return Err(bad(format!(
                "crypto.padding must be a string, not {}",
                v.type_name()
            )));
        }
    };
    let kd = c.map_or_empty("key_derivation");
    let salt_bytes = kd.u32("salt_bytes").unwrap_or(DEFAULT_SALT_BYTES);
    if salt_bytes > MAX_SALT_BYTES {
        return Err(bad(format!(
            "crypto.key_derivation.salt_bytes must be at most {MAX_SALT_BYTES}, got {salt_bytes}"
        )));
    }
    let iterations = kd.u32("iteration").unwrap_or(DEFAULT_ITERATIONS);
    if iterations == 0 {
        return Err(bad("crypto.key_derivation.iteration must be at least 1"));
    }
    let prf_name = kd.str("prf").unwrap_or("HMAC-SHA256");
    let prf = Prf::from_name(prf_name);

    let password = password_from(c)?;
    let key = match c.raw("key") {
        None | Some(Value::Null) => None,
        Some(Value::Bytes(b)) => Some(b.as_slice()),
        Some(v) => {
            return Err(bad(format!(
                "crypto.key must be binary data (YAML !!binary), not {}",
                v.type_name()
            )));
        }
    };
    let check_len = |what: &str, k: &[u8]| -> Result<Zeroizing<Vec<u8>>> {
        if k.len() != key_len {
            return Err(bad(format!(
                "length of {what} (={} bits) must be the same as crypto.key_length (={key_bits})",
                k.len() * 8
            )));
        }
        Ok(Zeroizing::new(k.to_vec()))
    };
    let source = match c.raw("_keys") {
        Some(Value::Map(m)) => {
            if password.is_some() {
                return Err(bad(
                    "only one of crypto._keys or crypto.password can be specified",
                ));
            }
            let mut keys = BTreeMap::new();
            for (ver, k) in m.iter() {
                let v: u16 = ver.trim().parse().ok().filter(|v| *v > 0).ok_or_else(|| {
                    bad(format!(
                        "crypto._keys: key version {ver:?} must be an integer from 1 to 65535"
                    ))
                })?;
                let k = match k {
                    Value::Bytes(b) => b.as_slice(),
                    other => {
                        return Err(bad(format!(
                            "crypto._keys.{ver} must be binary data, not {}",
                            other.type_name()
                        )));
                    }
                };
                keys.insert(v, check_len(&format!("crypto._keys.{ver}"), k)?);
            }
            if keys.is_empty() {
                return Err(bad("crypto._keys is empty"));
            }
            KeySource::Versioned(keys)
        }
        Some(v) if !matches!(v, Value::Null) => {
            return Err(bad(format!(
                "crypto._keys must be a map of key versions to keys, not {}",
                v.type_name()
            )));
        }
        _ => match (key, password) {
            (Some(_), Some(_)) => {
                return Err(bad(
                    "only one of crypto.key or crypto.password can be specified",
                ));
            }
            (Some(k), None) => KeySource::Key(check_len("crypto.key", k)?),
            (None, Some(pw)) => KeySource::Password(pw),
            (None, None) => {
                return Err(bad("data_encryption needs crypto.key or crypto.password"));
            }
        },
    };
    let prf = match (&source, prf) {
        (KeySource::Password(_), None) => {
            return Err(bad(format!(
                "crypto.key_derivation.prf {prf_name:?} is not supported \
                 (HMAC-SHA256, HMAC-SHA384, HMAC-SHA512)"
            )));
        }
        (_, p) => p.unwrap_or(Prf::HmacSha256),
    };
    if let KeySource::Password(_) = source {
        let alg = kd.str("algorithm").unwrap_or("pbkdf2");
        if alg != "pbkdf2" && alg != "PBKDF2WithHmacSHA256" {
            return Err(bad(format!(
                "crypto.key_derivation.algorithm {alg:?} is not supported (pbkdf2)"
            )));
        }
    }
    Ok(EncryptionConfig {
        mode,
        padding,
        key_len,
        salt_bytes: salt_bytes as usize,
        iterations,
        prf,
        source,
    })
}

/// `crypto.password`: a string, or `{value: STR}` / `{path: FILE}` (value wins), encoded as
/// Latin-1 like PyCryptodome does.
fn password_from(c: &Params<'_>) -> Result<Option<Zeroizing<Vec<u8>>>> {
    let text: Zeroizing<String> = match c.raw("password") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Str(s)) => Zeroizing::new(s.clone()),
        Some(Value::Map(m)) => match (m.get("value"), m.get("path")) {
            (Some(Value::Str(s)), _) => Zeroizing::new(s.clone()),
            (None | Some(Value::Null), Some(Value::Str(path))) => Zeroizing::new(
                std::fs::read_to_string(path)
                    .map_err(|e| bad(format!("crypto.password.path: cannot read {path:?}: {e}")))?,
            ),
            (None | Some(Value::Null), None | Some(Value::Null)) => {
                return Err(bad("crypto.password needs value: or path:"));
            }
            _ => return Err(bad("crypto.password.value and .path must be strings")),
        },
        Some(v) => {
            return Err(bad(format!(
                "crypto.password must be a string or a map with value:/path:, not {}",
                v.type_name()
            )));
        }
    };
    let bytes = text
        .chars()
        .map(|ch| u8::try_from(u32::from(ch)).ok())
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(|| {
            bad("crypto.password has characters outside Latin-1, which SINETStream cannot use")
        })?;
    Ok(Some(Zeroizing::new(bytes)))
}
