//! The real brokers the tests talk to, started by the project's scripts in `tests/brokers/`.
//!
//! Each harness is started once per test process (the scripts are idempotent: a running broker
//! is reused) and described by the `KEY=VALUE` env file it writes. A broker that cannot be
//! started fails the test with the script's output: integration tests never skip.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// A started broker harness: the values of its env file.
#[derive(Debug, Clone)]
pub struct Harness {
    vars: HashMap<String, String>,
}

impl Harness {
    /// The value of `key`; panics (failing the test) with a clear message if absent.
    pub fn get(&self, key: &str) -> &str {
        self.vars
            .get(key)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("broker env has no {key}: {:?}", self.vars.keys()))
    }

    /// `port` as a number.
    pub fn port(&self, key: &str) -> u16 {
        self.get(key)
            .parse()
            .unwrap_or_else(|_| panic!("{key} is not a port: {}", self.get(key)))
    }
}

fn run_script(script: &str, args: &[&str]) -> String {
    let path = repo_root().join("tests/brokers").join(script);
    let out = Command::new("bash")
        .arg(&path)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", path.display()));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        panic!(
            "{} {} failed ({}):\n{}\n{}",
            path.display(),
            args.join(" "),
            out.status,
            stdout,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    stdout
}

fn parse_env(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().trim_matches('"').to_owned()))
        .collect()
}

/// The mosquitto harness (`tests/brokers/mosquitto.sh`), started if needed.
pub fn mosquitto() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| Harness {
        vars: parse_env(&run_script("mosquitto.sh", &["start"])),
    })
}

/// Restarts mosquitto on the same ports, keeping its persistence (for reconnect tests).
pub fn restart_mosquitto() {
    run_script("mosquitto.sh", &["restart"]);
}

/// A topic name no other test (or earlier run) uses.
pub fn unique_topic(prefix: &str) -> String {
    format!("{prefix}-{}-{}", std::process::id(), rand::random::<u64>())
}

/// The single-node Kafka harness (`tests/brokers/kafka.sh start`), started if needed: the
/// PLAINTEXT, SSL, MTLS, SASL_PLAINTEXT and SASL_SSL listeners, the test PKI, SASL users and
/// the Java tools' client property files (see `tests/brokers/kafka/README.md`).
pub fn kafka() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| Harness {
        vars: parse_env(&run_script("kafka.sh", &["start"])),
    })
}
