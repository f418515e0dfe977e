//! The `sinetstream` binary through every listener of the test brokers: mosquitto
//! (`tests/brokers/mosquitto.sh`, plain, password, TLS, mTLS, ws, wss, and MQTT 3.1) and Kafka
//! (`tests/brokers/kafka.sh`, PLAINTEXT, SSL, MTLS, SASL_PLAINTEXT and SASL_SSL with PLAIN and
//! SCRAM), each with a config file written the way SINETStream users write one; plus `-nc`,
//! `-l` with a big file, `ping` and `config check --json`.
//!
//! A broker that cannot be started fails the tests with its output: they never skip.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

use common::{BgReader, bin, code, config_check, config_file, ok, run, show, unique, var};

/// The reader's `--timeout`: how long it waits for a message before giving up.
const READ_TIMEOUT: &str = "90";

/// This binary's own mosquitto (see `common::start_mosquitto`).
fn mosquitto() -> &'static HashMap<String, String> {
    static H: OnceLock<HashMap<String, String>> = OnceLock::new();
    H.get_or_init(|| common::start_mosquitto("mosquitto-cli-listeners"))
}

/// The shared single-node Kafka (`kafka.sh start` is idempotent).
fn kafka() -> &'static HashMap<String, String> {
    static H: OnceLock<HashMap<String, String>> = OnceLock::new();
    H.get_or_init(|| common::start_broker("kafka.sh", &[]))
}

fn mq(key: &str) -> &'static str {
    var(mosquitto(), key)
}

fn kf(key: &str) -> &'static str {
    var(kafka(), key)
}

/// `127.0.0.1:<port of listener KEY>` of mosquitto.
fn mqtt_addr(port_key: &str) -> String {
    common::mqtt_addr(mosquitto(), port_key)
}

/// The reader's flags: one text message, printed raw (so stdout is exactly `TEXT\n`).
const READ_ONE: &[&str] = &["-t", "-r", "-C", "1", "--timeout", READ_TIMEOUT];

/// `sinetstream VERB -c CONFIG -s svc`.
fn svc_cmd(verb: &str, config: &Path) -> Command {
    let mut c = bin();
    c.arg(verb).arg("-c").arg(config).args(["-s", "svc"]);
    c
}

