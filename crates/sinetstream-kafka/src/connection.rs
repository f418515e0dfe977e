//! Opening a ready-to-use broker connection: transport (TCP or TLS through
//! sinetstream-net), API version negotiation, then SASL.

use std::sync::Arc;

use crate::config::ClientConfig;
use crate::error::{KafkaError, Result};
use crate::messenger::Messenger;
use crate::sasl;

/// Connects to `host:port` and prepares the connection for requests.
pub(crate) async fn open(host: &str, port: u16, cfg: &ClientConfig) -> Result<Arc<Messenger>> {
    let addr = authority(host, port);
    let stream = sinetstream_net::connect(host, port, &cfg.connect_options())
        .await
        .map_err(|e| KafkaError::from_net(&addr, e))?;
    let m = Arc::new(Messenger::new(
        stream,
        &addr,
        Some(&cfg.client_id),
        cfg.max_frame_bytes,
        cfg.request_timeout,
    ));
    m.negotiate().await?;
    if let Some(s) = &cfg.sasl {
        sasl::authenticate(&m, s).await?;
    }
    tracing::debug!(broker = %addr, "connected");
    Ok(m)
}

/// `host:port`, bracketing IPv6 literals.
pub(crate) fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}
