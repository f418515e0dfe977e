//! The fixed header: packet type, flag nibble and remaining length.

use std::fmt;

use bytes::{BufMut, BytesMut};

use crate::Protocol;
use crate::error::{Error, Result};

/// The largest remaining length a 4-byte variable-length integer can hold.
pub const MAX_REMAINING_LENGTH: usize = 268_435_455;

/// The kind of an MQTT control packet, from the high nibble of its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PacketType {
    /// Client request to connect.
    Connect,
    /// Connect acknowledgment.
    ConnAck,
    /// Publish message.
    Publish,
    /// Publish acknowledgment (QoS 1).
    PubAck,
    /// Publish received (QoS 2, part 1).
    PubRec,
    /// Publish release (QoS 2, part 2).
    PubRel,
    /// Publish complete (QoS 2, part 3).
    PubComp,
    /// Subscribe request.
    Subscribe,
    /// Subscribe acknowledgment.
    SubAck,
    /// Unsubscribe request.
    Unsubscribe,
    /// Unsubscribe acknowledgment.
    UnsubAck,
    /// Ping request.
    PingReq,
    /// Ping response.
    PingResp,
    /// Client is disconnecting.
    Disconnect,
}

impl PacketType {
    /// The value of the high nibble of the first byte.
    pub const fn code(self) -> u8 {
        match self {
            Self::Connect => 1,
            Self::ConnAck => 2,
            Self::Publish => 3,
            Self::PubAck => 4,
            Self::PubRec => 5,
            Self::PubRel => 6,
            Self::PubComp => 7,
            Self::Subscribe => 8,
            Self::SubAck => 9,
            Self::Unsubscribe => 10,
            Self::UnsubAck => 11,
            Self::PingReq => 12,
            Self::PingResp => 13,
            Self::Disconnect => 14,
        }
    }

    /// The packet type for a high-nibble value, `None` for the reserved 0 and 15.
    pub const fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            1 => Self::Connect,
            2 => Self::ConnAck,
            3 => Self::Publish,
            4 => Self::PubAck,
            5 => Self::PubRec,
            6 => Self::PubRel,
            7 => Self::PubComp,
            8 => Self::Subscribe,
            9 => Self::SubAck,
            10 => Self::Unsubscribe,
            11 => Self::UnsubAck,
            12 => Self::PingReq,
            13 => Self::PingResp,
            14 => Self::Disconnect,
            _ => return None,
        })
    }

    /// The upper-case name the spec uses, e.g. `"PUBREL"`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Connect => "CONNECT",
            Self::ConnAck => "CONNACK",
            Self::Publish => "PUBLISH",
            Self::PubAck => "PUBACK",
            Self::PubRec => "PUBREC",
            Self::PubRel => "PUBREL",
            Self::PubComp => "PUBCOMP",
            Self::Subscribe => "SUBSCRIBE",
            Self::SubAck => "SUBACK",
            Self::Unsubscribe => "UNSUBSCRIBE",
            Self::UnsubAck => "UNSUBACK",
            Self::PingReq => "PINGREQ",
            Self::PingResp => "PINGRESP",
            Self::Disconnect => "DISCONNECT",
        }
    }

    /// The flag nibble MQTT 3.1.1 requires, `None` for PUBLISH whose flags carry data.
    pub(crate) const fn fixed_flags(self) -> Option<u8> {
        match self {
            Self::Publish => None,
            // These three are acknowledged, so 3.1 sent them "at QoS 1" and
            // 3.1.1 froze that as the reserved value 0b0010.
            Self::PubRel | Self::Subscribe | Self::Unsubscribe => Some(0b0010),
            _ => Some(0),
        }
    }
}

impl fmt::Display for PacketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the first bytes of a packet say about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FixedHeader {
    pub(crate) packet_type: PacketType,
    pub(crate) flags: u8,
    /// Bytes taken by the fixed header itself (2 to 5).
    pub(crate) header_len: usize,
    pub(crate) remaining_len: usize,
}

impl FixedHeader {
    pub(crate) fn total_len(&self) -> usize {
        // Cannot overflow: remaining_len <= MAX_REMAINING_LENGTH and header_len <= 5.
        self.header_len + self.remaining_len
    }
}

/// Reads a fixed header from the start of `buf` without consuming anything.
///
/// Returns `Ok(None)` while the header is incomplete. The type and flags are
/// checked as soon as the first byte is there, so garbage is refused before
/// the caller waits for a body that will never make sense.
pub(crate) fn parse_fixed_header(buf: &[u8], protocol: Protocol) -> Result<Option<FixedHeader>> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let code = first >> 4;
    let flags = first & 0x0f;
    let packet_type = PacketType::from_code(code).ok_or(Error::ReservedPacketType(code))?;
    check_flags(packet_type, flags, protocol)?;

    let mut remaining_len = 0usize;
    for i in 0..4 {
        let Some(&byte) = buf.get(1 + i) else {
            return Ok(None);
        };
        remaining_len |= usize::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(Some(FixedHeader {
                packet_type,
                flags,
                header_len: 2 + i,
                remaining_len,
            }));
        }
    }
    Err(Error::MalformedRemainingLength)
}

