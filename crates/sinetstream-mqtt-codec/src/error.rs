//! The one error type of this crate.

use crate::framing::PacketType;
use crate::topic::TopicError;

/// Shorthand for results whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a packet could not be decoded or encoded.
///
/// Every decode error means the peer broke the protocol: MQTT gives no way to
/// resynchronise a byte stream, so the connection should be closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The fixed header announces a packet larger than the caller's limit.
    #[error("packet of {size} bytes exceeds the maximum packet size of {max} bytes")]
    PacketTooLarge {
        /// Size of the whole packet, fixed header included.
        size: usize,
        /// The limit passed to the decoder.
        max: usize,
    },
    /// The remaining-length field does not end within 4 bytes.
    #[error("remaining length field is longer than 4 bytes")]
    MalformedRemainingLength,
    /// A packet body is longer than the largest remaining length MQTT can express.
    #[error("packet body of {0} bytes exceeds the MQTT limit of 268435455 bytes")]
    BodyTooLarge(usize),
    /// Packet type 0 or 15, which MQTT 3.1.1 reserves.
    #[error("reserved packet type {0}")]
    ReservedPacketType(u8),
    /// The low nibble of the first byte has a value the spec forbids.
    #[error("invalid fixed header flags {flags:#06b} for {packet}")]
    InvalidHeaderFlags {
        /// The packet whose header was wrong.
        packet: PacketType,
        /// The 4 flag bits received.
        flags: u8,
    },
    /// The packet ends before all of its fields have been read.
    #[error("{0} packet ends before its last field")]
    Truncated(PacketType),
    /// The packet has bytes left after its last field.
    #[error("{packet} packet has {extra} unexpected trailing bytes")]
    TrailingBytes {
        /// The packet that was too long.
        packet: PacketType,
        /// How many bytes were left over.
        extra: usize,
    },
    /// A QoS value (or a SUBSCRIBE QoS byte) other than 0, 1 or 2.
    #[error("invalid QoS value {0}")]
    InvalidQos(u8),
    /// A string field is not valid UTF-8.
    #[error("string is not valid UTF-8")]
    InvalidUtf8,
    /// A string field contains U+0000, which MQTT 3.1.1 forbids.
    #[error("string contains the null character U+0000")]
    NullCharacter,
    /// A string or binary field is longer than its 16-bit length prefix allows.
    #[error("field of {0} bytes is longer than the 65535 bytes a length prefix allows")]
    FieldTooLong(usize),
    /// Packet identifier 0 where the spec requires a non-zero one.
    #[error("{0} packet has packet identifier 0")]
    ZeroPacketId(PacketType),
    /// A PUBLISH with QoS 0 and the DUP flag set.
    #[error("PUBLISH with QoS 0 must not have the DUP flag set")]
    DupWithQos0,
    /// A SUBSCRIBE, UNSUBSCRIBE or SUBACK with an empty payload.
    #[error("{0} packet must carry at least one entry")]
    EmptyPayload(PacketType),
    /// A SUBACK return code other than 0, 1, 2 or 0x80.
    #[error("invalid SUBACK return code {0:#04x}")]
    InvalidSubAckCode(u8),
    /// A topic name or filter breaks the topic rules.
    #[error("invalid topic: {0}")]
    Topic(#[from] TopicError),
    /// A CONNECT names a protocol this crate does not speak.
    ///
    /// A broker should answer with CONNACK return code 1
    /// ([`ConnectReturnCode::UnacceptableProtocolVersion`](crate::ConnectReturnCode)).
    #[error("unsupported protocol {name:?} level {level}")]
    UnsupportedProtocol {
        /// Protocol name as sent.
        name: String,
        /// Protocol level as sent.
        level: u8,
    },
    /// CONNECT flags that contradict each other or set the reserved bit.
    #[error("invalid CONNECT flags {0:#010b}")]
    InvalidConnectFlags(u8),
    /// A CONNECT with a password but no user name.
    #[error("CONNECT has a password but no user name")]
    PasswordWithoutUsername,
    /// CONNACK acknowledge flags with reserved bits set.
    #[error("invalid CONNACK flags {0:#010b}")]
    InvalidConnAckFlags(u8),
    /// A CONNACK that refuses the connection but claims a session is present.
    #[error("CONNACK refusing the connection must not set session present")]
    SessionPresentOnRefusal,
    /// The client identifier breaks the rules of the CONNECT's protocol version.
    ///
    /// Only encoding checks this; see [`Connect::check_client_id`](crate::Connect::check_client_id).
    #[error("client identifier not allowed: {0}")]
    InvalidClientId(&'static str),
}
