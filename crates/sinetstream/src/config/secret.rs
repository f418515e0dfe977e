//! Decryption of `!sinetstream/encrypted` config values, as Python SINETStream 1.10 does it.
//!
//! A value tagged `!sinetstream/encrypted` is the base64 of
//!
//! ```text
//! header (4 bytes: version u16 BE = 1, public key type u8 = 1 (RSA), common key type u8 = 1 (AES-GCM))
//! ‖ RSA-OAEP(SHA-256)-encrypted AES key (the RSA modulus size)
//! ‖ 12-byte nonce ‖ ciphertext ‖ 16-byte tag
//! ```
//!
//! where the AES-GCM associated data is `header ‖ encrypted key ‖ nonce`. The RSA private key is
//! read from `~/.config/sinetstream/private_key.pem` (PEM or DER; PKCS#1 `RSA PRIVATE KEY`,
//! PKCS#8 `PRIVATE KEY`, or PKCS#8 `ENCRYPTED PRIVATE KEY` with the passphrase in
//! [`PASSPHRASE_ENV`]); the environment variable [`PRIVATE_KEY_ENV`] names another file. The key
//! is read only when the service has an encrypted value, and once per service.
//!
//! Every encrypted value of a service's parameters, at any depth and in lists too, is replaced by
//! its plaintext: a [`Value::Str`] when the plaintext is UTF-8 (Python yields `bytes`, but users
//! encrypt passwords and the backends read strings), else [`Value::Bytes`]. Errors name the
//! service, the parameter and the key file, never the plaintext or key material.
//!
//! Decryption needs the cargo feature `encrypted-config` (on by default); without it an encrypted
//! value is an [`Error::InvalidConfig`].

use std::fmt;
use std::path::PathBuf;

use super::value::{Map, Value};
use crate::error::{Error, Result};

/// Environment variable naming the private key file instead of
/// `~/.config/sinetstream/private_key.pem` (an extension of this library, used by tests).
pub const PRIVATE_KEY_ENV: &str = "SINETSTREAM_PRIVATE_KEY";
/// Environment variable holding the passphrase of an encrypted private key (as in Python).
pub const PASSPHRASE_ENV: &str = "SINETSTREAM_PRIVATE_KEY_PASSPHRASE";

/// Length of the header.
pub const HEADER_LEN: usize = 4;
/// Length of the AES-GCM nonce.
pub const NONCE_LEN: usize = 12;
/// Length of the AES-GCM tag.
pub const TAG_LEN: usize = 16;
/// The only supported format version.
pub const VERSION: u16 = 1;
/// Public key type "RSA".
pub const PUBLIC_KEY_RSA: u8 = 1;
/// Common (symmetric) key type "AES-GCM".
pub const COMMON_KEY_AES_GCM: u8 = 1;

/// Why an encrypted value could not be parsed. The message never contains value bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatError(String);

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FormatError {}

/// The parts of an encrypted value, borrowed from it.
#[derive(Clone, Copy)]
pub struct SecData<'a> {
    /// `header ‖ encrypted key ‖ nonce`: the AES-GCM associated data.
    pub aad: &'a [u8],
    /// The RSA-encrypted AES key.
    pub encrypted_key: &'a [u8],
    /// The AES-GCM nonce.
    pub nonce: &'a [u8],
    /// The AES-GCM ciphertext (may be empty).
    pub ciphertext: &'a [u8],
    /// The AES-GCM tag.
    pub tag: &'a [u8],
}

impl fmt::Debug for SecData<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecData")
            .field(
                "encrypted_key",
                &format_args!("<{} bytes>", self.encrypted_key.len()),
            )
            .field(
                "ciphertext",
                &format_args!("<{} bytes>", self.ciphertext.len()),
            )
            .finish_non_exhaustive()
    }
}

