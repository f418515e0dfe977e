//! SUBSCRIBE and its answer SUBACK.

use bytes::{BufMut, BytesMut};

use crate::error::{Error, Result};
use crate::framing::PacketType;
use crate::packets::list::{decode_list, ensure_not_empty, read_filter};
use crate::packets::{Body, public_encode};
use crate::primitives::{Reader, field_len, put_field};
use crate::topic::validate_topic_filter;
use crate::{PacketId, QoS};

/// One topic filter of a SUBSCRIBE, with the highest QoS the client wants on it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SubscribeFilter {
    /// Topic filter; may contain `+` and `#` wildcards.
    pub filter: String,
    /// Maximum QoS requested for messages matching the filter.
    pub qos: QoS,
}

impl SubscribeFilter {
    /// A filter with its requested QoS.
    pub fn new(filter: impl Into<String>, qos: QoS) -> Self {
        Self {
            filter: filter.into(),
            qos,
        }
    }
}

/// SUBSCRIBE: asks for messages on one or more topic filters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Subscribe {
    /// Identifier echoed by the SUBACK.
    pub packet_id: PacketId,
    /// At least one filter [MQTT-3.8.3-3].
    pub filters: Vec<SubscribeFilter>,
}

impl Subscribe {
    /// A SUBSCRIBE for `filters`.
    pub fn new(packet_id: PacketId, filters: Vec<SubscribeFilter>) -> Self {
        Self { packet_id, filters }
    }

    pub(crate) fn decode_body(r: Reader) -> Result<Self> {
        let (packet_id, filters) = decode_list(r, |r| {
            let filter = read_filter(r)?;
            // The upper six bits are reserved and must be 0 [MQTT-3-8.3-4],
            // which this also enforces since they would make the value > 2.
            let qos = QoS::try_from(r.u8()?)?;
            Ok(SubscribeFilter { filter, qos })
        })?;
        Ok(Self { packet_id, filters })
    }
}

impl Body for Subscribe {
    fn packet_type(&self) -> PacketType {
        PacketType::Subscribe
    }

    fn validate(&self) -> Result<()> {
        ensure_not_empty(PacketType::Subscribe, &self.filters)?;
        for f in &self.filters {
            validate_topic_filter(&f.filter)?;
        }
        Ok(())
    }

    fn body_len(&self) -> usize {
        2 + self
            .filters
            .iter()
            .map(|f| field_len(f.filter.len()) + 1)
            .sum::<usize>()
    }

    fn write_body(&self, buf: &mut BytesMut) {
        buf.put_u16(self.packet_id.get());
        for f in &self.filters {
            put_field(buf, f.filter.as_bytes());
            buf.put_u8(f.qos.as_u8());
        }
    }
}

public_encode!(Subscribe);

/// The server's verdict on one filter of a SUBSCRIBE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SubscribeReturnCode {
    /// Subscribed, with the QoS the server granted (0, 1 or 2).
    Success(QoS),
    /// 0x80: the subscription was refused.
    ///
    /// MQTT 3.1 does not define this code; it is accepted from 3.1 servers
    /// anyway because brokers that speak both versions send it.
    Failure,
}

impl SubscribeReturnCode {
    const FAILURE: u8 = 0x80;

    /// The wire value.
    pub const fn as_u8(self) -> u8 {
        match self {
            Self::Success(qos) => qos.as_u8(),
            Self::Failure => Self::FAILURE,
        }
    }

    /// The code for a wire value; `None` for the reserved values.
    pub const fn from_u8(code: u8) -> Option<Self> {
        Some(match code {
            0 => Self::Success(QoS::AtMostOnce),
            1 => Self::Success(QoS::AtLeastOnce),
            2 => Self::Success(QoS::ExactlyOnce),
            Self::FAILURE => Self::Failure,
            _ => return None,
        })
    }
}

/// SUBACK: one return code per filter of the SUBSCRIBE, in the same order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SubAck {
    /// Identifier of the SUBSCRIBE being answered.
    pub packet_id: PacketId,
    /// At least one code, one per requested filter.
    pub return_codes: Vec<SubscribeReturnCode>,
}

impl SubAck {
    /// A SUBACK with `return_codes`.
    pub fn new(packet_id: PacketId, return_codes: Vec<SubscribeReturnCode>) -> Self {
        Self {
            packet_id,
            return_codes,
        }
    }

    pub(crate) fn decode_body(r: Reader) -> Result<Self> {
        let (packet_id, return_codes) = decode_list(r, |r| {
            let code = r.u8()?;
            SubscribeReturnCode::from_u8(code).ok_or(Error::InvalidSubAckCode(code))
        })?;
        Ok(Self {
            packet_id,
            return_codes,
        })
    }
}

impl Body for SubAck {
    fn packet_type(&self) -> PacketType {
        PacketType::SubAck
    }

    fn validate(&self) -> Result<()> {
        ensure_not_empty(PacketType::SubAck, &self.return_codes)
    }

    fn body_len(&self) -> usize {
        2 + self.return_codes.len()
    }

    fn write_body(&self, buf: &mut BytesMut) {
        buf.put_u16(self.packet_id.get());
        for code in &self.return_codes {
            buf.put_u8(code.as_u8());
        }
    }
}

public_encode!(SubAck);
