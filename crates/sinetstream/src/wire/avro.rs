//! The Avro single-object envelope that carries the timestamp and the (compressed) payload.
//!
//! Layout, as written by Python SINETStream's `marshal.py` and Java's Avro encoder:
//! `C3 01` (single-object marker) ‖ schema fingerprint `1F 9C 0C 91 EB 33 66 4F` ‖
//! record `{tstamp: long (timestamp-micros), msg: bytes}` in Avro binary encoding, i.e. a zig-zag
//! varint and a zig-zag varint length followed by the bytes. Trailing bytes are ignored.

use bytes::BufMut;

use super::invalid;
use crate::error::Result;

/// The Avro single-object encoding marker.
pub const AVRO_MARKER: [u8; 2] = [0xC3, 0x01];

/// The 64-bit CRC-64-AVRO fingerprint of SINETStream's message schema (`jp.ad.sinet.stream.message`).
pub const SCHEMA_FINGERPRINT: [u8; 8] = [0x1F, 0x9C, 0x0C, 0x91, 0xEB, 0x33, 0x66, 0x4F];

/// Marker and fingerprint: the fixed prefix of every envelope.
const PREFIX_LEN: usize = AVRO_MARKER.len() + SCHEMA_FINGERPRINT.len();

/// The longest Avro `long`: 64 bits in 7-bit groups.
const MAX_VARINT_LEN: usize = 10;

/// Appends `v` as an Avro `long` (zig-zag, then little-endian base-128 varint).
#[cfg(test)]
pub(crate) fn write_long(v: i64, out: &mut Vec<u8>) {
    put_long(v, out);
}

/// Appends `v` as an Avro `long` (zig-zag, then little-endian base-128 varint) to any buffer.
#[inline]
pub(crate) fn put_long(v: i64, out: &mut impl BufMut) {
    let mut n = ((v << 1) ^ (v >> 63)) as u64;
    // One write of the whole varint (at most 10 bytes) rather than a write per byte.
    let mut tmp = [0u8; MAX_VARINT_LEN];
    let mut i = 0;
    while n >= 0x80 {
        tmp[i] = (n as u8 & 0x7F) | 0x80;
        n >>= 7;
        i += 1;
    }
    tmp[i] = n as u8;
    out.put_slice(&tmp[..=i]);
}

/// The length of `v` as an Avro `long`.
#[inline]
pub(crate) fn long_len(v: i64) -> usize {
    let n = ((v << 1) ^ (v >> 63)) as u64;
    (64 - (n | 1).leading_zeros() as usize).div_ceil(7)
}

/// The length of the envelope of a `msg_len`-byte message.
#[inline]
pub(crate) fn envelope_len(msg_len: usize, timestamp_us: i64) -> usize {
    PREFIX_LEN + long_len(timestamp_us) + long_len(msg_len as i64) + msg_len
}

/// Appends the envelope of `msg` (see [`encode_envelope`]) to `out`.
#[inline]
pub(crate) fn put_envelope(msg: &[u8], timestamp_us: i64, out: &mut impl BufMut) {
    let mut prefix = [0u8; PREFIX_LEN];
    prefix[..AVRO_MARKER.len()].copy_from_slice(&AVRO_MARKER);
    prefix[AVRO_MARKER.len()..].copy_from_slice(&SCHEMA_FINGERPRINT);
    out.put_slice(&prefix);
    put_long(timestamp_us, out);
    put_long(msg.len() as i64, out);
    out.put_slice(msg);
}

/// Reads an Avro `long` from the start of `buf`; returns it and the number of bytes used.
pub(crate) fn read_long(buf: &[u8]) -> Result<(i64, usize)> {
    let mut n: u64 = 0;
    for (i, &b) in buf.iter().enumerate() {
        if i == MAX_VARINT_LEN {
            break;
        }
        let group = u64::from(b & 0x7F);
        if i == MAX_VARINT_LEN - 1 && group > 1 {
            return Err(invalid("Avro long out of range"));
        }
        n |= group << (7 * i);
        if b & 0x80 == 0 {
            let v = ((n >> 1) as i64) ^ -((n & 1) as i64);
            return Ok((v, i + 1));
        }
    }
    if buf.len() >= MAX_VARINT_LEN {
        Err(invalid("Avro long out of range"))
    } else {
        Err(invalid("message truncated inside an Avro long"))
    }
}

/// Wraps `msg` and its timestamp (µs since the epoch) in the Avro envelope.
pub fn encode_envelope(msg: &[u8], timestamp_us: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(envelope_len(msg.len(), timestamp_us));
    put_envelope(msg, timestamp_us, &mut out);
    out
}

