//! SASL authentication over Kafka's SaslHandshake + SaslAuthenticate
//! requests (KIP-152): PLAIN and SCRAM-SHA-256/512.

mod plain;
mod scram;

use std::fmt;

use bytes::Bytes;
use kafka_protocol::messages::{SaslAuthenticateRequest, SaslHandshakeRequest};
use kafka_protocol::protocol::StrBytes;
use zeroize::Zeroizing;

use crate::error::{ErrorCode, KafkaError, Result};
use crate::messenger::Messenger;

pub(crate) use scram::ScramHash;

/// A SASL mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SaslMechanism {
    /// `PLAIN` (RFC 4616): the password travels as is; use with TLS.
    Plain,
    /// `SCRAM-SHA-256` (RFC 7677).
    ScramSha256,
    /// `SCRAM-SHA-512`.
    ScramSha512,
}

impl SaslMechanism {
    /// The IANA name, as the broker spells it.
    pub fn name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

impl fmt::Display for SaslMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for SaslMechanism {
    type Err = KafkaError;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_uppercase().as_str() {
            "PLAIN" => Ok(SaslMechanism::Plain),
            "SCRAM-SHA-256" => Ok(SaslMechanism::ScramSha256),
            "SCRAM-SHA-512" => Ok(SaslMechanism::ScramSha512),
            _ => Err(KafkaError::InvalidArgument(format!(
                "unsupported SASL mechanism {s:?} (PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 are)"
            ))),
        }
    }
}

/// A password: kept out of `Debug` output and wiped from memory on drop.
#[derive(Clone)]
pub struct Password(Zeroizing<String>);

impl Password {
    /// Wraps a password.
    pub fn new(p: impl Into<String>) -> Self {
        Password(Zeroizing::new(p.into()))
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl PartialEq for Password {
    fn eq(&self, other: &Self) -> bool {
        *self.0 == *other.0
    }
}

impl Eq for Password {}

impl From<&str> for Password {
    fn from(s: &str) -> Self {
        Password::new(s)
    }
}

impl From<String> for Password {
    fn from(s: String) -> Self {
        Password::new(s)
    }
}

/// SASL credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslConfig {
    /// The mechanism.
    pub mechanism: SaslMechanism,
    /// User name.
    pub username: String,
    /// Password (never logged).
    pub password: Password,
}

impl SaslConfig {
    /// Credentials for `mechanism`.
    pub fn new(
        mechanism: SaslMechanism,
        username: impl Into<String>,
        password: impl Into<Password>,
    ) -> Self {
        SaslConfig {
            mechanism,
            username: username.into(),
            password: password.into(),
        }
    }
}

/// One side of a SASL exchange: turns each server challenge into the next
/// client message.
trait Exchange {
    /// The first client message.
    fn first(&mut self) -> Result<Vec<u8>, String>;
    /// The reply to a server message; `None` once the exchange is complete.
    fn next(&mut self, server: &[u8]) -> Result<Option<Vec<u8>>, String>;
}

/// Authenticates an open connection (whose versions are negotiated).
pub(crate) async fn authenticate(m: &Messenger, cfg: &SaslConfig) -> Result<()> {
    let fail = |message: String| KafkaError::Authentication {
        broker: m.addr().to_owned(),
        mechanism: cfg.mechanism.name().to_owned(),
        message,
    };
    let hs = m
        .request(
            &SaslHandshakeRequest::default()
                .with_mechanism(StrBytes::from_static_str(cfg.mechanism.name())),
        )
        .await?;
    match ErrorCode::from_code(hs.error_code) {
        None => {}
        Some(ErrorCode::UnsupportedSaslMechanism) => {
            let enabled: Vec<&str> = hs.mechanisms.iter().map(|s| s.as_str()).collect();
            return Err(fail(format!(
                "the broker does not enable this mechanism on this listener (enabled: {})",
                enabled.join(", ")
            )));
        }
        Some(code) => return Err(fail(format!("SaslHandshake failed with {code}"))),
    }

    let mut exchange: Box<dyn Exchange + Send> = match cfg.mechanism {
        SaslMechanism::Plain => Box::new(plain::Plain::new(&cfg.username, cfg.password.expose())),
        SaslMechanism::ScramSha256 => Box::new(scram::Scram::new(
            ScramHash::Sha256,
            &cfg.username,
            cfg.password.expose(),
        )),
        SaslMechanism::ScramSha512 => Box::new(scram::Scram::new(
            ScramHash::Sha512,
            &cfg.username,
            cfg.password.expose(),
        )),
    };
    let mut msg = Zeroizing::new(exchange.first().map_err(fail)?);
    loop {
        let req = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::copy_from_slice(&msg));
        let resp = m.request(&req).await?;
        if let Some(code) = ErrorCode::from_code(resp.error_code) {
            let text = resp
                .error_message
                .as_ref()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_else(|| code.to_string());
            return Err(fail(text));
        }
        match exchange.next(&resp.auth_bytes).map_err(fail)? {
            Some(next) => msg = Zeroizing::new(next),
            None => break,
        }
    }
    tracing::debug!(broker = %m.addr(), mechanism = %cfg.mechanism, user = %cfg.username, "SASL authenticated");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_is_redacted() {
        let c = SaslConfig::new(SaslMechanism::ScramSha256, "u", "hunter2");
        let d = format!("{c:?}");
        assert!(!d.contains("hunter2"), "{d}");
        assert!(d.contains("redacted"), "{d}");
    }

    #[test]
    fn mechanism_names_parse() {
        assert_eq!(
            "scram-sha-512".parse::<SaslMechanism>().ok(),
            Some(SaslMechanism::ScramSha512)
        );
        assert!("GSSAPI".parse::<SaslMechanism>().is_err());
    }
}
