//! Service parameters (paho-mqtt names) → [`MqttOptions`].
//!
//! v1/v2 files use paho's method names (`tls_set`, `username_pw_set` ...); v3 `type_spec` uses
//! the short names (`tls`, `username_pw` ...). Both are accepted in either, the version's own
//! name first. The common `tls` section and `consistency` fill in what the backend keys leave
//! unset.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use sinetstream_mqtt::{
    Credentials, MqttOptions, Protocol, QoS, Reconnect, TlsOptions, Will, WsOptions,
};

use crate::backend::OpenContext;
use crate::config::brokers::Broker;
use crate::config::{CommonTls, Params, Value};
use crate::consistency::Consistency;
use crate::error::{Error, Result};
use crate::value_type::ValueType;
use crate::wire::{Codec, WireConfig};

/// The paho method name and the v3 short name of each nested parameter.
const NESTED: &[(&str, &str)] = &[
    ("max_inflight_messages_set", "max_inflight_messages"),
    ("max_queued_messages_set", "max_queued_messages"),
    ("message_retry_set", "message_retry"),
    ("ws_set_options", "ws_options"),
    ("tls_set", "tls"),
    ("tls_insecure_set", "tls_insecure"),
    ("username_pw_set", "username_pw"),
    ("will_set", "will"),
    ("reconnect_delay_set", "reconnect_delay"),
];

/// Top-level keys the MQTT backend understands besides the nested ones.
const KEYS: &[&str] = &[
    "qos",
    "retain",
    "clean_session",
    "protocol",
    "transport",
    "connect",
    "userdata",
    "enable_logger",
    "tls_set_context",
    "close_timeout_ms",
];

/// Everything the MQTT reader/writer needs.
#[derive(Debug)]
pub(crate) struct MqttParams {
    pub(crate) options: MqttOptions,
    pub(crate) qos: QoS,
    pub(crate) retain: bool,
    pub(crate) close_timeout: Duration,
}

fn nested<'a>(b: &Params<'a>, v3: bool, method: &'static str) -> Option<Params<'a>> {
    let short = NESTED
        .iter()
        .find(|(m, _)| *m == method)
        .map(|(_, s)| *s)
        .unwrap_or(method);
    let (first, second) = if v3 { (short, method) } else { (method, short) };
    // In v1/v2 `tls` is the common section (handled separately), not tls_set.
    if !v3 && first == "tls_set" {
        return b.map_of(first);
    }
    b.map_of(first).or_else(|| b.map_of(second))
}

