//! The `sinetstream` binary, run as users run it: in-process `memory` services where one process
//! is enough, and the real mosquitto of `tests/brokers/mosquitto.sh` for cross-process round
//! trips. A broker that cannot be started fails the tests (they never skip).

mod common;

use std::collections::HashMap;
use std::io::Write as _;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use common::{BgReader, bin, code, config_check, config_file, ok, run, show, unique};

/// This binary's own mosquitto (see `common::start_mosquitto`).
fn mosquitto() -> &'static HashMap<String, String> {
    static H: OnceLock<HashMap<String, String>> = OnceLock::new();
    H.get_or_init(|| common::start_mosquitto("mosquitto-cli"))
}

fn mqtt_broker() -> String {
    common::mqtt_addr(mosquitto(), "MQTT_PLAIN_PORT")
}

fn run_with_stdin(cmd: &mut Command, input: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(input).expect("writes stdin");
    drop(stdin);
    child.wait_with_output().expect("waits")
}

// ---------------------------------------------------------------------------------------------
// Usage errors and config commands (no broker)

#[test]
fn usage_errors_exit_2() {
    let o = run(&mut bin());
    assert_eq!(code(&o), 2, "{}", show(&o));
    let o = run(bin().args(["frobnicate"]));
    assert_eq!(code(&o), 2, "{}", show(&o));
    let o = run(bin().args(["write", "-nc", "type=memory", "no-equal-sign"]));
    assert_eq!(code(&o), 2, "{}", show(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with("sinetstream: error: invalid parameter"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    // -nc with no type: an InvalidConfigError.
    let o = run(bin().args(["write", "-nc", "-m", "x", "brokers=b", "topic=t"]));
    assert_eq!(code(&o), 2, "{}", show(&o));
    // An unknown service.
    let cfg = config_file("svc:\n  type: memory\n  brokers: x\n");
    let o = run(bin()
        .arg("read")
        .arg("-c")
        .arg(&cfg)
        .args(["-s", "nosuch", "--topic", "t"]));
    assert_eq!(code(&o), 2, "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("NoServiceError"),
        "{}",
        show(&o)
    );
    // An unknown type.
    let o = run(bin().args([
        "write",
        "-nc",
        "type=carrier-pigeon",
        "brokers=b",
        "topic=t",
        "-m",
        "x",
    ]));
    assert_eq!(code(&o), 2, "{}", show(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("UnsupportedServiceTypeError"));
    // A missing config file.
    let o = run(bin().args(["write", "-c", "/nonexistent/sinetstream.yml", "-m", "x"]));
    assert_eq!(code(&o), 2, "{}", show(&o));
    // Help is not an error.
    let o = ok(run(bin().args(["read", "--help"])));
    assert!(String::from_utf8_lossy(&o.stdout).contains("--no-config-file"));
}

#[test]
fn read_timeout_before_count_exits_1() {
    let o = run(bin().args([
        "read",
        "-nc",
        "type=memory",
        "brokers=t",
        "topic=t",
        "-C",
        "1",
        "--timeout",
        "0.2",
    ]));
    assert_eq!(code(&o), 1, "{}", show(&o));
    // Without -C, running out of time is the normal end.
    ok(run(bin().args([
        "read",
        "-nc",
        "type=memory",
        "brokers=t",
        "topic=t",
        "--timeout",
        "0.2",
    ])));
}

#[test]
fn config_show_masks_secrets() {
    let cfg = config_file(
        "svc:\n  type: mqtt\n  brokers: 127.0.0.1:1883\n  username_pw_set:\n    username: sinet\n    password: hunter2-secret\n  crypto:\n    key: !!binary AAECAwQFBgcICQoLDA0ODw==\nother:\n  type: memory\n  brokers: m\n",
    );
    let o = ok(run(bin()
        .args(["config", "show", "-s", "svc", "-c"])
        .arg(&cfg)));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(!out.contains("hunter2"), "{out}");
    assert!(!out.contains("AAECAw"), "{out}");
    assert!(out.contains("username: sinet"), "{out}");
    assert!(out.contains("password: \"***\""), "{out}");
    assert!(out.contains("consistency: AT_MOST_ONCE"), "{out}");
    assert!(!out.contains("other:"), "{out}");
    // Command-line parameters merge in; --json is valid JSON.
    let o = ok(run(bin()
        .args(["config", "show", "--json", "-s", "svc", "-c"])
        .arg(&cfg)
        .args(["qos=1", "username_pw_set.password=cli-secret"])));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        !out.contains("cli-secret") && !out.contains("hunter2"),
        "{out}"
    );
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("JSON");
    let svc = &v["services"]["svc"];
    assert_eq!(svc["qos"], 1);
    assert_eq!(svc["username_pw_set"]["username"], "sinet");
    assert_eq!(svc["username_pw_set"]["password"], "***");
    // Without -s: every service.
    let o = ok(run(bin().args(["config", "show", "-c"]).arg(&cfg)));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("svc:") && out.contains("other:"), "{out}");
}

#[test]
fn config_check_reports_problems() {
    let good = config_file("svc:\n  type: memory\n  brokers: m\n");
    let o = ok(config_check(&[], &good));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("svc (memory): ok"),
        "{}",
        show(&o)
    );

    let bad = config_file(
        "fine:\n  type: memory\n  brokers: m\n\
         typed:\n  type: memory\n  brokers: m\n  user_data_only: maybe\n\
         certs:\n  type: mqtt\n  brokers: 127.0.0.1:8883\n  tls:\n    ca_certs: /nonexistent/dir/ca.pem\n  \
           username_pw_set: {username: u, password: hunter2-secret}\n\
         pigeon:\n  type: carrier-pigeon\n  brokers: coop\n",
    );
    let o = config_check(&[], &bad);
    assert_eq!(code(&o), 2, "{}", show(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("fine (memory): ok"), "{out}");
    assert!(
        out.contains("user_data_only") && out.contains("should be a boolean"),
        "{out}"
    );
    assert!(
        out.contains("tls.ca_certs: cannot read /nonexistent/dir/ca.pem"),
        "{out}"
    );
    assert!(out.contains("UnsupportedServiceTypeError"), "{out}");
    assert!(!out.contains("hunter2"), "{out}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("sinetstream: error: config check: 3 problem(s) in 3 of 4"),
        "{err}"
    );

    // Just one service with -s.
    let o = ok(config_check(&["-s", "fine"], &bad));
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains("typed"),
        "{}",
        show(&o)
    );

    // An unparsable file.
    let broken = config_file("svc: [\n");
    let o = config_check(&[], &broken);
    assert_eq!(code(&o), 2, "{}", show(&o));
}

// ---------------------------------------------------------------------------------------------
// In-process `memory` services

#[test]
fn ping_and_bench_over_memory() {
    let o = ok(run(bin().args([
        "ping",
        "-nc",
        "type=memory",
        "brokers=ping",
    ])));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.starts_with("topic=sinetstream_cli_ping_"), "{out}");
    assert!(
        out.contains("send 1\n") && out.contains("        recv 1 time="),
        "{out}"
    );
    assert!(out.contains("1 sent, 1 received, 0% loss"), "{out}");

    let o = ok(run(bin().args([
        "bench",
        "-nc",
        "type=memory",
        "brokers=bench",
        "--writers",
        "2",
        "--readers",
        "2",
        "--count",
        "500",
        "--size",
        "100",
        "--json",
    ])));
    let v: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", show(&o)));
    assert_eq!(v["writers"]["msgs"], 1000, "{v}");
    assert_eq!(v["readers"]["msgs"], 2000, "{v}");
    assert_eq!(v["readers"]["lost"], 0, "{v}");
    assert!(v["readers"]["latency_ms"]["p99"].as_f64().is_some(), "{v}");

    // --duration alone runs for that long; --rate paces the writers.
    let o = ok(run(bin().args([
        "bench",
        "-nc",
        "type=memory",
        "brokers=bench2",
        "--duration",
        "0.5",
        "--rate",
        "100",
        "--size",
        "16",
        "--json",
    ])));
    let v: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", show(&o)));
    let sent = v["writers"]["msgs"].as_u64().unwrap_or(0);
    assert!((40..=60).contains(&sent), "{v}");
    assert_eq!(v["readers"]["msgs"].as_u64(), Some(sent), "{v}");

    // Neither --count nor --duration limit: a usage error.
    let o = run(bin().args(["bench", "-nc", "type=memory", "brokers=b", "--count", "0"]));
    assert_eq!(code(&o), 2, "{}", show(&o));
}