fn check_flags(packet_type: PacketType, flags: u8, protocol: Protocol) -> Result<()> {
    let Some(required) = packet_type.fixed_flags() else {
        // PUBLISH flags are validated with the packet, where QoS is interpreted.
        return Ok(());
    };
    // MQTT 3.1 calls these bits "not used" and its implementations disagree on
    // them (some set DUP on a resent SUBSCRIBE, some send QoS 0), so a 3.1
    // peer's values are ignored. 3.1.1 says any other value MUST close the
    // connection [MQTT-2.2.2-2].
    if protocol == Protocol::V31 || flags == required {
        Ok(())
    } else {
        Err(Error::InvalidHeaderFlags {
            packet: packet_type,
            flags,
        })
    }
}

/// Bytes the variable-length encoding of `len` takes.
pub(crate) const fn remaining_length_len(len: usize) -> usize {
    match len {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// Bytes a whole packet with a body of `body_len` bytes takes.
pub(crate) const fn packet_len(body_len: usize) -> usize {
    1 + remaining_length_len(body_len) + body_len
}

/// Writes the first byte and the remaining length.
///
/// The caller has checked `remaining_len <= MAX_REMAINING_LENGTH`.
pub(crate) fn write_fixed_header(
    buf: &mut BytesMut,
    packet_type: PacketType,
    flags: u8,
    remaining_len: usize,
) {
    debug_assert!(remaining_len <= MAX_REMAINING_LENGTH);
    buf.put_u8((packet_type.code() << 4) | (flags & 0x0f));
    let mut rest = remaining_len;
    loop {
        // Masked to 7 bits, so the narrowing keeps every bit.
        let mut byte = (rest & 0x7f) as u8;
        rest >>= 7;
        if rest > 0 {
            byte |= 0x80;
        }
        buf.put_u8(byte);
        if rest == 0 {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode_len(len: usize) -> Vec<u8> {
        let mut buf = BytesMut::new();
        write_fixed_header(&mut buf, PacketType::Publish, 0, len);
        buf[1..].to_vec()
    }

    fn parse_len(bytes: &[u8]) -> Result<Option<FixedHeader>> {
        let mut buf = vec![0x30];
        buf.extend_from_slice(bytes);
        parse_fixed_header(&buf, Protocol::V311)
    }

    #[test]
    fn remaining_length_boundaries() {
        let cases: &[(usize, &[u8])] = &[
            (0, &[0x00]),
            (127, &[0x7f]),
            (128, &[0x80, 0x01]),
            (16_383, &[0xff, 0x7f]),
            (16_384, &[0x80, 0x80, 0x01]),
            (2_097_151, &[0xff, 0xff, 0x7f]),
            (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
            (268_435_455, &[0xff, 0xff, 0xff, 0x7f]),
        ];
        for &(len, bytes) in cases {
            assert_eq!(encode_len(len), bytes, "encoding {len}");
            assert_eq!(remaining_length_len(len), bytes.len(), "length of {len}");
            let header = parse_len(bytes)
                .expect("valid header")
                .expect("complete header");
            assert_eq!(header.remaining_len, len);
            assert_eq!(header.header_len, 1 + bytes.len());
        }
    }

    #[test]
    fn five_byte_remaining_length_is_rejected() {
        assert_eq!(
            parse_len(&[0xff, 0xff, 0xff, 0xff, 0x7f]),
            Err(Error::MalformedRemainingLength)
        );
        // Refused as soon as the 4th continuation bit is seen, before byte 5.
        assert_eq!(
            parse_len(&[0x80, 0x80, 0x80, 0x80]),
            Err(Error::MalformedRemainingLength)
        );
    }

    #[test]
    fn incomplete_remaining_length_waits() {
        assert_eq!(parse_len(&[]), Ok(None));
        assert_eq!(parse_len(&[0x80]), Ok(None));
        assert_eq!(parse_len(&[0xff, 0xff, 0xff]), Ok(None));
    }

    #[test]
    fn reserved_types_rejected_from_first_byte() {
        assert_eq!(
            parse_fixed_header(&[0x00], Protocol::V311),
            Err(Error::ReservedPacketType(0))
        );
        assert_eq!(
            parse_fixed_header(&[0xf0], Protocol::V31),
            Err(Error::ReservedPacketType(15))
        );
    }

    #[test]
    fn type_codes_round_trip() {
        for code in 0..16u8 {
            if let Some(t) = PacketType::from_code(code) {
                assert_eq!(t.code(), code);
            } else {
                assert!(code == 0 || code == 15);
            }
        }
    }
}
