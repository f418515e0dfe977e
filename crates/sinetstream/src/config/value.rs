//! The configuration value tree.
//!
//! YAML is parsed into this tree (see [`super::yaml`]) rather than into serde types because the
//! SINETStream config keeps information serde's data model drops: `!!binary` scalars are bytes,
//! `!sinetstream/encrypted` scalars are encrypted values, and map order matters for messages.

use std::fmt;

/// One value of a SINETStream configuration.
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// `~`, `null` or an empty scalar.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating point number (including `.inf`).
    Float(f64),
    /// A string.
    Str(String),
    /// A `!!binary` scalar, already base64-decoded.
    Bytes(Vec<u8>),
    /// A `!sinetstream/encrypted` scalar (base64-decoded, still encrypted).
    Encrypted(Vec<u8>),
    /// A sequence.
    Seq(Vec<Value>),
    /// A mapping with string keys, in file order.
    Map(Map),
}

impl Value {
    /// A short name of this value's type, for warnings ("a string", "a map", ...).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Bytes(_) => "binary data",
            Value::Encrypted(_) => "an encrypted value",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a map",
        }
    }

    /// The map, if this is one.
    pub fn as_map(&self) -> Option<&Map> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The integer, if this is one.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// Looks up `key` if this is a map.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_map().and_then(|m| m.get(key))
    }

    /// Merges `other` into `self`: maps merge key by key (recursively), anything else replaces.
    ///
    /// This is SINETStream's merge of defaults ← service block ← constructor arguments.
    pub fn merge_from(&mut self, other: &Value) {
        match (self, other) {
            (Value::Map(a), Value::Map(b)) => a.merge_from(b),
            (slot, other) => *slot = other.clone(),
        }
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Bytes(b) => write!(f, "<{} bytes>", b.len()),
            Value::Encrypted(b) => write!(f, "<encrypted, {} bytes>", b.len()),
            Value::Seq(s) => f.debug_list().entries(s).finish(),
            Value::Map(m) => m.fmt(f),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_owned())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}
impl From<i32> for Value {
    fn from(i: i32) -> Self {
        Value::Int(i64::from(i))
    }
}
impl From<u32> for Value {
    fn from(i: u32) -> Self {
        Value::Int(i64::from(i))
    }
}
impl From<f64> for Value {
    fn from(x: f64) -> Self {
        Value::Float(x)
    }
}
impl From<Vec<u8>> for Value {
    fn from(b: Vec<u8>) -> Self {
        Value::Bytes(b)
    }
}
impl From<Map> for Value {
    fn from(m: Map) -> Self {
        Value::Map(m)
    }
}
impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(v: Vec<T>) -> Self {
        Value::Seq(v.into_iter().map(Into::into).collect())
    }
}

/// A mapping with string keys that keeps insertion order.
///
/// Config maps are small (tens of keys), so a vector beats a hash map here and keeps file order
/// for `config show`.
#[derive(Clone, Default)]
pub struct Map {
    entries: Vec<(String, Value)>,
    /// Keys whose values were decrypted from `!sinetstream/encrypted`: secrets whatever their
    /// name (an encrypted user name or host), masked by `Debug` like the secret-named keys.
    decrypted: Vec<String>,
}

impl PartialEq for Map {
    // Equal contents are equal maps; where values came from is not part of them.
    fn eq(&self, other: &Map) -> bool {
        self.entries == other.entries
    }
}

impl Map {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The value of `key`, mutably.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.entries
            .iter_mut()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Sets `key`, replacing an earlier value in place (so order is kept). Returns the old value.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<Value>) -> Option<Value> {
        let key = key.into();
        let value = value.into();
        match self.get_mut(&key) {
            Some(slot) => Some(std::mem::replace(slot, value)),
            None => {
                self.entries.push((key, value));
                None
            }
        }
    }

    /// Marks `key`'s value as decrypted from `!sinetstream/encrypted` (see [`Map::is_decrypted`]).
    pub fn mark_decrypted(&mut self, key: &str) {
        if !self.is_decrypted(key) {
            self.decrypted.push(key.to_owned());
        }
    }

    /// Whether `key`'s value was decrypted from `!sinetstream/encrypted` (or contains such a
    /// value, for a list): it is then treated as a secret, as [`is_secret_key`] names are.
    pub fn is_decrypted(&self, key: &str) -> bool {
        self.decrypted.iter().any(|k| k == key)
    }

    /// Removes `key` and returns its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let pos = self.entries.iter().position(|(k, _)| k == key)?;
        Some(self.entries.remove(pos).1)
    }

    /// The entries in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The keys in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_str())
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Recursive merge, see [`Value::merge_from`].
    pub fn merge_from(&mut self, other: &Map) {
        for (k, v) in other.iter() {
            match self.get_mut(k) {
                Some(slot) => slot.merge_from(v),
                None => {
                    self.entries.push((k.to_owned(), v.clone()));
                }
            }
            if other.is_decrypted(k) {
                self.mark_decrypted(k);
            }
        }
    }
}

impl fmt::Debug for Map {
    // Masks secrets: Debug output of a config ends up in logs and panics.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (k, v) in self.iter() {
            if (is_secret_key(k) || self.is_decrypted(k))
                && !matches!(v, Value::Map(_) | Value::Null)
            {
                m.entry(&k, &format_args!("\"***\""));
            } else {
                m.entry(&k, v);
            }
        }
        m.finish()
    }
}

impl FromIterator<(String, Value)> for Map {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(iter: I) -> Self {
        let mut m = Map::new();
        for (k, v) in iter {
            m.insert(k, v);
        }
        m
    }
}

/// Whether a parameter named `key` holds a secret that must never be printed.
///
/// Matches `password`, `sasl_plain_password`, `ssl_password`, `key` (crypto key), `_keys`,
/// `keyfilePassword`, `*_token`, `secret`... but not `keyfile` or `key_length`, which are paths
/// and numbers.
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k == "key"
        || k == "_keys"
        || k == "keys"
        || k.contains("password")
        || k.contains("secret")
        || k.ends_with("token")
        || k.ends_with("_key")
        || k == "key_data"
        || k == "keyfile_data"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_is_recursive_for_maps_and_replaces_scalars() {
        let mut a: Map = [
            ("x".to_owned(), Value::Int(1)),
            (
                "tls".to_owned(),
                Value::Map(
                    [("ca_certs".to_owned(), Value::from("a"))]
                        .into_iter()
                        .collect(),
                ),
            ),
        ]
        .into_iter()
        .collect();
        let b: Map = [
            ("x".to_owned(), Value::Int(2)),
            (
                "tls".to_owned(),
                Value::Map(
                    [("certfile".to_owned(), Value::from("c"))]
                        .into_iter()
                        .collect(),
                ),
            ),
        ]
        .into_iter()
        .collect();
        a.merge_from(&b);
        assert_eq!(a.get("x"), Some(&Value::Int(2)));
        let tls = a.get("tls").and_then(Value::as_map).expect("tls map");
        assert_eq!(tls.len(), 2);
    }

    #[test]
    fn debug_masks_secrets() {
        let m: Map = [
            ("password".to_owned(), Value::from("hunter2")),
            ("keyfile".to_owned(), Value::from("/k.pem")),
            ("key".to_owned(), Value::Bytes(b"0123456789abcdef".to_vec())),
        ]
        .into_iter()
        .collect();
        let s = format!("{m:?}");
        assert!(!s.contains("hunter2"), "{s}");
        assert!(s.contains("/k.pem"), "{s}");
        assert!(s.contains("***"), "{s}");
    }
}
