//! Record batch compression, all in pure Rust.
//!
//! Compressing: gzip and snappy use kafka-protocol's codecs (its `gzip` and
//! `snappy` features, both pure Rust); lz4 (lz4_flex) and zstd (ruzstd) go
//! through its custom-compression hook, since its own lz4/zstd features
//! link C libraries.
//!
//! Decompressing is ours for every codec, because kafka-protocol's
//! decompressors trust the lengths declared in the data: a hostile batch
//! could make them allocate gigabytes. Ours stop at a caller-given limit.

use std::io::{self, Read};
use std::str::FromStr;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::compression::{Compressor as _, Gzip, Snappy};
use kafka_protocol::records::Compression as Wire;

use crate::error::KafkaError;

/// The compression codec of produced batches (`compression.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Compression {
    /// No compression.
    #[default]
    None,
    /// gzip (DEFLATE, default level).
    Gzip,
    /// Snappy, in the xerial framing the Java client writes.
    Snappy,
    /// LZ4 frame format, independent 64 KiB blocks.
    Lz4,
    /// Zstandard (ruzstd's fastest level, about zstd level 1).
    Zstd,
}

impl Compression {
    /// Kafka's name: `none`, `gzip`, `snappy`, `lz4`, `zstd`.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }

    pub(crate) fn wire(self) -> Wire {
        match self {
            Compression::None => Wire::None,
            Compression::Gzip => Wire::Gzip,
            Compression::Snappy => Wire::Snappy,
            Compression::Lz4 => Wire::Lz4,
            Compression::Zstd => Wire::Zstd,
        }
    }
}

impl FromStr for Compression {
    type Err = KafkaError;
    fn from_str(s: &str) -> Result<Self, KafkaError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" | "" => Ok(Compression::None),
            "gzip" => Ok(Compression::Gzip),
            "snappy" => Ok(Compression::Snappy),
            "lz4" => Ok(Compression::Lz4),
            "zstd" => Ok(Compression::Zstd),
            _ => Err(KafkaError::InvalidArgument(format!(
                "unknown compression type {s:?} (none, gzip, snappy, lz4 or zstd)"
            ))),
        }
    }
}

impl std::fmt::Display for Compression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The compressor hook given to kafka-protocol's batch encoder: compresses
/// the encoded records `input` into `out`.
pub(crate) fn compress(
    input: &mut BytesMut,
    out: &mut BytesMut,
    codec: Wire,
) -> anyhow::Result<()> {
    let copy_in = |b: &mut BytesMut| {
        b.put_slice(input);
        Ok(())
    };
    match codec {
        Wire::None => {
            out.put_slice(input);
            Ok(())
        }
        Wire::Gzip => Gzip::compress(out, copy_in),
        Wire::Snappy => Snappy::compress(out, copy_in),
        Wire::Lz4 => {
            // Kafka's Java reader (KafkaLZ4BlockInputStream) decodes each
            // block on its own: blocks must be independent.
            let info = lz4_flex::frame::FrameInfo::new()
                .block_mode(lz4_flex::frame::BlockMode::Independent)
                .block_size(lz4_flex::frame::BlockSize::Max64KB);
            let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(info, out.writer());
            io::Write::write_all(&mut enc, input)?;
            enc.finish()?;
            Ok(())
        }
        Wire::Zstd => {
            let mut w = out.writer();
            ruzstd::encoding::compress(
                &input[..],
                &mut w,
                ruzstd::encoding::CompressionLevel::Fastest,
            );
            Ok(())
        }
    }
}

