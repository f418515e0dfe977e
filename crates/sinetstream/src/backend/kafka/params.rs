//! Service parameters (kafka-python names) → [`ClientConfig`] / [`ProducerConfig`].
//!
//! Precedence, as everywhere: constructor argument > backend-specific key (`type_spec` in v3,
//! the service block in v1/v2) > common key (`tls`, `consistency`) > default. Values of the
//! wrong type are warned about and ignored by [`Params`]; keys that mean nothing to this client
//! are warned about and ignored here; values that cannot work (an unknown `acks`, an encrypted
//! key, ...) are an [`Error::InvalidArgument`].

use std::time::Duration;

use sinetstream_kafka::{
    Acks, ClientConfig, Compression, ProducerConfig, SaslConfig, SaslMechanism, TlsOptions,
};

use crate::backend::OpenContext;
use crate::config::brokers::{Broker, brokers};
use crate::config::{CommonTls, Params, Value};
use crate::consistency::Consistency;
use crate::error::{Error, Result};

/// Kafka's default port.
pub(crate) const DEFAULT_PORT: u16 = 9092;

/// kafka-python parameters that apply to every client (producer and consumer).
pub(crate) const CLIENT_KEYS: &[&str] = &[
    "client_id",
    "security_protocol",
    "ssl_cafile",
    "ssl_certfile",
    "ssl_keyfile",
    "ssl_check_hostname",
    "ssl_ciphers",
    "ssl_password",
    "ssl_crlfile",
    "sasl_mechanism",
    "sasl_plain_username",
    "sasl_plain_password",
    "api_version",
    "api_version_auto_timeout_ms",
    "request_timeout_ms",
    "retry_backoff_ms",
    "reconnect_backoff_ms",
    "reconnect_backoff_max_ms",
    "metadata_max_age_ms",
    "connections_max_idle_ms",
    "send_buffer_bytes",
    "receive_buffer_bytes",
];

/// kafka-python (and Java) producer parameters this writer understands, plus `close_timeout_ms`.
pub(crate) const PRODUCER_KEYS: &[&str] = &[
    "acks",
    "compression_type",
    "retries",
    "batch_size",
    "linger_ms",
    "buffer_memory",
    "max_block_ms",
    "max_request_size",
    "max_in_flight_requests_per_connection",
    "enable_idempotence",
    "delivery_timeout_ms",
    "close_timeout_ms",
];

/// Everything the Kafka writer needs.
#[derive(Debug)]
pub(crate) struct WriterParams {
    pub(crate) producer: ProducerConfig,
    /// Upper bound for `close` (None: each record's delivery_timeout bounds it).
    pub(crate) close_timeout: Option<Duration>,
    /// The brokers, for messages.
    pub(crate) brokers: String,
}

fn invalid(service: &str, what: impl std::fmt::Display) -> Error {
    Error::InvalidArgument(format!("service {service:?}: {what}"))
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

/// Warns about every backend key that is neither SINETStream's own nor in `known`.
pub(crate) fn warn_unknown(ctx: &OpenContext<'_>, known: &[&[&str]], role: &str) {
    let b = ctx.config.backend();
    let v3 = ctx.config.version() >= 3;
    for k in b.map().keys() {
        let ok = known.iter().any(|list| list.contains(&k))
            || (!v3 && crate::config::service::COMMON_KEYS.contains(&k))
            || k.ends_with("_data");
        if !ok {
            tracing::warn!(
                service = b.service(),
                key = k,
                "service {:?}: parameter {k:?} has no meaning for the Kafka {role}; ignored",
                b.service()
            );
        }
    }
}

/// The security protocol, decided by precedence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Security {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl Security {
    fn parse(s: &str, service: &str) -> Result<Security> {
        match s.trim().to_ascii_uppercase().as_str() {
            "PLAINTEXT" => Ok(Security::Plaintext),
            "SSL" => Ok(Security::Ssl),
            "SASL_PLAINTEXT" => Ok(Security::SaslPlaintext),
            "SASL_SSL" => Ok(Security::SaslSsl),
            _ => Err(invalid(
                service,
                format!(
                    "security_protocol {s:?} is not supported (PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL)"
                ),
            )),
        }
    }

    fn tls(self) -> bool {
        matches!(self, Security::Ssl | Security::SaslSsl)
    }

    fn sasl(self) -> bool {
        matches!(self, Security::SaslPlaintext | Security::SaslSsl)
    }

    fn with(tls: bool, sasl: bool) -> Security {
        match (tls, sasl) {
            (false, false) => Security::Plaintext,
            (true, false) => Security::Ssl,
            (false, true) => Security::SaslPlaintext,
            (true, true) => Security::SaslSsl,
        }
    }
}

