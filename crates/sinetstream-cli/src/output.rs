//! Printing config values (YAML-ish or JSON, secrets masked) and message values.

use base64::Engine as _;
use sinetstream::config::value::is_secret_key;
use sinetstream::config::yaml;
use sinetstream::{Map, Value};

/// What a secret is printed as.
pub(crate) const MASK: &str = "***";

/// A JSON string literal.
pub(crate) fn json_str(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// A JSON number for `x` (`null` when not finite).
pub(crate) fn json_f64(x: f64) -> String {
    match serde_json::Number::from_f64(x) {
        Some(n) => n.to_string(),
        None => "null".to_owned(),
    }
}

/// A message value for `--json`: a JSON string when the bytes are UTF-8, else
/// `{"base64": "..."}`.
pub(crate) fn json_payload(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => json_str(s),
        Err(_) => format!(
            "{{\"base64\":{}}}",
            json_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
        ),
    }
}

/// Python's `urllib.parse.quote(s, safe='')`: every byte but `A-Z a-z 0-9 _ . - ~` as `%XX`.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Whether `s` reads back as the same string when written as a plain YAML scalar.
fn plain_ok(s: &str) -> bool {
    if s.is_empty()
        || s.trim() != s
        || s.contains([
            '\n', '\r', '\t', '#', '"', '\'', '{', '}', '[', ']', ',', '&', '*', '!', '|', '>',
            '%', '@', '`',
        ])
        || s.contains(": ")
        || s.ends_with(':')
        || s.starts_with(['-', '?', ':'])
    {
        return false;
    }
    let doc = format!("k: {s}\n");
    matches!(yaml::parse(&doc), Ok(Some(Value::Map(m))) if m.get("k") == Some(&Value::Str(s.to_owned())))
}

fn yaml_str(s: &str) -> String {
    if plain_ok(s) {
        s.to_owned()
    } else {
        json_str(s)
    }
}

fn yaml_float(x: f64) -> String {
    if x.is_nan() {
        ".nan".to_owned()
    } else if x.is_infinite() {
        if x > 0.0 {
            ".inf".to_owned()
        } else {
            "-.inf".to_owned()
        }
    } else {
        let s = format!("{x}");
        if s.contains(['.', 'e', 'E']) {
            s
        } else {
            format!("{s}.0")
        }
    }
}

/// A scalar (or an inline collection) as YAML; `None` for maps and non-empty lists of maps,
/// which need block layout.
fn yaml_inline(v: &Value, secret: bool) -> Option<String> {
    if secret && !matches!(v, Value::Null | Value::Map(_) | Value::Seq(_)) {
        return Some(json_str(MASK));
    }
    Some(match v {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(x) => yaml_float(*x),
        Value::Str(s) => yaml_str(s),
        Value::Bytes(b) => format!(
            "!!binary {}",
            base64::engine::general_purpose::STANDARD.encode(b)
        ),
        Value::Encrypted(b) => format!("!sinetstream/encrypted \"<{} bytes>\"", b.len()),
        Value::Map(m) if m.is_empty() => "{}".to_owned(),
        Value::Seq(items) if items.is_empty() => "[]".to_owned(),
        Value::Seq(items)
            if items
                .iter()
                .all(|i| !matches!(i, Value::Map(_) | Value::Seq(_))) =>
        {
            let parts: Vec<String> = items
                .iter()
                .filter_map(|i| yaml_inline(i, secret))
                .collect();
            format!("[{}]", parts.join(", "))
        }
        _ => return None,
    })
}

/// Writes `map` as indented YAML, masking the values of secret keys (and everything under them).
pub(crate) fn yaml_map(out: &mut String, map: &Map, indent: usize, secret: bool) {
    for (k, v) in map.iter() {
        let secret = secret || is_secret_key(k) || map.is_decrypted(k);
        let pad = " ".repeat(indent);
        let key = yaml_str(k);
        match yaml_inline(v, secret) {
            Some(s) => out.push_str(&format!("{pad}{key}: {s}\n")),
            None => {
                out.push_str(&format!("{pad}{key}:\n"));
                yaml_block(out, v, indent + 2, secret);
            }
        }
    }
}

fn yaml_block(out: &mut String, v: &Value, indent: usize, secret: bool) {
    match v {
        Value::Map(m) => yaml_map(out, m, indent, secret),
        Value::Seq(items) => {
            let pad = " ".repeat(indent);
            for item in items {
                match yaml_inline(item, secret) {
                    Some(s) => out.push_str(&format!("{pad}- {s}\n")),
                    None => {
                        out.push_str(&format!("{pad}-\n"));
                        yaml_block(out, item, indent + 2, secret);
                    }
                }
            }
        }
        other => {
            if let Some(s) = yaml_inline(other, secret) {
                out.push_str(&format!("{}{s}\n", " ".repeat(indent)));
            }
        }
    }
}

