//! End-to-end encrypted (AES-256-GCM, key derived from a password) and zstd-compressed
//! messages: the broker only ever sees ciphertext. Works with any service of a config file;
//! the encryption and compression parameters are added in code.
//!
//! ```sh
//! SINETSTREAM_PASSWORD=secret \
//!   cargo run -p sinetstream --features mqtt,kafka --example encrypted -- CONFIG SERVICE [TOPIC]
//! ```
//!
//! CONFIG is a SINETStream config file (`-` for the usual search). Readers of these messages
//! (Python/Java SINETStream too) need the same `crypto` settings and password. The same in
//! YAML:
//!
//! ```yaml
//! service-1:
//!   type: mqtt
//!   brokers: 127.0.0.1:1883
//!   data_compression: true
//!   compression: {algorithm: zstd}
//!   data_encryption: true
//!   crypto: {algorithm: AES, key_length: 256, mode: GCM, password: secret}
//! ```

use std::process::ExitCode;

use sinetstream::{Map, MessageReader, MessageWriter, ValueType};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let password = std::env::var("SINETSTREAM_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty());
    let (Some(password), 2..=3) = (password, args.len()) else {
        eprintln!(
            "usage: SINETSTREAM_PASSWORD=... encrypted CONFIG SERVICE [TOPIC]   (CONFIG '-' searches)"
        );
        return ExitCode::from(2);
    };
    let topic = args
        .get(2)
        .cloned()
        .unwrap_or_else(|| format!("sinetstream-encrypted-{}", std::process::id()));

    let mut crypto = Map::new();
    crypto.insert("algorithm", "AES");
    crypto.insert("key_length", 256);
    crypto.insert("mode", "GCM"); // authenticated: tampered messages are refused
    crypto.insert("password", password); // PBKDF2 (HMAC-SHA256) with a random salt
    let mut compression = Map::new();
    compression.insert("algorithm", "zstd");
    let mut params = Map::new();
    params.insert("data_encryption", true);
    params.insert("crypto", crypto);
    params.insert("data_compression", true); // compressed first, then encrypted
    params.insert("compression", compression);

    match run(&args[0], &args[1], &topic, &params) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("encrypted: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(config: &str, service: &str, topic: &str, params: &Map) -> sinetstream::Result<()> {
    let mut rb = MessageReader::builder(service)
        .params(params)
        .topic(topic)
        .value_type(ValueType::Text)
        .receive_timeout_ms(10_000)
        // Kafka: read the fresh topic from its start (MQTT ignores this key).
        .param("auto_offset_reset", "earliest");
    let mut wb = MessageWriter::builder(service)
        .params(params)
        .topic(topic)
        .value_type(ValueType::Text);
    if config != "-" {
        rb = rb.config_file(config);
        wb = wb.config_file(config);
    }
    let reader = rb.build()?;
    let writer = wb.build()?;

    // Subscribe first: MQTT delivers only what is published after the subscription.
    let r = reader.open()?;
    let mut w = writer.open()?;
    // Repetitive text, so that compression shows.
    let text = "SINETStream encrypts and compresses this line. ".repeat(20);
    w.publish(text.as_str())?;
    w.close()?;
    println!("wrote {} bytes of text", text.len());

    match r.into_iter().next() {
        Some(msg) => {
            let msg = msg?;
            let plain = msg.value.as_text().unwrap_or("");
            println!(
                "read  {} bytes of text; {} bytes on the wire (zstd + AES-256-GCM)",
                plain.len(),
                msg.raw.payload.len()
            );
            if plain != text {
                return Err(sinetstream::Error::connection("the text read back differs"));
            }
            println!("ok: decrypted and decompressed through {topic}");
            Ok(())
        }
        None => Err(sinetstream::Error::connection(
            "no message before the timeout",
        )),
    }
}
