//! CONNACK: the server's answer to CONNECT.

use bytes::{BufMut, BytesMut};

use crate::Protocol;
use crate::error::{Error, Result};
use crate::framing::PacketType;
use crate::packets::{Body, public_encode};
use crate::primitives::Reader;

/// The outcome of a CONNECT, as reported in CONNACK.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnectReturnCode {
    /// 0: connection accepted.
    Accepted,
    /// 1: the server does not support the requested protocol level.
    UnacceptableProtocolVersion,
    /// 2: the client identifier is not allowed.
    IdentifierRejected,
    /// 3: the MQTT service is unavailable.
    ServerUnavailable,
    /// 4: the user name or password is malformed.
    BadUsernameOrPassword,
    /// 5: the client is not authorized to connect.
    NotAuthorized,
    /// 6 to 255, which the spec reserves; treat it as a refusal.
    ///
    /// Decoding only produces this for values above 5.
    Unknown(u8),
}

impl ConnectReturnCode {
    /// The code for a wire value.
    pub const fn from_u8(code: u8) -> Self {
        match code {
            0 => Self::Accepted,
            1 => Self::UnacceptableProtocolVersion,
            2 => Self::IdentifierRejected,
            3 => Self::ServerUnavailable,
            4 => Self::BadUsernameOrPassword,
            5 => Self::NotAuthorized,
            other => Self::Unknown(other),
        }
    }

    /// The wire value.
    pub const fn as_u8(self) -> u8 {
        match self {
            Self::Accepted => 0,
            Self::UnacceptableProtocolVersion => 1,
            Self::IdentifierRejected => 2,
            Self::ServerUnavailable => 3,
            Self::BadUsernameOrPassword => 4,
            Self::NotAuthorized => 5,
            Self::Unknown(code) => code,
        }
    }

    /// Whether the connection was accepted; every other code, known or not, is a refusal.
    pub const fn is_accepted(self) -> bool {
        self.as_u8() == 0
    }
}

/// CONNACK: accepts or refuses a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnAck {
    /// The server resumed a stored session (MQTT 3.1.1 only; always `false` from a 3.1 server).
    pub session_present: bool,
    /// Whether, and why not, the connection was accepted.
    pub code: ConnectReturnCode,
}

impl ConnAck {
    /// A CONNACK with `code` and no session present.
    pub const fn new(code: ConnectReturnCode) -> Self {
        Self {
            session_present: false,
            code,
        }
    }

    pub(crate) fn decode_body(mut r: Reader, protocol: Protocol) -> Result<Self> {
        let flags = r.u8()?;
        let code = ConnectReturnCode::from_u8(r.u8()?);
        r.finish()?;
        let session_present = match protocol {
            // 3.1 calls this byte "reserved, not used"; it has no session present bit.
            Protocol::V31 => false,
            _ => {
                if flags & 0xfe != 0 {
                    return Err(Error::InvalidConnAckFlags(flags));
                }
                flags & 1 != 0
            }
        };
        let ack = Self {
            session_present,
            code,
        };
        ack.validate()?;
        Ok(ack)
    }
}

impl Body for ConnAck {
    fn packet_type(&self) -> PacketType {
        PacketType::ConnAck
    }

    fn validate(&self) -> Result<()> {
        // [MQTT-3.2.2-4]: a refusal never comes with a session.
        if self.session_present && !self.code.is_accepted() {
            return Err(Error::SessionPresentOnRefusal);
        }
        Ok(())
    }

    fn body_len(&self) -> usize {
        2
    }

    fn write_body(&self, buf: &mut BytesMut) {
        buf.put_u8(u8::from(self.session_present));
        buf.put_u8(self.code.as_u8());
    }
}

public_encode!(ConnAck);
