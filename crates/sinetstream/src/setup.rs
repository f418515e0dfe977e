//! What readers and writers share when they are built: loading the service, merging defaults
//! and arguments, and checking the common parameters.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::backend::{Backend, find_backend};
use crate::config::{ConfigSource, Map, ServiceConfig, Value};
use crate::consistency::Consistency;
use crate::error::{Error, Result};
use crate::value_type::ValueType;
use crate::wire::{Codec, WireConfig};

/// The parts of a built reader or writer that do not depend on its direction.
pub(crate) struct Setup {
    pub(crate) config: Arc<ServiceConfig>,
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) backend_type: String,
    pub(crate) consistency: Consistency,
    pub(crate) client_id: String,
    pub(crate) client_id_generated: bool,
    pub(crate) value_type: ValueType,
    pub(crate) codec: Arc<Codec>,
    pub(crate) opened: Arc<AtomicBool>,
}

impl std::fmt::Debug for Setup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Setup")
            .field("service", &self.config.service())
            .field("type", &self.backend_type)
            .field("consistency", &self.consistency)
            .field("client_id", &self.client_id)
            .field("value_type", &self.value_type)
            .finish_non_exhaustive()
    }
}

/// SINETStream's built-in defaults (the lowest precedence).
fn defaults(reader: bool) -> Map {
    let mut m = Map::new();
    m.insert("consistency", Consistency::AtMostOnce);
    m.insert("value_type", ValueType::ByteArray.as_str());
    if reader {
        m.insert("receive_timeout_ms", Value::Float(f64::INFINITY));
    }
    m
}

impl Setup {
    pub(crate) fn new(
        service: Option<&str>,
        source: &ConfigSource,
        args: &Map,
        reader: bool,
    ) -> Result<Setup> {
        let mut config = ServiceConfig::load(source, service, &defaults(reader), args)?;
        let name = config.service().to_owned();
        let common = config.common();
        let backend_type = match common.raw("type") {
            Some(Value::Str(t)) if !t.is_empty() => t.clone(),
            Some(other) if !matches!(other, Value::Null) => {
                return Err(Error::InvalidConfig(format!(
                    "service {name:?}: type should be a name, not {}",
                    other.type_name()
                )));
            }
            _ => {
                return Err(Error::InvalidConfig(format!(
                    "service {name:?} has no type (kafka, mqtt, memory ...)"
                )));
            }
        };
        let backend = find_backend(&name, &backend_type)?;
        let consistency = match common.raw("consistency") {
            None | Some(Value::Null) => Consistency::AtMostOnce,
            Some(v) => Consistency::from_value(v).map_err(|_| {
                Error::InvalidArgument(format!(
                    "service {name:?}: invalid consistency {v:?}: use AT_MOST_ONCE, AT_LEAST_ONCE or EXACTLY_ONCE"
                ))
            })?,
        };
        let given = matches!(common.raw("client_id"), Some(Value::Str(s)) if !s.is_empty())
            || matches!(common.raw("client_id"), Some(Value::Int(_)));
        let client_id = match common.raw("client_id") {
            Some(Value::Str(s)) if !s.is_empty() => s.clone(),
            Some(Value::Int(i)) => i.to_string(),
            Some(Value::Str(_)) | Some(Value::Null) | None => {
                format!("sinetstream-{}", uuid::Uuid::new_v4())
            }
            Some(other) => {
                common.warn_type("client_id", "a string", other);
                format!("sinetstream-{}", uuid::Uuid::new_v4())
            }
        };
        let value_type = ValueType::from_params(&common)?;
        let wire = WireConfig::from_params(&common)?;
        let codec = Arc::new(Codec::new(&wire)?);
        config.common_mut().insert("client_id", client_id.clone());
        Ok(Setup {
            config: Arc::new(config),
            backend,
            backend_type,
            consistency,
            client_id,
            client_id_generated: !given,
            value_type,
            codec,
            opened: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Marks the reader/writer open; AlreadyConnectedError if it already is.
    pub(crate) fn claim_open(&self) -> Result<OpenGuard> {
        if self.opened.swap(true, Ordering::AcqRel) {
            return Err(Error::AlreadyConnected(format!(
                "service {:?}: this reader/writer is already open; close the open handle first",
                self.config.service()
            )));
        }
        Ok(OpenGuard(self.opened.clone()))
    }
}

/// Held by an open handle; marks the reader/writer closed when dropped.
#[derive(Debug)]
pub(crate) struct OpenGuard(Arc<AtomicBool>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// Checks one topic name as every backend needs it.
pub(crate) fn check_topic(service: &str, topic: &str) -> Result<()> {
    if topic.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "service {service:?}: empty topic name"
        )));
    }
    if topic.contains('\0') {
        return Err(Error::InvalidArgument(format!(
            "service {service:?}: topic {topic:?} contains a NUL character"
        )));
    }
    Ok(())
}

/// Reads a list of topic names from a value (a string or a list of strings).
pub(crate) fn topic_list(service: &str, key: &str, v: &Value) -> Result<Vec<String>> {
    let list = match v {
        Value::Str(s) => vec![s.clone()],
        Value::Seq(items) => items
            .iter()
            .map(|i| match i {
                Value::Str(s) => Ok(s.clone()),
                other => Err(Error::InvalidArgument(format!(
                    "service {service:?}: {key} must hold topic names, not {}",
                    other.type_name()
                ))),
            })
            .collect::<Result<Vec<_>>>()?,
        other => {
            return Err(Error::InvalidArgument(format!(
                "service {service:?}: {key} must be a topic name or a list, not {}",
                other.type_name()
            )));
        }
    };
    for t in &list {
        check_topic(service, t)?;
    }
    Ok(list)
}

/// `receive_timeout_ms`: a number of ms, `.inf` or null for "forever".
pub(crate) fn receive_timeout(config: &ServiceConfig) -> Result<Option<Duration>> {
    let p = config.common();
    match p.raw("receive_timeout_ms") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Float(x)) if x.is_infinite() && *x > 0.0 => Ok(None),
        Some(Value::Float(x)) if *x >= 0.0 && x.is_finite() => {
            Ok(Some(Duration::from_secs_f64(x / 1000.0)))
        }
        Some(Value::Int(i)) if *i >= 0 => Ok(Some(Duration::from_millis(*i as u64))),
        Some(other @ (Value::Int(_) | Value::Float(_))) => Err(Error::InvalidArgument(format!(
            "service {:?}: receive_timeout_ms must be a non-negative number of ms, not {other:?}",
            config.service()
        ))),
        Some(other) => {
            p.warn_type("receive_timeout_ms", "a number of milliseconds", other);
            Ok(None)
        }
    }
}
