//! SASL authentication over Kafka's SaslHandshake + SaslAuthenticate
//! requests (KIP-152): PLAIN and SCRAM-SHA-256/512, and re-authentication
//! before the broker's session expires (KIP-368).

mod plain;
mod scram;

use std::fmt;
use std::sync::{Arc, Weak};
use std::time::Duration;

use rand::Rng as _;

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

/// Whether an exchange runs on a fresh connection (nothing else is sent
/// yet) or re-authenticates a live one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lane {
    Fresh,
    Live,
}

/// Authenticates an open connection (whose versions are negotiated), and
/// keeps it authenticated: when the broker limits the session
/// (`connections.max.reauth.ms`), a task re-authenticates on the same
/// connection before it expires. Without that the broker closes the
/// connection at expiry, which looks like a network fault to everyone
/// using it.
pub(crate) async fn authenticate(m: &Arc<Messenger>, cfg: &SaslConfig) -> Result<()> {
    let lifetime = exchange(m, cfg, Lane::Fresh).await?;
    if let Some(lifetime) = lifetime {
        let task = tokio::spawn(keep_alive(Arc::downgrade(m), cfg.clone(), lifetime));
        m.set_reauth_task(task);
    }
    Ok(())
}

/// When to re-authenticate a session of `lifetime`: at 85–95% of it, as
/// the Java client does (the spread keeps many connections from all doing
/// it at once).
fn reauth_delay(lifetime: Duration) -> Duration {
    // The lifetime comes from the broker: a year at most keeps the
    // arithmetic and the timer far from overflowing.
    let lifetime = lifetime.min(Duration::from_secs(365 * 24 * 3600));
    lifetime.mul_f64(rand::rng().random_range(0.85..0.95))
}

async fn keep_alive(m: Weak<Messenger>, cfg: SaslConfig, mut lifetime: Duration) {
    loop {
        tokio::time::sleep(reauth_delay(lifetime)).await;
        let Some(m) = m.upgrade() else { return };
        if m.is_poisoned() {
            return;
        }
        match m.exclusively(exchange(&m, &cfg, Lane::Live)).await {
            Ok(Some(next)) => {
                tracing::debug!(broker = %m.addr(), ?next, "SASL re-authenticated");
                lifetime = next;
            }
            Ok(None) => {
                tracing::debug!(broker = %m.addr(), "SASL re-authenticated; the session no longer expires");
                return;
            }
            Err(e) => {
                // The broker would close the connection at expiry anyway:
                // fail it now, with the reason, so users reconnect.
                tracing::warn!(broker = %m.addr(), error = %e, "SASL re-authentication failed");
                m.poison(e);
                return;
            }
        }
    }
}

/// One SASL exchange. Returns the session lifetime the broker set, if any.
async fn exchange(m: &Messenger, cfg: &SaslConfig, lane: Lane) -> Result<Option<Duration>> {
    let fail = |message: String| KafkaError::Authentication {
        broker: m.addr().to_owned(),
        mechanism: cfg.mechanism.name().to_owned(),
        message,
    };
    let hs = SaslHandshakeRequest::default()
        .with_mechanism(StrBytes::from_static_str(cfg.mechanism.name()));
    let hs = match lane {
        Lane::Fresh => m.request(&hs).await?,
        Lane::Live => m.request_exclusive(&hs).await?,
    };
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

    let mut steps: Box<dyn Exchange + Send> = match cfg.mechanism {
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
    let mut msg = Zeroizing::new(steps.first().map_err(fail)?);
    let lifetime = loop {
        let req = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::copy_from_slice(&msg));
        let resp = match lane {
            Lane::Fresh => m.request(&req).await?,
            Lane::Live => m.request_exclusive(&req).await?,
        };
        if let Some(code) = ErrorCode::from_code(resp.error_code) {
            let text = resp
                .error_message
                .as_ref()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_else(|| code.to_string());
            return Err(fail(text));
        }
        match steps.next(&resp.auth_bytes).map_err(fail)? {
            Some(next) => msg = Zeroizing::new(next),
            // Version 1+ tells the session lifetime (0: unlimited).
            None => {
                break u64::try_from(resp.session_lifetime_ms)
                    .ok()
                    .filter(|ms| *ms > 0);
            }
        }
    };
    tracing::debug!(broker = %m.addr(), mechanism = %cfg.mechanism, user = %cfg.username, lifetime_ms = ?lifetime, "SASL authenticated");
    Ok(lifetime.map(Duration::from_millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reauth_comes_before_expiry_whatever_the_broker_says() {
        let d = reauth_delay(Duration::from_secs(100));
        assert!(
            d >= Duration::from_secs(85) && d <= Duration::from_secs(95),
            "{d:?}"
        );
        let huge = Duration::from_millis(i64::MAX as u64);
        assert!(reauth_delay(huge) <= Duration::from_secs(365 * 24 * 3600));
    }

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
