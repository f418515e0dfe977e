//! The `sinetstream` binary through every listener of the test brokers: mosquitto
//! (`tests/brokers/mosquitto.sh`, plain, password, TLS, mTLS, ws, wss, and MQTT 3.1) and Kafka
//! (`tests/brokers/kafka.sh`, PLAINTEXT, SSL, MTLS, SASL_PLAINTEXT and SASL_SSL with PLAIN and
//! SCRAM), each with a config file written the way SINETStream users write one; plus `-nc`,
//! `-l` with a big file, `ping` and `config check --json`.
//!
//! A broker that cannot be started fails the tests with its output: they never skip.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a reader may take to subscribe (a Kafka group join on a slow, shared machine).
const SUBSCRIBE_WAIT: Duration = Duration::from_secs(120);
/// The reader's `--timeout`: how long it waits for a message before giving up.
const READ_TIMEOUT: &str = "90";

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sinetstream"));
    // No user config or log settings leak in.
    c.env_remove("RUST_LOG")
        .env_remove("SINETSTREAM_CONFIG_URL");
    c
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `bash tests/brokers/SCRIPT ARGS` and parses the `KEY=VALUE` lines it prints; a failed
/// start fails the test with the script's output.
fn start_broker(script: &str, args: &[&Path]) -> HashMap<String, String> {
    let path = repo_root().join("tests/brokers").join(script);
    let out = Command::new("bash")
        .arg(&path)
        .arg("start")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", path.display()));
    assert!(
        out.status.success(),
        "{} start failed ({}):\n{}\n{}",
        path.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().trim_matches('"').to_owned()))
        .collect()
}

/// A value of a harness env; fails the test if absent.
fn var<'a>(env: &'a HashMap<String, String>, key: &str) -> &'a str {
    env.get(key)
        .map(String::as_str)
        .unwrap_or_else(|| panic!("broker env has no {key}: {:?}", env.keys()))
}

/// The mosquitto harness of this test binary, started once per process in a run directory of
/// its own (other test binaries restart theirs).
fn mosquitto() -> &'static HashMap<String, String> {
    static H: OnceLock<HashMap<String, String>> = OnceLock::new();
    H.get_or_init(|| {
        // <target>/debug/sinetstream → <target>/brokers/mosquitto-cli-listeners
        let exe = Path::new(env!("CARGO_BIN_EXE_sinetstream"));
        let target = exe
            .parent()
            .and_then(Path::parent)
            .unwrap_or_else(|| panic!("no target dir above {}", exe.display()));
        let rundir = target.join("brokers").join("mosquitto-cli-listeners");
        start_broker("mosquitto.sh", &[&rundir])
    })
}

/// The shared single-node Kafka (`kafka.sh start` is idempotent).
fn kafka() -> &'static HashMap<String, String> {
    static H: OnceLock<HashMap<String, String>> = OnceLock::new();
    H.get_or_init(|| start_broker("kafka.sh", &[]))
}

fn mq(key: &str) -> &'static str {
    var(mosquitto(), key)
}

fn kf(key: &str) -> &'static str {
    var(kafka(), key)
}

/// `127.0.0.1:<port of listener KEY>` of mosquitto.
fn mqtt_addr(port_key: &str) -> String {
    format!("{}:{}", mq("MQTT_HOST"), mq(port_key))
}

fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("the binary runs")
}

fn show(o: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}\n--- stderr\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn ok(o: Output) -> Output {
    assert!(o.status.success(), "{}", show(&o));
    o
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("writes");
    p
}

/// A `read` running in the background, subscribed (it logged so with -v) before `start`
/// returns. Killed if dropped while running (a failed test leaves no reader behind).
struct BgReader {
    child: Option<Child>,
    stderr: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl BgReader {
    fn start(cmd: &mut Command) -> BgReader {
        let mut child = cmd
            .arg("-v")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("read spawns");
        let err = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut reader = BgReader {
            child: Some(child),
            stderr: rx,
            seen: Vec::new(),
        };
        let deadline = Instant::now() + SUBSCRIBE_WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match reader.stderr.recv_timeout(left) {
                Ok(l) => {
                    let done = l.contains("subscribed to");
                    reader.seen.push(l);
                    if done {
                        return reader;
                    }
                }
                // Timed out, or stderr closed (the reader exited).
                Err(_) => {
                    let out = reader.finish();
                    panic!(
                        "read did not subscribe within {SUBSCRIBE_WAIT:?}:\n{}",
                        show(&out)
                    );
                }
            }
        }
    }