/// Decompresses `input` of `codec`, failing if the result would exceed
/// `limit` bytes.
pub(crate) fn decompress(input: &[u8], codec: Wire, limit: usize) -> Result<Bytes, String> {
    match codec {
        Wire::None => {
            if input.len() > limit {
                return Err(too_large(limit));
            }
            Ok(Bytes::copy_from_slice(input))
        }
        Wire::Gzip => read_limited(flate2::read::MultiGzDecoder::new(input), limit),
        Wire::Snappy => snappy_decompress(input, limit),
        Wire::Lz4 => read_limited(lz4_flex::frame::FrameDecoder::new(input), limit),
        Wire::Zstd => {
            let window = (limit as u64).clamp(1 << 20, 128 << 20);
            let d = ruzstd::decoding::StreamingDecoder::new_with_max_window_size(input, window)
                .map_err(|e| format!("zstd: {e}"))?;
            read_limited(d, limit)
        }
    }
}

fn too_large(limit: usize) -> String {
    format!("decompressed data exceeds {limit} bytes")
}

fn read_limited<R: Read>(r: R, limit: usize) -> Result<Bytes, String> {
    let mut out = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    r.take(cap)
        .read_to_end(&mut out)
        .map_err(|e| format!("decompression failed: {e}"))?;
    if out.len() > limit {
        return Err(too_large(limit));
    }
    Ok(out.into())
}

/// xerial framing: magic, two version words, then (u32 length, raw snappy
/// block)*. Data without the magic is one raw snappy block, as Java accepts.
const XERIAL_MAGIC: &[u8] = b"\x82SNAPPY\x00";

fn snappy_decompress(input: &[u8], limit: usize) -> Result<Bytes, String> {
    let mut dec = snap::raw::Decoder::new();
    let mut block = |data: &[u8], out: &mut Vec<u8>| -> Result<(), String> {
        let n = snap::raw::decompress_len(data).map_err(|e| format!("snappy: {e}"))?;
        if out.len().saturating_add(n) > limit {
            return Err(too_large(limit));
        }
        let start = out.len();
        out.resize(start + n, 0);
        let got = dec
            .decompress(data, &mut out[start..])
            .map_err(|e| format!("snappy: {e}"))?;
        out.truncate(start + got);
        Ok(())
    };
    let mut out = Vec::new();
    if !input.starts_with(XERIAL_MAGIC) {
        block(input, &mut out)?;
        return Ok(out.into());
    }
    let mut rest = input.get(16..).ok_or("snappy: truncated xerial header")?;
    while !rest.is_empty() {
        let (len, tail) = rest
            .split_at_checked(4)
            .ok_or("snappy: truncated block length")?;
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let (data, tail) = tail
            .split_at_checked(len)
            .ok_or("snappy: truncated block")?;
        block(data, &mut out)?;
        rest = tail;
    }
    Ok(out.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_codec_round_trips() {
        let data: Vec<u8> = (0..200_000u32)
            .map(|i| (i % 251) as u8 ^ (i / 1000) as u8)
            .collect();
        for codec in [Wire::None, Wire::Gzip, Wire::Snappy, Wire::Lz4, Wire::Zstd] {
            let mut input = BytesMut::from(&data[..]);
            let mut out = BytesMut::new();
            compress(&mut input, &mut out, codec).expect("compress");
            if codec != Wire::None {
                assert!(out.len() < data.len(), "{codec:?} did not compress");
            }
            let back = decompress(&out, codec, 1 << 20).expect("decompress");
            assert_eq!(&back[..], &data[..], "{codec:?}");
            let e = decompress(&out, codec, 1000).expect_err("limit");
            assert!(e.contains("exceeds"), "{codec:?}: {e}");
        }
    }

    #[test]
    fn raw_snappy_is_accepted() {
        let raw = snap::raw::Encoder::new()
            .compress_vec(b"hello hello hello")
            .expect("snappy");
        assert_eq!(
            &decompress(&raw, Wire::Snappy, 100).expect("raw")[..],
            b"hello hello hello"
        );
    }

    #[test]
    fn names_parse() {
        assert_eq!("ZSTD".parse::<Compression>().ok(), Some(Compression::Zstd));
        assert!("brotli".parse::<Compression>().is_err());
    }
}
