//! The body SUBSCRIBE, SUBACK and UNSUBSCRIBE share: a packet identifier, then entries up to the
//! end of the packet, at least one (SUBSCRIBE [MQTT-3.8.3-3], UNSUBSCRIBE [MQTT-3.10.3-2], and
//! SUBACK since it answers each filter of a SUBSCRIBE).

use crate::PacketId;
use crate::error::{Error, Result};
use crate::framing::PacketType;
use crate::primitives::Reader;
use crate::topic::validate_topic_filter;

/// Reads the packet identifier and then entries, each with `entry`, to the end of the body.
pub(crate) fn decode_list<E>(
    mut r: Reader,
    mut entry: impl FnMut(&mut Reader) -> Result<E>,
) -> Result<(PacketId, Vec<E>)> {
    let packet_id = r.packet_id()?;
    let mut entries = Vec::new();
    while !r.is_empty() {
        entries.push(entry(&mut r)?);
    }
    ensure_not_empty(r.packet(), &entries)?;
    Ok((packet_id, entries))
}

/// Refuses an empty list; the encoder calls it too, so that what it writes the decoder accepts.
pub(crate) fn ensure_not_empty<E>(packet: PacketType, entries: &[E]) -> Result<()> {
    if entries.is_empty() {
        return Err(Error::EmptyPayload(packet));
    }
    Ok(())
}

/// A topic filter, the entry (or the start of one) of SUBSCRIBE and UNSUBSCRIBE.
pub(crate) fn read_filter(r: &mut Reader) -> Result<String> {
    let filter = r.string()?;
    validate_topic_filter(&filter)?;
    Ok(filter)
}
