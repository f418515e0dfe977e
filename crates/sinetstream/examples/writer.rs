//! Publishes each line of stdin as one text message.
//!
//! ```sh
//! echo hello | cargo run -p sinetstream --features mqtt,kafka --example writer -- CONFIG SERVICE [TOPIC]
//! ```
//!
//! CONFIG is a SINETStream config file (`-` for the usual search: `SINETSTREAM_CONFIG_URL`,
//! `./.sinetstream_config.yml`, `~/.config/sinetstream/config.yml`), SERVICE one of its
//! services; TOPIC defaults to the service's `topic`.

use std::io::BufRead;
use std::process::ExitCode;

use sinetstream::{MessageWriter, ValueType};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !(2..=3).contains(&args.len()) {
        eprintln!("usage: writer CONFIG SERVICE [TOPIC]   (CONFIG '-' searches the usual places)");
        eprintln!("       publishes one text message per line of stdin");
        return ExitCode::from(2);
    }
    match run(&args[0], &args[1], args.get(2).map(String::as_str)) {
        Ok(n) => {
            eprintln!("writer: published {n} message(s)");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("writer: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(config: &str, service: &str, topic: Option<&str>) -> sinetstream::Result<usize> {
    // The builder's setters are constructor arguments: they win over the config file.
    let mut b = MessageWriter::builder(service).value_type(ValueType::Text);
    if config != "-" {
        b = b.config_file(config);
    }
    if let Some(t) = topic {
        b = b.topic(t);
    }
    let writer = b.build()?;
    // `open` connects; the writer is closed (and flushed) by `close` or on drop.
    let mut w = writer.open()?;
    let mut n = 0;
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(sinetstream::Error::connection)?;
        w.publish(line)?;
        n += 1;
    }
    // Wait until the broker has acknowledged everything (Kafka queues records).
    w.close()?;
    Ok(n)
}