/// Whether the `tls` key of `p` turns TLS on (`Some(true)`), off (`Some(false)`), or is absent.
fn tls_switch(p: &Params<'_>) -> Option<bool> {
    match p.raw("tls")? {
        Value::Bool(b) => Some(*b),
        Value::Map(_) => Some(true),
        _ => None,
    }
}

fn apply_ssl_keys(t: &mut TlsOptions, p: &Params<'_>, service: &str) -> Result<()> {
    if let Some(pw) = p.str("ssl_password") {
        if !pw.is_empty() {
            return Err(invalid(
                service,
                "ssl_password: encrypted private keys are not supported; give an unencrypted ssl_keyfile",
            ));
        }
    }
    if let Some(crl) = p.str("ssl_crlfile") {
        if !crl.is_empty() {
            return Err(invalid(
                service,
                "ssl_crlfile: certificate revocation lists are not supported",
            ));
        }
    }
    crate::backend::tls::apply_keys(
        t,
        p,
        crate::backend::tls::TlsKeys {
            ca_certs: "ssl_cafile",
            certfile: "ssl_certfile",
            keyfile: "ssl_keyfile",
            ciphers: "ssl_ciphers",
            check_hostname: Some("ssl_check_hostname"),
        },
    );
    Ok(())
}

/// A string parameter that may also be given as `!!binary` (kafka-python wants text; Python
/// SINETStream decodes bytes as UTF-8). The value is never put in messages.
fn text(p: &Params<'_>, key: &str, service: &str) -> Result<Option<String>> {
    match p.bytes(key) {
        None => Ok(None),
        Some(b) => String::from_utf8(b.to_vec())
            .map(Some)
            .map_err(|_| invalid(service, format!("{key} is not valid UTF-8"))),
    }
}

/// The connection settings shared by the Kafka writer and reader.
pub(crate) fn client_config(ctx: &OpenContext<'_>) -> Result<ClientConfig> {
    let cfg = ctx.config;
    let service = cfg.service();
    let c = cfg.common();
    let b = cfg.backend();
    let a = cfg.args();

    let list: Vec<Broker> = brokers(&c, DEFAULT_PORT)?;
    let mut client = ClientConfig::new(list.iter().map(ToString::to_string));
    client.client_id = ctx.client_id.to_owned();

    // SASL mechanism (needed to decide the protocol when only `tls` is given).
    let mechanism = match b.str("sasl_mechanism") {
        None => None,
        Some(m) => Some(m.parse::<SaslMechanism>().map_err(|_| {
            invalid(
                service,
                format!(
                    "sasl_mechanism {m:?} is not supported (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)"
                ),
            )
        })?),
    };

    // security_protocol: a constructor security_protocol, then a constructor tls, then the
    // file's security_protocol, then the file's tls; a SASL mechanism alone means SASL.
    let explicit = |p: &Params<'_>| -> Result<Option<Security>> {
        p.str("security_protocol")
            .map(|s| Security::parse(s, service))
            .transpose()
    };
    let security = if let Some(s) = explicit(&a)? {
        s
    } else if let Some(on) = tls_switch(&a) {
        Security::with(on, mechanism.is_some())
    } else if let Some(s) = explicit(&b)? {
        s
    } else {
        Security::with(tls_switch(&c) == Some(true), mechanism.is_some())
    };
    tracing::debug!(service, ?security, "kafka security protocol");

    if security.tls() {
        let mut t = TlsOptions::default();
        // Lowest precedence first: the common section, the ssl_* keys, then the constructor's.
        if let Some(ct) = CommonTls::from_params(&c) {
            crate::backend::tls::apply_common(&mut t, &ct, service)?;
        }
        apply_ssl_keys(&mut t, &b, service)?;
        if let Some(ct) = CommonTls::from_params(&a) {
            crate::backend::tls::apply_common(&mut t, &ct, service)?;
        }
        apply_ssl_keys(&mut t, &a, service)?;
        client.tls = Some(t);
    } else if b.map().keys().any(|k| k.starts_with("ssl_")) {
        tracing::debug!(
            service,
            "ssl_* parameters are not used with security_protocol {security:?}"
        );
    }

    if security.sasl() {
        let Some(mechanism) = mechanism else {
            return Err(invalid(
                service,
                format!(
                    "security_protocol {security:?} needs sasl_mechanism (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)"
                ),
            ));
        };
        let user = text(&b, "sasl_plain_username", service)?.ok_or_else(|| {
            invalid(
                service,
                format!("sasl_mechanism {mechanism} needs sasl_plain_username"),
            )
        })?;
        let password = text(&b, "sasl_plain_password", service)?.unwrap_or_default();
        client.sasl = Some(SaslConfig::new(mechanism, user, password));
    }

    if let Some(v) = b.raw("api_version").filter(|v| !matches!(v, Value::Null)) {
        tracing::debug!(
            service,
            "api_version {v:?} ignored: API versions are negotiated with each broker"
        );
    }
    if let Some(t) = b.u64("request_timeout_ms") {
        // kafka-python bounds connection attempts by request_timeout_ms too.
        client.request_timeout = ms(t);
        client.connect_timeout = ms(t);
    }
    if let Some(t) = b.u64("retry_backoff_ms") {
        client.retry_backoff = ms(t);
        client.retry_backoff_max = client.retry_backoff_max.max(ms(t));
    }
    if let Some(t) = b.u64("reconnect_backoff_ms") {
        client.reconnect_backoff = ms(t);
    }
    if let Some(t) = b.u64("reconnect_backoff_max_ms") {
        client.reconnect_backoff_max = ms(t);
    }
    client.reconnect_backoff_max = client.reconnect_backoff_max.max(client.reconnect_backoff);
    if let Some(t) = b.u64("metadata_max_age_ms") {
        client.metadata_max_age = ms(t);
    }
    if b.raw("connections_max_idle_ms").is_some() {
        tracing::debug!(
            service,
            "connections_max_idle_ms ignored: idle connections are kept open"
        );
    }
    // kafka-python: None or -1 for the OS default.
    let buffer = |key: &str| -> Option<usize> {
        match b.raw(key) {
            Some(Value::Int(n)) if *n < 0 => None,
            _ => b.u64(key).and_then(|n| usize::try_from(n).ok()),
        }
    };
    client.send_buffer_bytes = buffer("send_buffer_bytes");
    client.recv_buffer_bytes = buffer("receive_buffer_bytes");
    Ok(client)
}

