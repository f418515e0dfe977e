//! Payload compression: `gzip` (really a zlib stream, RFC 1950, as Python's `zlib.compressobj`
//! writes), `zstd` (a Zstandard frame) and `lz4` (an LZ4 frame), all in pure Rust.
//!
//! Output is decodable by Python SINETStream 1.10. It is byte-identical to Python's only where the
//! compressors agree: the zstd and lz4 frame headers are written the way libzstd / liblz4 write
//! them (content size present, no checksum, independent 64 KiB lz4 blocks), and incompressible
//! payloads are stored the same way, but compressed blocks come from different matchers.

use std::fmt;
use std::io::{Read, Write};

use super::invalid;
use crate::error::{Error, Result};

/// Decompressed payloads larger than this are refused (a guard against decompression bombs).
pub const MAX_DECOMPRESSED_LEN: u64 = 1 << 30;

/// A compression algorithm of SINETStream's `compression.algorithm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CompressionAlgorithm {
    /// `gzip`: a zlib stream (RFC 1950), default level 6.
    Gzip,
    /// `zstd`: a Zstandard frame.
    Zstd,
    /// `lz4`: an LZ4 frame (needs the `sinetstream-comp-lz4` plugin on the Python side).
    Lz4,
}

impl CompressionAlgorithm {
    /// Parses the configuration name (`gzip`, `zstd`, `lz4`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "gzip" => Some(Self::Gzip),
            "zstd" => Some(Self::Zstd),
            "lz4" => Some(Self::Lz4),
            _ => None,
        }
    }

    /// The configuration name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Gzip => "gzip",
            Self::Zstd => "zstd",
            Self::Lz4 => "lz4",
        }
    }
}

