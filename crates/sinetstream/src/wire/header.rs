//! The SINETStream v3 message header: `DF 03 00 00` followed by the key version (u16, big-endian).
//!
//! Key version 0 means "not encrypted". Messages of `message_format: 2` (and `user_data_only`
//! messages) have no header; a reader recognises them by the absence of the marker, exactly as
//! Python's `packet.py`: a buffer of 6 bytes or less, or one starting with another marker, is v2.

/// The marker that starts every v3 message.
pub const MARKER_V3: [u8; 4] = [0xDF, 0x03, 0x00, 0x00];

/// Length of the v3 header (marker and key version).
pub const HEADER_LEN: usize = MARKER_V3.len() + 2;

/// The key version of an unencrypted message.
pub const KEY_VERSION_PLAIN: u16 = 0;

/// Prepends the v3 header carrying `key_version` to `body`.
pub fn pack_header(key_version: u16, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    put_header(key_version, &mut out);
    out.extend_from_slice(body);
    out
}

/// Appends the v3 header carrying `key_version` to `out`.
#[inline]
pub(crate) fn put_header(key_version: u16, out: &mut impl bytes::BufMut) {
    let v = key_version.to_be_bytes();
    out.put_slice(&[
        MARKER_V3[0],
        MARKER_V3[1],
        MARKER_V3[2],
        MARKER_V3[3],
        v[0],
        v[1],
    ]);
}

/// Splits a v3 message into key version and body; `None` when `buf` is not a v3 message
/// (6 bytes or less, or another marker), which readers take as a v2 message.
pub fn unpack_header(buf: &[u8]) -> Option<(u16, &[u8])> {
    if buf.len() <= HEADER_LEN {
        return None;
    }
    let (head, body) = buf.split_at(HEADER_LEN);
    if head[..4] != MARKER_V3 {
        return None;
    }
    Some((u16::from_be_bytes([head[4], head[5]]), body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip() {
        let m = pack_header(0x0102, b"x");
        assert_eq!(m, [0xDF, 0x03, 0x00, 0x00, 0x01, 0x02, b'x']);
        assert_eq!(unpack_header(&m), Some((0x0102, &b"x"[..])));
    }

    #[test]
    fn short_or_foreign_buffers_are_v2() {
        // exactly a header and no body: too short for Python, so v2
        assert_eq!(unpack_header(&pack_header(0, b"")), None);
        assert_eq!(unpack_header(b""), None);
        assert_eq!(unpack_header(&[0xC3, 0x01, 0, 0, 0, 0, 0]), None);
        assert_eq!(unpack_header(&[0xDF, 0x03, 0x00, 0x01, 0, 0, 0]), None);
        assert_eq!(
            unpack_header(&[0xDF, 0x03, 0x00, 0x00, 0, 0, 9]),
            Some((0, &[9u8][..]))
        );
    }
}
