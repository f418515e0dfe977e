//! Typed, warning-emitting access to a service's parameters.
//!
//! SINETStream's rule: a parameter of the wrong type is logged as a warning naming the service and
//! key, then ignored as if absent. Every backend reads its parameters through [`Params`] so that
//! the rule holds everywhere without each backend repeating it.

use super::value::{Map, Value};

/// A view on a parameter map, for one service, with a key prefix for nested maps.
#[derive(Debug, Clone, Copy)]
pub struct Params<'a> {
    service: &'a str,
    prefix: &'a str,
    map: &'a Map,
}

static EMPTY: std::sync::LazyLock<Map> = std::sync::LazyLock::new(Map::new);

impl<'a> Params<'a> {
    /// A view on `map`, the merged parameters of `service`.
    pub fn new(service: &'a str, map: &'a Map) -> Self {
        Params {
            service,
            prefix: "",
            map,
        }
    }

    /// The service these parameters belong to.
    pub fn service(&self) -> &'a str {
        self.service
    }

    /// The underlying map.
    pub fn map(&self) -> &'a Map {
        self.map
    }

    /// The raw value of `key`, whatever its type.
    pub fn raw(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key)
    }

    /// Whether `key` is present (with any value, even null).
    pub fn contains(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    /// The full dotted name of `key`, for messages (`crypto.key_derivation.iteration`).
    pub fn path(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.prefix)
        }
    }

    /// Logs the standard wrong-type warning for `key`.
    pub fn warn_type(&self, key: &str, expected: &str, got: &Value) {
        tracing::warn!(
            service = self.service,
            key = %self.path(key),
            "service {:?}: parameter {:?} should be {expected} but is {}; ignored",
            self.service,
            self.path(key),
            got.type_name()
        );
    }

    fn typed<T>(
        &self,
        key: &str,
        expected: &str,
        f: impl FnOnce(&'a Value) -> Option<T>,
    ) -> Option<T> {
        match self.map.get(key)? {
            Value::Null => None,
            v => match f(v) {
                Some(t) => Some(t),
                None => {
                    self.warn_type(key, expected, v);
                    None
                }
            },
        }
    }

    /// A string parameter. Numbers are not coerced: `port: 80` is not a string.
    pub fn str(&self, key: &str) -> Option<&'a str> {
        self.typed(key, "a string", Value::as_str)
    }

    /// A boolean parameter (YAML `true`/`false`).
    pub fn bool(&self, key: &str) -> Option<bool> {
        self.typed(key, "a boolean", Value::as_bool)
    }

    /// An integer parameter.
    pub fn i64(&self, key: &str) -> Option<i64> {
        self.typed(key, "an integer", Value::as_i64)
    }

    /// A non-negative integer that fits `u32`.
    pub fn u32(&self, key: &str) -> Option<u32> {
        self.typed(key, "a non-negative integer", |v| {
            v.as_i64().and_then(|i| u32::try_from(i).ok())
        })
    }

    /// A non-negative integer that fits `u64`.
    pub fn u64(&self, key: &str) -> Option<u64> {
        self.typed(key, "a non-negative integer", |v| {
            v.as_i64().and_then(|i| u64::try_from(i).ok())
        })
    }

    /// A number (integer or float).
    pub fn f64(&self, key: &str) -> Option<f64> {
        self.typed(key, "a number", |v| match v {
            Value::Float(x) => Some(*x),
            Value::Int(i) => Some(*i as f64),
            _ => None,
        })
    }

    /// Bytes: a `!!binary` value, or a string taken as its UTF-8 bytes.
    pub fn bytes(&self, key: &str) -> Option<&'a [u8]> {
        self.typed(key, "binary data or a string", |v| match v {
            Value::Bytes(b) => Some(b.as_slice()),
            Value::Str(s) => Some(s.as_bytes()),
            _ => None,
        })
    }

    /// A list of strings; a single string is a list of one, and a comma-separated string is split
    /// when `split_commas` is set (the `brokers` rule).
    pub fn str_list(&self, key: &str, split_commas: bool) -> Option<Vec<String>> {
        self.typed(key, "a string or a list of strings", |v| match v {
            Value::Str(s) if split_commas => Some(
                s.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
            ),
            Value::Str(s) => Some(vec![s.clone()]),
            Value::Seq(items) => items
                .iter()
                .map(|i| i.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>(),
            _ => None,
        })
    }

    /// A nested map as a [`Params`] view (for `tls`, `crypto`, `tls_set` ...).
    pub fn map_of(&self, key: &'a str) -> Option<Params<'a>> {
        let m = self.typed(key, "a map", Value::as_map)?;
        Some(self.nested(key, m))
    }

    /// A nested map, or an empty view when absent or of the wrong type.
    pub fn map_or_empty(&self, key: &'a str) -> Params<'a> {
        self.map_of(key).unwrap_or_else(|| self.nested(key, &EMPTY))
    }

    fn nested(&self, key: &'a str, map: &'a Map) -> Params<'a> {
        // The prefix must outlive 'a; leak-free because nested prefixes are built only for
        // messages. We keep just the last key when nested more than once.
        Params {
            service: self.service,
            prefix: key,
            map,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map() -> Map {
        [
            ("s".to_owned(), Value::from("x")),
            ("n".to_owned(), Value::Int(5)),
            ("neg".to_owned(), Value::Int(-5)),
            ("b".to_owned(), Value::Bool(true)),
            ("brokers".to_owned(), Value::from("a:1, b:2")),
        ]
        .into_iter()
        .collect()
    }

    #[test]
    fn typed_getters_ignore_wrong_types() {
        let m = map();
        let p = Params::new("svc", &m);
        assert_eq!(p.str("s"), Some("x"));
        assert_eq!(p.str("n"), None);
        assert_eq!(p.u32("n"), Some(5));
        assert_eq!(p.u32("neg"), None);
        assert_eq!(p.bool("b"), Some(true));
        assert_eq!(p.bool("s"), None);
        assert_eq!(p.f64("n"), Some(5.0));
        assert_eq!(
            p.str_list("brokers", true),
            Some(vec!["a:1".to_owned(), "b:2".to_owned()])
        );
        assert!(p.map_of("s").is_none());
        assert!(p.map_or_empty("nope").map().is_empty());
    }
}
