//! Field encodings shared by all packets: u16, length-prefixed strings and binary data.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::PacketId;
use crate::error::{Error, Result};
use crate::framing::PacketType;

/// Longest string or binary field a 16-bit length prefix can describe.
pub(crate) const MAX_FIELD_LEN: usize = u16::MAX as usize;

/// Bytes a length-prefixed field of `len` bytes takes on the wire.
pub(crate) const fn field_len(len: usize) -> usize {
    2 + len
}

/// Checks a string field can be encoded so that our own decoder accepts it.
pub(crate) fn check_string(s: &str) -> Result<()> {
    check_binary(s.as_bytes())?;
    if s.contains('\0') {
        return Err(Error::NullCharacter);
    }
    Ok(())
}

pub(crate) fn check_binary(b: &[u8]) -> Result<()> {
    if b.len() > MAX_FIELD_LEN {
        return Err(Error::FieldTooLong(b.len()));
    }
    Ok(())
}

/// Writes a length-prefixed field; the caller has run [`check_binary`] or [`check_string`].
pub(crate) fn put_field(buf: &mut BytesMut, data: &[u8]) {
    let len = u16::try_from(data.len()).unwrap_or(u16::MAX);
    debug_assert_eq!(usize::from(len), data.len(), "field length was not checked");
    buf.put_u16(len);
    buf.put_slice(data);
}

/// Reads the fields of one packet body, which is already fully in memory.
///
/// Every read is checked against what is left, so a lying length prefix can
/// at worst make us fail; it never allocates more than the body holds.
#[derive(Debug)]
pub(crate) struct Reader {
    body: Bytes,
    packet: PacketType,
}

impl Reader {
    pub(crate) fn new(body: Bytes, packet: PacketType) -> Self {
        Self { body, packet }
    }

    pub(crate) fn packet(&self) -> PacketType {
        self.packet
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.body.is_empty()
    }

    fn need(&self, n: usize) -> Result<()> {
        if self.body.len() < n {
            Err(Error::Truncated(self.packet))
        } else {
            Ok(())
        }
    }

    pub(crate) fn u8(&mut self) -> Result<u8> {
        self.need(1)?;
        Ok(self.body.get_u8())
    }

    pub(crate) fn u16(&mut self) -> Result<u16> {
        self.need(2)?;
        Ok(self.body.get_u16())
    }

    /// A packet identifier, which must be non-zero [MQTT-2.3.1-1].
    pub(crate) fn packet_id(&mut self) -> Result<PacketId> {
        PacketId::new(self.u16()?).ok_or(Error::ZeroPacketId(self.packet))
    }

    /// A length-prefixed binary field, sharing memory with the packet.
    pub(crate) fn binary(&mut self) -> Result<Bytes> {
        let len = usize::from(self.u16()?);
        self.need(len)?;
        Ok(self.body.split_to(len))
    }

    /// A length-prefixed UTF-8 string without U+0000 [MQTT-1.5.3-1, MQTT-1.5.3-2].
    pub(crate) fn string(&mut self) -> Result<String> {
        let raw = self.binary()?;
        let s = std::str::from_utf8(&raw).map_err(|_| Error::InvalidUtf8)?;
        if s.contains('\0') {
            return Err(Error::NullCharacter);
        }
        Ok(s.to_owned())
    }

    /// Everything left, e.g. a PUBLISH payload.
    pub(crate) fn rest(self) -> Bytes {
        self.body
    }

    /// Fails if the packet has bytes its fields did not account for.
    pub(crate) fn finish(self) -> Result<()> {
        if self.body.is_empty() {
            Ok(())
        } else {
            Err(Error::TrailingBytes {
                packet: self.packet,
                extra: self.body.len(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(bytes: &'static [u8]) -> Reader {
        Reader::new(Bytes::from_static(bytes), PacketType::Publish)
    }

    #[test]
    fn string_reads_prefix_and_body() {
        let mut r = reader(&[0x00, 0x03, b'a', b'/', b'b', 0xaa]);
        assert_eq!(r.string().as_deref(), Ok("a/b"));
        assert_eq!(r.u8(), Ok(0xaa));
        assert_eq!(r.finish(), Ok(()));
    }

    #[test]
    fn string_longer_than_body_is_truncated() {
        let mut r = reader(&[0xff, 0xff, b'a']);
        assert_eq!(r.string(), Err(Error::Truncated(PacketType::Publish)));
    }

    #[test]
    fn invalid_utf8_and_nul_rejected() {
        assert_eq!(
            reader(&[0x00, 0x01, 0xff]).string(),
            Err(Error::InvalidUtf8)
        );
        // A surrogate half encoded as UTF-8 (U+D800), which MQTT also forbids.
        assert_eq!(
            reader(&[0x00, 0x03, 0xed, 0xa0, 0x80]).string(),
            Err(Error::InvalidUtf8)
        );
        assert_eq!(
            reader(&[0x00, 0x02, b'a', 0x00]).string(),
            Err(Error::NullCharacter)
        );
    }

    #[test]
    fn zero_packet_id_rejected() {
        assert_eq!(
            reader(&[0x00, 0x00]).packet_id(),
            Err(Error::ZeroPacketId(PacketType::Publish))
        );
    }

    #[test]
    fn trailing_bytes_reported() {
        assert_eq!(
            reader(&[1, 2]).finish(),
            Err(Error::TrailingBytes {
                packet: PacketType::Publish,
                extra: 2
            })
        );
    }

    #[test]
    fn check_string_limits() {
        assert_eq!(check_string(&"a".repeat(MAX_FIELD_LEN)), Ok(()));
        assert_eq!(
            check_string(&"a".repeat(MAX_FIELD_LEN + 1)),
            Err(Error::FieldTooLong(MAX_FIELD_LEN + 1))
        );
        assert_eq!(check_string("a\0"), Err(Error::NullCharacter));
    }
}
