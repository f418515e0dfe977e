//! The Python SINETStream 1.10 peer: its venv, and a driver for its message codec.
//!
//! [`venv_python`] runs `tests/python/setup-venv.sh` once per test process; the venv lives in
//! `${CARGO_TARGET_DIR:-target}/python-venv` and is reused across runs. Without Python or
//! network access for the first `pip install`, it panics with the reason: interop tests fail,
//! they never skip.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use sinetstream::config::{Map, Value};

/// The repository root (the parent of `tests/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from(".."), Path::to_path_buf)
}

/// The directory of the Python helper scripts (`tests/python`).
pub fn scripts_dir() -> PathBuf {
    repo_root().join("tests").join("python")
}

/// The Python interpreter of the venv with `sinetstream==1.10.0`, `sinetstream-iostream` and
/// `sinetstream-comp-lz4`, creating the venv on first use.
///
/// # Panics
/// When the venv cannot be created (no `python3`, no network for pip, ...), with the script's
/// output in the message.
pub fn venv_python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let script = scripts_dir().join("setup-venv.sh");
        let out = Command::new("sh")
            .arg(&script)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "the Python SINETStream venv could not be set up ({}): the interop tests need \
             python3 with venv and, the first time, access to PyPI.\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
            out.status
        );
        let python = PathBuf::from(stdout.lines().last().unwrap_or_default().trim());
        assert!(
            python.is_file(),
            "setup-venv.sh did not print the venv's python (got {python:?})\n{stderr}"
        );
        python
    })
}

/// Runs a Python script from `tests/python` with the venv's interpreter, feeding `input` as a
/// JSON document on stdin, and parses its stdout as JSON.
///
/// # Panics
/// When the script fails or prints something else than JSON.
pub fn run_json(script: &str, input: &serde_json::Value) -> serde_json::Value {
    let path = scripts_dir().join(script);
    let mut child = Command::new(venv_python())
        .arg(&path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", path.display()));
    let body = serde_json::to_vec(input).expect("serialize request");
    // The script reads all of stdin before writing, so writing first cannot deadlock.
    {
        let mut stdin = child.stdin.take().expect("piped stdin");
        stdin.write_all(&body).expect("write to the Python peer");
    }
    let out = child.wait_with_output().expect("wait for the Python peer");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{} failed ({}):\n{stderr}",
        path.display(),
        out.status
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{} printed no JSON ({e}):\n{}\n{stderr}",
            path.display(),
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Sends a batch of requests to `wire_peer.py` (see its docstring for the protocol) in one
/// Python process and returns the responses, one per request.
///
/// # Panics
/// When the peer fails or answers with the wrong number of responses.
pub fn wire_peer(requests: Vec<serde_json::Value>) -> Vec<serde_json::Value> {
    let n = requests.len();
    let out = run_json("wire_peer.py", &serde_json::json!({ "requests": requests }));
    let responses = out
        .get("responses")
        .and_then(serde_json::Value::as_array)
        .cloned()
        .unwrap_or_default();
    assert_eq!(responses.len(), n, "wire_peer.py answered {out}");
    responses
}

/// A bytes value in the JSON parameter notation of `wire_peer.py`: `{"$bytes": "<hex>"}`.
pub fn bytes_json(b: &[u8]) -> serde_json::Value {
    serde_json::json!({ "$bytes": hex::encode(b) })
}

/// Converts JSON parameters (with `{"$bytes": hex}` for bytes) to a SINETStream parameter map.
///
/// # Panics
/// When `json` is not an object or a `$bytes` value is not hex.
pub fn params_from_json(json: &serde_json::Value) -> Map {
    match json_to_value(json) {
        Value::Map(m) => m,
        other => panic!("parameters must be a JSON object, got {other:?}"),
    }
}

fn json_to_value(j: &serde_json::Value) -> Value {
    use serde_json::Value as J;
    match j {
        J::Null => Value::Null,
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        J::String(s) => Value::Str(s.clone()),
        J::Array(a) => Value::Seq(a.iter().map(json_to_value).collect()),
        J::Object(o) => {
            if let (1, Some(J::String(h))) = (o.len(), o.get("$bytes")) {
                return Value::Bytes(hex::decode(h).expect("$bytes must be hex"));
            }
            Value::Map(
                o.iter()
                    .map(|(k, v)| (k.clone(), json_to_value(v)))
                    .collect(),
            )
        }
    }
}
