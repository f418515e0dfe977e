//! The [`Packet`] enum, one module per packet shape, and the shared encode path.

use bytes::{Bytes, BytesMut};

use crate::Protocol;
use crate::error::{Error, Result};
use crate::framing::{self, FixedHeader, MAX_REMAINING_LENGTH, PacketType};
use crate::primitives::Reader;

pub(crate) mod ack;
pub(crate) mod connack;
pub(crate) mod connect;
mod list;
pub(crate) mod publish;
pub(crate) mod subscribe;
pub(crate) mod unsubscribe;

use ack::{PubAck, PubComp, PubRec, PubRel, UnsubAck};
use connack::ConnAck;
use connect::Connect;
use publish::Publish;
use subscribe::{SubAck, Subscribe};
use unsubscribe::Unsubscribe;

/// What every packet tells the shared encoder.
///
/// Encoding is split into a fallible check and infallible writes so that a
/// rejected packet leaves the caller's buffer untouched.
pub(crate) trait Body {
    fn packet_type(&self) -> PacketType;

    /// The flag nibble; only PUBLISH overrides the spec's fixed value.
    fn flags(&self) -> u8 {
        self.packet_type().fixed_flags().unwrap_or(0)
    }

    /// Every rule the decoder enforces, so what we encode our decoder accepts.
    fn validate(&self) -> Result<()>;

    fn body_len(&self) -> usize;

    /// Writes exactly `body_len()` bytes; only called after `validate()` passed.
    fn write_body(&self, buf: &mut BytesMut);
}

pub(crate) fn encode<B: Body + ?Sized>(packet: &B, buf: &mut BytesMut) -> Result<()> {
    packet.validate()?;
    let body_len = packet.body_len();
    if body_len > MAX_REMAINING_LENGTH {
        return Err(Error::BodyTooLarge(body_len));
    }
    buf.reserve(framing::packet_len(body_len));
    framing::write_fixed_header(buf, packet.packet_type(), packet.flags(), body_len);
    let start = buf.len();
    packet.write_body(buf);
    debug_assert_eq!(buf.len() - start, body_len, "{}", packet.packet_type());
    Ok(())
}

pub(crate) fn encoded_len<B: Body + ?Sized>(packet: &B) -> usize {
    framing::packet_len(packet.body_len())
}

/// Gives a packet struct its public `encode` and `encoded_len`.
macro_rules! public_encode {
    ($ty:ty) => {
        impl $ty {
            /// Appends the whole packet, fixed header included, to `buf`.
            ///
            /// # Errors
            ///
            /// Fails, leaving `buf` unchanged, if the packet breaks a rule
            /// that the decoder enforces (see [`Error`](crate::Error)), so
            /// that everything this writes can be decoded again.
            pub fn encode(&self, buf: &mut ::bytes::BytesMut) -> $crate::Result<()> {
                $crate::packets::encode(self, buf)
            }

            /// How many bytes [`encode`](Self::encode) appends when it succeeds.
            pub fn encoded_len(&self) -> usize {
                $crate::packets::encoded_len(self)
            }
        }
    };
}
pub(crate) use public_encode;

/// PINGREQ, PINGRESP and DISCONNECT: a fixed header and nothing else.
struct Empty(PacketType);

impl Body for Empty {
    fn packet_type(&self) -> PacketType {
        self.0
    }
    fn validate(&self) -> Result<()> {
        Ok(())
    }
    fn body_len(&self) -> usize {
        0
    }
    fn write_body(&self, _buf: &mut BytesMut) {}
}

/// Any MQTT 3.1 / 3.1.1 control packet.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Packet {
    /// CONNECT, client to server.
    Connect(Connect),
    /// CONNACK, server to client.
    ConnAck(ConnAck),
    /// PUBLISH, both ways.
    Publish(Publish),
    /// PUBACK, both ways.
    PubAck(PubAck),
    /// PUBREC, both ways.
    PubRec(PubRec),
    /// PUBREL, both ways.
    PubRel(PubRel),
    /// PUBCOMP, both ways.
    PubComp(PubComp),
    /// SUBSCRIBE, client to server.
    Subscribe(Subscribe),
    /// SUBACK, server to client.
    SubAck(SubAck),
    /// UNSUBSCRIBE, client to server.
    Unsubscribe(Unsubscribe),
    /// UNSUBACK, server to client.
    UnsubAck(UnsubAck),
    /// PINGREQ, client to server.
    PingReq,
    /// PINGRESP, server to client.
    PingResp,
    /// DISCONNECT, client to server.
    Disconnect,
}