    /// Whether the reader exited within `wait`.
    fn exited_within(&mut self, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        let Some(child) = self.child.as_mut() else {
            return true;
        };
        loop {
            if child.try_wait().ok().flatten().is_some() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for the reader to end; its stderr is everything it logged.
    fn finish(mut self) -> Output {
        let child = self.child.take().expect("a running reader");
        let mut out = child.wait_with_output().expect("read ends");
        let mut lines = std::mem::take(&mut self.seen);
        // The stderr thread ends when the pipe closes, after the process exited.
        while let Ok(l) = self.stderr.recv_timeout(Duration::from_secs(5)) {
            lines.push(l);
        }
        out.stderr = lines.join("\n").into_bytes();
        out
    }
}

impl Drop for BgReader {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The reader's flags: one text message, printed raw (so stdout is exactly `TEXT\n`).
const READ_ONE: &[&str] = &["-t", "-r", "-C", "1", "--timeout", READ_TIMEOUT];

/// Writes `svc:` with `type`, `brokers`, the topic and the `extra` keys (indented lines) to a
/// config file, reads with `read -s svc -c FILE` in the background, writes one message with
/// `write -s svc -c FILE -m TEXT` and checks the reader printed it.
fn config_round_trip(label: &str, kind: &str, brokers: &str, extra: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let topic = unique(&format!("cli-{label}"));
    let cfg = write_file(
        dir.path(),
        "sinetstream_config.yml",
        &format!(
            "# {label}\nsvc:\n  type: {kind}\n  brokers: {brokers}\n  topic: {topic}\n{extra}\
             other:\n  type: memory\n  brokers: unused\n"
        ),
    );
    let text = format!("hello through {label} on {topic}");
    let target = |c: &mut Command| {
        c.arg("-c").arg(&cfg).args(["-s", "svc"]);
    };
    let mut read = bin();
    read.arg("read");
    target(&mut read);
    let reader = BgReader::start(read.args(READ_ONE));
    let mut write = bin();
    write.arg("write");
    target(&mut write);
    let w = ok(run(write.args(["-m", &text])));
    let o = reader.finish();
    assert!(
        o.status.success(),
        "{label}: reader failed\n{}\n--- writer\n{}\n--- config\n{}",
        show(&o),
        show(&w),
        std::fs::read_to_string(&cfg).unwrap_or_default()
    );
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!("{text}\n"),
        "{label}\n{}",
        show(&o)
    );
}

// ---------------------------------------------------------------------------------------------
// MQTT listeners

#[test]
fn mqtt_plain() {
    config_round_trip("mqtt-plain", "mqtt", &mqtt_addr("MQTT_PLAIN_PORT"), "");
}

#[test]
fn mqtt_password() {
    config_round_trip(
        "mqtt-password",
        "mqtt",
        &mqtt_addr("MQTT_PASSWORD_PORT"),
        &format!(
            "  username_pw_set:\n    username: {}\n    password: {}\n",
            mq("MQTT_USER"),
            mq("MQTT_PASSWORD")
        ),
    );
}

#[test]
fn mqtt_tls() {
    config_round_trip(
        "mqtt-tls",
        "mqtt",
        &mqtt_addr("MQTT_TLS_PORT"),
        &format!(
            "  tls:\n    ca_certs: {}\n    check_hostname: true\n",
            mq("MQTT_CA")
        ),
    );
}

#[test]
fn mqtt_mtls() {
    config_round_trip(
        "mqtt-mtls",
        "mqtt",
        &mqtt_addr("MQTT_MTLS_PORT"),
        &format!(
            "  tls:\n    ca_certs: {}\n    certfile: {}\n    keyfile: {}\n",
            mq("MQTT_CA"),
            mq("MQTT_CLIENT_CERT"),
            mq("MQTT_CLIENT_KEY")
        ),
    );
}

#[test]
fn mqtt_ws() {
    config_round_trip(
        "mqtt-ws",
        "mqtt",
        &mqtt_addr("MQTT_WS_PORT"),
        "  transport: websockets\n  ws_set_options:\n    path: /mqtt\n",
    );
}

#[test]
fn mqtt_wss_with_password() {
    config_round_trip(
        "mqtt-wss",
        "mqtt",
        &mqtt_addr("MQTT_WSS_PORT"),
        &format!(
            "  transport: websockets\n  tls:\n    ca_certs: {}\n  \
             username_pw_set:\n    username: {}\n    password: {}\n",
            mq("MQTT_CA"),
            mq("MQTT_USER2"),
            mq("MQTT_PASSWORD2")
        ),
    );
}

#[test]
fn mqtt_v31_protocol() {
    config_round_trip(
        "mqtt-v31",
        "mqtt",
        &mqtt_addr("MQTT_PLAIN_PORT"),
        "  protocol: MQTTv31\n  qos: 1\n",
    );
}

// ---------------------------------------------------------------------------------------------
// Kafka listeners

/// Kafka service keys: the reader starts from the beginning of its (new, unique) topic, so a
/// message written right after the reader subscribed is read whatever the timing of the
/// consumer's first offset lookup.
fn kafka_extra(more: &str) -> String {
    format!("  auto_offset_reset: earliest\n{more}")
}

#[test]
fn kafka_plaintext() {
    config_round_trip(
        "kafka-plaintext",
        "kafka",
        kf("KAFKA_PLAINTEXT"),
        &kafka_extra(""),
    );
}

#[test]
fn kafka_ssl() {
    config_round_trip(
        "kafka-ssl",
        "kafka",
        kf("KAFKA_SSL"),
        &kafka_extra(&format!(
            "  tls:\n    ca_certs: {}\n    check_hostname: true\n",
            kf("KAFKA_CA")
        )),
    );
}

#[test]
fn kafka_mtls() {
    config_round_trip(
        "kafka-mtls",
        "kafka",
        kf("KAFKA_MTLS"),
        &kafka_extra(&format!(
            "  tls:\n    ca_certs: {}\n    certfile: {}\n    keyfile: {}\n",
            kf("KAFKA_CA"),
            kf("KAFKA_CLIENT_CERT"),
            kf("KAFKA_CLIENT_KEY")
        )),
    );
}

#[test]
fn kafka_sasl_plaintext_plain() {
    config_round_trip(
        "kafka-sasl-plain",
        "kafka",
        kf("KAFKA_SASL_PLAINTEXT"),
        &kafka_extra(&format!(
            "  security_protocol: SASL_PLAINTEXT\n  sasl_mechanism: PLAIN\n  \
             sasl_plain_username: {}\n  sasl_plain_password: {}\n",
            kf("KAFKA_USER"),
            kf("KAFKA_PASSWORD")
        )),
    );
}

#[test]
fn kafka_sasl_plaintext_scram_sha_256() {
    config_round_trip(
        "kafka-sasl-scram256",
        "kafka",
        kf("KAFKA_SASL_PLAINTEXT"),
        &kafka_extra(&format!(
            "  security_protocol: SASL_PLAINTEXT\n  sasl_mechanism: SCRAM-SHA-256\n  \
             sasl_plain_username: {}\n  sasl_plain_password: {}\n",
            kf("KAFKA_USER"),
            kf("KAFKA_PASSWORD")
        )),
    );
}

#[test]
fn kafka_sasl_ssl_scram_sha_512() {
    config_round_trip(
        "kafka-sasl-ssl-scram512",
        "kafka",
        kf("KAFKA_SASL_SSL"),
        &kafka_extra(&format!(
            "  security_protocol: SASL_SSL\n  tls:\n    ca_certs: {}\n  \
             sasl_mechanism: SCRAM-SHA-512\n  \
             sasl_plain_username: {}\n  sasl_plain_password: {}\n",
            kf("KAFKA_CA"),
            kf("KAFKA_USER2"),
            kf("KAFKA_PASSWORD2")
        )),
    );
}

#[test]
fn kafka_ten_thousand_lines_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let topic = unique("cli-kafka-10k");
    let cfg = write_file(
        dir.path(),
        "c.yml",
        &format!(
            "svc:\n  type: kafka\n  brokers: {}\n  topic: {topic}\n  auto_offset_reset: earliest\n",
            kf("KAFKA_PLAINTEXT")
        ),
    );
    let lines: Vec<String> = (0..10_000)
        .map(|i| format!("line {i:05} of the big file"))
        .collect();
    let file = write_file(dir.path(), "big.txt", &(lines.join("\n") + "\n"));
    let reader = BgReader::start(bin().arg("read").arg("-c").arg(&cfg).args([
        "-s",
        "svc",
        "-r",
        "-t",
        "-C",
        "10000",
        "--timeout",
        READ_TIMEOUT,
    ]));
    ok(run(bin()
        .arg("write")
        .arg("-c")
        .arg(&cfg)
        .args(["-s", "svc", "-l", "-f"])
        .arg(&file)));
    let o = ok(reader.finish());
    let text = std::str::from_utf8(&o.stdout).expect("utf-8");
    let got: Vec<&str> = text.lines().collect();
    assert_eq!(got.len(), lines.len(), "{}", show(&o));
    if let Some((i, (a, b))) = got
        .iter()
        .zip(&lines)
        .enumerate()
        .find(|(_, (a, b))| a != b)
    {
        panic!("message {i} is {a:?}, expected {b:?}: out of order or changed");
    }
}

// ---------------------------------------------------------------------------------------------
// -nc: every parameter on the command line

#[test]
fn kafka_no_config_file() {
    let topic = unique("cli-kafka-nc");
    let params = [
        "-nc".to_owned(),
        "type=kafka".to_owned(),
        format!("brokers={}", kf("KAFKA_PLAINTEXT")),
        format!("topic={topic}"),
    ];
    // The default auto_offset_reset (latest): the reader may look its start offset up after
    // the first write, so the message is written until the reader (-C 1) has one.
    let mut reader = BgReader::start(bin().arg("read").args(&params).args(READ_ONE));
    let text = format!("no config file, {topic}");
    let mut writes = Vec::new();
    for _ in 0..10 {
        writes.push(ok(run(bin()
            .arg("write")
            .args(&params)
            .args(["-m", &text]))));
        if reader.exited_within(Duration::from_secs(10)) {
            break;
        }
    }
    let o = reader.finish();
    assert!(
        o.status.success(),
        "{} after {} write(s)",
        show(&o),
        writes.len()
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout), format!("{text}\n"));
}