/// Checks the 4-byte header (Python's `check_sec_header`).
pub fn check_header(blob: &[u8]) -> Result<(), FormatError> {
    let Some(&[v0, v1, public_key_type, common_key_type]) = blob.get(..HEADER_LEN) else {
        return Err(FormatError(format!(
            "the value is {} bytes long, shorter than its {HEADER_LEN}-byte header",
            blob.len()
        )));
    };
    let version = u16::from_be_bytes([v0, v1]);
    if version != VERSION {
        return Err(FormatError(format!(
            "unsupported version {version} (expected {VERSION})"
        )));
    }
    if public_key_type != PUBLIC_KEY_RSA {
        return Err(FormatError(format!(
            "unsupported public key type {public_key_type} (expected {PUBLIC_KEY_RSA}, RSA)"
        )));
    }
    if common_key_type != COMMON_KEY_AES_GCM {
        return Err(FormatError(format!(
            "unsupported common key type {common_key_type} (expected {COMMON_KEY_AES_GCM}, AES-GCM)"
        )));
    }
    Ok(())
}

/// Splits an encrypted value for an RSA key of `key_size` bytes (Python's `parse_sec_data`).
///
/// Unlike Python's slicing, a value too short to hold every part is an error.
pub fn parse(blob: &[u8], key_size: usize) -> Result<SecData<'_>, FormatError> {
    check_header(blob)?;
    let key_end = HEADER_LEN.saturating_add(key_size);
    let nonce_end = key_end.saturating_add(NONCE_LEN);
    let min = nonce_end.saturating_add(TAG_LEN);
    if blob.len() < min {
        return Err(FormatError(format!(
            "the value is {} bytes long, shorter than the {min} bytes of header, \
             {key_size}-byte encrypted key, nonce and tag",
            blob.len()
        )));
    }
    let tag_start = blob.len() - TAG_LEN;
    let part = |from: usize, to: usize| {
        blob.get(from..to)
            .ok_or_else(|| FormatError("the value is truncated".to_owned()))
    };
    Ok(SecData {
        aad: part(0, nonce_end)?,
        encrypted_key: part(HEADER_LEN, key_end)?,
        nonce: part(key_end, nonce_end)?,
        ciphertext: part(nonce_end, tag_start)?,
        tag: part(tag_start, blob.len())?,
    })
}

/// The private key file: `$SINETSTREAM_PRIVATE_KEY` if set and not empty, else
/// `~/.config/sinetstream/private_key.pem`; `None` without a home directory.
pub fn private_key_path() -> Option<PathBuf> {
    match std::env::var_os(PRIVATE_KEY_ENV) {
        Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ => dirs::home_dir().map(|h| {
            h.join(".config")
                .join("sinetstream")
                .join("private_key.pem")
        }),
    }
}

/// Replaces every encrypted value in `map` (at any depth) by its plaintext.
///
/// `service` is for error messages. Shorthand for one [`Decryptor::decrypt_map`].
pub fn decrypt_all(service: &str, map: &mut Map) -> Result<()> {
    Decryptor::new(service).decrypt_map(map)
}

/// Whether `v` is or contains an encrypted value.
pub fn contains_encrypted(v: &Value) -> bool {
    match v {
        Value::Encrypted(_) => true,
        Value::Seq(s) => s.iter().any(contains_encrypted),
        Value::Map(m) => m.iter().any(|(_, v)| contains_encrypted(v)),
        _ => false,
    }
}

/// Decrypts the encrypted values of one service, reading the private key on first need and
/// keeping it for the next maps (the file block, then the constructor arguments).
pub struct Decryptor<'s> {
    service: &'s str,
    #[cfg(feature = "encrypted-config")]
    key: Option<rsa_key::LoadedKey>,
}

impl fmt::Debug for Decryptor<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Decryptor");
        d.field("service", &self.service);
        #[cfg(feature = "encrypted-config")]
        d.field("key_loaded", &self.key.is_some());
        d.finish()
    }
}

impl<'s> Decryptor<'s> {
    /// A decryptor for the parameters of `service`; the key is not read yet.
    pub fn new(service: &'s str) -> Self {
        Decryptor {
            service,
            #[cfg(feature = "encrypted-config")]
            key: None,
        }
    }