#[test]
fn write_to_memory_and_file_errors() {
    ok(run(bin().args([
        "write",
        "-nc",
        "type=memory",
        "brokers=w",
        "topic=t",
        "-m",
        "hi",
    ])));
    let o = run(bin().args([
        "write",
        "-nc",
        "type=memory",
        "brokers=w",
        "topic=t",
        "-f",
        "/nonexistent/file",
    ]));
    assert_eq!(code(&o), 1, "{}", show(&o));
    let o = run(bin().args([
        "read",
        "-nc",
        "type=memory",
        "brokers=w",
        "topic=t",
        "-f",
        "/nonexistent/dir",
    ]));
    assert_eq!(code(&o), 1, "{}", show(&o));
}

// ---------------------------------------------------------------------------------------------
// MQTT (mosquitto), across processes

fn mqtt_nc(topic: &str) -> Vec<String> {
    common::nc("mqtt", &mqtt_broker(), topic)
}

#[test]
fn mqtt_round_trip_with_config_file() {
    let cfg = config_file(&format!(
        "svc:\n  type: mqtt\n  brokers: {}\nother:\n  type: memory\n  brokers: x\n",
        mqtt_broker()
    ));
    let topic = unique("cli-rt");
    let reader = BgReader::start(bin().arg("read").arg("-c").arg(&cfg).args([
        "-s",
        "svc",
        "--topic",
        &topic,
        "-t",
        "-C",
        "2",
        "--timeout",
        "20",
    ]));
    ok(run_with_stdin(
        bin()
            .arg("write")
            .arg("-c")
            .arg(&cfg)
            .args(["-s", "svc", "--topic", &topic, "-l"]),
        b"hello 1\r\nhello 2\n",
    ));
    let o = ok(reader.finish());
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!("[#1] Received on \"{topic}\"\nhello 1\n[#2] Received on \"{topic}\"\nhello 2\n")
    );
}