#[test]
fn mqtt_tls_no_config_file() {
    let topic = unique("cli-mqtt-tls-nc");
    let params = [
        "-nc".to_owned(),
        "type=mqtt".to_owned(),
        format!("brokers={}", mqtt_addr("MQTT_TLS_PORT")),
        format!("topic={topic}"),
        format!("tls.ca_certs={}", mq("MQTT_CA")),
        "tls.check_hostname=true".to_owned(),
    ];
    let reader = BgReader::start(bin().arg("read").args(&params).args(READ_ONE));
    let text = format!("no config file over TLS, {topic}");
    ok(run(bin().arg("write").args(&params).args(["-m", &text])));
    let o = ok(reader.finish());
    assert_eq!(String::from_utf8_lossy(&o.stdout), format!("{text}\n"));
}

// ---------------------------------------------------------------------------------------------
// ping

/// `ping` succeeded: one message out, one back.
fn assert_ping_ok(o: &Output, want: &[&str]) {
    assert!(o.status.success(), "{}", show(o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("tls on"), "{out}");
    for w in want {
        assert!(out.contains(w), "no {w:?} in\n{out}");
    }
    assert!(out.contains("1 sent, 1 received, 0% loss"), "{out}");
}

/// `ping` failed with exit 1 and one error line, which does not show the password.
fn assert_ping_refused(o: &Output, password: &str) {
    assert_eq!(code(o), 1, "{}", show(o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{}", show(o));
    assert!(err.starts_with("sinetstream: error: ping: "), "{err}");
    assert!(err.contains("AuthorizationError"), "{err}");
    assert!(!err.contains(password), "{err}");
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains(password),
        "{}",
        show(o)
    );
}

#[test]
fn mqtt_ping_tls_ok_and_wrong_password() {
    let o = run(bin().args([
        "ping",
        "-nc",
        "type=mqtt",
        &format!("brokers={}", mqtt_addr("MQTT_TLS_PORT")),
        &format!("tls.ca_certs={}", mq("MQTT_CA")),
        "--timeout",
        "60",
    ]));
    assert_ping_ok(&o, &["type mqtt", "auth anonymous"]);

    let o = run(bin().args([
        "ping",
        "-nc",
        "type=mqtt",
        &format!("brokers={}", mqtt_addr("MQTT_PASSWORD_PORT")),
        &format!("username_pw_set.username={}", mq("MQTT_USER")),
        "username_pw_set.password=wrong-mqtt-secret",
        "--timeout",
        "60",
    ]));
    assert_ping_refused(&o, "wrong-mqtt-secret");
}

#[test]
fn kafka_ping_tls_ok_and_wrong_password() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_file(
        dir.path(),
        "c.yml",
        &format!(
            "ssl:\n  type: kafka\n  brokers: {}\n  tls:\n    ca_certs: {}\n\
             sasl-ssl:\n  type: kafka\n  brokers: {}\n  security_protocol: SASL_SSL\n  \
               tls:\n    ca_certs: {}\n  sasl_mechanism: SCRAM-SHA-256\n  \
               sasl_plain_username: {}\n  sasl_plain_password: {}\n\
             wrong:\n  type: kafka\n  brokers: {}\n  security_protocol: SASL_PLAINTEXT\n  \
               sasl_mechanism: PLAIN\n  sasl_plain_username: {}\n  \
               sasl_plain_password: wrong-kafka-secret\n",
            kf("KAFKA_SSL"),
            kf("KAFKA_CA"),
            kf("KAFKA_SASL_SSL"),
            kf("KAFKA_CA"),
            kf("KAFKA_USER"),
            kf("KAFKA_PASSWORD"),
            kf("KAFKA_SASL_PLAINTEXT"),
            kf("KAFKA_USER"),
        ),
    );
    let ping = |svc: &str| {
        run(bin()
            .args(["ping", "-s", svc, "--timeout", "60", "-c"])
            .arg(&cfg))
    };
    assert_ping_ok(&ping("ssl"), &["type kafka", "auth anonymous"]);
    assert_ping_ok(
        &ping("sasl-ssl"),
        &["type kafka", "auth SASL SCRAM-SHA-256"],
    );
    assert_ping_refused(&ping("wrong"), "wrong-kafka-secret");
}

// ---------------------------------------------------------------------------------------------
// config check --json

fn json_of(o: &Output) -> serde_json::Value {
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(out.lines().count(), 1, "one JSON line\n{}", show(o));
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}\n{}", show(o)))
}