pub(crate) fn translate(ctx: &OpenContext<'_>) -> Result<MqttParams> {
    let cfg = ctx.config;
    let service = cfg.service();
    let v3 = cfg.version() >= 3;
    let c = cfg.common();
    let b = cfg.backend();
    let a = cfg.args();
    warn_unknown(&b, v3);

    let invalid = |what: String| Error::InvalidArgument(format!("service {service:?}: {what}"));

    let protocol = match b.str("protocol") {
        None | Some("MQTTv311") => Protocol::V311,
        Some("MQTTv31") => Protocol::V31,
        Some(other) => {
            return Err(invalid(format!(
                "protocol {other:?} is not supported (use MQTTv31 or MQTTv311)"
            )));
        }
    };
    let websockets = match b.str("transport") {
        None | Some("tcp") => false,
        Some("websockets") => true,
        Some(other) => {
            return Err(invalid(format!(
                "transport {other:?} is not supported (use tcp or websockets)"
            )));
        }
    };

    // TLS: the common section first, then tls_set / tls_insecure_set on top.
    let common_tls = CommonTls::from_params(&c);
    let tls_set = nested(&b, v3, "tls_set");
    let mut tls = if common_tls.is_some() || tls_set.is_some() {
        Some(TlsOptions::default())
    } else {
        None
    };
    if let (Some(t), Some(ct)) = (tls.as_mut(), common_tls.as_ref()) {
        crate::backend::tls::apply_common(t, ct, service)?;
    }
    if let (Some(t), Some(ts)) = (tls.as_mut(), tls_set.as_ref()) {
        apply_tls_set(t, ts, service)?;
    }
    if let Some(ins) = nested(&b, v3, "tls_insecure_set") {
        if let (Some(t), Some(v)) = (tls.as_mut(), ins.bool("value")) {
            t.check_hostname = !v;
        }
    }

    let brokers = c.str_list("brokers", true).unwrap_or_default();
    if brokers.len() != 1 {
        return Err(invalid(format!(
            "MQTT takes exactly one broker, {} given",
            brokers.len()
        )));
    }
    let default_port = match (websockets, tls.is_some()) {
        (false, false) => 1883,
        (false, true) => 8883,
        (true, false) => 80,
        (true, true) => 443,
    };
    let broker = Broker::parse(&brokers[0], default_port)?;

    let client_id = if protocol == Protocol::V31
        && ctx.client_id_generated
        && ctx.client_id.len() > sinetstream_mqtt::MAX_CLIENT_ID_LEN_V31
    {
        // MQTT 3.1 allows 23 bytes: keep the prefix and as much of the random part as fits.
        let id: String = ctx
            .client_id
            .chars()
            .filter(|c| *c != '-')
            .skip("sinetstream".len())
            .take(sinetstream_mqtt::MAX_CLIENT_ID_LEN_V31 - "sinetstream-".len())
            .collect();
        format!("sinetstream-{id}")
    } else {
        ctx.client_id.to_owned()
    };
    let mut o = MqttOptions::new(broker.host.clone(), broker.port, client_id);
    o.protocol = protocol;
    if let Some(cs) = b.bool("clean_session") {
        o.clean_session = cs;
    }
    o.transport.tls = tls;
    if websockets {
        let mut ws = WsOptions {
            path: "/mqtt".into(),
            ..WsOptions::default()
        };
        if let Some(w) = nested(&b, v3, "ws_set_options") {
            if let Some(p) = w.str("path") {
                ws.path = p.to_owned();
            }
            if let Some(h) = w.map_of("headers") {
                for (k, v) in h.map().iter() {
                    match v {
                        Value::Str(s) => ws.headers.push((k.to_owned(), s.clone())),
                        other => h.warn_type(k, "a string", other),
                    }
                }
            }
        }
        o.transport.websocket = Some(ws);
    }
    if let Some(m) = nested(&b, v3, "max_inflight_messages_set") {
        if let Some(n) = m.u32("inflight") {
            o.max_inflight = u16::try_from(n.max(1)).unwrap_or(u16::MAX);
        }
    }
    if let Some(m) = nested(&b, v3, "max_queued_messages_set") {
        // paho: 0 means unlimited; a bounded queue keeps memory in check, so take a large one.
        if let Some(n) = m.u64("queue_size") {
            o.max_queued = if n == 0 { 65_536 } else { n as usize };
        }
    }
    if let Some(u) = nested(&b, v3, "username_pw_set") {
        if let Some(name) = u.str("username") {
            o.credentials = Some(Credentials {
                username: name.to_owned(),
                password: u.str("password").map(str::to_owned),
            });
        }
    }
    if let Some(r) = nested(&b, v3, "reconnect_delay_set") {
        let mut rc = Reconnect::default();
        if let Some(s) = r.f64("min_delay").filter(|s| *s > 0.0) {
            rc.min_delay = Duration::from_secs_f64(s);
        }
        if let Some(s) = r.f64("max_delay").filter(|s| *s > 0.0) {
            rc.max_delay = Duration::from_secs_f64(s);
        }
        o.reconnect = Some(rc);
    }
    if let Some(cn) = b.map_of("connect") {
        if let Some(k) = cn.u64("keepalive") {
            o.keep_alive = Duration::from_secs(k);
        }
        if let Some(addr) = cn.str("bind_address").filter(|s| !s.is_empty()) {
            let ip: IpAddr = addr.parse().map_err(|_| {
                invalid(format!(
                    "connect.bind_address {addr:?} is not an IP address"
                ))
            })?;
            o.transport.bind_address = Some(SocketAddr::new(ip, 0));
        }
    }
    if let Some(w) = nested(&b, v3, "will_set") {
        o.will = Some(will(&w, service)?);
    }

    // qos: an explicit constructor qos, then constructor consistency, then the file's qos,
    // then the file's consistency.
    let qos = match (a.raw("qos"), a.contains("consistency")) {
        (Some(v), _) => qos_value(v, service)?,
        (None, true) => qos_of(ctx.consistency),
        (None, false) => match b.raw("qos") {
            Some(v) if !matches!(v, Value::Null) => qos_value(v, service)?,
            _ => qos_of(ctx.consistency),
        },
    };
    let retain = b.bool("retain").unwrap_or(false);
    let close_timeout = Duration::from_millis(b.u64("close_timeout_ms").unwrap_or(30_000));
    Ok(MqttParams {
        options: o,
        qos,
        retain,
        close_timeout,
    })
}

