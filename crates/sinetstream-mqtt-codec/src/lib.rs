//! Encoder and decoder for every MQTT 3.1 and 3.1.1 control packet, with no I/O.
//!
//! Each packet has a struct (`Connect`, `Publish`, `SubAck`, ...) with
//! `encode` and `encoded_len`; [`Packet`] holds any of them, and [`decode`]
//! takes one packet off the front of a receive buffer. The optional `codec`
//! feature (on by default) wraps both as a `tokio_util` codec, `MqttCodec`.
//!
//! The decoder treats its input as hostile: it never panics, refuses a packet
//! larger than the caller's limit from its fixed header alone (before any
//! body is buffered), and allocates at most what the packet holds. Whatever
//! it rejects, the encoder refuses to produce, so a packet this crate encodes
//! is one it decodes.
//!
//! ```
//! use bytes::BytesMut;
//! use sinetstream_mqtt_codec::{decode, Packet, PacketId, Protocol, Publish, PublishQos};
//!
//! let id = PacketId::new(7).expect("non-zero");
//! let publish = Publish::new("sensors/temp", PublishQos::AtLeastOnce(id), &b"21.5"[..]);
//!
//! let mut buf = BytesMut::new();
//! publish.encode(&mut buf)?;
//! assert_eq!(buf.len(), publish.encoded_len());
//! assert_eq!(&buf[..4], &[0x32, 20, 0x00, 12]); // PUBLISH, QoS 1; 20 bytes follow
//!
//! // A partial packet is left in the buffer until the rest arrives.
//! let mut partial = BytesMut::from(&buf[..10]);
//! assert_eq!(decode(&mut partial, 1024, Protocol::V311)?, None);
//! assert_eq!(partial.len(), 10);
//!
//! let decoded = decode(&mut buf, 1024, Protocol::V311)?;
//! assert_eq!(decoded, Some(Packet::Publish(publish)));
//! assert!(buf.is_empty());
//! # Ok::<(), sinetstream_mqtt_codec::Error>(())
//! ```
//!
//! # MQTT 3.1
//!
//! A [`Connect`] carries its [`Protocol`]; 3.1 sends `"MQIsdp"` level 3. The
//! decoder reads the version of a CONNECT from the packet itself; for the
//! other packets it is told the version of the connection, and with
//! [`Protocol::V31`] it:
//! - ignores the fixed-header flags of packets other than PUBLISH, which 3.1
//!   leaves unused (3.1.1 requires `0b0010` for PUBREL, SUBSCRIBE and
//!   UNSUBSCRIBE and 0 elsewhere, and the decoder rejects anything else);
//! - ignores the CONNACK flags byte, as 3.1 has no session-present bit;
//! - ignores the CONNECT reserved bit and will QoS/retain bits without a will.
//!
//! Rules 3.1.1 added but that only make sense everywhere (strings are UTF-8
//! without U+0000, no DUP on QoS 0, non-zero packet identifiers, topic
//! wildcard rules) are applied to both versions. The 3.1 limit of 1 to 23
//! bytes of client identifier is checked when encoding but not when decoding;
//! see [`Connect::check_client_id`].

mod error;
mod framing;
mod packets;
mod primitives;
mod protocol;
mod qos;
mod topic;

#[cfg(feature = "codec")]
mod codec;

use bytes::BytesMut;

#[cfg(feature = "codec")]
pub use codec::{CodecError, MqttCodec};
pub use error::{Error, Result};
pub use framing::{MAX_REMAINING_LENGTH, PacketType};
pub use packets::Packet;
pub use packets::ack::{PubAck, PubComp, PubRec, PubRel, UnsubAck};
pub use packets::connack::{ConnAck, ConnectReturnCode};
pub use packets::connect::{Connect, LastWill, MAX_CLIENT_ID_LEN_V31};
pub use packets::publish::Publish;
pub use packets::subscribe::{SubAck, Subscribe, SubscribeFilter, SubscribeReturnCode};
pub use packets::unsubscribe::Unsubscribe;
pub use protocol::Protocol;
pub use qos::{PublishQos, QoS};
pub use topic::{TopicError, topic_matches, validate_topic_filter, validate_topic_name};

/// A packet identifier: MQTT requires it to be non-zero [MQTT-2.3.1-1].
pub type PacketId = std::num::NonZeroU16;

/// Takes one packet off the front of `buf`.
///
/// Returns `Ok(None)`, consuming nothing, while `buf` does not yet hold a
/// whole packet; call again once more bytes have been appended. On success
/// exactly the packet's bytes are consumed. A PUBLISH payload shares memory
/// with `buf` rather than being copied.
///
/// `max_packet_size` is the largest packet accepted, fixed header included.
/// `protocol` is the version of the connection (see the crate docs for what
/// changes with 3.1).
///
/// # Errors
///
/// Any [`Error`] means the peer broke the protocol and the connection should
/// be closed: the stream cannot be resynchronised, and the bytes of the
/// offending packet may or may not have been consumed.
pub fn decode(
    buf: &mut BytesMut,
    max_packet_size: usize,
    protocol: Protocol,
) -> Result<Option<Packet>> {
    let Some(header) = framing::parse_fixed_header(buf, protocol)? else {
        return Ok(None);
    };
    let size = header.total_len();
    if size > max_packet_size {
        return Err(Error::PacketTooLarge {
            size,
            max: max_packet_size,
        });
    }
    if buf.len() < size {
        return Ok(None);
    }
    let mut frame = buf.split_to(size);
    let body = frame.split_off(header.header_len).freeze();
    Packet::decode_body(header, body, protocol).map(Some)
}
