//! Prints the messages of a service until none arrives for TIMEOUT seconds.
//!
//! ```sh
//! cargo run -p sinetstream --features mqtt,kafka --example reader -- CONFIG SERVICE [TOPIC] [TIMEOUT]
//! ```
//!
//! CONFIG is a SINETStream config file (`-` for the usual search), SERVICE one of its services;
//! TOPIC defaults to the service's `topic`/`topics`, TIMEOUT to 10 seconds. Text values are
//! printed as they are, bytes as UTF-8 (lossy).

use std::process::ExitCode;
use std::time::Duration;

use sinetstream::{MessageReader, Payload};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !(2..=4).contains(&args.len()) {
        eprintln!("usage: reader CONFIG SERVICE [TOPIC] [TIMEOUT_SECONDS]   (CONFIG '-' searches)");
        return ExitCode::from(2);
    }
    let timeout = match args.get(3).map(|s| s.parse::<f64>()) {
        None => 10.0,
        Some(Ok(t)) if t > 0.0 => t,
        Some(_) => {
            eprintln!("reader: TIMEOUT must be a positive number of seconds");
            return ExitCode::from(2);
        }
    };
    let topic = args.get(2).map(String::as_str).filter(|t| !t.is_empty());
    match run(&args[0], &args[1], topic, Duration::from_secs_f64(timeout)) {
        Ok(n) => {
            eprintln!("reader: {n} message(s), then {timeout} s without any");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("reader: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(
    config: &str,
    service: &str,
    topic: Option<&str>,
    timeout: Duration,
) -> sinetstream::Result<usize> {
    // Without a receive timeout the iterator below would wait for messages forever.
    let mut b = MessageReader::builder(service).receive_timeout(timeout);
    if config != "-" {
        b = b.config_file(config);
    }
    if let Some(t) = topic {
        b = b.topic(t);
    }
    let reader = b.build()?;
    // `open` subscribes (a Kafka reader also waits for its group assignment). MQTT delivers only
    // what is published after this point (unless retained).
    let r = reader.open()?;
    let mut n = 0;
    // A `Reader` is an iterator of `Result<Message>`; it ends at the receive timeout.
    for msg in r {
        let msg = msg?;
        n += 1;
        let value = match &msg.value {
            Payload::Text(s) => s.clone(),
            other => String::from_utf8_lossy(&other.to_bytes().unwrap_or_default()).into_owned(),
        };
        println!("[#{n}] {} (t={:.6}): {value}", msg.topic, msg.timestamp());
    }
    Ok(n)
}