fn qos_of(c: Consistency) -> QoS {
    match c {
        Consistency::AtMostOnce => QoS::AtMostOnce,
        Consistency::AtLeastOnce => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}

fn qos_value(v: &Value, service: &str) -> Result<QoS> {
    match v {
        Value::Int(0) => Ok(QoS::AtMostOnce),
        Value::Int(1) => Ok(QoS::AtLeastOnce),
        Value::Int(2) => Ok(QoS::ExactlyOnce),
        Value::Str(s) => Consistency::from_value(&Value::Str(s.clone()))
            .map(qos_of)
            .map_err(|_| {
                Error::InvalidArgument(format!(
                    "service {service:?}: invalid qos {s:?} (use 0, 1 or 2)"
                ))
            }),
        other => Err(Error::InvalidArgument(format!(
            "service {service:?}: invalid qos {other:?} (use 0, 1 or 2)"
        ))),
    }
}

fn apply_tls_set(t: &mut TlsOptions, ts: &Params<'_>, service: &str) -> Result<()> {
    crate::backend::tls::apply_keys(
        t,
        ts,
        crate::backend::tls::TlsKeys {
            ca_certs: "ca_certs",
            certfile: "certfile",
            keyfile: "keyfile",
            ciphers: "ciphers",
            check_hostname: None,
        },
    );
    // Python's ssl.CERT_NONE (0) / CERT_OPTIONAL (1) / CERT_REQUIRED (2), by name or number.
    match ts.raw("cert_reqs") {
        Some(Value::Int(0)) => t.verify = false,
        Some(Value::Str(s)) if s.eq_ignore_ascii_case("CERT_NONE") => t.verify = false,
        Some(Value::Int(1 | 2)) | None | Some(Value::Null) => {}
        Some(Value::Str(s))
            if s.eq_ignore_ascii_case("CERT_REQUIRED")
                || s.eq_ignore_ascii_case("CERT_OPTIONAL") => {}
        Some(other) => ts.warn_type(
            "cert_reqs",
            "CERT_NONE, CERT_OPTIONAL or CERT_REQUIRED",
            other,
        ),
    }
    if let Some(v) = ts.raw("tls_version") {
        let name = match v {
            Value::Str(s) => Some(s.clone()),
            // Python's ssl.PROTOCOL_TLS (2) / TLS_CLIENT (16): "any", nothing to pin.
            Value::Int(2 | 16 | 17) => None,
            // ssl.PROTOCOL_TLSv1_2 is 5 in CPython.
            Value::Int(5) => Some("TLSv1.2".into()),
            other => {
                ts.warn_type("tls_version", "a TLS version name", other);
                None
            }
        };
        if let Some(name) = name {
            if !matches!(name.as_str(), "PROTOCOL_TLS" | "PROTOCOL_TLS_CLIENT") {
                let ver = name.parse().map_err(|e| {
                    Error::InvalidArgument(format!("service {service:?}: tls_version: {e}"))
                })?;
                t.min_version = Some(ver);
                t.max_version = Some(ver);
            }
        }
    }
    Ok(())
}

/// `will_set`: topic and payload required; the payload is SINETStream-encoded (timestamp 0)
/// with the will's own writer parameters, as Python SINETStream does.
fn will(w: &Params<'_>, service: &str) -> Result<Will> {
    let topic = w.str("topic").ok_or_else(|| {
        Error::InvalidArgument(format!("service {service:?}: will_set needs a topic"))
    })?;
    let payload = match w.raw("payload") {
        Some(Value::Bytes(b)) => b.clone(),
        Some(Value::Str(s)) => s.as_bytes().to_vec(),
        Some(other) => {
            return Err(Error::InvalidArgument(format!(
                "service {service:?}: will_set payload must be text or binary, not {}",
                other.type_name()
            )));
        }
        None => {
            return Err(Error::InvalidArgument(format!(
                "service {service:?}: will_set needs a payload"
            )));
        }
    };
    let value_type = ValueType::from_params(w)?;
    let payload = value_type.serialize(&crate::Payload::Bytes(payload.into()))?;
    let codec = Codec::new(&WireConfig::from_params(w)?)?;
    let encoded = codec.encode(&payload, 0)?;
    let qos = match w.raw("qos") {
        None | Some(Value::Null) => QoS::AtMostOnce,
        Some(v) => qos_value(v, service)?,
    };
    Ok(Will {
        topic: topic.to_owned(),
        payload: encoded.into(),
        qos,
        retain: w.bool("retain").unwrap_or(false),
    })
}

fn warn_unknown(b: &Params<'_>, v3: bool) {
    for k in b.map().keys() {
        let known = KEYS.contains(&k)
            || NESTED.iter().any(|(m, s)| *m == k || *s == k)
            || (!v3 && crate::config::service::COMMON_KEYS.contains(&k))
            || k.ends_with("_data");
        if !known {
            tracing::warn!(
                "service {:?}: parameter {k:?} has no meaning for MQTT; ignored",
                b.service()
            );
        }
    }
}