fn service<'a>(v: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    v["services"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["service"] == name))
        .unwrap_or_else(|| panic!("no service {name} in {v}"))
}

#[test]
fn config_check_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = write_file(
        dir.path(),
        "good.yml",
        "svc:\n  type: memory\n  brokers: m\n",
    );
    let o = ok(run(bin()
        .args(["config", "check", "--json", "-c"])
        .arg(&good)));
    let v = json_of(&o);
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["config"], good.to_string_lossy().as_ref(), "{v}");
    assert_eq!(v["version"], 1, "{v}");
    assert_eq!(v["errors"], serde_json::json!([]), "{v}");
    assert_eq!(
        v["services"],
        serde_json::json!([{
            "service": "svc", "type": "memory", "ok": true, "connected_ms": null,
            "warnings": [], "errors": []
        }]),
        "{v}"
    );

    let bad = write_file(
        dir.path(),
        "bad.yml",
        "fine:\n  type: memory\n  brokers: m\n\
         typed:\n  type: memory\n  brokers: m\n  user_data_only: maybe\n\
         certs:\n  type: mqtt\n  brokers: 127.0.0.1:8883\n  tls:\n    ca_certs: /nonexistent/dir/ca.pem\n    \
           keyfile: /nonexistent/client.key\n  \
           username_pw_set: {username: u, password: hunter2-secret}\n\
         pigeon:\n  type: carrier-pigeon\n  brokers: coop\n",
    );
    let o = run(bin().args(["config", "check", "--json", "-c"]).arg(&bad));
    assert_eq!(code(&o), 2, "{}", show(&o));
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains("hunter2"),
        "{}",
        show(&o)
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("sinetstream: error: config check: 4 problem(s) in 3 of 4"),
        "{err}"
    );
    let v = json_of(&o);
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["services"].as_array().map(Vec::len), Some(4), "{v}");
    assert_eq!(service(&v, "fine")["ok"], true, "{v}");

    let typed = service(&v, "typed");
    assert_eq!(typed["ok"], false, "{v}");
    assert_eq!(typed["type"], "memory", "{v}");
    assert_eq!(typed["errors"], serde_json::json!([]), "{v}");
    let w = &typed["warnings"][0];
    assert_eq!(w["key"], "user_data_only", "{v}");
    assert!(
        w["message"]
            .as_str()
            .is_some_and(|m| m.contains("should be a boolean")),
        "{v}"
    );

    let certs = service(&v, "certs");
    let errors = certs["errors"].as_array().expect("errors is a list");
    let ca = errors
        .iter()
        .find(|e| e["key"] == "tls.ca_certs")
        .unwrap_or_else(|| panic!("no tls.ca_certs error in {v}"));
    assert_eq!(
        ca["message"]
            .as_str()
            .map(|m| m.starts_with("tls.ca_certs: cannot read /nonexistent/dir/ca.pem")),
        Some(true),
        "{v}"
    );
    assert!(
        errors.iter().any(|e| {
            e["key"] == "tls.keyfile"
                && e["message"].as_str().is_some_and(|m| {
                    m.starts_with("tls.keyfile: cannot read /nonexistent/client.key")
                })
        }),
        "{v}"
    );

    let pigeon = service(&v, "pigeon");
    assert_eq!(pigeon["type"], "carrier-pigeon", "{v}");
    assert!(
        pigeon["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("UnsupportedServiceTypeError")),
        "{v}"
    );

    // -s: just that service.
    let o = ok(run(bin()
        .args(["config", "check", "--json", "-s", "fine", "-c"])
        .arg(&bad)));
    let v = json_of(&o);
    assert_eq!(v["services"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v["services"][0]["service"], "fine", "{v}");

    // An unknown service: an error of that service.
    let o = run(bin()
        .args(["config", "check", "--json", "-s", "nosuch", "-c"])
        .arg(&bad));
    assert_eq!(code(&o), 2, "{}", show(&o));
    let v = json_of(&o);
    assert!(
        v["services"][0]["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("NoServiceError")),
        "{v}"
    );

    // A file that cannot be loaded: still one JSON object, the problem at the top level.
    let broken = write_file(dir.path(), "broken.yml", "svc: [\n");
    for file in [broken, dir.path().join("missing.yml")] {
        let o = run(bin().args(["config", "check", "--json", "-c"]).arg(&file));
        assert_eq!(code(&o), 2, "{}", show(&o));
        let v = json_of(&o);
        assert_eq!(v["ok"], false, "{v}");
        assert_eq!(v["config"], serde_json::Value::Null, "{v}");
        assert_eq!(v["services"], serde_json::json!([]), "{v}");
        assert!(v["errors"][0]["message"].as_str().is_some(), "{v}");
    }
}

#[test]
fn config_check_json_connect() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_file(
        dir.path(),
        "c.yml",
        &format!(
            "tls:\n  type: mqtt\n  brokers: {}\n  tls:\n    ca_certs: {}\n\
             odd:\n  type: mqtt\n  brokers: {}\n  not_an_mqtt_key: 1\n\
             refused:\n  type: mqtt\n  brokers: {}\n  \
               username_pw_set:\n    username: {}\n    password: wrong-check-secret\n",
            mqtt_addr("MQTT_TLS_PORT"),
            mq("MQTT_CA"),
            mqtt_addr("MQTT_PLAIN_PORT"),
            mqtt_addr("MQTT_PASSWORD_PORT"),
            mq("MQTT_USER"),
        ),
    );
    let o = run(bin()
        .args([
            "config",
            "check",
            "--json",
            "--connect",
            "--timeout",
            "60",
            "-c",
        ])
        .arg(&cfg));
    assert_eq!(code(&o), 2, "{}", show(&o));
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains("wrong-check-secret"),
        "{}",
        show(&o)
    );
    let v = json_of(&o);

    let tls = service(&v, "tls");
    assert_eq!(tls["ok"], true, "{v}");
    assert!(
        tls["connected_ms"].as_f64().is_some_and(|ms| ms >= 0.0),
        "{v}"
    );

    let odd = service(&v, "odd");
    assert_eq!(odd["ok"], false, "{v}");
    assert!(odd["connected_ms"].as_f64().is_some(), "{v}");
    assert_eq!(odd["warnings"][0]["key"], "not_an_mqtt_key", "{v}");
    assert!(
        odd["warnings"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("has no meaning for MQTT")),
        "{v}"
    );

    let refused = service(&v, "refused");
    assert_eq!(refused["ok"], false, "{v}");
    assert_eq!(refused["connected_ms"], serde_json::Value::Null, "{v}");
    let e = &refused["errors"][0];
    assert_eq!(e["key"], serde_json::Value::Null, "{v}");
    assert!(
        e["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("connect: ") && m.contains("AuthorizationError")),
        "{v}"
    );
}
