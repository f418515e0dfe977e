//! UNSUBSCRIBE; its answer UNSUBACK has the acknowledgment shape (see `ack.rs`).

use bytes::{BufMut, BytesMut};

use crate::PacketId;
use crate::error::Result;
use crate::framing::PacketType;
use crate::packets::list::{decode_list, ensure_not_empty, read_filter};
use crate::packets::{Body, public_encode};
use crate::primitives::{Reader, field_len, put_field};
use crate::topic::validate_topic_filter;

/// UNSUBSCRIBE: drops one or more subscriptions.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Unsubscribe {
    /// Identifier echoed by the UNSUBACK.
    pub packet_id: PacketId,
    /// At least one filter, spelled exactly as subscribed [MQTT-3.10.3-2].
    pub filters: Vec<String>,
}

impl Unsubscribe {
    /// An UNSUBSCRIBE for `filters`.
    pub fn new(packet_id: PacketId, filters: Vec<String>) -> Self {
        Self { packet_id, filters }
    }

    pub(crate) fn decode_body(r: Reader) -> Result<Self> {
        let (packet_id, filters) = decode_list(r, read_filter)?;
        Ok(Self { packet_id, filters })
    }
}

impl Body for Unsubscribe {
    fn packet_type(&self) -> PacketType {
        PacketType::Unsubscribe
    }

    fn validate(&self) -> Result<()> {
        ensure_not_empty(PacketType::Unsubscribe, &self.filters)?;
        for f in &self.filters {
            validate_topic_filter(f)?;
        }
        Ok(())
    }

    fn body_len(&self) -> usize {
        2 + self
            .filters
            .iter()
            .map(|f| field_len(f.len()))
            .sum::<usize>()
    }

    fn write_body(&self, buf: &mut BytesMut) {
        buf.put_u16(self.packet_id.get());
        for f in &self.filters {
            put_field(buf, f.as_bytes());
        }
    }
}

public_encode!(Unsubscribe);
