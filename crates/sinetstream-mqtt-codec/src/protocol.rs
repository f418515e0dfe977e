//! Which MQTT version is spoken on a connection.

use std::fmt;

/// The MQTT protocol version of a connection.
///
/// The version decides the CONNECT protocol name and level, and how strictly
/// the decoder treats bits that 3.1 left unused but 3.1.1 reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Protocol {
    /// MQTT 3.1 (IBM): protocol name `"MQIsdp"`, level 3.
    V31,
    /// MQTT 3.1.1 (OASIS): protocol name `"MQTT"`, level 4.
    #[default]
    V311,
}

impl Protocol {
    /// The protocol name sent in CONNECT.
    pub const fn name(self) -> &'static str {
        match self {
            Self::V31 => "MQIsdp",
            Self::V311 => "MQTT",
        }
    }

    /// The protocol level sent in CONNECT.
    pub const fn level(self) -> u8 {
        match self {
            Self::V31 => 3,
            Self::V311 => 4,
        }
    }

    /// The version for a CONNECT's protocol name and level, if we speak it.
    pub fn from_name_and_level(name: &str, level: u8) -> Option<Self> {
        [Self::V31, Self::V311]
            .into_iter()
            .find(|p| p.name() == name && p.level() == level)
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::V31 => "MQTT 3.1",
            Self::V311 => "MQTT 3.1.1",
        })
    }
}
