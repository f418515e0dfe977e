//! The reader example in async code: `open_async` gives an `AsyncReader`, a `futures::Stream`.
//!
//! ```sh
//! cargo run -p sinetstream --features mqtt,kafka --example async_reader -- CONFIG SERVICE [TOPIC] [TIMEOUT]
//! ```
//!
//! CONFIG is a SINETStream config file (`-` for the usual search), SERVICE one of its services;
//! TOPIC defaults to the service's `topic`/`topics`, TIMEOUT (seconds without a message before
//! the stream ends) to 10.

use std::process::ExitCode;
use std::time::Duration;

use futures::StreamExt;
use sinetstream::MessageReader;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !(2..=4).contains(&args.len()) {
        eprintln!(
            "usage: async_reader CONFIG SERVICE [TOPIC] [TIMEOUT_SECONDS]   (CONFIG '-' searches)"
        );
        return ExitCode::from(2);
    }
    let timeout = match args.get(3).map(|s| s.parse::<f64>()) {
        None => 10.0,
        Some(Ok(t)) if t > 0.0 => t,
        Some(_) => {
            eprintln!("async_reader: TIMEOUT must be a positive number of seconds");
            return ExitCode::from(2);
        }
    };
    let topic = args.get(2).map(String::as_str).filter(|t| !t.is_empty());
    match run(&args[0], &args[1], topic, Duration::from_secs_f64(timeout)).await {
        Ok(n) => {
            eprintln!("async_reader: {n} message(s)");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("async_reader: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(
    config: &str,
    service: &str,
    topic: Option<&str>,
    timeout: Duration,
) -> sinetstream::Result<usize> {
    let mut b = MessageReader::builder(service).receive_timeout(timeout);
    if config != "-" {
        b = b.config_file(config);
    }
    if let Some(t) = topic {
        b = b.topic(t);
    }
    // Building reads the config (blocking file I/O, done once); opening connects, asynchronously.
    let reader = b.build()?;
    let mut stream = reader.open_async().await?;
    let mut n = 0;
    // The stream yields `Result<Message>` and ends after `timeout` without a message.
    while let Some(msg) = stream.next().await {
        let msg = msg?;
        n += 1;
        let bytes = msg.value.to_bytes().unwrap_or_default();
        println!("[#{n}] {}: {}", msg.topic, String::from_utf8_lossy(&bytes));
    }
    // An explicit close reports errors (dropping also closes, silently).
    stream.close().await?;
    Ok(n)
}