/// Writes `svc:` with `type`, `brokers`, the topic and the `extra` keys (indented lines) to a
/// config file, reads with `read -s svc -c FILE` in the background, writes one message with
/// `write -s svc -c FILE -m TEXT` and checks the reader printed it.
fn config_round_trip(label: &str, kind: &str, brokers: &str, extra: &str) {
    let topic = unique(&format!("cli-{label}"));
    let cfg = config_file(&format!(
        "# {label}\nsvc:\n  type: {kind}\n  brokers: {brokers}\n  topic: {topic}\n{extra}\
         other:\n  type: memory\n  brokers: unused\n"
    ));
    let text = format!("hello through {label} on {topic}");
    let reader = BgReader::start(svc_cmd("read", &cfg).args(READ_ONE));
    let w = ok(run(svc_cmd("write", &cfg).args(["-m", &text])));
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

// Service keys of a config file, as indented lines under the service.

/// `tls:` with these `KEY: VALUE`s.
fn tls(keys: &[(&str, &str)]) -> String {
    let mut s = String::from("  tls:\n");
    for (k, v) in keys {
        s += &format!("    {k}: {v}\n");
    }
    s
}

/// An MQTT user name and password.
fn username_pw_set(user: &str, password: &str) -> String {
    format!("  username_pw_set:\n    username: {user}\n    password: {password}\n")
}

/// A Kafka SASL login; `protocol` is the listener's, SASL_PLAINTEXT or SASL_SSL.
fn kafka_sasl(protocol: &str, mechanism: &str, user: &str, password: &str) -> String {
    format!(
        "  security_protocol: {protocol}\n  sasl_mechanism: {mechanism}\n  \
         sasl_plain_username: {user}\n  sasl_plain_password: {password}\n"
    )
}

/// A service of a config file: `NAME:` with `type`, `brokers` and the `keys`.
fn service_yaml(name: &str, kind: &str, brokers: &str, keys: &str) -> String {
    format!("{name}:\n  type: {kind}\n  brokers: {brokers}\n{keys}")
}

// ---------------------------------------------------------------------------------------------
// MQTT listeners

/// `config_round_trip` through mosquitto's listener on port `port_key`.
fn mqtt_round_trip(label: &str, port_key: &str, extra: &str) {
    config_round_trip(label, "mqtt", &mqtt_addr(port_key), extra);
}

#[test]
fn mqtt_plain() {
    mqtt_round_trip("mqtt-plain", "MQTT_PLAIN_PORT", "");
}

#[test]
fn mqtt_password() {
    mqtt_round_trip(
        "mqtt-password",
        "MQTT_PASSWORD_PORT",
        &username_pw_set(mq("MQTT_USER"), mq("MQTT_PASSWORD")),
    );
}

#[test]
fn mqtt_tls() {
    mqtt_round_trip(
        "mqtt-tls",
        "MQTT_TLS_PORT",
        &tls(&[("ca_certs", mq("MQTT_CA")), ("check_hostname", "true")]),
    );
}

#[test]
fn mqtt_mtls() {
    mqtt_round_trip(
        "mqtt-mtls",
        "MQTT_MTLS_PORT",
        &tls(&[
            ("ca_certs", mq("MQTT_CA")),
            ("certfile", mq("MQTT_CLIENT_CERT")),
            ("keyfile", mq("MQTT_CLIENT_KEY")),
        ]),
    );
}

#[test]
fn mqtt_ws() {
    mqtt_round_trip(
        "mqtt-ws",
        "MQTT_WS_PORT",
        "  transport: websockets\n  ws_set_options:\n    path: /mqtt\n",
    );
}

#[test]
fn mqtt_wss_with_password() {
    mqtt_round_trip(
        "mqtt-wss",
        "MQTT_WSS_PORT",
        &[
            "  transport: websockets\n",
            &tls(&[("ca_certs", mq("MQTT_CA"))]),
            &username_pw_set(mq("MQTT_USER2"), mq("MQTT_PASSWORD2")),
        ]
        .concat(),
    );
}

#[test]
fn mqtt_v31_protocol() {
    mqtt_round_trip(
        "mqtt-v31",
        "MQTT_PLAIN_PORT",
        "  protocol: MQTTv31\n  qos: 1\n",
    );
}

// ---------------------------------------------------------------------------------------------
// Kafka listeners

/// `config_round_trip` through Kafka's listener `listener_key`. The reader starts from the
/// beginning of its (new, unique) topic, so a message written right after the reader subscribed
/// is read whatever the timing of the consumer's first offset lookup.
fn kafka_round_trip(label: &str, listener_key: &str, extra: &str) {
    config_round_trip(
        label,
        "kafka",
        kf(listener_key),
        &format!("  auto_offset_reset: earliest\n{extra}"),
    );
}

#[test]
fn kafka_plaintext() {
    kafka_round_trip("kafka-plaintext", "KAFKA_PLAINTEXT", "");
}

#[test]
fn kafka_ssl() {
    kafka_round_trip(
        "kafka-ssl",
        "KAFKA_SSL",
        &tls(&[("ca_certs", kf("KAFKA_CA")), ("check_hostname", "true")]),
    );
}

#[test]
fn kafka_mtls() {
    kafka_round_trip(
        "kafka-mtls",
        "KAFKA_MTLS",
        &tls(&[
            ("ca_certs", kf("KAFKA_CA")),
            ("certfile", kf("KAFKA_CLIENT_CERT")),
            ("keyfile", kf("KAFKA_CLIENT_KEY")),
        ]),
    );
}

#[test]
fn kafka_sasl_plaintext_plain() {
    kafka_round_trip(
        "kafka-sasl-plain",
        "KAFKA_SASL_PLAINTEXT",
        &kafka_sasl(
            "SASL_PLAINTEXT",
            "PLAIN",
            kf("KAFKA_USER"),
            kf("KAFKA_PASSWORD"),
        ),
    );
}

#[test]
fn kafka_sasl_plaintext_scram_sha_256() {
    kafka_round_trip(
        "kafka-sasl-scram256",
        "KAFKA_SASL_PLAINTEXT",
        &kafka_sasl(
            "SASL_PLAINTEXT",
            "SCRAM-SHA-256",
            kf("KAFKA_USER"),
            kf("KAFKA_PASSWORD"),
        ),
    );
}

#[test]
fn kafka_sasl_ssl_scram_sha_512() {
    kafka_round_trip(
        "kafka-sasl-ssl-scram512",
        "KAFKA_SASL_SSL",
        &[
            tls(&[("ca_certs", kf("KAFKA_CA"))]),
            kafka_sasl(
                "SASL_SSL",
                "SCRAM-SHA-512",
                kf("KAFKA_USER2"),
                kf("KAFKA_PASSWORD2"),
            ),
        ]
        .concat(),
    );
}

#[test]
fn kafka_ten_thousand_lines_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let topic = unique("cli-kafka-10k");
    let cfg = config_file(&service_yaml(
        "svc",
        "kafka",
        kf("KAFKA_PLAINTEXT"),
        &format!("  topic: {topic}\n  auto_offset_reset: earliest\n"),
    ));
    let (file, lines) = common::big_file(dir.path());
    let reader = BgReader::start(svc_cmd("read", &cfg).args([
        "-r",
        "-t",
        "-C",
        "10000",
        "--timeout",
        READ_TIMEOUT,
    ]));
    ok(run(svc_cmd("write", &cfg).args(["-l", "-f"]).arg(&file)));
    common::assert_read_lines(&ok(reader.finish()), &lines);
}

// ---------------------------------------------------------------------------------------------
// -nc: every parameter on the command line

