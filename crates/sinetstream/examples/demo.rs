//! Writer → reader round trip through every service named on the command line.
//!
//! `cargo run -p sinetstream --example demo -- [-c CONFIG] SERVICE...`
//! (without `-c`, the usual config search applies).

use sinetstream::{MessageReader, MessageWriter, Payload, Result};

fn main() -> std::process::ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut config = None;
    if args.first().map(String::as_str) == Some("-c") && args.len() >= 2 {
        config = Some(args.remove(1));
        args.remove(0);
    }
    if args.is_empty() {
        eprintln!("usage: demo [-c CONFIG] SERVICE...");
        return std::process::ExitCode::from(2);
    }
    let mut ok = true;
    for service in &args {
        match round_trip(service, config.as_deref()) {
            Ok(()) => println!("{service}: ok"),
            Err(e) => {
                eprintln!("{service}: {e}");
                ok = false;
            }
        }
    }
    if ok {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}

fn round_trip(service: &str, config: Option<&str>) -> Result<()> {
    let topic = format!("sinetstream-demo-{}", std::process::id());
    let mut rb = MessageReader::builder(service)
        .topic(&topic)
        .receive_timeout_ms(3000);
    let mut wb = MessageWriter::builder(service).topic(&topic);
    if let Some(c) = config {
        rb = rb.config_file(c);
        wb = wb.config_file(c);
    }
    let reader = rb.build()?;
    let writer = wb.build()?;
    // Subscribe first: MQTT delivers only what is published after the subscription.
    let mut r = reader.open()?;
    let mut w = writer.open()?;
    for i in 1..=3 {
        let text = format!("Hello {i} from sinetstream-rs via {service}");
        w.publish(Payload::Text(text.clone()))?;
        println!("{service}: wrote  {text:?}");
    }
    w.flush()?;
    for _ in 1..=3 {
        match r.next() {
            Some(m) => {
                let m = m?;
                let text =
                    String::from_utf8_lossy(&m.value.to_bytes().unwrap_or_default()).into_owned();
                println!(
                    "{service}: read   {text:?} (topic {}, t={} µs)",
                    m.topic, m.timestamp_us
                );
            }
            None => {
                return Err(sinetstream::Error::connection(format!(
                    "service {service}: timed out waiting for the messages"
                )));
            }
        }
    }
    Ok(())
}