#[test]
fn mqtt_round_trip_without_config_raw_bytes() {
    let topic = unique("cli-nc");
    let reader = BgReader::start(bin().arg("read").args(mqtt_nc(&topic)).args([
        "-r",
        "-C",
        "2",
        "--timeout",
        "20",
    ]));
    ok(run(bin()
        .arg("write")
        .args(mqtt_nc(&topic))
        .args(["-m", "hi"])));
    // Bytes from stdin as one message: printed raw, no newline added (Python's behaviour).
    ok(run_with_stdin(
        bin().arg("write").args(mqtt_nc(&topic)),
        b"\x00\xffbin",
    ));
    let o = ok(reader.finish());
    assert_eq!(o.stdout, b"hi\x00\xffbin");
}

#[test]
fn mqtt_ten_thousand_lines_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (file, lines) = common::big_file(dir.path());
    let topic = unique("cli-10k");
    let reader = BgReader::start(bin().arg("read").args(mqtt_nc(&topic)).args([
        "-r",
        "-t",
        "-C",
        "10000",
        "--timeout",
        "30",
    ]));
    ok(run(bin()
        .arg("write")
        .args(mqtt_nc(&topic))
        .arg("-l")
        .arg("-f")
        .arg(&file)));
    common::assert_read_lines(&ok(reader.finish()), &lines);
}

#[test]
fn mqtt_json_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bin_file = dir.path().join("b.bin");
    std::fs::write(&bin_file, [0xffu8, 0x00]).expect("writes");
    let topic = unique("cli-json");
    let reader = BgReader::start(bin().arg("read").args(mqtt_nc(&topic)).args([
        "--json",
        "-C",
        "2",
        "--timeout",
        "20",
    ]));
    ok(run(bin()
        .arg("write")
        .args(mqtt_nc(&topic))
        .args(["-m", "h\u{e9}llo \"q\""])));
    ok(run(bin()
        .arg("write")
        .args(mqtt_nc(&topic))
        .arg("-f")
        .arg(&bin_file)));
    let o = ok(reader.finish());
    let text = String::from_utf8_lossy(&o.stdout);
    let vals: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(vals.len(), 2, "{text}");
    assert_eq!(vals[0]["topic"], topic.as_str());
    assert_eq!(vals[0]["value"], "h\u{e9}llo \"q\"");
    assert!(
        vals[0]["timestamp_us"]
            .as_i64()
            .is_some_and(|t| t > 1_600_000_000_000_000)
    );
    assert_eq!(vals[1]["value"]["base64"], "/wA=");
    assert!(text.starts_with("{\"topic\":"), "{text}");
}

#[test]
fn mqtt_read_into_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let topic = format!("{}/sub dir", unique("cli-dir"));
    let reader = BgReader::start(
        bin()
            .arg("read")
            .args(mqtt_nc(&topic))
            .arg("-f")
            .arg(dir.path())
            .args(["-C", "2", "--timeout", "20"]),
    );
    ok(run(bin()
        .arg("write")
        .args(mqtt_nc(&topic))
        .args(["-m", "first"])));
    ok(run(bin()
        .arg("write")
        .args(mqtt_nc(&topic))
        .args(["-m", "second"])));
    ok(reader.finish());
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir.path())
        .expect("lists")
        .map(|e| {
            let e = e.expect("entry");
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).expect("reads"),
            )
        })
        .collect();
    files.sort_by_key(|(n, _)| n.rsplit('-').next().unwrap_or("").to_owned());
    assert_eq!(files.len(), 2, "{files:?}");
    let quoted = topic.replace('/', "%2F").replace(' ', "%20");
    for ((name, body), (n, want)) in files.iter().zip([(1, "first"), (2, "second")]) {
        let rest = name
            .strip_prefix(&format!("{quoted}-"))
            .unwrap_or_else(|| panic!("{name}"));
        let (rand, num) = rest.split_once('-').unwrap_or_else(|| panic!("{name}"));
        assert_eq!(rand.len(), 16, "{name}");
        assert_eq!(num, n.to_string(), "{name}");
        assert_eq!(body, want.as_bytes());
    }
}