impl Packet {
    /// The kind of this packet.
    pub fn packet_type(&self) -> PacketType {
        self.body().packet_type()
    }

    /// Appends the whole packet to `buf`.
    ///
    /// # Errors
    ///
    /// Fails, leaving `buf` unchanged, if the packet breaks a rule that
    /// [`decode`](crate::decode) enforces.
    pub fn encode(&self, buf: &mut BytesMut) -> Result<()> {
        encode(self.body(), buf)
    }

    /// How many bytes [`encode`](Self::encode) appends when it succeeds.
    pub fn encoded_len(&self) -> usize {
        encoded_len(self.body())
    }

    fn body(&self) -> &dyn Body {
        // The unit variants need a value to point at; statics give them one.
        static PING_REQ: Empty = Empty(PacketType::PingReq);
        static PING_RESP: Empty = Empty(PacketType::PingResp);
        static DISCONNECT: Empty = Empty(PacketType::Disconnect);
        match self {
            Self::Connect(p) => p,
            Self::ConnAck(p) => p,
            Self::Publish(p) => p,
            Self::PubAck(p) => p,
            Self::PubRec(p) => p,
            Self::PubRel(p) => p,
            Self::PubComp(p) => p,
            Self::Subscribe(p) => p,
            Self::SubAck(p) => p,
            Self::Unsubscribe(p) => p,
            Self::UnsubAck(p) => p,
            Self::PingReq => &PING_REQ,
            Self::PingResp => &PING_RESP,
            Self::Disconnect => &DISCONNECT,
        }
    }

    /// Decodes the body of a packet whose fixed header has been checked.
    pub(crate) fn decode_body(
        header: FixedHeader,
        body: Bytes,
        protocol: Protocol,
    ) -> Result<Self> {
        let r = Reader::new(body, header.packet_type);
        Ok(match header.packet_type {
            PacketType::Connect => Self::Connect(Connect::decode_body(r)?),
            PacketType::ConnAck => Self::ConnAck(ConnAck::decode_body(r, protocol)?),
            PacketType::Publish => Self::Publish(Publish::decode_body(r, header.flags)?),
            PacketType::PubAck => Self::PubAck(PubAck::decode_body(r)?),
            PacketType::PubRec => Self::PubRec(PubRec::decode_body(r)?),
            PacketType::PubRel => Self::PubRel(PubRel::decode_body(r)?),
            PacketType::PubComp => Self::PubComp(PubComp::decode_body(r)?),
            PacketType::Subscribe => Self::Subscribe(Subscribe::decode_body(r)?),
            PacketType::SubAck => Self::SubAck(SubAck::decode_body(r)?),
            PacketType::Unsubscribe => Self::Unsubscribe(Unsubscribe::decode_body(r)?),
            PacketType::UnsubAck => Self::UnsubAck(UnsubAck::decode_body(r)?),
            PacketType::PingReq => {
                r.finish()?;
                Self::PingReq
            }
            PacketType::PingResp => {
                r.finish()?;
                Self::PingResp
            }
            PacketType::Disconnect => {
                r.finish()?;
                Self::Disconnect
            }
        })
    }
}

macro_rules! from_packet_struct {
    ($($ty:ident),*) => {
        $(
            impl From<$ty> for Packet {
                fn from(p: $ty) -> Self {
                    Self::$ty(p)
                }
            }
        )*
    };
}
from_packet_struct!(
    Connect,
    ConnAck,
    Publish,
    PubAck,
    PubRec,
    PubRel,
    PubComp,
    Subscribe,
    SubAck,
    Unsubscribe,
    UnsubAck
);
