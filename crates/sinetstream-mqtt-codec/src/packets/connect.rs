//! CONNECT: the first packet a client sends, for both 3.1 ("MQIsdp") and 3.1.1 ("MQTT").

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{Error, Result};
use crate::framing::PacketType;
use crate::packets::{Body, public_encode};
use crate::primitives::{Reader, check_binary, check_string, field_len, put_field};
use crate::topic::validate_topic_name;
use crate::{Protocol, QoS};

const USERNAME: u8 = 0x80;
const PASSWORD: u8 = 0x40;
const WILL_RETAIN: u8 = 0x20;
const WILL_QOS_SHIFT: u8 = 3;
const WILL_QOS_MASK: u8 = 0x18;
const WILL: u8 = 0x04;
const CLEAN_SESSION: u8 = 0x02;
const RESERVED: u8 = 0x01;

/// Longest client identifier MQTT 3.1 allows.
pub const MAX_CLIENT_ID_LEN_V31: usize = 23;

/// The message a server publishes for a client that disconnects without DISCONNECT.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LastWill {
    /// Topic name to publish to; wildcards are not allowed.
    pub topic: String,
    /// Payload to publish.
    pub message: Bytes,
    /// QoS to publish with.
    pub qos: QoS,
    /// Whether the server retains the message.
    pub retain: bool,
}

/// CONNECT: opens an MQTT session.
///
/// The protocol version is carried in the packet itself, so the decoder
/// reads it from there whatever version it was told to expect.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Connect {
    /// Protocol name and level to send.
    pub protocol: Protocol,
    /// Start a fresh session, discarding any the server holds for this client id.
    pub clean_session: bool,
    /// Seconds between control packets before the server may drop the client; 0 disables.
    pub keep_alive: u16,
    /// Client identifier; see [`check_client_id`](Self::check_client_id).
    pub client_id: String,
    /// Last will, if any.
    pub will: Option<LastWill>,
    /// User name, if any.
    pub username: Option<String>,
    /// Password, if any; binary, and only allowed together with a user name.
    pub password: Option<Bytes>,
}

impl Connect {
    /// A CONNECT with a clean session, a 60 second keep-alive and no will or credentials.
    pub fn new(protocol: Protocol, client_id: impl Into<String>) -> Self {
        Self {
            protocol,
            clean_session: true,
            keep_alive: 60,
            client_id: client_id.into(),
            will: None,
            username: None,
            password: None,
        }
    }

    /// Checks the client identifier against the rules of [`protocol`](Self::protocol):
    /// 1 to 23 bytes in MQTT 3.1, and in 3.1.1 an empty one only with a clean
    /// session [MQTT-3.1.3-7].
    ///
    /// Encoding enforces this; decoding does not, because these are the cases
    /// where a server must answer with CONNACK return code 2
    /// ([`ConnectReturnCode::IdentifierRejected`](crate::ConnectReturnCode))
    /// rather than drop the connection. A server calls this on a decoded CONNECT.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidClientId`] saying which rule was broken.
    pub fn check_client_id(&self) -> Result<()> {
        match self.protocol {
            Protocol::V31 if self.client_id.is_empty() => Err(Error::InvalidClientId(
                "MQTT 3.1 requires a non-empty client identifier",
            )),
            Protocol::V31 if self.client_id.len() > MAX_CLIENT_ID_LEN_V31 => Err(
                Error::InvalidClientId("MQTT 3.1 limits the client identifier to 23 bytes"),
            ),
            Protocol::V311 if self.client_id.is_empty() && !self.clean_session => Err(
                Error::InvalidClientId("an empty client identifier requires a clean session"),
            ),
            _ => Ok(()),
        }
    }