    /// Replaces every encrypted value in `map` (at any depth) by its plaintext.
    pub fn decrypt_map(&mut self, map: &mut Map) -> Result<()> {
        if !map.iter().any(|(_, v)| contains_encrypted(v)) {
            return Ok(());
        }
        self.decrypt_entries(map, None)
    }

    /// Decrypts the values of `map` (whose path is `path`, `None` at the top), marking the keys
    /// whose values held encrypted ones so that `Debug` masks them.
    fn decrypt_entries(&mut self, map: &mut Map, path: Option<&str>) -> Result<()> {
        let keys: Vec<String> = map.keys().map(str::to_owned).collect();
        for k in keys {
            let Some(v) = map.get_mut(&k) else {
                continue;
            };
            if !contains_encrypted(v) {
                continue;
            }
            let here = match path {
                Some(p) => format!("{p}.{k}"),
                None => k.clone(),
            };
            self.decrypt_value(&here, v)?;
            // A map's own entries carry the marks; a list is masked as a whole.
            if !matches!(v, Value::Map(_)) {
                map.mark_decrypted(&k);
            }
        }
        Ok(())
    }

    fn decrypt_value(&mut self, path: &str, v: &mut Value) -> Result<()> {
        match v {
            Value::Encrypted(blob) => {
                *v = self.decrypt_blob(path, blob)?;
                Ok(())
            }
            Value::Seq(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    if contains_encrypted(item) {
                        self.decrypt_value(&format!("{path}[{i}]"), item)?;
                    }
                }
                Ok(())
            }
            Value::Map(m) => self.decrypt_entries(m, Some(path)),
            _ => Ok(()),
        }
    }

    fn error(&self, path: &str, what: impl fmt::Display) -> Error {
        Error::InvalidConfig(format!(
            "service {:?}: parameter {path:?} is encrypted but {what}",
            self.service
        ))
    }

    #[cfg(not(feature = "encrypted-config"))]
    fn decrypt_blob(&mut self, path: &str, _blob: &[u8]) -> Result<Value> {
        Err(self.error(
            path,
            "this build of sinetstream cannot decrypt config values \
             (it lacks the cargo feature \"encrypted-config\")",
        ))
    }

    #[cfg(feature = "encrypted-config")]
    fn decrypt_blob(&mut self, path: &str, blob: &[u8]) -> Result<Value> {
        if self.key.is_none() {
            let Some(file) = private_key_path() else {
                return Err(self.error(
                    path,
                    format_args!(
                        "~/.config/sinetstream/private_key.pem cannot be read: \
                         no home directory (set {PRIVATE_KEY_ENV} to the key file)"
                    ),
                ));
            };
            let loaded = rsa_key::LoadedKey::load(file)
                .map_err(|(file, e)| self.error(path, format_args!("{} {e}", file.display())))?;
            self.key = Some(loaded);
        }
        let Some(key) = self.key.as_ref() else {
            return Err(self.error(path, "the private key is not loaded"));
        };
        let plain = key.decrypt(blob).map_err(|e| {
            self.error(
                path,
                format_args!(
                    "cannot be decrypted with the private key {}: {e}",
                    key.path.display()
                ),
            )
        })?;
        Ok(match String::from_utf8(plain) {
            Ok(s) => Value::Str(s),
            Err(e) => Value::Bytes(e.into_bytes()),
        })
    }
}

#[cfg(feature = "encrypted-config")]
mod rsa_key {
    //! The RSA private key and the decryption proper.

    use std::fmt;
    use std::path::PathBuf;

    use aes::cipher::{
        BlockCipherEncrypt, BlockSizeUser, KeyInit, array::Array, consts::U12, consts::U16,
    };
    use aes_gcm::{AeadInOut, AesGcm};
    use rsa::pkcs1::DecodeRsaPrivateKey;
    use rsa::pkcs8::DecodePrivateKey;
    use rsa::sha2::Sha256;
    use rsa::traits::PublicKeyParts;
    use rsa::{Oaep, PrivateKey};
    use zeroize::{Zeroize, Zeroizing};

