//! Quality of service levels, alone and paired with the packet identifier they need.

use crate::PacketId;
use crate::error::Error;

/// Quality of service: how hard the sender tries to deliver a message.
///
/// Not `#[non_exhaustive]`, unlike the other enums of this crate: QoS is two
/// bits on the wire and the value 3 is forbidden, so there is no room for a
/// new level, and callers can match all three.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(u8)]
pub enum QoS {
    /// QoS 0: fire and forget.
    #[default]
    AtMostOnce = 0,
    /// QoS 1: acknowledged by PUBACK, may be duplicated.
    AtLeastOnce = 1,
    /// QoS 2: four-way handshake, delivered once.
    ExactlyOnce = 2,
}

impl QoS {
    /// The wire value.
    pub const fn as_u8(self) -> u8 {
        self as u8
    }
}

impl TryFrom<u8> for QoS {
    type Error = Error;

    fn try_from(value: u8) -> Result<Self, Error> {
        match value {
            0 => Ok(Self::AtMostOnce),
            1 => Ok(Self::AtLeastOnce),
            2 => Ok(Self::ExactlyOnce),
            other => Err(Error::InvalidQos(other)),
        }
    }
}

/// The QoS of a PUBLISH together with its packet identifier.
///
/// A PUBLISH has a packet identifier exactly when its QoS is above 0
/// [MQTT-2.3.1-5]; pairing them makes the other combinations unrepresentable.
/// Exhaustive for the same reason as [`QoS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PublishQos {
    /// QoS 0, no packet identifier.
    #[default]
    AtMostOnce,
    /// QoS 1 with its packet identifier.
    AtLeastOnce(PacketId),
    /// QoS 2 with its packet identifier.
    ExactlyOnce(PacketId),
}

impl PublishQos {
    /// Pairs `qos` with `packet_id`; the identifier is dropped for QoS 0.
    pub const fn new(qos: QoS, packet_id: PacketId) -> Self {
        match qos {
            QoS::AtMostOnce => Self::AtMostOnce,
            QoS::AtLeastOnce => Self::AtLeastOnce(packet_id),
            QoS::ExactlyOnce => Self::ExactlyOnce(packet_id),
        }
    }

    /// The QoS level alone.
    pub const fn qos(self) -> QoS {
        match self {
            Self::AtMostOnce => QoS::AtMostOnce,
            Self::AtLeastOnce(_) => QoS::AtLeastOnce,
            Self::ExactlyOnce(_) => QoS::ExactlyOnce,
        }
    }

    /// The packet identifier, `None` for QoS 0.
    pub const fn packet_id(self) -> Option<PacketId> {
        match self {
            Self::AtMostOnce => None,
            Self::AtLeastOnce(id) | Self::ExactlyOnce(id) => Some(id),
        }
    }
}
