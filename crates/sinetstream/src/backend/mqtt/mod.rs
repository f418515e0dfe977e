//! The `mqtt` backend (cargo feature `mqtt`), on `sinetstream-mqtt`.
//!
//! Consistency maps to QoS (AT_MOST_ONCE 0, AT_LEAST_ONCE 1, EXACTLY_ONCE 2); an explicit `qos`
//! wins. `publish` returns once the message is queued in the client (it waits only when the
//! in-flight window and queue are full); `flush`/`close` wait for every acknowledgement and
//! report the first failure. Python SINETStream instead waits for each acknowledgement in
//! `publish`: the result on the broker is the same, the throughput is not.

mod params;

use std::collections::VecDeque;
use std::sync::Arc;

use futures::future::BoxFuture;
use sinetstream_mqtt::{Messages, MqttClient, MqttError, PublishHandle, QoS};

use super::{Backend, OpenContext, OutgoingMessage, RawMessage, ReaderBackend, WriterBackend};
use crate::config::Map;
use crate::error::{Error, Result};

/// MQTT details of a received message (`RawMessage::meta`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct MqttMeta {
    /// The QoS it was delivered with.
    pub qos: u8,
    /// Whether it was a retained message.
    pub retain: bool,
    /// Whether the broker marked it as a possible duplicate.
    pub dup: bool,
}

/// The `mqtt` backend.
#[derive(Debug, Clone, Copy, Default)]
pub struct MqttBackend;

pub(crate) fn map_error(service: &str, e: MqttError) -> Error {
    if e.is_authorization() {
        return Error::Authorization(format!("service {service:?}: {e}"));
    }
    match e {
        MqttError::InvalidArgument(m) => {
            Error::InvalidArgument(format!("service {service:?}: {m}"))
        }
        other => Error::connection_with(format!("service {service:?}: {other}"), other),
    }
}

impl Backend for MqttBackend {
    fn open_writer<'a>(
        &'a self,
        ctx: &'a OpenContext<'a>,
    ) -> BoxFuture<'a, Result<Box<dyn WriterBackend>>> {
        Box::pin(async move {
            let p = params::translate(ctx)?;
            let service = ctx.config.service().to_owned();
            if let Some(t) = ctx.topics.first() {
                sinetstream_mqtt_codec_check_name(&service, t)?;
            }
            let (client, _messages) = MqttClient::connect(p.options)
                .await
                .map_err(|e| map_error(&service, e))?;
            Ok(Box::new(MqttWriter {
                client,
                qos: p.qos,
                retain: p.retain,
                pending: VecDeque::new(),
                service,
                close_timeout: p.close_timeout,
                window: 1024,
            }) as Box<dyn WriterBackend>)
        })
    }

    fn open_reader<'a>(
        &'a self,
        ctx: &'a OpenContext<'a>,
    ) -> BoxFuture<'a, Result<Box<dyn ReaderBackend>>> {
        Box::pin(async move {
            let p = params::translate(ctx)?;
            let service = ctx.config.service().to_owned();
            let (client, messages) = MqttClient::connect(p.options)
                .await
                .map_err(|e| map_error(&service, e))?;
            let filters: Vec<(String, QoS)> =
                ctx.topics.iter().map(|t| (t.clone(), p.qos)).collect();
            client
                .subscribe(&filters)
                .await
                .map_err(|e| map_error(&service, e))?;
            Ok(Box::new(MqttReader {
                client: Some(client),
                messages,
            }) as Box<dyn ReaderBackend>)
        })
    }
}

fn sinetstream_mqtt_codec_check_name(service: &str, topic: &str) -> Result<()> {
    if topic.contains(['+', '#']) {
        return Err(Error::InvalidArgument(format!(
            "service {service:?}: MQTT topic {topic:?} for a writer must not contain wildcards"
        )));
    }
    Ok(())
}

struct MqttWriter {
    client: MqttClient,
    qos: QoS,
    retain: bool,
    /// Publishes not yet known to be acknowledged, oldest first.
    pending: VecDeque<PublishHandle>,
    service: String,
    close_timeout: std::time::Duration,
    /// Most handles kept before `publish` waits for the oldest.
    window: usize,
}

impl MqttWriter {
    /// Collects finished acknowledgements from the front, reporting the first failure.
    fn reap(&mut self) -> Result<()> {
        while let Some(h) = self.pending.front_mut() {
            match futures::FutureExt::now_or_never(&mut *h) {
                Some(r) => {
                    self.pending.pop_front();
                    r.map_err(|e| map_error(&self.service, e))?;
                }
                None => break,
            }
        }
        Ok(())
    }

    async fn wait_all(&mut self) -> Result<()> {
        let mut first_err = None;
        while let Some(h) = self.pending.pop_front() {
            if let Err(e) = h.await {
                first_err.get_or_insert(map_error(&self.service, e));
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

impl WriterBackend for MqttWriter {
    fn publish(&mut self, msg: OutgoingMessage) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            self.reap()?;
            if self.pending.len() >= self.window {
                if let Some(h) = self.pending.pop_front() {
                    h.await.map_err(|e| map_error(&self.service, e))?;
                }
            }
            let h = self
                .client
                .publish(&*msg.topic, self.qos, self.retain, msg.payload)
                .await
                .map_err(|e| map_error(&self.service, e))?;
            self.pending.push_back(h);
            Ok(())
        })
    }

    fn flush(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.wait_all())
    }

    fn close(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let timeout = self.close_timeout;
            let service = self.service.clone();
            let n = self.pending.len();
            let flushed = tokio::time::timeout(timeout, self.wait_all()).await;
            let disc = tokio::time::timeout(timeout, self.client.disconnect()).await;
            match flushed {
                Err(_) => Err(Error::connection(format!(
                    "service {service:?}: {n} message(s) not acknowledged within {timeout:?} at close"
                ))),
                Ok(Err(e)) => Err(e),
                Ok(Ok(())) => match disc {
                    Ok(Err(e)) => Err(map_error(&service, e)),
                    _ => Ok(()),
                },
            }
        })
    }

    fn metrics(&self) -> Option<Map> {
        let mut m = Map::new();
        m.insert("pending", self.pending.len() as i64);
        Some(m)
    }
}

struct MqttReader {
    client: Option<MqttClient>,
    messages: Messages,
}

fn raw(p: sinetstream_mqtt::Publish) -> RawMessage {
    let mut raw = RawMessage::new(p.topic, p.payload);
    raw.meta = Some(Arc::new(MqttMeta {
        qos: p.qos.qos().as_u8(),
        retain: p.retain,
        dup: p.dup,
    }));
    raw
}

impl ReaderBackend for MqttReader {
    fn recv(&mut self) -> BoxFuture<'_, Result<Option<RawMessage>>> {
        Box::pin(async move { Ok(self.messages.recv().await.map(raw)) })
    }

    fn try_recv(&mut self) -> Option<Result<Option<RawMessage>>> {
        self.messages.try_recv().map(|p| Ok(Some(raw(p))))
    }

    fn close(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            if let Some(c) = self.client.take() {
                let _ =
                    tokio::time::timeout(std::time::Duration::from_secs(5), c.disconnect()).await;
            }
            Ok(())
        })
    }
}
