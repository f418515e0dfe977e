//! A wrongly typed parameter is a logged warning naming the service and key, and is ignored.

use std::sync::{Arc, Mutex};

use sinetstream::{MessageReader, MessageWriter};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn wrong_type_warns_and_proceeds() {
    let out = Captured::default();
    let writer = out.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _g = tracing::subscriber::set_default(subscriber);

    let cfg = "svc:\n  type: memory\n  brokers: warn-ns\n  receive_timeout_ms: soon\n  client_id: [1, 2]\n  tls: 42\n  max_messages: lots\n";
    let r = MessageReader::builder("svc")
        .config_text(cfg)
        .topic("t")
        .build()
        .expect("proceeds");
    assert_eq!(r.receive_timeout(), None, "ignored, default kept");
    assert!(r.client_id().starts_with("sinetstream-"));
    let w = MessageWriter::builder("svc")
        .config_text(cfg)
        .topic("t")
        .build()
        .expect("proceeds");
    let mut h = w.open().expect("open");
    h.publish(b"x").expect("publish");
    let _ = sinetstream::config::CommonTls::from_params(&w.config().common());

    let text = String::from_utf8(out.0.lock().expect("lock").clone()).expect("utf8");
    for key in ["receive_timeout_ms", "client_id", "max_messages", "tls"] {
        assert!(
            text.contains(&format!("\"{key}\"")) && text.contains("WARN"),
            "no warning for {key}: {text}"
        );
    }
    assert!(text.contains("\"svc\""), "{text}");
}