    use super::{FormatError, PASSPHRASE_ENV, parse};

    /// A private key and the file it came from.
    pub(super) struct LoadedKey {
        pub(super) path: PathBuf,
        key: PrivateKey,
    }

    impl fmt::Debug for LoadedKey {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("LoadedKey")
                .field("path", &self.path)
                .finish_non_exhaustive()
        }
    }

    impl LoadedKey {
        /// Reads and parses the key file. On error, returns the path and a message that
        /// continues "<path> ...".
        pub(super) fn load(path: PathBuf) -> Result<LoadedKey, (PathBuf, String)> {
            let data = match std::fs::read(&path) {
                Ok(d) => Zeroizing::new(d),
                Err(e) => return Err((path, format!("cannot be read: {e}"))),
            };
            match parse_key(&data) {
                Ok(key) => Ok(LoadedKey { path, key }),
                Err(e) => Err((path, format!("is not a usable RSA private key: {e}"))),
            }
        }

        /// Decrypts one value; the error never contains value or key bytes.
        pub(super) fn decrypt(&self, blob: &[u8]) -> Result<Vec<u8>, FormatError> {
            let parts = parse(blob, self.key.size())?;
            let aes_key = Zeroizing::new(
                self.key
                    .decrypt(Oaep::<Sha256>::new(), parts.encrypted_key)
                    .map_err(|_| {
                        FormatError(
                            "RSA-OAEP decryption of its AES key failed (was it encrypted for \
                             another public key, or is it corrupted?)"
                                .to_owned(),
                        )
                    })?,
            );
            let mut buf = parts.ciphertext.to_vec();
            let res = match aes_key.len() {
                16 => gcm_decrypt::<aes::Aes128>(&aes_key, &parts, &mut buf),
                24 => gcm_decrypt::<aes::Aes192>(&aes_key, &parts, &mut buf),
                32 => gcm_decrypt::<aes::Aes256>(&aes_key, &parts, &mut buf),
                n => Err(FormatError(format!(
                    "its AES key is {n} bytes long (expected 16, 24 or 32)"
                ))),
            };
            match res {
                Ok(()) => Ok(buf),
                Err(e) => {
                    buf.zeroize();
                    Err(e)
                }
            }
        }
    }

    fn gcm_decrypt<C>(
        key: &[u8],
        parts: &super::SecData<'_>,
        buf: &mut [u8],
    ) -> Result<(), FormatError>
    where
        C: KeyInit + BlockCipherEncrypt + Clone + BlockSizeUser<BlockSize = U16>,
    {
        let bad = |what: &str| FormatError(what.to_owned());
        let nonce = Array::<u8, U12>::try_from(parts.nonce).map_err(|_| bad("bad nonce length"))?;
        let tag = Array::<u8, U16>::try_from(parts.tag).map_err(|_| bad("bad tag length"))?;
        AesGcm::<C, U12>::new_from_slice(key)
            .map_err(|_| bad("bad AES key length"))?
            .decrypt_inout_detached(&nonce, parts.aad, buf.into(), &tag)
            .map_err(|_| {
                bad("AES-GCM authentication failed (corrupted value, or encrypted for another key)")
            })
    }

    /// Parses a PEM or DER RSA private key, as PyCryptodome's `RSA.importKey` accepts them
    /// (except the legacy OpenSSL encrypted PEM and the OpenSSH format, which get a hint).
    fn parse_key(data: &[u8]) -> Result<PrivateKey, String> {
        let passphrase = || -> Result<Zeroizing<String>, String> {
            match std::env::var(PASSPHRASE_ENV) {
                Ok(p) => Ok(Zeroizing::new(p)),
                Err(std::env::VarError::NotPresent) => Err(format!(
                    "it is encrypted and {PASSPHRASE_ENV} (its passphrase) is not set"
                )),
                Err(std::env::VarError::NotUnicode(_)) => {
                    Err(format!("{PASSPHRASE_ENV} is not valid UTF-8"))
                }
            }
        };
        let wrong = |e: &dyn fmt::Display| format!("{e} (wrong passphrase in {PASSPHRASE_ENV}?)");
        let Some(begin) = find(data, b"-----BEGIN ") else {
            // DER: PKCS#8, PKCS#1, then encrypted PKCS#8.
            if let Ok(k) = PrivateKey::from_pkcs8_der(data) {
                return Ok(k);
            }
            if let Ok(k) = PrivateKey::from_pkcs1_der(data) {
                return Ok(k);
            }
            if let Ok(pw) = passphrase() {
                return PrivateKey::from_pkcs8_encrypted_der(data, pw.as_bytes())
                    .map_err(|e| wrong(&e));
            }
            return Err("neither PEM nor a DER PKCS#1/PKCS#8 RSA private key".to_owned());
        };
        let text = std::str::from_utf8(data).map_err(|_| "the PEM file is not text".to_owned())?;
        let label_start = begin + "-----BEGIN ".len();
        let label = text
            .get(label_start..)
            .and_then(|rest| rest.split("-----").next())
            .unwrap_or("");
        match label {
            "PRIVATE KEY" => PrivateKey::from_pkcs8_pem(text).map_err(|e| e.to_string()),
            "RSA PRIVATE KEY" if text.contains("Proc-Type: 4,ENCRYPTED") => Err(
                "it is a legacy OpenSSL encrypted PEM, which is not supported; convert it to \
                 PKCS#8 (openssl pkcs8 -topk8 -in OLD -out NEW) and set the passphrase in \
                 SINETSTREAM_PRIVATE_KEY_PASSPHRASE"
                    .to_owned(),
            ),
            "RSA PRIVATE KEY" => PrivateKey::from_pkcs1_pem(text).map_err(|e| e.to_string()),
            "ENCRYPTED PRIVATE KEY" => {
                let pw = passphrase()?;
                PrivateKey::from_pkcs8_encrypted_pem(text, pw.as_bytes()).map_err(|e| wrong(&e))
            }
            "OPENSSH PRIVATE KEY" => Err(
                "the OpenSSH key format is not supported; convert it to PEM \
                 (ssh-keygen -p -m PKCS8 -f FILE)"
                    .to_owned(),
            ),
            other => Err(format!(
                "expected a PEM \"PRIVATE KEY\", \"RSA PRIVATE KEY\" or \"ENCRYPTED PRIVATE KEY\", found {other:?}"
            )),
        }
    }

    fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
        haystack.windows(needle.len()).position(|w| w == needle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(key_size: usize, ct_len: usize) -> Vec<u8> {
        let mut b = vec![0, 1, 1, 1];
        b.extend(std::iter::repeat_n(0xAA, key_size));
        b.extend([0xBB; NONCE_LEN]);
        b.extend(std::iter::repeat_n(0xCC, ct_len));
        b.extend([0xDD; TAG_LEN]);
        b
    }

    #[test]
    fn header_is_checked() {
        assert!(check_header(&[0, 1, 1, 1]).is_ok());
        assert!(check_header(&[0, 1, 1, 1, 9, 9]).is_ok());
        let e = check_header(&[0, 2, 1, 1]).expect_err("version 2");
        assert!(e.to_string().contains("version 2"), "{e}");
        let e = check_header(&[1, 1, 1, 1]).expect_err("version 257");
        assert!(e.to_string().contains("version 257"), "{e}");
        let e = check_header(&[0, 1, 2, 1]).expect_err("public key type");
        assert!(e.to_string().contains("public key type 2"), "{e}");
        let e = check_header(&[0, 1, 1, 0]).expect_err("common key type");
        assert!(e.to_string().contains("common key type 0"), "{e}");
        for n in 0..HEADER_LEN {
            assert!(check_header(&[0, 1, 1, 1][..n]).is_err());
        }
    }

    #[test]
    fn parse_splits_the_parts() {
        let b = blob(8, 5);
        let p = parse(&b, 8).expect("parses");
        assert_eq!(p.encrypted_key, &[0xAA; 8]);
        assert_eq!(p.nonce, &[0xBB; NONCE_LEN]);
        assert_eq!(p.ciphertext, &[0xCC; 5]);
        assert_eq!(p.tag, &[0xDD; TAG_LEN]);
        assert_eq!(p.aad.len(), HEADER_LEN + 8 + NONCE_LEN);
        assert_eq!(p.aad, b.get(..HEADER_LEN + 8 + NONCE_LEN).expect("aad"));
        // Empty ciphertext: an encrypted empty string.
        let b = blob(8, 0);
        assert!(parse(&b, 8).expect("parses").ciphertext.is_empty());
        let dbg = format!("{:?}", parse(&b, 8).expect("parses"));
        assert!(!dbg.contains("170"), "{dbg}");
    }

    #[test]
    fn every_truncation_is_an_error() {
        for key_size in [0, 8, 256] {
            let b = blob(key_size, 3);
            for n in 0..HEADER_LEN + key_size + NONCE_LEN + TAG_LEN {
                let short = b.get(..n).expect("prefix");
                assert!(parse(short, key_size).is_err(), "{n} of {} bytes", b.len());
            }
            for n in HEADER_LEN + key_size + NONCE_LEN + TAG_LEN..=b.len() {
                assert!(parse(b.get(..n).expect("prefix"), key_size).is_ok());
            }
        }
        // A key size that would overflow.
        assert!(parse(&blob(0, 0), usize::MAX).is_err());
    }

    #[test]
    fn maps_without_encrypted_values_are_untouched() {
        let mut m = Map::new();
        m.insert("a", Value::Seq(vec![Value::from("x"), Value::Int(1)]));
        let before = m.clone();
        decrypt_all("s", &mut m).expect("nothing to decrypt");
        assert_eq!(m, before);
    }

    #[test]
    fn errors_name_the_parameter_path() {
        // Whatever stops it (no key file, no feature, the bad version 9 header), the error
        // names the service and the parameter's path.
        let mut inner = Map::new();
        inner.insert("password", Value::Encrypted(vec![0, 9, 1, 1]));
        let mut m = Map::new();
        m.insert("list", Value::Seq(vec![Value::Int(1), Value::Map(inner)]));
        let mut d = Decryptor::new("svc");
        let e = d.decrypt_map(&mut m).expect_err("cannot decrypt");
        let msg = e.to_string();
        assert!(matches!(e, Error::InvalidConfig(_)), "{msg}");
        assert!(msg.contains("service \"svc\""), "{msg}");
        assert!(msg.contains("\"list[1].password\""), "{msg}");
    }

    #[cfg(feature = "encrypted-config")]
    #[test]
    fn key_parse_errors_are_clear() {
        let e = rsa_key::LoadedKey::load(PathBuf::from("/nonexistent/sinetstream/key.pem"))
            .expect_err("no file");
        assert!(e.1.contains("cannot be read"), "{}", e.1);
        let dir = std::env::temp_dir().join(format!("sst-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tmp dir");
        let cases: [(&str, &str); 3] = [
            (
                "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
                "OpenSSH",
            ),
            (
                "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n",
                "legacy",
            ),
            (
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                "CERTIFICATE",
            ),
        ];
        for (i, (pem, want)) in cases.iter().enumerate() {
            let p = dir.join(format!("k{i}.pem"));
            std::fs::write(&p, pem).expect("write");
            let e = rsa_key::LoadedKey::load(p).expect_err("unusable");
            assert!(e.1.contains(want), "{}", e.1);
        }
        let p = dir.join("garbage.der");
        std::fs::write(&p, [0x30, 0x03, 0x02, 0x01]).expect("write");
        assert!(rsa_key::LoadedKey::load(p).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
