//! The client handle: publish, subscribe, receive, disconnect.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use sinetstream_mqtt_codec::{
    Connect, Protocol, Publish, QoS, SubscribeFilter, SubscribeReturnCode, validate_topic_filter,
    validate_topic_name,
};
use std::sync::Arc;

use tokio::sync::{Semaphore, TryAcquireError, mpsc, oneshot};

use crate::error::MqttError;
use crate::eventloop::{EventLoop, Request, connect_once};
use crate::options::MqttOptions;
use crate::room::QueueRoom;
use crate::state::Outgoing;

/// A connected MQTT client. Cheap to clone; the connection closes when every clone is dropped
/// (or on [`MqttClient::disconnect`]).
#[derive(Debug, Clone)]
pub struct MqttClient {
    requests: mpsc::UnboundedSender<Request>,
    /// Places in the publish queue (`max_queued`), taken by `publish`.
    room: Arc<Semaphore>,
    broker: String,
}

/// Messages received on the client's subscriptions.
#[derive(Debug)]
pub struct Messages {
    rx: mpsc::Receiver<Publish>,
}

impl Messages {
    /// The next message; `None` once the client is closed. Cancellation safe.
    pub async fn recv(&mut self) -> Option<Publish> {
        self.rx.recv().await
    }

    /// A message if one is waiting.
    pub fn try_recv(&mut self) -> Option<Publish> {
        self.rx.try_recv().ok()
    }
}

/// Resolves when the broker has acknowledged a publish (QoS 1: PUBACK, QoS 2: PUBCOMP), or
/// when a QoS 0 publish has been written to the connection.
#[derive(Debug)]
#[must_use = "a publish handle tells whether the message was delivered"]
pub struct PublishHandle {
    rx: oneshot::Receiver<Result<(), MqttError>>,
}

impl Future for PublishHandle {
    type Output = Result<(), MqttError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx)
            .poll(cx)
            .map(|r| r.unwrap_or(Err(MqttError::Closed(None))))
    }
}

impl MqttClient {
    /// Connects to the broker and starts the event loop on the current tokio runtime.
    ///
    /// Fails if the first connection fails (no retry: a wrong address or password should be
    /// reported, not retried forever); later losses are retried as `opts.reconnect` says.
    pub async fn connect(mut opts: MqttOptions) -> Result<(MqttClient, Messages), MqttError> {
        Connect::new(opts.protocol, opts.client_id.clone())
            .check_client_id()
            .map_err(|e| {
                MqttError::InvalidArgument(format!("client id {:?}: {e}", opts.client_id))
            })?;
        if let Some(ws) = opts.transport.websocket.as_mut() {
            if ws.subprotocols.is_empty() {
                ws.subprotocols.push(
                    match opts.protocol {
                        Protocol::V31 => "mqttv3.1",
                        _ => "mqtt",
                    }
                    .into(),
                );
            }
        }
        let est = connect_once(&opts).await?;
        let broker = opts.broker();
        // Unbounded: the queue's bound is `room` (publishes only; the other requests are few).
        let (req_tx, req_rx) = mpsc::unbounded_channel();
        let (room, places) = QueueRoom::new(opts.max_queued);
        let (msg_tx, msg_rx) = mpsc::channel(1024);
        let el = EventLoop::new(opts, req_rx, room, msg_tx);
        tokio::spawn(el.run(est));
        Ok((
            MqttClient {
                requests: req_tx,
                room: places,
                broker,
            },
            Messages { rx: msg_rx },
        ))
    }

    /// The broker address, `host:port`.
    pub fn broker(&self) -> &str {
        &self.broker
    }

    async fn send(&self, r: Request) -> Result<(), MqttError> {
        self.requests.send(r).map_err(|_| MqttError::Closed(None))
    }

    /// Queues a message; waits only while the queue is full. The handle resolves on the ack.
    pub async fn publish(
        &self,
        topic: impl Into<String>,
        qos: QoS,
        retain: bool,
        payload: impl Into<Bytes>,
    ) -> Result<PublishHandle, MqttError> {
        let topic = topic.into();
        validate_topic_name(&topic)
            .map_err(|e| MqttError::InvalidArgument(format!("topic {topic:?}: {e}")))?;
        // A place in the queue: taken for good here, given back by the event loop when the
        // message leaves the queue. Nothing can cancel this between the wait and the send.
        match self.room.try_acquire() {
            Ok(p) => p.forget(),
            Err(TryAcquireError::NoPermits) => match self.room.acquire().await {
                Ok(p) => p.forget(),
                Err(_) => return Err(MqttError::Closed(None)),
            },
            Err(TryAcquireError::Closed) => return Err(MqttError::Closed(None)),
        }
        let (tx, rx) = oneshot::channel();
        let msg = Outgoing {
            topic,
            qos,
            retain,
            payload: payload.into(),
        };
        self.send(Request::Publish(msg, tx)).await?;
        Ok(PublishHandle { rx })
    }

    /// Subscribes and waits for the SUBACK; a refused filter is an error.
    pub async fn subscribe(&self, filters: &[(String, QoS)]) -> Result<Vec<QoS>, MqttError> {
        let mut fs = Vec::with_capacity(filters.len());
        for (f, q) in filters {
            validate_topic_filter(f)
                .map_err(|e| MqttError::InvalidArgument(format!("topic filter {f:?}: {e}")))?;
            fs.push(SubscribeFilter::new(f.clone(), *q));
        }
        let (tx, rx) = oneshot::channel();
        self.send(Request::Subscribe(fs, tx)).await?;
        let codes = rx.await.map_err(|_| MqttError::Closed(None))??;
        let mut granted = Vec::with_capacity(codes.len());
        for ((f, _), code) in filters.iter().zip(codes) {
            match code {
                SubscribeReturnCode::Success(q) => granted.push(q),
                _ => {
                    return Err(MqttError::SubscriptionRefused {
                        broker: self.broker.clone(),
                        filter: f.clone(),
                    });
                }
            }
        }
        Ok(granted)
    }

    /// Unsubscribes and waits for the UNSUBACK.
    pub async fn unsubscribe(&self, filters: &[String]) -> Result<(), MqttError> {
        let (tx, rx) = oneshot::channel();
        self.send(Request::Unsubscribe(filters.to_vec(), tx))
            .await?;
        rx.await.map_err(|_| MqttError::Closed(None))?
    }

    /// Waits until every queued and in-flight message is acknowledged, then sends DISCONNECT.
    /// Callers bound the wait with a timeout of their own.
    pub async fn disconnect(&self) -> Result<(), MqttError> {
        let (tx, rx) = oneshot::channel();
        match self.send(Request::Disconnect(tx)).await {
            Ok(()) => rx.await.unwrap_or(Ok(())),
            // Already closed: nothing left to deliver.
            Err(_) => Ok(()),
        }
    }
}