/// `v` as JSON text (map order kept), secrets masked.
pub(crate) fn json_value(v: &Value, secret: bool) -> String {
    if secret && !matches!(v, Value::Null | Value::Map(_) | Value::Seq(_)) {
        return json_str(MASK);
    }
    match v {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(x) if x.is_finite() => json_f64(*x),
        Value::Float(x) => json_str(&yaml_float(*x)),
        Value::Str(s) => json_str(s),
        Value::Bytes(b) => format!(
            "{{\"base64\":{}}}",
            json_str(&base64::engine::general_purpose::STANDARD.encode(b))
        ),
        Value::Encrypted(b) => format!("{{\"encrypted_bytes\":{}}}", b.len()),
        Value::Seq(items) => {
            let parts: Vec<String> = items.iter().map(|i| json_value(i, secret)).collect();
            format!("[{}]", parts.join(","))
        }
        Value::Map(m) => json_map(m, secret),
        // Value is non-exhaustive: anything new is shown by its (masking) Debug form.
        other => json_str(&format!("{other:?}")),
    }
}

/// `map` as a JSON object (order kept), secrets masked.
pub(crate) fn json_map(map: &Map, secret: bool) -> String {
    let parts: Vec<String> = map
        .iter()
        .map(|(k, v)| {
            let secret = secret || is_secret_key(k) || map.is_decrypted(k);
            format!("{}:{}", json_str(k), json_value(v, secret))
        })
        .collect();
    format!("{{{}}}", parts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Map {
        let text = "type: mqtt\nbrokers: [a:1883, 'b:1']\nport: '80'\nusername_pw_set: {username: u, password: hunter2}\n\
                    crypto: {key: !!binary AAECAwQFBgcICQoLDA0ODw==, _keys: {1: k1, 2: k2}}\n\
                    tls: {ca_certs: /x/ca.pem, check_hostname: false}\nempty: ''\nratio: 1.0\nneg: -3\n\
                    list: [{a: 1}, {b: 2}]\nnothing:\nreceive_timeout_ms: .inf\n";
        match yaml::parse(text) {
            Ok(Some(Value::Map(m))) => m,
            other => panic!("sample: {other:?}"),
        }
    }

    #[test]
    fn yaml_masks_secrets_and_reads_back() {
        let m = sample();
        let mut out = String::new();
        yaml_map(&mut out, &m, 0, false);
        assert!(!out.contains("hunter2"), "{out}");
        assert!(!out.contains("k1") && !out.contains("k2"), "{out}");
        assert!(!out.contains("AAECAw"), "{out}");
        assert!(out.contains("password: \"***\""), "{out}");
        assert!(out.contains("ca_certs: /x/ca.pem"), "{out}");
        // Everything but the masked values reads back as it was.
        let back = match yaml::parse(&out) {
            Ok(Some(Value::Map(m))) => m,
            other => panic!("{out}\n{other:?}"),
        };
        for k in [
            "type",
            "brokers",
            "port",
            "tls",
            "empty",
            "ratio",
            "neg",
            "list",
            "nothing",
            "receive_timeout_ms",
        ] {
            assert_eq!(back.get(k), m.get(k), "{k} in\n{out}");
        }
    }

    #[test]
    fn json_masks_secrets_and_parses() {
        let m = sample();
        let s = json_map(&m, false);
        assert!(!s.contains("hunter2") && !s.contains("k1"), "{s}");
        let v: serde_json::Value = serde_json::from_str(&s).expect("valid JSON");
        assert_eq!(v["username_pw_set"]["password"], "***");
        assert_eq!(v["crypto"]["key"], "***");
        assert_eq!(v["tls"]["check_hostname"], false);
        assert_eq!(v["brokers"][1], "b:1");
        assert_eq!(v["receive_timeout_ms"], ".inf");
        let keys: Vec<&str> = m.keys().collect();
        assert_eq!(keys[0], "type");
        assert!(s.starts_with("{\"type\":"), "{s}");
    }

    #[test]
    fn payloads_and_quoting() {
        assert_eq!(json_payload(b"hi \"x\""), "\"hi \\\"x\\\"\"");
        assert_eq!(json_payload(&[0xff, 0]), "{\"base64\":\"/wA=\"}");
        assert_eq!(quote("a/b c~d_e.f-g"), "a%2Fb%20c~d_e.f-g");
        assert_eq!(quote("é"), "%C3%A9");
    }
}
