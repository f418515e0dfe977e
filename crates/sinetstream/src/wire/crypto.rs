//! AES payload encryption, compatible with Python SINETStream 1.10 (`crypto.py`, PyCryptodome).
//!
//! Encrypted body: `salt (salt_bytes) ‖ IV/nonce ‖ ciphertext ‖ tag`.
//!
//! | mode | IV field | notes |
//! |---|---|---|
//! | CBC | 16-byte IV | needs `padding: pkcs7` unless the data is block aligned |
//! | CFB | 16-byte IV | **CFB-8** (PyCryptodome's default segment size is 8 bits) |
//! | OFB | 16-byte IV | |
//! | CTR | 16-byte initial counter block | the whole block is a 128-bit big-endian counter |
//! | EAX | 16-byte nonce | 8-byte tag, associated data = salt ‖ nonce |
//! | GCM | 16-byte nonce | 16-byte tag, associated data = salt ‖ nonce |
//! | OPENPGP | 18-byte encrypted IV | PyCryptodome's OpenPGP CFB variant |
//!
//! `padding: pkcs7` pads before encryption in every mode, as Python does. The key is `crypto.key`
//! (raw bytes of `key_length / 8`), an entry of `crypto._keys` (raw keys by key version), or
//! PBKDF2(`crypto.password` encoded as Latin-1, salt, iteration, key_length / 8, HMAC-SHA-x).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Mutex, OnceLock};

use aes::cipher::{
    BlockCipherEncrypt, BlockModeDecrypt, BlockModeEncrypt, InOutBuf, KeyInit, KeyIvInit,
    StreamCipher, array::Array, consts::U8, consts::U16,
};
use aes_gcm::{AeadInOut, AesGcm};
use eax::Eax;
use rand::RngCore;
use zeroize::Zeroizing;

use super::invalid;
use crate::error::{Error, Result};

/// Runs `$body` with `$C` bound to the AES type of a key of `$len` bytes.
macro_rules! with_aes {
    ($len:expr, $C:ident => $body:expr) => {
        match $len {
            16 => {
                type $C = aes::Aes128;
                $body
            }
            24 => {
                type $C = aes::Aes192;
                $body
            }
            32 => {
                type $C = aes::Aes256;
                $body
            }
            n => Err(invalid(format!("AES key of {n} bytes"))),
        }
    };
}

/// AES block size in bytes.
const BLOCK: usize = 16;
/// Derived keys kept per codec (key version, salt) before the cache is cleared.
const KEY_CACHE_MAX: usize = 256;

/// An AES mode of `crypto.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CipherMode {
    /// `CBC`.
    Cbc,
    /// `CFB` (CFB-8, as PyCryptodome's default).
    Cfb,
    /// `OFB`.
    Ofb,
    /// `CTR` with a random 128-bit initial counter.
    Ctr,
    /// `EAX` with a 16-byte nonce and an 8-byte tag.
    Eax,
    /// `GCM` with a 16-byte nonce and a 16-byte tag.
    Gcm,
    /// `OPENPGP` / `OPENPGPCFB`: PyCryptodome's OpenPGP CFB variant.
    OpenPgp,
}

impl CipherMode {
    /// Parses a `crypto.mode` value (case-sensitive, as in Python).
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "CBC" => Self::Cbc,
            "CFB" => Self::Cfb,
            "OFB" => Self::Ofb,
            "CTR" => Self::Ctr,
            "EAX" => Self::Eax,
            "GCM" => Self::Gcm,
            "OPENPGP" | "OPENPGPCFB" => Self::OpenPgp,
            _ => return None,
        })
    }

    /// The configuration name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cbc => "CBC",
            Self::Cfb => "CFB",
            Self::Ofb => "OFB",
            Self::Ctr => "CTR",
            Self::Eax => "EAX",
            Self::Gcm => "GCM",
            Self::OpenPgp => "OPENPGP",
        }
    }

    /// Length of the IV/nonce/counter field on the wire.
    pub fn iv_len(self) -> usize {
        match self {
            Self::OpenPgp => BLOCK + 2,
            _ => BLOCK,
        }
    }

    /// Length of the authentication tag on the wire (0 for unauthenticated modes).
    pub fn tag_len(self) -> usize {
        match self {
            Self::Gcm => 16,
            Self::Eax => 8,
            _ => 0,
        }
    }
}