/// Unwraps an Avro envelope: returns the timestamp (µs) and the message bytes.
///
/// Errors ([`crate::Error::InvalidMessage`]) on a buffer of 10 bytes or less (as Python does), a
/// wrong marker or fingerprint, a bad varint, a negative length or a truncated `msg`.
pub fn decode_envelope(buf: &[u8]) -> Result<(i64, &[u8])> {
    if buf.len() <= PREFIX_LEN {
        return Err(invalid(format!(
            "message too short for the Avro envelope ({} bytes)",
            buf.len()
        )));
    }
    if buf[..2] != AVRO_MARKER {
        return Err(invalid(format!(
            "bad Avro marker {:02x}{:02x} (expected c301; is the peer using another \
             message_format, user_data_only or encryption setting?)",
            buf[0], buf[1]
        )));
    }
    if buf[2..PREFIX_LEN] != SCHEMA_FINGERPRINT {
        return Err(invalid("bad Avro schema fingerprint"));
    }
    let rest = &buf[PREFIX_LEN..];
    let (tstamp, used) = read_long(rest)?;
    let rest = &rest[used..];
    let (len, used) = read_long(rest)?;
    let rest = &rest[used..];
    let len = usize::try_from(len).map_err(|_| invalid("negative Avro bytes length"))?;
    let msg = rest.get(..len).ok_or_else(|| {
        invalid(format!(
            "message truncated: Avro envelope announces {len} bytes, {} present",
            rest.len()
        ))
    })?;
    Ok((tstamp, msg))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(v: i64) -> Vec<u8> {
        let mut out = Vec::new();
        write_long(v, &mut out);
        out
    }

    #[test]
    fn zigzag_edge_cases() {
        assert_eq!(enc(0), [0x00]);
        assert_eq!(enc(-1), [0x01]);
        assert_eq!(enc(1), [0x02]);
        assert_eq!(enc(-64), [0x7F]);
        assert_eq!(enc(64), [0x80, 0x01]);
        assert_eq!(
            enc(i64::MAX),
            [0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]
        );
        assert_eq!(
            enc(i64::MIN),
            [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]
        );
        for v in [
            0,
            1,
            -1,
            63,
            -64,
            64,
            -65,
            1 << 40,
            -(1 << 40),
            i64::MAX,
            i64::MIN,
            1_700_000_000_123_456,
        ] {
            let e = enc(v);
            assert_eq!(read_long(&e).expect("decodes"), (v, e.len()), "{v}");
            assert_eq!(long_len(v), e.len(), "{v}");
        }
        for shift in 0..64 {
            for v in [
                1i64 << shift,
                (1i64 << shift).wrapping_sub(1),
                (1i64 << shift).wrapping_neg(),
                !(1i64 << shift),
            ] {
                assert_eq!(long_len(v), enc(v).len(), "{v}");
            }
        }
    }

    #[test]
    fn varint_errors() {
        assert!(read_long(&[]).is_err());
        assert!(read_long(&[0x80]).is_err());
        assert!(read_long(&[0xFF; 10]).is_err());
        assert!(read_long(&[0xFF; 11]).is_err());
        // 10th byte may only carry the top bit
        let mut v = vec![0xFF; 9];
        v.push(0x02);
        assert!(read_long(&v).is_err());
        // overlong but in range encodings are accepted, like Python's avro
        assert_eq!(read_long(&[0x80, 0x00]).expect("ok"), (0, 2));
    }

    #[test]
    fn envelope_round_trip_and_errors() {
        let e = encode_envelope(b"hello", 1_700_000_000_123_456);
        assert_eq!(
            e,
            [
                0xC3, 0x01, 0x1F, 0x9C, 0x0C, 0x91, 0xEB, 0x33, 0x66, 0x4F, 0x80, 0x89, 0x81, 0x82,
                0x83, 0x89, 0x85, 0x06, 0x0A, b'h', b'e', b'l', b'l', b'o'
            ]
        );
        assert_eq!(e.len(), envelope_len(5, 1_700_000_000_123_456));
        assert_eq!(e.capacity(), e.len());
        assert_eq!(
            decode_envelope(&e).expect("ok"),
            (1_700_000_000_123_456, &b"hello"[..])
        );
        let mut trailing = e.clone();
        trailing.extend_from_slice(b"xx");
        assert_eq!(decode_envelope(&trailing).expect("ok").1, b"hello");
        for n in 0..e.len() {
            assert!(decode_envelope(&e[..n]).is_err(), "truncated to {n}");
        }
        let mut neg = encode_envelope(b"", 0);
        *neg.last_mut().expect("len byte") = 0x01; // length -1
        neg.push(0);
        assert!(decode_envelope(&neg).is_err());
    }
}
