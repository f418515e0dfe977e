//! PUBLISH: an application message.

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{Error, Result};
use crate::framing::PacketType;
use crate::packets::{Body, public_encode};
use crate::primitives::{Reader, field_len, put_field};
use crate::topic::validate_topic_name;
use crate::{PublishQos, QoS};

const DUP: u8 = 0b1000;
const QOS_SHIFT: u8 = 1;
const QOS_MASK: u8 = 0b0110;
const RETAIN: u8 = 0b0001;

/// PUBLISH: carries one message to a topic.
///
/// The payload is a [`Bytes`] that, when decoded, shares memory with the
/// receive buffer instead of being copied.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Publish {
    /// This is a redelivery of an earlier attempt; never set with QoS 0 [MQTT-3.3.1-2].
    pub dup: bool,
    /// QoS, with the packet identifier QoS 1 and 2 need.
    pub qos: PublishQos,
    /// The server should keep this as the topic's retained message.
    pub retain: bool,
    /// Topic name; wildcards are not allowed.
    pub topic: String,
    /// Application payload, possibly empty.
    pub payload: Bytes,
}

impl Publish {
    /// A first-attempt, non-retained PUBLISH.
    pub fn new(topic: impl Into<String>, qos: PublishQos, payload: impl Into<Bytes>) -> Self {
        Self {
            dup: false,
            qos,
            retain: false,
            topic: topic.into(),
            payload: payload.into(),
        }
    }

    pub(crate) fn decode_body(mut r: Reader, flags: u8) -> Result<Self> {
        let qos = QoS::try_from((flags & QOS_MASK) >> QOS_SHIFT)?;
        let dup = flags & DUP != 0;
        if dup && qos == QoS::AtMostOnce {
            return Err(Error::DupWithQos0);
        }
        let topic = r.string()?;
        validate_topic_name(&topic)?;
        let qos = match qos {
            QoS::AtMostOnce => PublishQos::AtMostOnce,
            QoS::AtLeastOnce => PublishQos::AtLeastOnce(r.packet_id()?),
            QoS::ExactlyOnce => PublishQos::ExactlyOnce(r.packet_id()?),
        };
        Ok(Self {
            dup,
            qos,
            retain: flags & RETAIN != 0,
            topic,
            payload: r.rest(),
        })
    }
}

impl Body for Publish {
    fn packet_type(&self) -> PacketType {
        PacketType::Publish
    }

    fn flags(&self) -> u8 {
        let mut flags = self.qos.qos().as_u8() << QOS_SHIFT;
        if self.dup {
            flags |= DUP;
        }
        if self.retain {
            flags |= RETAIN;
        }
        flags
    }

    fn validate(&self) -> Result<()> {
        validate_topic_name(&self.topic)?;
        if self.dup && self.qos == PublishQos::AtMostOnce {
            return Err(Error::DupWithQos0);
        }
        Ok(())
    }

    fn body_len(&self) -> usize {
        let id_len = if self.qos.packet_id().is_some() { 2 } else { 0 };
        field_len(self.topic.len()) + id_len + self.payload.len()
    }

    fn write_body(&self, buf: &mut BytesMut) {
        put_field(buf, self.topic.as_bytes());
        if let Some(id) = self.qos.packet_id() {
            buf.put_u16(id.get());
        }
        buf.put_slice(&self.payload);
    }
}

public_encode!(Publish);