impl fmt::Display for CompressionAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Compression settings: algorithm and optional level (`compression.level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompressionConfig {
    algorithm: CompressionAlgorithm,
    level: Option<i32>,
}

impl CompressionConfig {
    /// Checks `level` against what the Python library accepts for `algorithm`
    /// (zlib -1..=9, zstd ..=22, lz4 any).
    pub fn new(algorithm: CompressionAlgorithm, level: Option<i32>) -> Result<Self> {
        if let Some(l) = level {
            let ok = match algorithm {
                CompressionAlgorithm::Gzip => (-1..=9).contains(&l),
                CompressionAlgorithm::Zstd => (-(1 << 17)..=22).contains(&l),
                CompressionAlgorithm::Lz4 => true,
            };
            if !ok {
                return Err(Error::InvalidArgument(format!(
                    "compression.level {l} is out of range for {algorithm}"
                )));
            }
        }
        Ok(CompressionConfig { algorithm, level })
    }

    /// The algorithm.
    pub fn algorithm(&self) -> CompressionAlgorithm {
        self.algorithm
    }

    /// The level, if configured.
    pub fn level(&self) -> Option<i32> {
        self.level
    }

    /// Compresses `data`.
    pub(crate) fn compress(&self, data: &[u8]) -> Result<Vec<u8>> {
        let io_err =
            |e: std::io::Error| invalid(format!("{} compression failed: {e}", self.algorithm));
        match self.algorithm {
            CompressionAlgorithm::Gzip => {
                let level = match self.level {
                    None | Some(-1) => 6,
                    Some(l) => l.clamp(0, 9) as u32,
                };
                let mut enc = flate2::write::ZlibEncoder::new(
                    Vec::with_capacity(data.len() / 2 + 16),
                    flate2::Compression::new(level),
                );
                enc.write_all(data).map_err(io_err)?;
                enc.finish().map_err(io_err)
            }
            CompressionAlgorithm::Zstd => Ok(zstd_compress(data)),
            CompressionAlgorithm::Lz4 => {
                let info = lz4_flex::frame::FrameInfo::new()
                    .block_size(lz4_flex::frame::BlockSize::Max64KB)
                    .block_mode(lz4_flex::frame::BlockMode::Independent)
                    .content_size(Some(data.len() as u64));
                let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(
                    info,
                    Vec::with_capacity(data.len() / 2 + 32),
                );
                enc.write_all(data).map_err(io_err)?;
                enc.finish()
                    .map_err(|e| invalid(format!("lz4 compression failed: {e}")))
            }
        }
    }

    /// Decompresses `data`; corrupt input is [`Error::InvalidMessage`].
    pub(crate) fn decompress(&self, data: &[u8]) -> Result<Vec<u8>> {
        let alg = self.algorithm;
        let bad = |e: &dyn fmt::Display| invalid(format!("{alg} decompression failed: {e}"));
        if data.is_empty() {
            return Err(invalid(format!("{alg} decompression failed: no data")));
        }
        let mut out = Vec::new();
        let read = match alg {
            CompressionAlgorithm::Gzip => flate2::read::ZlibDecoder::new(data)
                .take(MAX_DECOMPRESSED_LEN + 1)
                .read_to_end(&mut out),
            CompressionAlgorithm::Zstd => {
                let dec = ruzstd::decoding::StreamingDecoder::new(data).map_err(|e| bad(&e))?;
                dec.take(MAX_DECOMPRESSED_LEN + 1).read_to_end(&mut out)
            }
            CompressionAlgorithm::Lz4 => lz4_flex::frame::FrameDecoder::new(data)
                .take(MAX_DECOMPRESSED_LEN + 1)
                .read_to_end(&mut out),
        };
        read.map_err(|e| bad(&e))?;
        if out.len() as u64 > MAX_DECOMPRESSED_LEN {
            return Err(invalid(format!(
                "{alg} payload decompresses to more than {MAX_DECOMPRESSED_LEN} bytes"
            )));
        }
        Ok(out)
    }
}

const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];
const ZSTD_MAX_BLOCK: usize = 128 * 1024;
/// libzstd level 3 uses a 2 MiB window; below that it writes single-segment frames.
const ZSTD_SINGLE_SEGMENT_MAX: usize = 1 << 21;

/// Compresses with ruzstd, then rewrites the frame the way libzstd (Python's `zstandard`)
/// does: content size in the header, single segment for small payloads, no checksum, and raw
/// blocks when compression does not pay (libzstd's "minimum gain" rule).
fn zstd_compress(data: &[u8]) -> Vec<u8> {
    let frame =
        ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest);
    let parsed = split_zstd_frame(&frame);
    let min_gain = (data.len() >> 6) + 2;
    let (window_byte, blocks) = match parsed {
        Some((w, blocks)) if blocks.len().saturating_sub(3) + min_gain < data.len() => {
            (w, Some(blocks))
        }
        Some((w, _)) => (w, None),
        // Cannot happen with ruzstd's fixed frame layout; store raw with a 8 MiB window.
        None => (Some(0x58), None),
    };
    let len = data.len() as u64;
    let single = data.len() <= ZSTD_SINGLE_SEGMENT_MAX || window_byte.is_none();
    let fcs_code: u8 =
        u8::from(len >= 256) + u8::from(len >= 65536 + 256) + u8::from(len >= 0xFFFF_FFFF);
    let mut out = Vec::with_capacity(
        18 + blocks.map_or(
            data.len() + 3 * (data.len() / ZSTD_MAX_BLOCK + 1),
            <[u8]>::len,
        ),
    );
    out.extend_from_slice(&ZSTD_MAGIC);
    out.push((fcs_code << 6) | (u8::from(single) << 5));
    if !single {
        out.push(window_byte.unwrap_or(0x58));
    }
    match fcs_code {
        0 => out.push(len as u8),
        1 => out.extend_from_slice(&((len - 256) as u16).to_le_bytes()),
        2 => out.extend_from_slice(&(len as u32).to_le_bytes()),
        _ => out.extend_from_slice(&len.to_le_bytes()),
    }
    match blocks {
        Some(b) => out.extend_from_slice(b),
        None => {
            let mut chunks = data.chunks(ZSTD_MAX_BLOCK).peekable();
            if chunks.peek().is_none() {
                out.extend_from_slice(&[0x01, 0x00, 0x00]); // last, raw, size 0
            }
            while let Some(chunk) = chunks.next() {
                let last = u32::from(chunks.peek().is_none());
                let header = last | ((chunk.len() as u32) << 3); // block type 0 = raw
                out.extend_from_slice(&header.to_le_bytes()[..3]);
                out.extend_from_slice(chunk);
            }
        }
    }
    out
}

/// Splits a zstd frame into its window descriptor byte (if any) and the bytes of its blocks,
/// dropping header and checksum.
fn split_zstd_frame(frame: &[u8]) -> Option<(Option<u8>, &[u8])> {
    let rest = frame.strip_prefix(&ZSTD_MAGIC)?;
    let (&fhd, mut rest) = rest.split_first()?;
    let single = fhd & 0x20 != 0;
    let checksum = fhd & 0x04 != 0;
    let window = if single {
        None
    } else {
        let (&w, r) = rest.split_first()?;
        rest = r;
        Some(w)
    };
    let dict_len = [0usize, 1, 2, 4][usize::from(fhd & 3)];
    let fcs_len = match fhd >> 6 {
        0 => usize::from(single),
        1 => 2,
        2 => 4,
        _ => 8,
    };
    let blocks = rest.get(dict_len + fcs_len..)?;
    let mut pos = 0;
    loop {
        let h = blocks.get(pos..pos + 3)?;
        let h = u32::from(h[0]) | u32::from(h[1]) << 8 | u32::from(h[2]) << 16;
        let size = (h >> 3) as usize;
        let content = if (h >> 1) & 3 == 1 { 1 } else { size };
        pos += 3 + content;
        if pos > blocks.len() {
            return None;
        }
        if h & 1 == 1 {
            break;
        }
    }
    let tail = blocks.len() - pos;
    if tail != if checksum { 4 } else { 0 } {
        return None;
    }
    Some((window, &blocks[..pos]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> [CompressionConfig; 3] {
        [
            CompressionAlgorithm::Gzip,
            CompressionAlgorithm::Zstd,
            CompressionAlgorithm::Lz4,
        ]
        .map(|a| CompressionConfig::new(a, None).expect("valid"))
    }

    #[test]
    fn round_trips() {
        let big: Vec<u8> = (0..300_000u32)
            .map(|i| (i % 251) as u8 ^ (i / 1000) as u8)
            .collect();
        let random: Vec<u8> = (0..200_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for c in all() {
            for data in [&b""[..], b"hello", &[b'a'; 5000][..], &big, &random] {
                let z = c.compress(data).expect("compress");
                assert_eq!(
                    c.decompress(&z).expect("decompress"),
                    data,
                    "{c:?} {}",
                    data.len()
                );
            }
        }
    }

    #[test]
    fn zstd_frames_look_like_libzstd() {
        let c = CompressionConfig::new(CompressionAlgorithm::Zstd, None).expect("valid");
        // as Python zstandard 0.25 writes them
        assert_eq!(
            c.compress(b"").expect("ok"),
            [0x28, 0xB5, 0x2F, 0xFD, 0x20, 0x00, 0x01, 0x00, 0x00]
        );
        assert_eq!(
            c.compress(b"hello").expect("ok"),
            [
                0x28, 0xB5, 0x2F, 0xFD, 0x20, 0x05, 0x29, 0x00, 0x00, b'h', b'e', b'l', b'l', b'o'
            ]
        );
    }

    #[test]
    fn garbage_is_an_error() {
        for c in all() {
            for data in [&b""[..], b"\x00", b"hello world", &[0xFF; 64][..]] {
                assert!(
                    matches!(c.decompress(data), Err(Error::InvalidMessage(_))),
                    "{c:?}"
                );
            }
            let z = c.compress(&[7u8; 1000]).expect("compress");
            for n in 0..z.len() {
                // must not panic; truncated frames are mostly errors
                let _ = c.decompress(&z[..n]);
            }
        }
    }

    #[test]
    fn levels_are_checked() {
        assert!(CompressionConfig::new(CompressionAlgorithm::Gzip, Some(10)).is_err());
        assert!(CompressionConfig::new(CompressionAlgorithm::Gzip, Some(-1)).is_ok());
        assert!(CompressionConfig::new(CompressionAlgorithm::Zstd, Some(23)).is_err());
        assert!(CompressionConfig::new(CompressionAlgorithm::Lz4, Some(99)).is_ok());
    }
}