/// `crypto.padding`: none or PKCS#7.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Padding {
    /// `none`, `NoPadding` or absent.
    None,
    /// `pkcs7`.
    Pkcs7,
}

/// `crypto.key_derivation.prf`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Prf {
    /// `HMAC-SHA256` (the default).
    HmacSha256,
    /// `HMAC-SHA384`.
    HmacSha384,
    /// `HMAC-SHA512`.
    HmacSha512,
}

impl Prf {
    /// Parses a `crypto.key_derivation.prf` value.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "HMAC-SHA256" => Some(Self::HmacSha256),
            "HMAC-SHA384" => Some(Self::HmacSha384),
            "HMAC-SHA512" => Some(Self::HmacSha512),
            _ => None,
        }
    }
}

/// Where the AES key comes from. Secret: never printed.
#[derive(Clone)]
pub(crate) enum KeySource {
    /// `crypto.key`, key version 1.
    Key(Zeroizing<Vec<u8>>),
    /// `crypto.password` as Latin-1 bytes, key version 1, PBKDF2 per salt.
    Password(Zeroizing<Vec<u8>>),
    /// `crypto._keys`: raw keys by key version; the writer uses the highest.
    Versioned(BTreeMap<u16, Zeroizing<Vec<u8>>>),
}

/// Encryption settings (from `crypto` when `data_encryption` is on).
///
/// `Debug` shows the mode and lengths but never a key or password.
#[derive(Clone)]
pub struct EncryptionConfig {
    pub(crate) mode: CipherMode,
    pub(crate) padding: Padding,
    pub(crate) key_len: usize,
    pub(crate) salt_bytes: usize,
    pub(crate) iterations: u32,
    pub(crate) prf: Prf,
    pub(crate) source: KeySource,
}

impl EncryptionConfig {
    /// The AES mode.
    pub fn mode(&self) -> CipherMode {
        self.mode
    }

    /// The padding.
    pub fn padding(&self) -> Padding {
        self.padding
    }

    /// The key length in bits (128, 192 or 256).
    pub fn key_length_bits(&self) -> u32 {
        (self.key_len * 8) as u32
    }

    /// The salt length in bytes.
    pub fn salt_bytes(&self) -> usize {
        self.salt_bytes
    }

    /// The key version a writer puts in the v3 header: the highest of `_keys`, else 1.
    pub fn max_key_version(&self) -> u16 {
        match &self.source {
            KeySource::Versioned(keys) => keys.keys().next_back().copied().unwrap_or(1),
            _ => 1,
        }
    }

    fn source_kind(&self) -> String {
        match &self.source {
            KeySource::Key(_) => "key".to_owned(),
            KeySource::Password(_) => "password".to_owned(),
            KeySource::Versioned(k) => {
                format!("_keys (versions {:?})", k.keys().collect::<Vec<_>>())
            }
        }
    }
}

impl fmt::Debug for EncryptionConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionConfig")
            .field("mode", &self.mode)
            .field("padding", &self.padding)
            .field("key_length", &self.key_length_bits())
            .field("salt_bytes", &self.salt_bytes)
            .field("iteration", &self.iterations)
            .field("prf", &self.prf)
            .field(
                "key_source",
                &format_args!("{} (hidden)", self.source_kind()),
            )
            .finish()
    }
}

/// PBKDF2 with the configured PRF.
pub(crate) fn pbkdf2(prf: Prf, password: &[u8], salt: &[u8], iterations: u32, out: &mut [u8]) {
    match prf {
        Prf::HmacSha256 => pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt, iterations, out),
        Prf::HmacSha384 => pbkdf2::pbkdf2_hmac::<sha2::Sha384>(password, salt, iterations, out),
        Prf::HmacSha512 => pbkdf2::pbkdf2_hmac::<sha2::Sha512>(password, salt, iterations, out),
    }
}

type Key = Zeroizing<Vec<u8>>;

/// The runtime cipher of a codec: the writer's salt and key, and a cache of derived keys.
pub(crate) struct Cipher {
    cfg: EncryptionConfig,
    /// Writer salt and key, drawn on first use (one salt per writer, as Python).
    writer: OnceLock<(Vec<u8>, Key)>,
    derived: Mutex<HashMap<(u16, Vec<u8>), Key>>,
}

