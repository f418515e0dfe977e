//! Client settings shared by every role (producer now, consumer later).
//!
//! Typed options only: the facade translates SINETStream / kafka-python
//! parameter names into these.

use std::time::Duration;

use sinetstream_net::{ConnectOptions, TlsOptions};

use crate::error::{KafkaError, Result};
use crate::sasl::SaslConfig;

/// How to reach and talk to a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// `host:port` of one or more brokers to learn the cluster from
    /// (`[::1]:9092` for IPv6 literals).
    pub bootstrap_servers: Vec<String>,
    /// Sent with every request; shows in broker logs and quotas.
    pub client_id: String,
    /// TLS settings (`SSL` / `SASL_SSL`); `None` for plaintext.
    pub tls: Option<TlsOptions>,
    /// SASL credentials (`SASL_PLAINTEXT` / `SASL_SSL`); `None` for none.
    pub sasl: Option<SaslConfig>,
    /// Limit for opening one connection: TCP, TLS, version negotiation
    /// and SASL together.
    pub connect_timeout: Duration,
    /// Limit for one request's response.
    pub request_timeout: Duration,
    /// First wait before retrying a failed request; doubles up to
    /// `retry_backoff_max`, with ±20 % jitter.
    pub retry_backoff: Duration,
    /// Upper bound of the retry wait.
    pub retry_backoff_max: Duration,
    /// First wait before reconnecting to a broker that failed.
    pub reconnect_backoff: Duration,
    /// Upper bound of the reconnect wait.
    pub reconnect_backoff_max: Duration,
    /// Metadata older than this is refreshed even without errors.
    pub metadata_max_age: Duration,
    /// Let the broker create topics on first use (if the broker allows it).
    pub allow_auto_topic_creation: bool,
    /// Largest response frame accepted, checked before allocating.
    pub max_frame_bytes: usize,
    /// `SO_SNDBUF`, when set.
    pub send_buffer_bytes: Option<usize>,
    /// `SO_RCVBUF`, when set.
    pub recv_buffer_bytes: Option<usize>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            bootstrap_servers: vec!["localhost:9092".to_owned()],
            client_id: "sinetstream-rs".to_owned(),
            tls: None,
            sasl: None,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_secs(1),
            reconnect_backoff: Duration::from_millis(50),
            reconnect_backoff_max: Duration::from_secs(1),
            metadata_max_age: Duration::from_secs(300),
            allow_auto_topic_creation: true,
            max_frame_bytes: 100 * 1024 * 1024,
            send_buffer_bytes: None,
            recv_buffer_bytes: None,
        }
    }
}

impl ClientConfig {
    /// Settings for `bootstrap_servers`, defaults for everything else.
    pub fn new<I, S>(bootstrap_servers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ClientConfig {
            bootstrap_servers: bootstrap_servers.into_iter().map(Into::into).collect(),
            ..ClientConfig::default()
        }
    }

    /// Checks the settings without connecting.
    pub fn validate(&self) -> Result<()> {
        if self.bootstrap_servers.is_empty() {
            return Err(KafkaError::InvalidArgument(
                "bootstrap_servers is empty".into(),
            ));
        }
        for s in &self.bootstrap_servers {
            parse_host_port(s)?;
        }
        if let Some(t) = &self.tls {
            t.validate().map_err(|e| KafkaError::from_net("", e))?;
        }
        if self.max_frame_bytes < 1024 {
            return Err(KafkaError::InvalidArgument(format!(
                "max_frame_bytes {} is too small",
                self.max_frame_bytes
            )));
        }
        for (name, d) in [
            ("connect_timeout", self.connect_timeout),
            ("request_timeout", self.request_timeout),
        ] {
            if d.is_zero() {
                return Err(KafkaError::InvalidArgument(format!(
                    "{name} must be positive"
                )));
            }
        }
        Ok(())
    }

    pub(crate) fn connect_options(&self) -> ConnectOptions {
        ConnectOptions {
            connect_timeout: self.connect_timeout,
            tcp_nodelay: true,
            send_buffer_bytes: self.send_buffer_bytes,
            recv_buffer_bytes: self.recv_buffer_bytes,
            tls: self.tls.clone(),
            ..ConnectOptions::default()
        }
    }
}

/// Splits `host:port`; IPv6 literals must be bracketed.
pub(crate) fn parse_host_port(s: &str) -> Result<(String, u16)> {
    let bad = || KafkaError::InvalidArgument(format!("bootstrap server {s:?} is not host:port"));
    let s = s.trim();
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, p) = rest.split_once("]:").ok_or_else(bad)?;
        (h, p)
    } else {
        s.rsplit_once(':').ok_or_else(bad)?
    };
    if host.is_empty() || (host.contains(':') && !s.starts_with('[')) {
        return Err(bad());
    }
    let port: u16 = port.parse().map_err(|_| bad())?;
    if port == 0 {
        return Err(bad());
    }
    Ok((host.to_owned(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_parsing() {
        assert_eq!(
            parse_host_port("localhost:9092").ok(),
            Some(("localhost".into(), 9092))
        );
        assert_eq!(
            parse_host_port("[::1]:9092").ok(),
            Some(("::1".into(), 9092))
        );
        for bad in ["localhost", "::1:9092", ":9092", "h:0", "h:x", "[::1]"] {
            assert!(parse_host_port(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn validate_rejects_empty_bootstrap() {
        let c = ClientConfig::new(Vec::<String>::new());
        assert!(matches!(c.validate(), Err(KafkaError::InvalidArgument(_))));
        assert!(ClientConfig::new(["127.0.0.1:9092"]).validate().is_ok());
    }
}
