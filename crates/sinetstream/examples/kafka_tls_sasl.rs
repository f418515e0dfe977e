//! Kafka over TLS with SCRAM-SHA-256 authentication (SASL_SSL), configured in code: the config
//! text is built from environment variables, so no file holds the password. Writes a few
//! messages to a fresh topic and reads them back.
//!
//! ```sh
//! KAFKA_BROKERS=kafka.example.net:9093 KAFKA_CA=/path/ca.pem \
//! KAFKA_USER=user01 KAFKA_PASSWORD=... \
//!   cargo run -p sinetstream --features kafka --example kafka_tls_sasl -- [TOPIC]
//! ```
//!
//! `KAFKA_BROKERS` falls back to `KAFKA_SASL_SSL`, the variable `tests/brokers/kafka.sh start`
//! prints (with `KAFKA_CA`, `KAFKA_USER`, `KAFKA_PASSWORD`), so its env file works as is.

use std::process::ExitCode;

use sinetstream::{MessageReader, MessageWriter, ValueType};

/// A YAML double-quoted scalar (no injection through a password with `:` or `"`).
fn quoted(s: &str) -> String {
    let mut q = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

fn env(names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(brokers), Some(ca), Some(user), Some(password)) = (
        env(&["KAFKA_BROKERS", "KAFKA_SASL_SSL"]),
        env(&["KAFKA_CA"]),
        env(&["KAFKA_USER"]),
        env(&["KAFKA_PASSWORD"]),
    ) else {
        eprintln!(
            "usage: KAFKA_BROKERS=host:port KAFKA_CA=ca.pem KAFKA_USER=u KAFKA_PASSWORD=p \\"
        );
        eprintln!("         kafka_tls_sasl [TOPIC]");
        eprintln!("       (KAFKA_BROKERS falls back to KAFKA_SASL_SSL)");
        return ExitCode::from(2);
    };
    if args.len() > 1 {
        eprintln!("usage: kafka_tls_sasl [TOPIC]");
        return ExitCode::from(2);
    }
    let topic = args
        .first()
        .cloned()
        .unwrap_or_else(|| format!("sinetstream-example-{}", std::process::id()));

    // The same text could be a config file. The common `tls` section turns TLS on; with a SASL
    // mechanism the protocol becomes SASL_SSL.
    let config = format!(
        "kafka-service:
  type: kafka
  brokers: {brokers}
  tls:
    ca_certs: {ca}
  sasl_mechanism: SCRAM-SHA-256
  sasl_plain_username: {user}
  sasl_plain_password: {password}
  # a fresh topic: read it from the start
  auto_offset_reset: earliest
",
        brokers = quoted(&brokers),
        ca = quoted(&ca),
        user = quoted(&user),
        password = quoted(&password),
    );
    match run(&config, &topic) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kafka_tls_sasl: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(config: &str, topic: &str) -> sinetstream::Result<()> {
    let writer = MessageWriter::builder("kafka-service")
        .config_text(config)
        .topic(topic)
        .value_type(ValueType::Text)
        .build()?;
    let reader = MessageReader::builder("kafka-service")
        .config_text(config)
        .topic(topic)
        .value_type(ValueType::Text)
        .receive_timeout_ms(10_000)
        .build()?;

    let mut w = writer.open()?;
    for i in 1..=3 {
        let text = format!("message {i} over SASL_SSL");
        w.publish(text.as_str())?;
        println!("wrote {text:?}");
    }
    // Kafka writers queue records: close waits for every acknowledgement.
    w.close()?;

    let mut got = 0;
    for msg in reader.open()? {
        let msg = msg?;
        println!(
            "read  {:?} from {}",
            msg.value.as_text().unwrap_or(""),
            msg.topic
        );
        got += 1;
        if got == 3 {
            break;
        }
    }
    if got < 3 {
        return Err(sinetstream::Error::connection(format!(
            "read {got} of 3 messages before the timeout"
        )));
    }
    println!("ok: 3 messages through {topic}");
    Ok(())
}