#[test]
fn kafka_no_config_file() {
    let topic = unique("cli-kafka-nc");
    let params = common::nc("kafka", kf("KAFKA_PLAINTEXT"), &topic);
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
    let mut params = common::nc("mqtt", &mqtt_addr("MQTT_TLS_PORT"), &topic);
    params.push(format!("tls.ca_certs={}", mq("MQTT_CA")));
    params.push("tls.check_hostname=true".to_owned());
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

/// `sinetstream ping` with `args`, given time for TLS and SASL handshakes on a slow machine.
fn ping(args: &[&str]) -> Output {
    run(bin().arg("ping").args(args).args(["--timeout", "60"]))
}

#[test]
fn mqtt_ping_tls_ok_and_wrong_password() {
    let o = ping(&[
        "-nc",
        "type=mqtt",
        &format!("brokers={}", mqtt_addr("MQTT_TLS_PORT")),
        &format!("tls.ca_certs={}", mq("MQTT_CA")),
    ]);
    assert_ping_ok(&o, &["type mqtt", "auth anonymous"]);

    let o = ping(&[
        "-nc",
        "type=mqtt",
        &format!("brokers={}", mqtt_addr("MQTT_PASSWORD_PORT")),
        &format!("username_pw_set.username={}", mq("MQTT_USER")),
        "username_pw_set.password=wrong-mqtt-secret",
    ]);
    assert_ping_refused(&o, "wrong-mqtt-secret");
}

#[test]
fn kafka_ping_tls_ok_and_wrong_password() {
    let ca = tls(&[("ca_certs", kf("KAFKA_CA"))]);
    let cfg = config_file(
        &[
            service_yaml("ssl", "kafka", kf("KAFKA_SSL"), &ca),
            service_yaml(
                "sasl-ssl",
                "kafka",
                kf("KAFKA_SASL_SSL"),
                &[
                    ca.clone(),
                    kafka_sasl(
                        "SASL_SSL",
                        "SCRAM-SHA-256",
                        kf("KAFKA_USER"),
                        kf("KAFKA_PASSWORD"),
                    ),
                ]
                .concat(),
            ),
            service_yaml(
                "wrong",
                "kafka",
                kf("KAFKA_SASL_PLAINTEXT"),
                &kafka_sasl(
                    "SASL_PLAINTEXT",
                    "PLAIN",
                    kf("KAFKA_USER"),
                    "wrong-kafka-secret",
                ),
            ),
        ]
        .concat(),
    );
    let cfg_path = cfg.to_str().expect("a UTF-8 temp path");
    let ping_svc = |svc: &str| ping(&["-s", svc, "-c", cfg_path]);
    assert_ping_ok(&ping_svc("ssl"), &["type kafka", "auth anonymous"]);
    assert_ping_ok(
        &ping_svc("sasl-ssl"),
        &["type kafka", "auth SASL SCRAM-SHA-256"],
    );
    assert_ping_refused(&ping_svc("wrong"), "wrong-kafka-secret");
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
    let good = config_file("svc:\n  type: memory\n  brokers: m\n");
    let o = ok(config_check(&["--json"], &good));
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

    let bad = config_file(
        "fine:\n  type: memory\n  brokers: m\n\
         typed:\n  type: memory\n  brokers: m\n  user_data_only: maybe\n\
         certs:\n  type: mqtt\n  brokers: 127.0.0.1:8883\n  tls:\n    ca_certs: /nonexistent/dir/ca.pem\n    \
           keyfile: /nonexistent/client.key\n  \
           username_pw_set: {username: u, password: hunter2-secret}\n\
         pigeon:\n  type: carrier-pigeon\n  brokers: coop\n",
    );
    let o = config_check(&["--json"], &bad);
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
    let o = ok(config_check(&["--json", "-s", "fine"], &bad));
    let v = json_of(&o);
    assert_eq!(v["services"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v["services"][0]["service"], "fine", "{v}");

    // An unknown service: an error of that service.
    let o = config_check(&["--json", "-s", "nosuch"], &bad);
    assert_eq!(code(&o), 2, "{}", show(&o));
    let v = json_of(&o);
    assert!(
        v["services"][0]["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("NoServiceError")),
        "{v}"
    );

    // A file that cannot be loaded: still one JSON object, the problem at the top level.
    let broken = config_file("svc: [\n");
    let dir = tempfile::tempdir().expect("tempdir");
    for file in [broken.to_path_buf(), dir.path().join("missing.yml")] {
        let o = config_check(&["--json"], &file);
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
    let cfg = config_file(
        &[
            service_yaml(
                "tls",
                "mqtt",
                &mqtt_addr("MQTT_TLS_PORT"),
                &tls(&[("ca_certs", mq("MQTT_CA"))]),
            ),
            service_yaml(
                "odd",
                "mqtt",
                &mqtt_addr("MQTT_PLAIN_PORT"),
                "  not_an_mqtt_key: 1\n",
            ),
            service_yaml(
                "refused",
                "mqtt",
                &mqtt_addr("MQTT_PASSWORD_PORT"),
                &username_pw_set(mq("MQTT_USER"), "wrong-check-secret"),
            ),
        ]
        .concat(),
    );
    let o = config_check(&["--json", "--connect", "--timeout", "60"], &cfg);
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