/// `acks` as kafka-python takes it: 0, 1, -1 or "all" (numbers also as strings).
fn acks_value(v: &Value, service: &str) -> Result<Acks> {
    let parsed = match v {
        Value::Int(0) => Some(Acks::Zero),
        Value::Int(1) => Some(Acks::One),
        Value::Int(-1) => Some(Acks::All),
        Value::Str(s) => s.parse::<Acks>().ok(),
        _ => None,
    };
    parsed.ok_or_else(|| invalid(service, format!("invalid acks {v:?} (use 0, 1 or all)")))
}

fn acks_of(c: Consistency) -> Acks {
    match c {
        Consistency::AtMostOnce => Acks::Zero,
        _ => Acks::All,
    }
}

/// The producer settings of a writer.
pub(crate) fn writer_params(ctx: &OpenContext<'_>) -> Result<WriterParams> {
    warn_unknown(
        ctx,
        &[CLIENT_KEYS, PRODUCER_KEYS, super::reader::CONSUMER_KEYS],
        "writer",
    );
    let client = client_config(ctx)?;
    let cfg = ctx.config;
    let service = cfg.service();
    let b = cfg.backend();
    let a = cfg.args();
    let brokers = client.bootstrap_servers.join(",");
    let mut p = ProducerConfig::new(client);
    // kafka-python's default, which SINETStream users get from Python: each message goes out at
    // once (0.3 ms end to end at low rates instead of the Java client's 5 ms linger); under load
    // records still batch while earlier requests are in flight.
    p.linger = Duration::ZERO;

    // acks: an explicit constructor acks, then constructor consistency, then the file's acks,
    // then the file's consistency.
    let not_null = |v: &&Value| !matches!(v, Value::Null);
    let explicit = match (a.raw("acks").filter(not_null), a.contains("consistency")) {
        (Some(v), _) => Some(acks_value(v, service)?),
        (None, true) => None,
        (None, false) => b
            .raw("acks")
            .filter(not_null)
            .map(|v| acks_value(v, service))
            .transpose()?,
    };
    p.acks = explicit.unwrap_or_else(|| acks_of(ctx.consistency));
    p.enable_idempotence = if ctx.consistency == Consistency::ExactlyOnce {
        if p.acks != Acks::All {
            return Err(invalid(
                service,
                format!(
                    "consistency EXACTLY_ONCE needs acks all (idempotence), but acks is {}",
                    match p.acks {
                        Acks::Zero => "0",
                        _ => "1",
                    }
                ),
            ));
        }
        true
    } else {
        b.bool("enable_idempotence").unwrap_or(false)
    };

    if let Some(v) = b.raw("compression_type") {
        p.compression = match v {
            Value::Null => Compression::None,
            Value::Str(s) => s.parse::<Compression>().map_err(|_| {
                invalid(
                    service,
                    format!(
                        "compression_type {s:?} is not supported (gzip, snappy, lz4, zstd or none)"
                    ),
                )
            })?,
            other => {
                b.warn_type("compression_type", "a string", other);
                Compression::None
            }
        };
    }
    if let Some(n) = b.u32("retries") {
        p.retries = n;
    }
    if let Some(n) = b.u64("batch_size") {
        // 0 disables batching in the Java client: one record per batch.
        p.batch_size = usize::try_from(n).unwrap_or(usize::MAX).max(1);
    }
    if let Some(t) = b.u64("linger_ms") {
        p.linger = ms(t);
    }
    if let Some(n) = b.u64("buffer_memory") {
        p.buffer_memory = usize::try_from(n).unwrap_or(usize::MAX);
    }
    if let Some(t) = b.u64("max_block_ms") {
        p.max_block = ms(t);
    }
    if let Some(n) = b.u64("max_request_size") {
        p.max_request_size = usize::try_from(n).unwrap_or(usize::MAX);
    }
    if let Some(n) = b.u64("max_in_flight_requests_per_connection") {
        p.max_in_flight_requests_per_connection = usize::try_from(n).unwrap_or(usize::MAX);
    }
    match b.u64("delivery_timeout_ms") {
        Some(t) => p.delivery_timeout = ms(t),
        // As the Java client requires: room for one request after lingering.
        None => p.delivery_timeout = p.delivery_timeout.max(p.linger + p.client.request_timeout),
    }
    let close_timeout = b.u64("close_timeout_ms").map(ms);
    // Producer::connect validates the rest (idempotence needs, TLS files ...).
    Ok(WriterParams {
        producer: p,
        close_timeout,
        brokers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ConfigSource, Map, ServiceConfig};

    fn load(text: &str, args: &Map) -> ServiceConfig {
        let defaults: Map = [("consistency".to_owned(), Value::from("AT_MOST_ONCE"))]
            .into_iter()
            .collect();
        ServiceConfig::load(&ConfigSource::Text(text.into()), Some("s"), &defaults, args)
            .expect("config loads")
    }

    fn consistency_of(cfg: &ServiceConfig) -> Consistency {
        cfg.common()
            .raw("consistency")
            .map(|v| Consistency::from_value(v).expect("valid"))
            .unwrap_or_default()
    }

    /// The params, validated as `Producer::connect` does, with errors mapped as the backend does.
    fn writer(text: &str, args: &Map) -> Result<WriterParams> {
        let w = writer_unchecked(text, args)?;
        w.producer
            .validate()
            .map_err(|e| crate::backend::kafka::map_error("s", &w.brokers, e))?;
        Ok(w)
    }

    fn writer_unchecked(text: &str, args: &Map) -> Result<WriterParams> {
        let cfg = load(text, args);
        let topics = ["t".to_owned()];
        let ctx = OpenContext {
            config: &cfg,
            topics: &topics,
            consistency: consistency_of(&cfg),
            client_id: "cid",
            client_id_generated: false,
            receive_timeout: None,
        };
        writer_params(&ctx)
    }

    fn ok(text: &str) -> ProducerConfig {
        writer(text, &Map::new()).expect("valid").producer
    }

    #[test]
    fn brokers_default_port_and_plain_defaults() {
        let p = ok("s: {type: kafka, brokers: 'k1, k2:9093'}\n");
        assert_eq!(p.client.bootstrap_servers, ["k1:9092", "k2:9093"]);
        assert_eq!(p.client.client_id, "cid");
        assert!(p.client.tls.is_none() && p.client.sasl.is_none());
        assert_eq!(p.acks, Acks::Zero);
        assert!(!p.enable_idempotence);
        assert!(writer("s: {type: kafka}\n", &Map::new()).is_err());
    }

    #[test]
    fn consistency_to_acks_and_explicit_acks_wins() {
        assert_eq!(
            ok("s: {type: kafka, brokers: k, consistency: AT_LEAST_ONCE}\n").acks,
            Acks::All
        );
        let p = ok("s: {type: kafka, brokers: k, consistency: EXACTLY_ONCE}\n");
        assert_eq!(p.acks, Acks::All);
        assert!(p.enable_idempotence);
        assert_eq!(
            ok("s: {type: kafka, brokers: k, consistency: AT_LEAST_ONCE, acks: 1}\n").acks,
            Acks::One
        );
        assert_eq!(
            ok("s: {type: kafka, brokers: k, acks: all}\n").acks,
            Acks::All
        );
        let e = writer(
            "s: {type: kafka, brokers: k, consistency: EXACTLY_ONCE, acks: 1}\n",
            &Map::new(),
        )
        .expect_err("EXACTLY_ONCE with acks 1");
        assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
        let e = writer("s: {type: kafka, brokers: k, acks: 2}\n", &Map::new()).expect_err("acks 2");
        assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
        // A constructor consistency beats the file's acks; a constructor acks beats both.
        let mut args = Map::new();
        args.insert("consistency", "AT_LEAST_ONCE");
        let p = writer("s: {type: kafka, brokers: k, acks: 0}\n", &args).expect("ok");
        assert_eq!(p.producer.acks, Acks::All);
        args.insert("acks", 1);
        let p = writer("s: {type: kafka, brokers: k, acks: 0}\n", &args).expect("ok");
        assert_eq!(p.producer.acks, Acks::One);
    }

    #[test]
    fn producer_keys() {
        let p = ok("s:
  type: kafka
  brokers: k
  compression_type: zstd
  retries: 3
  batch_size: 1000
  linger_ms: 7
  buffer_memory: 100000
  max_block_ms: 1500
  max_request_size: 50000
  request_timeout_ms: 2500
  retry_backoff_ms: 20
  reconnect_backoff_ms: 30
  reconnect_backoff_max_ms: 40
  max_in_flight_requests_per_connection: 2
  metadata_max_age_ms: 9000
  send_buffer_bytes: 65536
  receive_buffer_bytes: -1
  api_version: [2, 6]
  client_id: mine
");
        assert_eq!(p.compression, Compression::Zstd);
        assert_eq!(p.retries, 3);
        assert_eq!(p.batch_size, 1000);
        assert_eq!(p.linger, ms(7));
        assert_eq!(p.buffer_memory, 100_000);
        assert_eq!(p.max_block, ms(1500));
        assert_eq!(p.max_request_size, 50_000);
        assert_eq!(p.client.request_timeout, ms(2500));
        assert_eq!(p.client.connect_timeout, ms(2500));
        assert_eq!(p.client.retry_backoff, ms(20));
        assert_eq!(p.client.reconnect_backoff, ms(30));
        assert_eq!(p.client.reconnect_backoff_max, ms(40));
        assert_eq!(p.max_in_flight_requests_per_connection, 2);
        assert_eq!(p.client.metadata_max_age, ms(9000));
        assert_eq!(p.client.send_buffer_bytes, Some(65536));
        assert_eq!(p.client.recv_buffer_bytes, None);
        for bad in ["compression_type: brotli", "security_protocol: SASL_FOO"] {
            let e = writer(
                &format!("s: {{type: kafka, brokers: k, {bad}}}\n"),
                &Map::new(),
            )
            .expect_err(bad);
            assert!(matches!(e, Error::InvalidArgument(_)), "{bad}: {e}");
        }
        // Wrong types are ignored (with a warning).
        assert_eq!(
            ok("s: {type: kafka, brokers: k, linger_ms: soon}\n").linger,
            ms(0)
        );
    }

    #[test]
    fn v3_keys_live_in_type_spec() {
        let p = ok("header: {version: 3}
config:
  s:
    type: kafka
    brokers: k
    linger_ms: 99
    type_spec: {linger_ms: 11, compression_type: gzip}
");
        assert_eq!(p.linger, ms(11));
        assert_eq!(p.compression, Compression::Gzip);
    }

    #[test]
    fn tls_section_and_ssl_keys() {
        let p = ok("s: {type: kafka, brokers: k, tls: true}\n");
        let t = p.client.tls.expect("tls on");
        assert!(t.check_hostname && t.ca_certs.is_none());

        let p = writer_unchecked(
            "s:
  type: kafka
  brokers: k
  tls: {ca_certs: /common-ca.pem, check_hostname: false, certfile: /c.pem, keyfile: /k.pem}
  ssl_cafile: /backend-ca.pem
",
            &Map::new(),
        )
        .expect("valid")
        .producer;
        let t = p.client.tls.expect("tls on");
        assert_eq!(
            t.ca_certs,
            Some(sinetstream_kafka::CertSource::File(
                "/backend-ca.pem".into()
            ))
        );
        assert_eq!(
            t.client_cert,
            Some(sinetstream_kafka::CertSource::File("/c.pem".into()))
        );
        assert!(!t.check_hostname);

        let p = writer_unchecked(
            "s: {type: kafka, brokers: k, security_protocol: SSL, ssl_cafile: /ca.pem}\n",
            &Map::new(),
        )
        .expect("valid");
        assert!(p.producer.client.tls.is_some());
        // The CA file is read when connecting: a missing one is an InvalidArgumentError.
        let e = writer(
            "s: {type: kafka, brokers: k, security_protocol: SSL, ssl_cafile: /nonexistent-ca.pem}\n",
            &Map::new(),
        )
        .expect_err("missing CA file");
        assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
        // An explicit PLAINTEXT wins over the common section.
        let p = ok("s: {type: kafka, brokers: k, security_protocol: PLAINTEXT, tls: true}\n");
        assert!(p.client.tls.is_none());

        let e = writer(
            "s: {type: kafka, brokers: k, tls: true, ssl_password: secret-pw}\n",
            &Map::new(),
        )
        .expect_err("ssl_password");
        assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
        assert!(!e.to_string().contains("secret-pw"));
        assert!(
            ok("s: {type: kafka, brokers: k, tls: true, ssl_password: ''}\n")
                .client
                .tls
                .is_some()
        );
    }

    #[test]
    fn sasl() {
        let p = ok("s:
  type: kafka
  brokers: k
  security_protocol: SASL_PLAINTEXT
  sasl_mechanism: SCRAM-SHA-512
  sasl_plain_username: u
  sasl_plain_password: pw
");
        let s = p.client.sasl.expect("sasl");
        assert_eq!(s.mechanism, SaslMechanism::ScramSha512);
        assert_eq!(s.username, "u");
        assert!(p.client.tls.is_none());
        assert!(!format!("{s:?}").contains("pw\""));

        // tls + a mechanism without security_protocol: SASL_SSL.
        let p = ok(
            "s: {type: kafka, brokers: k, tls: true, sasl_mechanism: PLAIN, sasl_plain_username: u, sasl_plain_password: p}\n",
        );
        assert!(p.client.tls.is_some() && p.client.sasl.is_some());
        // A mechanism alone: SASL_PLAINTEXT.
        let p = ok("s: {type: kafka, brokers: k, sasl_mechanism: PLAIN, sasl_plain_username: u}\n");
        assert!(p.client.tls.is_none() && p.client.sasl.is_some());

        for bad in [
            "security_protocol: SASL_SSL",
            "sasl_mechanism: GSSAPI, sasl_plain_username: u",
            "sasl_mechanism: PLAIN",
        ] {
            let e = writer(
                &format!("s: {{type: kafka, brokers: k, {bad}}}\n"),
                &Map::new(),
            )
            .expect_err(bad);
            assert!(matches!(e, Error::InvalidArgument(_)), "{bad}: {e}");
        }
    }

    #[test]
    fn unknown_and_consumer_keys_are_ignored() {
        let p = ok(
            "s: {type: kafka, brokers: k, group_id: g, selector: x, metric_reporters: [], socket_options: []}\n",
        );
        assert_eq!(p.client.bootstrap_servers, ["k:9092"]);
    }

    #[test]
    fn client_validation_errors_are_invalid_argument() {
        let e = writer(
            "s: {type: kafka, brokers: k, enable_idempotence: true, acks: 1}\n",
            &Map::new(),
        )
        .expect_err("idempotence with acks 1");
        assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
        let e = writer(
            "s: {type: kafka, brokers: k, consistency: EXACTLY_ONCE, max_in_flight_requests_per_connection: 6}\n",
            &Map::new(),
        )
        .expect_err("idempotence with 6 in flight");
        assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
    }
}
