//! PUBACK, PUBREC, PUBREL, PUBCOMP and UNSUBACK: a fixed header and a packet identifier.

use bytes::{BufMut, BytesMut};

use crate::PacketId;
use crate::error::Result;
use crate::framing::PacketType;
use crate::packets::{Body, public_encode};
use crate::primitives::Reader;

macro_rules! ack_packet {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $name {
            /// Identifier of the packet being acknowledged.
            pub packet_id: PacketId,
        }

        impl $name {
            /// An acknowledgment of `packet_id`.
            pub const fn new(packet_id: PacketId) -> Self {
                Self { packet_id }
            }

            pub(crate) fn decode_body(mut r: Reader) -> Result<Self> {
                let packet_id = r.packet_id()?;
                r.finish()?;
                Ok(Self { packet_id })
            }
        }

        impl Body for $name {
            fn packet_type(&self) -> PacketType {
                PacketType::$name
            }
            fn validate(&self) -> Result<()> {
                Ok(())
            }
            fn body_len(&self) -> usize {
                2
            }
            fn write_body(&self, buf: &mut BytesMut) {
                buf.put_u16(self.packet_id.get());
            }
        }

        public_encode!($name);
    };
}

ack_packet!(
    /// PUBACK: the receiver of a QoS 1 PUBLISH has it.
    PubAck
);
ack_packet!(
    /// PUBREC: the receiver of a QoS 2 PUBLISH has it (step 1 of 3).
    PubRec
);
ack_packet!(
    /// PUBREL: the sender of a QoS 2 PUBLISH may forget it (step 2 of 3).
    ///
    /// Its fixed header flags are `0b0010`, unlike the other acknowledgments.
    PubRel
);
ack_packet!(
    /// PUBCOMP: QoS 2 delivery is complete (step 3 of 3).
    PubComp
);
ack_packet!(
    /// UNSUBACK: the server has processed an UNSUBSCRIBE.
    UnsubAck
);