#[test]
fn mqtt_ping_ok_and_closed_port() {
    let o = ok(run(bin().args([
        "ping",
        "-nc",
        "type=mqtt",
        &format!("brokers={}", mqtt_broker()),
        "-C",
        "2",
        "-i",
        "0.1",
    ])));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("type mqtt") && out.contains("tls off") && out.contains("auth anonymous"),
        "{out}"
    );
    assert!(out.contains("        recv 2 time="), "{out}");
    assert!(
        out.contains("2 sent, 2 received, 0% loss, rtt min/avg/max = "),
        "{out}"
    );

    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
        l.local_addr().expect("addr").port()
    };
    let o = run(bin().args([
        "ping",
        "-nc",
        "type=mqtt",
        &format!("brokers=127.0.0.1:{port}"),
        "--timeout",
        "5",
    ]));
    assert_eq!(code(&o), 1, "{}", show(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    let last = err.lines().last().unwrap_or("");
    assert!(
        last.starts_with("sinetstream: error: ping: reader: broker unreachable"),
        "{err}"
    );
}

#[test]
fn mqtt_bench_table_and_json() {
    let broker = format!("brokers={}", mqtt_broker());
    let o = ok(run(bin().args([
        "bench",
        "-nc",
        "type=mqtt",
        &broker,
        "--count",
        "300",
        "--size",
        "256",
        "--consistency",
        "AT_LEAST_ONCE",
    ])));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("msgs/s") && out.contains("MB/s") && out.contains("p99_ms"),
        "{out}"
    );
    let write = out
        .lines()
        .find(|l| l.starts_with("write"))
        .unwrap_or_else(|| panic!("{out}"));
    let read = out
        .lines()
        .find(|l| l.starts_with("read"))
        .unwrap_or_else(|| panic!("{out}"));
    assert_eq!(write.split_whitespace().nth(2), Some("300"), "{out}");
    assert_eq!(read.split_whitespace().nth(2), Some("300"), "{out}");
    assert!(out.contains("client cpu: user "), "{out}");
    assert!(out.contains("max RSS: "), "{out}");

    let o = ok(run(bin().args([
        "bench",
        "-nc",
        "type=mqtt",
        &broker,
        "--writers",
        "2",
        "--readers",
        "1",
        "--count",
        "100",
        "--rate",
        "1000",
        "--size",
        "64",
        "--consistency",
        "AT_LEAST_ONCE",
        "--json",
    ])));
    let v: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", show(&o)));
    assert_eq!(v["type"], "mqtt");
    assert_eq!(v["consistency"], "AT_LEAST_ONCE");
    assert_eq!(v["writers"]["clients"], 2);
    assert_eq!(v["writers"]["msgs"], 200);
    assert_eq!(v["readers"]["msgs"], 200);
    assert_eq!(v["readers"]["errors"], 0);
    assert!(v["readers"]["latency_ms"]["max"].as_f64().is_some(), "{v}");
    assert!(v["cpu"]["user_s"].as_f64().is_some(), "{v}");
    assert!(v["max_rss_bytes"].as_u64().is_some_and(|b| b > 0), "{v}");
    // 100 messages per writer at 1000 msg/s over 2 writers: about 0.2 s of writing.
    assert!(
        v["writers"]["elapsed_s"]
            .as_f64()
            .is_some_and(|t| t >= 0.15),
        "{v}"
    );
}

#[test]
fn mqtt_config_check_connect() {
    let cfg = config_file(&format!(
        "up:\n  type: mqtt\n  brokers: {}\n\
         odd:\n  type: mqtt\n  brokers: {}\n  not_an_mqtt_key: 1\n",
        mqtt_broker(),
        mqtt_broker()
    ));
    // Without --connect the backend's own keys are not looked at.
    ok(config_check(&[], &cfg));
    let o = config_check(&["--connect"], &cfg);
    assert_eq!(code(&o), 2, "{}", show(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("up (mqtt): ok, connected in "), "{out}");
    assert!(
        out.contains("\"not_an_mqtt_key\" has no meaning for MQTT"),
        "{out}"
    );
}