    fn connect_flags(&self) -> u8 {
        let mut flags = 0;
        if self.clean_session {
            flags |= CLEAN_SESSION;
        }
        if let Some(will) = &self.will {
            flags |= WILL | (will.qos.as_u8() << WILL_QOS_SHIFT);
            if will.retain {
                flags |= WILL_RETAIN;
            }
        }
        if self.username.is_some() {
            flags |= USERNAME;
        }
        if self.password.is_some() {
            flags |= PASSWORD;
        }
        flags
    }

    pub(crate) fn decode_body(mut r: Reader) -> Result<Self> {
        let name = r.string()?;
        let level = r.u8()?;
        let protocol = Protocol::from_name_and_level(&name, level)
            .ok_or(Error::UnsupportedProtocol { name, level })?;
        let flags = r.u8()?;
        let has_will = flags & WILL != 0;
        // 3.1 marks these bits unused without saying what a receiver does with
        // them, so they are ignored there; 3.1.1 makes them malformed
        // [MQTT-3.1.2-3, MQTT-3.1.2-13, MQTT-3.1.2-15].
        let orphan_will_bits = !has_will && flags & (WILL_QOS_MASK | WILL_RETAIN) != 0;
        if protocol == Protocol::V311 && (flags & RESERVED != 0 || orphan_will_bits) {
            return Err(Error::InvalidConnectFlags(flags));
        }
        if flags & PASSWORD != 0 && flags & USERNAME == 0 {
            return Err(Error::PasswordWithoutUsername);
        }
        let will_qos = if has_will {
            Some(QoS::try_from((flags & WILL_QOS_MASK) >> WILL_QOS_SHIFT)?)
        } else {
            None
        };
        let keep_alive = r.u16()?;
        let client_id = r.string()?;
        let will = match will_qos {
            Some(qos) => {
                let topic = r.string()?;
                validate_topic_name(&topic)?;
                let message = r.binary()?;
                Some(LastWill {
                    topic,
                    message,
                    qos,
                    retain: flags & WILL_RETAIN != 0,
                })
            }
            None => None,
        };
        let username = if flags & USERNAME != 0 {
            Some(r.string()?)
        } else {
            None
        };
        let password = if flags & PASSWORD != 0 {
            Some(r.binary()?)
        } else {
            None
        };
        r.finish()?;
        Ok(Self {
            protocol,
            clean_session: flags & CLEAN_SESSION != 0,
            keep_alive,
            client_id,
            will,
            username,
            password,
        })
    }
}

impl Body for Connect {
    fn packet_type(&self) -> PacketType {
        PacketType::Connect
    }

    fn validate(&self) -> Result<()> {
        check_string(&self.client_id)?;
        self.check_client_id()?;
        if let Some(will) = &self.will {
            validate_topic_name(&will.topic)?;
            check_binary(&will.message)?;
        }
        if let Some(username) = &self.username {
            check_string(username)?;
        }
        if let Some(password) = &self.password {
            if self.username.is_none() {
                return Err(Error::PasswordWithoutUsername);
            }
            check_binary(password)?;
        }
        Ok(())
    }

    fn body_len(&self) -> usize {
        let mut len =
            field_len(self.protocol.name().len()) + 1 + 1 + 2 + field_len(self.client_id.len());
        if let Some(will) = &self.will {
            len += field_len(will.topic.len()) + field_len(will.message.len());
        }
        if let Some(username) = &self.username {
            len += field_len(username.len());
        }
        if let Some(password) = &self.password {
            len += field_len(password.len());
        }
        len
    }

    fn write_body(&self, buf: &mut BytesMut) {
        put_field(buf, self.protocol.name().as_bytes());
        buf.put_u8(self.protocol.level());
        buf.put_u8(self.connect_flags());
        buf.put_u16(self.keep_alive);
        put_field(buf, self.client_id.as_bytes());
        if let Some(will) = &self.will {
            put_field(buf, will.topic.as_bytes());
            put_field(buf, &will.message);
        }
        if let Some(username) = &self.username {
            put_field(buf, username.as_bytes());
        }
        if let Some(password) = &self.password {
            put_field(buf, password);
        }
    }
}

public_encode!(Connect);
