//! YAML text → [`Value`] tree, built from `saphyr-parser` events.
//!
//! Scalars are resolved the way PyYAML's `SafeLoader` does (YAML 1.1), because the config files
//! are shared with Python SINETStream: `yes`/`on` are booleans there, `0o17` and `017` are octal,
//! `1_000` is an integer. Tags are kept: `!!binary` becomes [`Value::Bytes`] and
//! `!sinetstream/encrypted` becomes [`Value::Encrypted`].
//!
//! Untrusted files must not exhaust memory or stack, so nesting depth and the number of nodes
//! produced (which bounds alias expansion, the "billion laughs") are capped.

use std::collections::HashMap;

use base64::Engine as _;
use saphyr_parser::{Event, Parser, ScalarStyle, Tag};

use super::value::{Map, Value};

/// Deepest nesting of sequences/maps accepted.
pub const MAX_DEPTH: usize = 64;
/// Most nodes (after alias expansion) accepted in one document.
pub const MAX_NODES: usize = 1_000_000;

/// A YAML syntax or structure error, with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub col: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for YamlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.line, self.col) {
            (Some(l), Some(c)) => write!(f, "line {l} column {c}: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for YamlError {}

/// Parses the first document of `text`. An empty stream gives `Ok(None)`.
pub fn parse(text: &str) -> Result<Option<Value>, YamlError> {
    Builder::default().run(text)
}

enum Frame {
    Seq {
        items: Vec<Value>,
        anchor: usize,
    },
    Map {
        map: Map,
        pending_key: Option<String>,
        merges: Vec<Value>,
        anchor: usize,
    },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, Value>,
    nodes: usize,
    line: usize,
    col: usize,
}

impl Builder {
    fn err(&self, message: impl Into<String>) -> YamlError {
        YamlError {
            line: Some(self.line + 1),
            col: Some(self.col + 1),
            message: message.into(),
        }
    }

    fn run(mut self, text: &str) -> Result<Option<Value>, YamlError> {
        let mut parser = Parser::new_from_str(text);
        let mut root: Option<Value> = None;
        let mut in_doc = false;
        while let Some(ev) = parser.next_event() {
            let (ev, span) = ev.map_err(|e| YamlError {
                line: Some(e.marker().line()),
                col: Some(e.marker().col() + 1),
                message: e.info().to_owned(),
            })?;
            self.line = span.start.line().saturating_sub(1);
            self.col = span.start.col();
            match ev {
                Event::StreamStart | Event::Nothing => {}
                Event::StreamEnd => break,
                Event::DocumentStart(_) => {
                    if root.is_some() {
                        // Python's safe_load rejects a second document; so do we.
                        return Err(self.err("expected a single YAML document, found more"));
                    }
                    in_doc = true;
                }
                Event::DocumentEnd => in_doc = false,
                Event::Alias(id) => {
                    let v = self
                        .anchors
                        .get(&id)
                        .cloned()
                        .ok_or_else(|| self.err("alias to an unknown anchor"))?;
                    self.count(&v)?;
                    if let Some(done) = self.push_value(v)? {
                        root = Some(done);
                    }
                }
                Event::Scalar(text, style, anchor, tag) => {
                    let v = self.scalar(&text, style, tag.as_deref())?;
                    self.count(&v)?;
                    if anchor != 0 {
                        self.anchors.insert(anchor, v.clone());
                    }
                    if let Some(done) = self.push_value(v)? {
                        root = Some(done);
                    }
                }
                Event::SequenceStart(anchor, tag) => {
                    self.check_collection_tag(tag.as_deref(), "seq")?;
                    self.open(Frame::Seq {
                        items: Vec::new(),
                        anchor,
                    })?;
                }
                Event::MappingStart(anchor, tag) => {
                    self.check_collection_tag(tag.as_deref(), "map")?;
                    self.open(Frame::Map {
                        map: Map::new(),
                        pending_key: None,
                        merges: Vec::new(),
                        anchor,
                    })?;
                }
                Event::SequenceEnd | Event::MappingEnd => {
                    let (v, anchor) = match self.stack.pop() {
                        Some(Frame::Seq { items, anchor }) => (Value::Seq(items), anchor),
                        Some(Frame::Map {
                            mut map,
                            merges,
                            anchor,
                            ..
                        }) => {
                            apply_merges(&mut map, merges);
                            (Value::Map(map), anchor)
                        }
                        None => return Err(self.err("unbalanced collection end")),
                    };
                    if anchor != 0 {
                        self.anchors.insert(anchor, v.clone());
                    }
                    if let Some(done) = self.push_value(v)? {
                        root = Some(done);
                    }
                }
            }
        }
        let _ = in_doc;
        Ok(root)
    }

    fn open(&mut self, frame: Frame) -> Result<(), YamlError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(self.err(format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        self.nodes += 1;
        self.stack.push(frame);
        Ok(())
    }

    /// Counts the nodes a value adds; aliases re-count the whole aliased subtree so that
    /// exponential expansion is caught before it is materialised many times over.
    fn count(&mut self, v: &Value) -> Result<(), YamlError> {
        self.nodes = self.nodes.saturating_add(node_count(v));
        if self.nodes > MAX_NODES {
            return Err(self.err(format!(
                "document too large: more than {MAX_NODES} nodes (alias expansion?)"
            )));
        }
        Ok(())
    }

    /// Adds a finished value to the enclosing collection, or returns it if it is the root.
    fn push_value(&mut self, v: Value) -> Result<Option<Value>, YamlError> {
        let line = self.line;
        let col = self.col;
        match self.stack.last_mut() {
            None => Ok(Some(v)),
            Some(Frame::Seq { items, .. }) => {
                items.push(v);
                Ok(None)
            }
            Some(Frame::Map {
                map,
                pending_key,
                merges,
                ..
            }) => {
                match pending_key.take() {
                    None => {
                        *pending_key = Some(key_string(&v).ok_or_else(|| YamlError {
                            line: Some(line + 1),
                            col: Some(col + 1),
                            message: format!("a map key must be a scalar, not {}", v.type_name()),
                        })?);
                    }
                    Some(k) if k == "<<" => merges.push(v),
                    Some(k) => {
                        // PyYAML keeps the last of duplicate keys; so do we.
                        map.insert(k, v);
                    }
                }
                Ok(None)
            }
        }
    }

    fn check_collection_tag(&self, tag: Option<&Tag>, want: &str) -> Result<(), YamlError> {
        match tag {
            None => Ok(()),
            Some(t) if t.is_yaml_core_schema() && t.suffix == want => Ok(()),
            Some(t) if t.is_yaml_core_schema() && want == "map" && t.suffix == "omap" => Ok(()),
            Some(t) => Err(self.err(format!("unsupported tag {t} on a {want}"))),
        }
    }

    fn scalar(
        &self,
        text: &str,
        style: ScalarStyle,
        tag: Option<&Tag>,
    ) -> Result<Value, YamlError> {
        if let Some(tag) = tag {
            return self.tagged_scalar(text, tag);
        }
        if style != ScalarStyle::Plain {
            return Ok(Value::Str(text.to_owned()));
        }
        Ok(resolve_plain(text))
    }

    fn tagged_scalar(&self, text: &str, tag: &Tag) -> Result<Value, YamlError> {
        if tag.handle == "!" && tag.suffix == "sinetstream/encrypted" {
            return decode_base64(text)
                .map(Value::Encrypted)
                .ok_or_else(|| self.err("!sinetstream/encrypted value is not valid base64"));
        }
        if !tag.is_yaml_core_schema() {
            return Err(self.err(format!("unsupported tag {tag}")));
        }
        let bad = |what: &str| self.err(format!("!!{} value {text:?} is not {what}", tag.suffix));
        match tag.suffix.as_str() {
            "str" => Ok(Value::Str(text.to_owned())),
            "binary" => decode_base64(text)
                .map(Value::Bytes)
                .ok_or_else(|| bad("valid base64")),
            "int" => resolve_int(text)
                .map(Value::Int)
                .ok_or_else(|| bad("an integer")),
            "float" => resolve_float(text)
                .or_else(|| resolve_int(text).map(|i| i as f64))
                .map(Value::Float)
                .ok_or_else(|| bad("a number")),
            "bool" => resolve_bool(text)
                .map(Value::Bool)
                .ok_or_else(|| bad("a boolean")),
            "null" => Ok(Value::Null),
            other => Err(self.err(format!("unsupported tag !!{other}"))),
        }
    }
}

fn node_count(v: &Value) -> usize {
    match v {
        Value::Seq(items) => items.iter().map(node_count).fold(1, usize::saturating_add),
        Value::Map(m) => m
            .iter()
            .map(|(_, v)| node_count(v))
            .fold(1, usize::saturating_add),
        _ => 1,
    }
}

fn key_string(v: &Value) -> Option<String> {
    Some(match v {
        Value::Str(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::Bool(b) => if *b { "True" } else { "False" }.to_owned(),
        Value::Float(f) => f.to_string(),
        Value::Null => "None".to_owned(),
        _ => return None,
    })
}

/// YAML 1.1 merge keys (`<<: *base`): explicit keys win over merged ones, earlier merges win.
fn apply_merges(map: &mut Map, merges: Vec<Value>) {
    for m in merges {
        let sources: Vec<Value> = match m {
            Value::Seq(items) => items,
            other => vec![other],
        };
        for src in sources {
            if let Value::Map(src) = src {
                for (k, v) in src.iter() {
                    if !map.contains_key(k) {
                        map.insert(k, v.clone());
                    }
                }
            }
        }
    }
}

fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .ok()
}

/// Plain-scalar resolution of PyYAML's SafeLoader.
fn resolve_plain(text: &str) -> Value {
    if matches!(text, "" | "~" | "null" | "Null" | "NULL") {
        return Value::Null;
    }
    if let Some(b) = resolve_bool(text) {
        return Value::Bool(b);
    }
    if let Some(i) = resolve_int(text) {
        return Value::Int(i);
    }
    if let Some(f) = resolve_float(text) {
        return Value::Float(f);
    }
    Value::Str(text.to_owned())
}

fn resolve_bool(text: &str) -> Option<bool> {
    match text {
        "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => Some(true),
        "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => Some(false),
        _ => None,
    }
}

fn resolve_int(text: &str) -> Option<i64> {
    let (neg, body) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if body.is_empty() || body.starts_with('_') {
        return None;
    }
    let digits: String = body.chars().filter(|&c| c != '_').collect();
    let (radix, digits) = if let Some(d) = digits.strip_prefix("0b") {
        (2, d)
    } else if let Some(d) = digits.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = digits.strip_prefix("0o") {
        (8, d)
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, &digits[1..])
    } else if body.contains(':') {
        return sexagesimal(&digits).map(|v| if neg { -v } else { v });
    } else {
        (10, digits.as_str())
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = i128::from_str_radix(digits, radix).ok()?;
    i64::try_from(if neg { -magnitude } else { magnitude }).ok()
}

/// YAML 1.1 base-60 integers (`1:30` = 90), which PyYAML still resolves.
fn sexagesimal(digits: &str) -> Option<i64> {
    let mut first = true;
    let mut acc: i64 = 0;
    for part in digits.split(':') {
        if part.is_empty() || !part.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let n: i64 = part.parse().ok()?;
        if !first && n >= 60 {
            return None;
        }
        first = false;
        acc = acc.checked_mul(60)?.checked_add(n)?;
    }
    Some(acc)
}

fn resolve_float(text: &str) -> Option<f64> {
    match text {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    // PyYAML requires a '.' in a float (1e3 is a string there, 1.0e+3 is a float).
    if !text.contains('.') {
        return None;
    }
    let body = text.trim_start_matches(['-', '+']);
    if !body.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        || !body
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '_' | 'e' | 'E' | '-' | '+'))
    {
        return None;
    }
    let cleaned: String = text.chars().filter(|&c| c != '_').collect();
    cleaned.parse::<f64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Value {
        parse(s).expect("parses").expect("not empty")
    }

    #[test]
    fn scalars_resolve_like_pyyaml() {
        let v = p(
            "a: yes\nb: 0x1F\nc: 017\nd: 1_000\ne: 1.5\nf: 1e3\ng: ~\nh: '1'\ni: .inf\nj: -7\nk: 1:30\n",
        );
        assert_eq!(v.get("a"), Some(&Value::Bool(true)));
        assert_eq!(v.get("b"), Some(&Value::Int(31)));
        assert_eq!(v.get("c"), Some(&Value::Int(15)));
        assert_eq!(v.get("d"), Some(&Value::Int(1000)));
        assert_eq!(v.get("e"), Some(&Value::Float(1.5)));
        assert_eq!(v.get("f"), Some(&Value::from("1e3")));
        assert_eq!(v.get("g"), Some(&Value::Null));
        assert_eq!(v.get("h"), Some(&Value::from("1")));
        assert_eq!(v.get("i"), Some(&Value::Float(f64::INFINITY)));
        assert_eq!(v.get("j"), Some(&Value::Int(-7)));
        assert_eq!(v.get("k"), Some(&Value::Int(90)));
    }

    #[test]
    fn tags_are_kept() {
        let v = p("key: !!binary aGVsbG8=\nsecret: !sinetstream/encrypted AAEC\ns: !!str 12\n");
        assert_eq!(v.get("key"), Some(&Value::Bytes(b"hello".to_vec())));
        assert_eq!(v.get("secret"), Some(&Value::Encrypted(vec![0, 1, 2])));
        assert_eq!(v.get("s"), Some(&Value::from("12")));
    }

    #[test]
    fn unknown_tag_is_an_error() {
        let e = parse("a: !python/object foo\n").expect_err("rejected");
        assert!(e.message.contains("unsupported tag"), "{e}");
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let v = p("base: &b {x: 1, y: 2}\nsvc:\n  <<: *b\n  y: 3\nlist: [*b, *b]\n");
        let svc = v.get("svc").expect("svc");
        assert_eq!(svc.get("x"), Some(&Value::Int(1)));
        assert_eq!(svc.get("y"), Some(&Value::Int(3)));
        assert!(matches!(v.get("list"), Some(Value::Seq(items)) if items.len() == 2));
    }

    #[test]
    fn billion_laughs_is_capped() {
        let mut doc = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let prev = i - 1;
            doc.push_str(&format!(
                "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
            ));
        }
        let e = parse(&doc).expect_err("capped");
        assert!(e.message.contains("too large"), "{e}");
    }

    #[test]
    fn depth_is_capped() {
        let doc = "[".repeat(200) + &"]".repeat(200);
        let e = parse(&doc).expect_err("capped");
        assert!(e.message.contains("nesting"), "{e}");
    }

    #[test]
    fn syntax_error_has_position() {
        let e = parse("a: [1, 2\nb: 3\n").expect_err("bad yaml");
        assert!(e.line.is_some(), "{e}");
    }

    #[test]
    fn empty_stream_is_none() {
        assert_eq!(parse("").expect("ok"), None);
        assert_eq!(parse("# just a comment\n").expect("ok"), None);
    }
}
