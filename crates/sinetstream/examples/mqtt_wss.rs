//! MQTT over secure WebSocket (wss) with a user name and password, configured in code from
//! environment variables. Subscribes, publishes a few messages and reads them back.
//!
//! ```sh
//! MQTT_BROKER=mqtt.example.net:443 MQTT_CA=/path/ca.pem MQTT_USER=user01 MQTT_PASSWORD=... \
//!   cargo run -p sinetstream --features mqtt --example mqtt_wss -- [TOPIC]
//! ```
//!
//! Without `MQTT_BROKER`, `127.0.0.1:$MQTT_WSS_PORT` is used: the variables
//! `tests/brokers/mosquitto.sh start` prints (`MQTT_WSS_PORT`, `MQTT_CA`, `MQTT_USER`,
//! `MQTT_PASSWORD`) work as they are.

use std::process::ExitCode;

use sinetstream::{Map, MessageReader, MessageWriter, ValueType};

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let broker =
        env("MQTT_BROKER").or_else(|| env("MQTT_WSS_PORT").map(|p| format!("127.0.0.1:{p}")));
    let (Some(broker), Some(ca), Some(user), Some(password)) = (
        broker,
        env("MQTT_CA"),
        env("MQTT_USER"),
        env("MQTT_PASSWORD"),
    ) else {
        eprintln!(
            "usage: MQTT_BROKER=host:port MQTT_CA=ca.pem MQTT_USER=u MQTT_PASSWORD=p mqtt_wss [TOPIC]"
        );
        eprintln!("       (without MQTT_BROKER: 127.0.0.1:$MQTT_WSS_PORT)");
        return ExitCode::from(2);
    };
    if args.len() > 1 {
        eprintln!("usage: mqtt_wss [TOPIC]");
        return ExitCode::from(2);
    }
    let topic = args
        .first()
        .cloned()
        .unwrap_or_else(|| format!("sinetstream/example/{}", std::process::id()));

    // The parameters a config file would hold, given in code: no file at all (`no_config`).
    // Nested sections are maps, exactly as in YAML.
    let mut tls = Map::new();
    tls.insert("ca_certs", ca);
    let mut username_pw = Map::new();
    username_pw.insert("username", user);
    username_pw.insert("password", password);
    let mut params = Map::new();
    params.insert("type", "mqtt");
    params.insert("brokers", broker);
    params.insert("transport", "websockets"); // MQTT inside WebSocket frames (path /mqtt)
    params.insert("tls", tls); // ... over TLS: wss://
    params.insert("username_pw_set", username_pw);
    params.insert("qos", 1);

    match run(&params, &topic) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mqtt_wss: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(params: &Map, topic: &str) -> sinetstream::Result<()> {
    // A service name is still needed: it names the client in logs and errors.
    let reader = MessageReader::builder("mqtt-wss")
        .no_config()
        .params(params)
        .topic(topic)
        .value_type(ValueType::Text)
        .receive_timeout_ms(5_000)
        .build()?;
    let writer = MessageWriter::builder("mqtt-wss")
        .no_config()
        .params(params)
        .topic(topic)
        .value_type(ValueType::Text)
        .build()?;

    // Subscribe first: MQTT delivers only what is published after the subscription.
    let r = reader.open()?;
    let mut w = writer.open()?;
    for i in 1..=3 {
        let text = format!("message {i} over wss");
        w.publish(text.as_str())?;
        println!("wrote {text:?}");
    }
    w.close()?;

    let mut got = 0;
    for msg in r {
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
