//! Delivery guarantees.

use crate::config::Value;
use crate::error::{Error, Result};

/// The delivery guarantee asked of a backend.
///
/// MQTT maps these to QoS 0/1/2; Kafka to acks and commit policy (see the backends).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Consistency {
    /// Fire and forget: a message may be lost, never duplicated.
    #[default]
    AtMostOnce,
    /// Retried until acknowledged: never lost, may be duplicated.
    AtLeastOnce,
    /// Neither lost nor duplicated.
    ExactlyOnce,
}

impl Consistency {
    /// The SINETStream name, e.g. `"AT_LEAST_ONCE"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Consistency::AtMostOnce => "AT_MOST_ONCE",
            Consistency::AtLeastOnce => "AT_LEAST_ONCE",
            Consistency::ExactlyOnce => "EXACTLY_ONCE",
        }
    }

    /// The numeric value used by SINETStream (0, 1, 2), which is also the MQTT QoS.
    pub fn as_u8(self) -> u8 {
        self as u8
    }

    /// Parses a config or argument value: a name (`AT_LEAST_ONCE`, case-insensitive) or 0–2.
    pub fn from_value(v: &Value) -> Result<Consistency> {
        let parsed = match v {
            Value::Str(s) => s.parse().ok(),
            Value::Int(0) => Some(Consistency::AtMostOnce),
            Value::Int(1) => Some(Consistency::AtLeastOnce),
            Value::Int(2) => Some(Consistency::ExactlyOnce),
            _ => None,
        };
        parsed.ok_or_else(|| {
            Error::InvalidArgument(format!(
                "invalid consistency {v:?}: use AT_MOST_ONCE, AT_LEAST_ONCE or EXACTLY_ONCE"
            ))
        })
    }
}

impl std::fmt::Display for Consistency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Consistency {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_uppercase().as_str() {
            "AT_MOST_ONCE" => Ok(Consistency::AtMostOnce),
            "AT_LEAST_ONCE" => Ok(Consistency::AtLeastOnce),
            "EXACTLY_ONCE" => Ok(Consistency::ExactlyOnce),
            _ => Err(Error::InvalidArgument(format!(
                "invalid consistency {s:?}: use AT_MOST_ONCE, AT_LEAST_ONCE or EXACTLY_ONCE"
            ))),
        }
    }
}

impl From<Consistency> for Value {
    fn from(c: Consistency) -> Value {
        Value::Str(c.as_str().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_numbers() {
        assert_eq!(
            Consistency::from_value(&Value::from("at_least_once")).expect("ok"),
            Consistency::AtLeastOnce
        );
        assert_eq!(
            Consistency::from_value(&Value::Int(2)).expect("ok"),
            Consistency::ExactlyOnce
        );
        assert!(matches!(
            Consistency::from_value(&Value::Int(3)),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            Consistency::from_value(&Value::from("SOMETIMES")),
            Err(Error::InvalidArgument(_))
        ));
    }
}