impl fmt::Debug for Cipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cipher")
            .field("config", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl Cipher {
    pub(crate) fn new(cfg: &EncryptionConfig) -> Self {
        Cipher {
            cfg: cfg.clone(),
            writer: OnceLock::new(),
            derived: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn max_key_version(&self) -> u16 {
        self.cfg.max_key_version()
    }

    /// The key of `version` for `salt`: a raw key, or PBKDF2 of the password (cached).
    fn key_for(&self, version: u16, salt: &[u8]) -> Result<Key> {
        match &self.cfg.source {
            KeySource::Key(k) if version == 1 => Ok(k.clone()),
            KeySource::Versioned(keys) => keys.get(&version).cloned().ok_or_else(|| {
                invalid(format!(
                    "message uses key version {version}, which is not configured"
                ))
            }),
            KeySource::Password(pw) if version == 1 => {
                let mut cache = self.derived.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(k) = cache.get(&(version, salt.to_vec())) {
                    return Ok(k.clone());
                }
                let mut key = Zeroizing::new(vec![0u8; self.cfg.key_len]);
                pbkdf2(self.cfg.prf, pw, salt, self.cfg.iterations, &mut key);
                if cache.len() >= KEY_CACHE_MAX {
                    cache.clear();
                }
                cache.insert((version, salt.to_vec()), key.clone());
                Ok(key)
            }
            _ => Err(invalid(format!(
                "message uses key version {version}, which is not configured"
            ))),
        }
    }

    /// Encrypts with the writer's salt (drawn once) and a fresh random IV.
    pub(crate) fn encrypt(&self, data: &[u8]) -> Result<Vec<u8>> {
        let (salt, key) = match self.writer.get() {
            Some(w) => w,
            None => {
                let mut salt = vec![0u8; self.cfg.salt_bytes];
                rand::rng().fill_bytes(&mut salt);
                let key = self.key_for(self.max_key_version(), &salt)?;
                self.writer.get_or_init(|| (salt, key))
            }
        };
        let mut iv = [0u8; BLOCK];
        rand::rng().fill_bytes(&mut iv);
        self.encrypt_raw(key, salt, &iv, data)
    }

    /// Encrypts with the given salt and IV (16 bytes; for OPENPGP the clear IV).
    pub(crate) fn encrypt_with(&self, data: &[u8], salt: &[u8], iv: &[u8]) -> Result<Vec<u8>> {
        if salt.len() != self.cfg.salt_bytes {
            return Err(Error::InvalidArgument(format!(
                "salt must be {} bytes (crypto.key_derivation.salt_bytes), got {}",
                self.cfg.salt_bytes,
                salt.len()
            )));
        }
        if iv.len() != BLOCK {
            return Err(Error::InvalidArgument(format!(
                "IV/nonce must be {BLOCK} bytes, got {}",
                iv.len()
            )));
        }
        let key = self.key_for(self.max_key_version(), salt)?;
        self.encrypt_raw(&key, salt, iv, data)
    }

    fn encrypt_raw(&self, key: &[u8], salt: &[u8], iv: &[u8], data: &[u8]) -> Result<Vec<u8>> {
        let mode = self.cfg.mode;
        let mut buf = Vec::with_capacity(data.len() + BLOCK);
        buf.extend_from_slice(data);
        if self.cfg.padding == Padding::Pkcs7 {
            let n = BLOCK - data.len() % BLOCK;
            buf.resize(data.len() + n, n as u8);
        }
        let mut out = Vec::with_capacity(salt.len() + mode.iv_len() + buf.len() + mode.tag_len());
        out.extend_from_slice(salt);
        match mode {
            CipherMode::OpenPgp => {
                let eiv = with_aes!(key.len(), C => openpgp_encrypt::<C>(key, iv, &mut buf))?;
                out.extend_from_slice(&eiv);
            }
            CipherMode::Gcm | CipherMode::Eax => {
                out.extend_from_slice(iv);
                let aad = out.clone();
                let tag =
                    with_aes!(key.len(), C => aead_encrypt::<C>(mode, key, iv, &aad, &mut buf))?;
                out.extend_from_slice(&buf);
                out.extend_from_slice(&tag);
                return Ok(out);
            }
            _ => {
                out.extend_from_slice(iv);
                with_aes!(key.len(), C => apply_mode::<C>(mode, true, key, iv, &mut buf))?;
            }
        }
        out.extend_from_slice(&buf);
        Ok(out)
    }

    /// Decrypts a body made by [`Cipher::encrypt`] with the key of `version`.
    pub(crate) fn decrypt(&self, body: &[u8], version: u16) -> Result<Vec<u8>> {
        let mode = self.cfg.mode;
        let sb = self.cfg.salt_bytes;
        let min = sb + mode.iv_len() + mode.tag_len();
        if body.len() < min {
            return Err(invalid(format!(
                "encrypted message too short ({} bytes, AES-{} needs at least {min})",
                body.len(),
                mode.name()
            )));
        }
        let (salt, rest) = body.split_at(sb);
        let (iv, rest) = rest.split_at(mode.iv_len());
        let (ct, tag) = rest.split_at(rest.len() - mode.tag_len());
        let key = self.key_for(version, salt)?;
        let mut buf = ct.to_vec();
        match mode {
            CipherMode::Gcm | CipherMode::Eax => {
                let aad = &body[..sb + mode.iv_len()];
                with_aes!(key.len(), C => aead_decrypt::<C>(mode, &key, iv, aad, &mut buf, tag))?;
            }
            CipherMode::OpenPgp => {
                with_aes!(key.len(), C => openpgp_decrypt::<C>(&key, iv, &mut buf))?;
            }
            _ => with_aes!(key.len(), C => apply_mode::<C>(mode, false, &key, iv, &mut buf))?,
        }
        if self.cfg.padding == Padding::Pkcs7 {
            let n = pkcs7_unpad_len(&buf).ok_or_else(|| {
                invalid(format!(
                    "bad PKCS#7 padding after AES-{} decryption (wrong key or corrupted message)",
                    mode.name()
                ))
            })?;
            buf.truncate(n);
        }
        Ok(buf)
    }
}

/// The length of the data without its PKCS#7 padding (PyCryptodome's `unpad` rules).
fn pkcs7_unpad_len(buf: &[u8]) -> Option<usize> {
    if buf.is_empty() || !buf.len().is_multiple_of(BLOCK) {
        return None;
    }
    let n = usize::from(*buf.last()?);
    if n == 0 || n > BLOCK {
        return None;
    }
    let (data, pad) = buf.split_at(buf.len() - n);
    pad.iter()
        .all(|&b| usize::from(b) == n)
        .then_some(data.len())
}

fn key_err<E>(_: E) -> Error {
    invalid("AES key or IV of the wrong length")
}

/// CBC, CFB-8, OFB and CTR, encrypting or decrypting `buf` in place.
fn apply_mode<C>(
    mode: CipherMode,
    encrypt: bool,
    key: &[u8],
    iv: &[u8],
    buf: &mut [u8],
) -> Result<()>
where
    C: KeyInit
        + BlockCipherEncrypt
        + aes::cipher::BlockCipherDecrypt
        + aes::cipher::BlockSizeUser<BlockSize = U16>,
{
    match mode {
        CipherMode::Cbc => {
            if !buf.len().is_multiple_of(BLOCK) {
                return Err(if encrypt {
                    invalid(format!(
                        "AES-CBC without padding needs a multiple of {BLOCK} bytes, got {}; \
                         set crypto.padding: pkcs7",
                        buf.len()
                    ))
                } else {
                    invalid(format!(
                        "AES-CBC ciphertext of {} bytes is not a multiple of {BLOCK}",
                        buf.len()
                    ))
                });
            }
            let (blocks, _) = InOutBuf::from(buf).into_chunks::<U16>();
            if encrypt {
                cbc::Encryptor::<C>::new_from_slices(key, iv)
                    .map_err(key_err)?
                    .encrypt_blocks_inout(blocks);
            } else {
                cbc::Decryptor::<C>::new_from_slices(key, iv)
                    .map_err(key_err)?
                    .decrypt_blocks_inout(blocks);
            }
        }
        CipherMode::Cfb => {
            let (blocks, _) = InOutBuf::from(buf).into_chunks::<aes::cipher::consts::U1>();
            if encrypt {
                cfb8::Encryptor::<C>::new_from_slices(key, iv)
                    .map_err(key_err)?
                    .encrypt_blocks_inout(blocks);
            } else {
                cfb8::Decryptor::<C>::new_from_slices(key, iv)
                    .map_err(key_err)?
                    .decrypt_blocks_inout(blocks);
            }
        }
        CipherMode::Ofb => {
            ofb::Ofb::<C>::new_from_slices(key, iv)
                .map_err(key_err)?
                .try_apply_keystream(buf)
                .map_err(|_| invalid("AES-OFB keystream exhausted"))?;
        }
        CipherMode::Ctr => ctr128(&C::new_from_slice(key).map_err(key_err)?, iv, buf)?,
        _ => {
            return Err(invalid(format!(
                "AES-{} is not a plain block mode",
                mode.name()
            )));
        }
    }
    Ok(())
}

/// CTR with the whole 16-byte block as a big-endian counter that wraps modulo 2^128 (as
/// PyCryptodome with `nonce=b''`, `initial_value=<16 bytes>`).
fn ctr128<C>(cipher: &C, iv: &[u8], buf: &mut [u8]) -> Result<()>
where
    C: BlockCipherEncrypt + aes::cipher::BlockSizeUser<BlockSize = U16>,
{
    let iv: [u8; BLOCK] = iv.try_into().map_err(key_err)?;
    let mut counter = u128::from_be_bytes(iv);
    const BATCH: usize = 32;
    let mut ks = [Array::<u8, U16>::default(); BATCH];
    for chunk in buf.chunks_mut(BLOCK * BATCH) {
        let n = chunk.len().div_ceil(BLOCK);
        for block in ks.iter_mut().take(n) {
            *block = Array::from(counter.to_be_bytes());
            counter = counter.wrapping_add(1);
        }
        cipher.encrypt_blocks(&mut ks[..n]);
        for (i, b) in chunk.iter_mut().enumerate() {
            *b ^= ks[i / BLOCK][i % BLOCK];
        }
    }
    Ok(())
}

/// Full-block CFB (segment size 128) in place; the register starts at `iv`.
fn cfb128<C>(cipher: &C, iv: &[u8; BLOCK], buf: &mut [u8], encrypt: bool)
where
    C: BlockCipherEncrypt + aes::cipher::BlockSizeUser<BlockSize = U16>,
{
    let mut reg = Array::<u8, U16>::from(*iv);
    for chunk in buf.chunks_mut(BLOCK) {
        cipher.encrypt_block(&mut reg);
        let mut next = [0u8; BLOCK];
        for (i, b) in chunk.iter_mut().enumerate() {
            let c = if encrypt { *b ^ reg[i] } else { *b };
            *b ^= reg[i];
            next[i] = c;
        }
        reg = Array::from(next);
    }
}

/// PyCryptodome's OpenPGP mode: returns the 18-byte encrypted IV; encrypts `buf` in place.
fn openpgp_encrypt<C>(key: &[u8], iv: &[u8], buf: &mut [u8]) -> Result<[u8; BLOCK + 2]>
where
    C: KeyInit + BlockCipherEncrypt + aes::cipher::BlockSizeUser<BlockSize = U16>,
{
    let cipher = C::new_from_slice(key).map_err(key_err)?;
    let iv: [u8; BLOCK] = iv.try_into().map_err(key_err)?;
    let mut eiv = [0u8; BLOCK + 2];
    eiv[..BLOCK].copy_from_slice(&iv);
    eiv[BLOCK..].copy_from_slice(&iv[BLOCK - 2..]);
    cfb128(&cipher, &[0u8; BLOCK], &mut eiv, true);
    let mut reg = [0u8; BLOCK];
    reg.copy_from_slice(&eiv[2..]);
    cfb128(&cipher, &reg, buf, true);
    Ok(eiv)
}

/// Decrypts PyCryptodome's OpenPGP mode given the 18-byte encrypted IV. Like Python, the
/// repeated IV bytes are not checked.
fn openpgp_decrypt<C>(key: &[u8], eiv: &[u8], buf: &mut [u8]) -> Result<()>
where
    C: KeyInit + BlockCipherEncrypt + aes::cipher::BlockSizeUser<BlockSize = U16>,
{
    let cipher = C::new_from_slice(key).map_err(key_err)?;
    let reg: [u8; BLOCK] = eiv
        .get(2..)
        .and_then(|r| r.try_into().ok())
        .ok_or_else(|| key_err(()))?;
    cfb128(&cipher, &reg, buf, false);
    Ok(())
}

fn aead_encrypt<C>(
    mode: CipherMode,
    key: &[u8],
    nonce: &[u8],
    aad: &[u8],
    buf: &mut [u8],
) -> Result<Vec<u8>>
where
    C: KeyInit + BlockCipherEncrypt + Clone + aes::cipher::BlockSizeUser<BlockSize = U16>,
{
    let nonce = Array::<u8, U16>::try_from(nonce).map_err(key_err)?;
    let fail = |_| invalid(format!("AES-{} encryption failed", mode.name()));
    Ok(match mode {
        CipherMode::Gcm => AesGcm::<C, U16>::new_from_slice(key)
            .map_err(key_err)?
            .encrypt_inout_detached(&nonce, aad, buf.into())
            .map_err(fail)?
            .to_vec(),
        _ => Eax::<C, U8>::new_from_slice(key)
            .map_err(key_err)?
            .encrypt_inout_detached(&nonce, aad, buf.into())
            .map_err(fail)?
            .to_vec(),
    })
}

fn aead_decrypt<C>(
    mode: CipherMode,
    key: &[u8],
    nonce: &[u8],
    aad: &[u8],
    buf: &mut [u8],
    tag: &[u8],
) -> Result<()>
where
    C: KeyInit + BlockCipherEncrypt + Clone + aes::cipher::BlockSizeUser<BlockSize = U16>,
{
    let nonce = Array::<u8, U16>::try_from(nonce).map_err(key_err)?;
    let mismatch = |_| {
        invalid(format!(
            "AES-{} tag mismatch (wrong key or corrupted message)",
            mode.name()
        ))
    };
    match mode {
        CipherMode::Gcm => {
            let tag = Array::<u8, U16>::try_from(tag).map_err(key_err)?;
            AesGcm::<C, U16>::new_from_slice(key)
                .map_err(key_err)?
                .decrypt_inout_detached(&nonce, aad, buf.into(), &tag)
                .map_err(mismatch)
        }
        _ => {
            let tag = Array::<u8, U8>::try_from(tag).map_err(key_err)?;
            Eax::<C, U8>::new_from_slice(key)
                .map_err(key_err)?
                .decrypt_inout_detached(&nonce, aad, buf.into(), &tag)
                .map_err(mismatch)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    fn cfg(
        mode: CipherMode,
        key_len: usize,
        padding: Padding,
        source: KeySource,
    ) -> EncryptionConfig {
        EncryptionConfig {
            mode,
            padding,
            key_len,
            salt_bytes: 8,
            iterations: 1000,
            prf: Prf::HmacSha256,
            source,
        }
    }

    #[test]
    fn pbkdf2_known_answers() {
        // RFC 7914 section 11 (PBKDF2-HMAC-SHA256, "passwd"/"salt", c=1)
        let mut out = [0u8; 64];
        pbkdf2(Prf::HmacSha256, b"passwd", b"salt", 1, &mut out);
        assert_eq!(
            out.to_vec(),
            hex(
                "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc\
                 49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783"
            )
        );
        // RFC 6070-style vector for SHA-256 (c=4096)
        let mut out = [0u8; 32];
        pbkdf2(Prf::HmacSha256, b"password", b"salt", 4096, &mut out);
        assert_eq!(
            out.to_vec(),
            hex("c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a")
        );
        // SHA-512, c=1 (well-known value)
        let mut out = [0u8; 64];
        pbkdf2(Prf::HmacSha512, b"password", b"salt", 1, &mut out);
        assert_eq!(
            out.to_vec(),
            hex(
                "867f70cf1ade02cff3752599a3a53dc4af34c7a669815ae5d513554e1c8cf252\
                 c02d470a285a0501bad999bfe943c08f050235d7d68b1da55e63f73b60a57fce"
            )
        );
    }

    #[test]
    fn every_mode_round_trips() {
        let modes = [
            CipherMode::Cbc,
            CipherMode::Cfb,
            CipherMode::Ofb,
            CipherMode::Ctr,
            CipherMode::Eax,
            CipherMode::Gcm,
            CipherMode::OpenPgp,
        ];
        for mode in modes {
            for key_len in [16, 24, 32] {
                for padding in [Padding::None, Padding::Pkcs7] {
                    let src = KeySource::Password(Zeroizing::new(b"pw".to_vec()));
                    let c = Cipher::new(&cfg(mode, key_len, padding, src));
                    for len in [0usize, 1, 15, 16, 17, 100, 1000] {
                        let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
                        let enc = match c.encrypt(&data) {
                            Ok(e) => e,
                            Err(_) if mode == CipherMode::Cbc && padding == Padding::None => {
                                assert_ne!(len % 16, 0);
                                continue;
                            }
                            Err(e) => panic!("{mode:?} {key_len} {padding:?} {len}: {e}"),
                        };
                        let pad = if padding == Padding::Pkcs7 {
                            16 - len % 16
                        } else {
                            0
                        };
                        assert_eq!(enc.len(), 8 + mode.iv_len() + len + pad + mode.tag_len());
                        let dec = c.decrypt(&enc, 1).expect("decrypt");
                        assert_eq!(dec, data, "{mode:?} {key_len} {padding:?} {len}");
                    }
                }
            }
        }
    }

    #[test]
    fn ctr_counter_wraps_like_pycryptodome() {
        let c = Cipher::new(&cfg(
            CipherMode::Ctr,
            16,
            Padding::None,
            KeySource::Key(Zeroizing::new(vec![7; 16])),
        ));
        let data = [0u8; 48];
        let enc = c
            .encrypt_with(&data, &[0; 8], &[0xFF; 16])
            .expect("encrypt");
        // keystream blocks are E(ff..ff), E(00..00), E(00..01)
        let aes = aes::Aes128::new_from_slice(&[7; 16]).expect("key");
        let mut blocks = [
            Array::from([0xFF; 16]),
            Array::from([0; 16]),
            Array::from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
        ];
        aes.encrypt_blocks(&mut blocks);
        assert_eq!(&enc[24..], blocks.concat());
        assert_eq!(c.decrypt(&enc, 1).expect("decrypt"), data);
    }

    #[test]
    fn tampering_and_wrong_keys_fail() {
        for mode in [CipherMode::Gcm, CipherMode::Eax] {
            let c = Cipher::new(&cfg(
                mode,
                16,
                Padding::None,
                KeySource::Password(Zeroizing::new(b"a".to_vec())),
            ));
            let enc = c.encrypt(b"hello").expect("encrypt");
            for i in 0..enc.len() {
                let mut bad = enc.clone();
                bad[i] ^= 1;
                let err = c.decrypt(&bad, 1).expect_err("tampered");
                assert!(err.to_string().contains("tag mismatch"), "{err}");
            }
            let other = Cipher::new(&cfg(
                mode,
                16,
                Padding::None,
                KeySource::Password(Zeroizing::new(b"b".to_vec())),
            ));
            assert!(other.decrypt(&enc, 1).is_err());
            assert!(c.decrypt(&enc, 2).is_err());
            assert!(c.decrypt(&enc[..20], 1).is_err());
        }
    }

    #[test]
    fn versioned_keys() {
        let keys: BTreeMap<u16, Key> = [
            (1, Zeroizing::new(vec![1; 16])),
            (5, Zeroizing::new(vec![5; 16])),
        ]
        .into();
        let c = Cipher::new(&cfg(
            CipherMode::Gcm,
            16,
            Padding::None,
            KeySource::Versioned(keys),
        ));
        assert_eq!(c.max_key_version(), 5);
        let enc = c.encrypt(b"x").expect("encrypt");
        assert_eq!(c.decrypt(&enc, 5).expect("v5"), b"x");
        assert!(c.decrypt(&enc, 1).is_err());
        assert!(c.decrypt(&enc, 2).is_err());
    }

    #[test]
    fn pkcs7_rules() {
        assert_eq!(pkcs7_unpad_len(&[16; 16]), Some(0));
        assert_eq!(
            pkcs7_unpad_len(&[[0; 15].as_slice(), &[1]].concat()),
            Some(15)
        );
        assert_eq!(pkcs7_unpad_len(&[0; 16]), None);
        assert_eq!(pkcs7_unpad_len(&[17; 16]), None);
        assert_eq!(
            pkcs7_unpad_len(&[[0; 14].as_slice(), &[1, 2]].concat()),
            None
        );
        assert_eq!(pkcs7_unpad_len(&[1; 15]), None);
        assert_eq!(pkcs7_unpad_len(&[]), None);
    }

    #[test]
    fn debug_hides_secrets() {
        let c = cfg(
            CipherMode::Gcm,
            16,
            Padding::None,
            KeySource::Password(Zeroizing::new(b"hunter2".to_vec())),
        );
        let s = format!("{c:?} {:?}", Cipher::new(&c));
        assert!(!s.contains("hunter2") && !s.contains("104, 117"), "{s}");
    }
}
