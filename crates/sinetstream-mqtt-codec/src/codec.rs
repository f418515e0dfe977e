//! `tokio_util::codec` glue, for use with `Framed`, `FramedRead` and `FramedWrite`.

use bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};

use crate::{Error, Packet, Protocol};

/// A [`Decoder`] and [`Encoder`] of MQTT packets.
///
/// `max_packet_size` bounds incoming packets only (fixed header included);
/// outgoing packets are the caller's own and are not limited here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MqttCodec {
    /// Largest incoming packet accepted, in bytes, fixed header included.
    pub max_packet_size: usize,
    /// Version spoken on the connection.
    pub protocol: Protocol,
}

impl MqttCodec {
    /// The limit [`MqttCodec::new`] uses: 1 MiB.
    pub const DEFAULT_MAX_PACKET_SIZE: usize = 1024 * 1024;

    /// A codec for `protocol` with the default incoming size limit.
    pub const fn new(protocol: Protocol) -> Self {
        Self {
            max_packet_size: Self::DEFAULT_MAX_PACKET_SIZE,
            protocol,
        }
    }

    /// The same codec with a different incoming size limit.
    #[must_use]
    pub const fn with_max_packet_size(mut self, max_packet_size: usize) -> Self {
        self.max_packet_size = max_packet_size;
        self
    }
}

impl Default for MqttCodec {
    fn default() -> Self {
        Self::new(Protocol::default())
    }
}

/// Errors of [`MqttCodec`]: the transport's, or the protocol's.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// Reading or writing the transport failed.
    #[error("MQTT transport I/O failed")]
    Io(#[from] std::io::Error),
    /// A packet could not be decoded or encoded.
    #[error(transparent)]
    Mqtt(#[from] Error),
}

impl Decoder for MqttCodec {
    type Item = Packet;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Packet>, CodecError> {
        Ok(crate::decode(src, self.max_packet_size, self.protocol)?)
    }
}

// Only owned packets: a second `Encoder<&Packet>` impl would make `SinkExt`
// calls such as `close()` ambiguous for every user of `Framed`. Cloning a
// packet is cheap, its payload being reference-counted `Bytes`.
impl Encoder<Packet> for MqttCodec {
    type Error = CodecError;

    fn encode(&mut self, item: Packet, dst: &mut BytesMut) -> Result<(), CodecError> {
        Ok(item.encode(dst)?)
    }
}
