//! The task that owns the connection: it reads and writes packets, runs the keepalive, feeds
//! [`MqttState`], and reconnects with backoff when the connection is lost.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::BytesMut;
use sinetstream_mqtt_codec::{
    Connect, ConnectReturnCode, LastWill, Packet, Publish, SubscribeFilter, SubscribeReturnCode,
    decode,
};
use sinetstream_net::Stream;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _, WriteHalf};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::backoff::Backoff;
use crate::error::MqttError;
use crate::options::MqttOptions;
use crate::room::QueueRoom;
use crate::state::{Event, MqttState, Outgoing};

/// Messages read from the socket but not yet taken by the application; past this the loop
/// stops reading, so a slow consumer slows the broker down instead of growing memory.
const DELIVER_HIGH_WATER: usize = 1024;
/// Free room kept in the receive buffer before each read.
const READ_CHUNK: usize = 64 * 1024;
/// Requests taken from the channel per loop turn, so that one write carries many packets.
const REQUEST_BATCH: usize = 256;

type Reply<T> = oneshot::Sender<Result<T, MqttError>>;

/// A request from a client handle.
#[derive(Debug)]
pub(crate) enum Request {
    Publish(Outgoing, Reply<()>),
    Subscribe(Vec<SubscribeFilter>, Reply<Vec<SubscribeReturnCode>>),
    Unsubscribe(Vec<String>, Reply<()>),
    /// Deliver everything pending, then DISCONNECT.
    Disconnect(Reply<()>),
}

/// What the state hands back when a request is done.
#[derive(Debug)]
pub(crate) enum Token {
    Publish(Reply<()>),
    Subscribe(Reply<Vec<SubscribeReturnCode>>),
    Unsubscribe(Reply<()>),
}

impl Token {
    fn fail(self, e: MqttError) {
        // The requester may have stopped waiting; nothing to do then.
        match self {
            Token::Publish(r) | Token::Unsubscribe(r) => {
                let _ = r.send(Err(e));
            }
            Token::Subscribe(r) => {
                let _ = r.send(Err(e));
            }
        }
    }
}

/// An established connection: the stream, the session-present flag and any bytes that came
/// after the CONNACK.
pub(crate) struct Established {
    pub(crate) stream: Stream,
    pub(crate) session_present: bool,
    pub(crate) leftover: BytesMut,
}

/// What woke the session loop.
enum Wake {
    Read(std::io::Result<usize>),
    Request(Option<Request>),
    Deliver(Option<mpsc::OwnedPermit<Publish>>),
    Ping,
}

enum End {
    /// Closed on purpose; the loop ends.
    Closed,
    /// Lost; reconnect if allowed.
    Lost(MqttError),
}

pub(crate) struct EventLoop {
    opts: MqttOptions,
    broker: String,
    state: MqttState<Token>,
    requests: mpsc::UnboundedReceiver<Request>,
    /// Free places in the publish queue (`max_queued`); see [`QueueRoom`].
    room: QueueRoom,
    messages: mpsc::Sender<Publish>,
    deliver: VecDeque<Publish>,
    closing: Option<Reply<()>>,
    /// All client handles are gone: close without waiting for acknowledgements.
    abandoned: bool,
    backoff: Backoff,
}

impl EventLoop {
    pub(crate) fn new(
        opts: MqttOptions,
        requests: mpsc::UnboundedReceiver<Request>,
        room: QueueRoom,
        messages: mpsc::Sender<Publish>,
    ) -> Self {
        let reconnect = opts.reconnect.unwrap_or_default();
        EventLoop {
            broker: opts.broker(),
            state: MqttState::new(opts.max_inflight),
            backoff: Backoff::new(reconnect.min_delay, reconnect.max_delay),
            opts,
            requests,
            room,
            messages,
            deliver: VecDeque::new(),
            closing: None,
            abandoned: false,
        }
    }

    pub(crate) async fn run(mut self, first: Established) {
        let mut conn = Some(first);
        loop {
            let est = match conn.take() {
                Some(c) => c,
                None => match self.reconnect().await {
                    Some(c) => c,
                    None => return,
                },
            };
            match self.session(est).await {
                End::Closed => return,
                End::Lost(e) => {
                    self.state.connection_lost();
                    if self.opts.reconnect.is_none() || self.abandoned {
                        self.fail_all(e);
                        return;
                    }
                    tracing::warn!("MQTT {}: {e}; reconnecting", self.broker);
                }
            }
        }
    }

    fn fail_all(&mut self, e: MqttError) {
        for t in self.state.drain_tokens() {
            t.fail(e.clone());
        }
        if let Some(r) = self.closing.take() {
            let _ = r.send(Err(e.clone()));
        }
        // Requests still in the channel learn it when their reply sender drops.
        self.requests.close();
        self.room.close();
    }

    fn window_has_room(&self) -> bool {
        self.state.pending_publishes()
            < usize::from(self.opts.max_inflight).saturating_add(self.opts.max_queued.max(1))
    }

    fn request(&mut self, r: Request, out: &mut Vec<Packet>, events: &mut Vec<Event<Token>>) {
        let res = match r {
            Request::Publish(msg, reply) => {
                self.room.taken(self.requests.is_empty());
                self.state.publish(msg, Token::Publish(reply), out, events);
                Ok(())
            }
            Request::Subscribe(filters, reply) => {
                self.state.subscribe(filters, Token::Subscribe(reply), out)
            }
            Request::Unsubscribe(filters, reply) => {
                self.state
                    .unsubscribe(filters, Token::Unsubscribe(reply), out)
            }
            Request::Disconnect(reply) => {
                if let Some(old) = self.closing.replace(reply) {
                    let _ = old.send(Ok(()));
                }
                Ok(())
            }
        };
        if let Err(e) = res {
            tracing::warn!("MQTT {}: request refused: {e}", self.broker);
        }
    }

    fn events(&mut self, events: &mut Vec<Event<Token>>) {
        for e in events.drain(..) {
            match e {
                // Straight to the application when nothing waits before it: the reader
                // wakes now, not after this turn's writes (acks) and another loop turn.
                Event::Message(p) if self.deliver.is_empty() => {
                    match self.messages.try_send(p) {
                        Ok(()) => {}
                        Err(mpsc::error::TrySendError::Full(p)) => self.deliver.push_back(p),
                        // Nobody reads messages: dropped, as the Deliver branch does.
                        Err(mpsc::error::TrySendError::Closed(_)) => {}
                    }
                }
                Event::Message(p) => self.deliver.push_back(p),
                Event::Published(Token::Publish(r)) => {
                    let _ = r.send(Ok(()));
                }
                Event::Subscribed(Token::Subscribe(r), codes) => {
                    let _ = r.send(Ok(codes));
                }
                Event::Unsubscribed(Token::Unsubscribe(r)) => {
                    let _ = r.send(Ok(()));
                }
                Event::Published(t) | Event::Subscribed(t, _) | Event::Unsubscribed(t) => {
                    t.fail(MqttError::Protocol {
                        broker: self.broker.clone(),
                        detail: "answer of the wrong kind".into(),
                    });
                }
            }
        }
    }

    async fn session(&mut self, est: Established) -> End {
        let (mut rd, mut wr) = tokio::io::split(est.stream);
        let mut rbuf = est.leftover;
        let mut wbuf = BytesMut::with_capacity(64 * 1024);
        let mut out = Vec::new();
        let mut events = Vec::new();
        self.state
            .resume(est.session_present, &mut out, &mut events);
        self.events(&mut events);
        let keep_alive = self.opts.keep_alive;
        // One timer for the session, re-armed only when it fires: resetting it on every write
        // would touch the timer wheel once per packet.
        let mut last_write = Instant::now();
        let ping = tokio::time::sleep_until(last_write + keep_alive);
        tokio::pin!(ping);
        // Packets may already be buffered (sent right after the CONNACK).
        if let Err(e) = self.decode_all(&mut rbuf, &mut out, &mut events) {
            return End::Lost(e);
        }
        self.events(&mut events);
        loop {
            if !out.is_empty() {
                if let Err(e) = self.write(&mut wr, &mut wbuf, &mut out).await {
                    return End::Lost(e);
                }
                last_write = Instant::now();
            }
            if self.abandoned || (self.closing.is_some() && self.state.is_idle()) {
                self.goodbye(&mut wr, &mut wbuf).await;
                return End::Closed;
            }
            let reading = self.deliver.len() < DELIVER_HIGH_WATER;
            let taking = self.closing.is_none() && self.window_has_room();
            let delivering = !self.deliver.is_empty();
            // Without spare room `read_buf` would read a few dozen bytes per system call.
            if rbuf.capacity() - rbuf.len() < READ_CHUNK / 4 {
                rbuf.reserve(READ_CHUNK);
            }
            let wake = tokio::select! {
                r = rd.read_buf(&mut rbuf), if reading => Wake::Read(r),
                r = self.requests.recv(), if taking => Wake::Request(r),
                p = self.messages.clone().reserve_owned(), if delivering => Wake::Deliver(p.ok()),
                _ = &mut ping, if !keep_alive.is_zero() => Wake::Ping,
            };
            match wake {
                Wake::Read(Ok(0)) => return End::Lost(self.lost("closed by the broker")),
                Wake::Read(Err(e)) => return End::Lost(self.lost(e)),
                Wake::Read(Ok(_)) => {
                    if let Err(e) = self.decode_all(&mut rbuf, &mut out, &mut events) {
                        return End::Lost(e);
                    }
                }
                Wake::Request(None) => self.abandoned = true,
                Wake::Request(Some(r)) => {
                    self.request(r, &mut out, &mut events);
                    for _ in 1..REQUEST_BATCH {
                        if !self.window_has_room() {
                            break;
                        }
                        match self.requests.try_recv() {
                            Ok(r) => self.request(r, &mut out, &mut events),
                            Err(_) => break,
                        }
                    }
                }
                Wake::Deliver(Some(permit)) => {
                    if let Some(m) = self.deliver.pop_front() {
                        permit.send(m);
                    }
                    // Hand over all that fits now: one loop turn per message costs more than
                    // the message.
                    while !self.deliver.is_empty() {
                        match self.messages.try_reserve() {
                            Ok(p) => {
                                if let Some(m) = self.deliver.pop_front() {
                                    p.send(m);
                                }
                            }
                            Err(_) => break,
                        }
                    }
                }
                // Nobody reads messages: drop them rather than stall the session.
                Wake::Deliver(None) => self.deliver.clear(),
                Wake::Ping => {
                    let due = last_write + keep_alive;
                    if due > Instant::now() {
                        // Something was written since the timer was armed: no ping needed yet.
                        ping.as_mut().reset(due);
                    } else {
                        match self.state.ping() {
                            Ok(p) => out.push(p),
                            Err(e) => return End::Lost(self.lost(e)),
                        }
                        ping.as_mut().reset(Instant::now() + keep_alive);
                    }
                }
            }
            self.events(&mut events);
        }
    }

    fn lost(&self, detail: impl std::fmt::Display) -> MqttError {
        MqttError::ConnectionLost {
            broker: self.broker.clone(),
            detail: detail.to_string(),
        }
    }

    fn decode_all(
        &mut self,
        rbuf: &mut BytesMut,
        out: &mut Vec<Packet>,
        events: &mut Vec<Event<Token>>,
    ) -> Result<(), MqttError> {
        loop {
            match decode(rbuf, self.opts.max_packet_size, self.opts.protocol) {
                Ok(Some(p)) => {
                    self.state
                        .handle(p, out, events)
                        .map_err(|e| MqttError::Protocol {
                            broker: self.broker.clone(),
                            detail: e.to_string(),
                        })?
                }
                Ok(None) => return Ok(()),
                Err(e) => {
                    return Err(MqttError::Protocol {
                        broker: self.broker.clone(),
                        detail: e.to_string(),
                    });
                }
            }
        }
    }

    async fn write(
        &self,
        wr: &mut WriteHalf<Stream>,
        wbuf: &mut BytesMut,
        out: &mut Vec<Packet>,
    ) -> Result<(), MqttError> {
        wbuf.clear();
        for p in out.drain(..) {
            if let Err(e) = p.encode(wbuf) {
                // Our own packet is unencodable (e.g. a topic the broker would reject): a bug
                // upstream of the state, reported rather than sent.
                tracing::error!(
                    "MQTT {}: cannot encode {:?}: {e}",
                    self.broker,
                    p.packet_type()
                );
            }
        }
        wr.write_all(wbuf).await.map_err(|e| self.lost(e))?;
        wr.flush().await.map_err(|e| self.lost(e))
    }

    async fn goodbye(&mut self, wr: &mut WriteHalf<Stream>, wbuf: &mut BytesMut) {
        let mut out = vec![Packet::Disconnect];
        if let Err(e) = self.write(wr, wbuf, &mut out).await {
            tracing::debug!("MQTT {}: DISCONNECT not sent: {e}", self.broker);
        }
        let _ = wr.shutdown().await;
        let e = MqttError::Closed(Some("disconnected before the broker answered".into()));
        for t in self.state.drain_tokens() {
            t.fail(e.clone());
        }
        if let Some(r) = self.closing.take() {
            let _ = r.send(Ok(()));
        }
    }

    /// Waits and reconnects; keeps taking requests meanwhile. `None` when the loop must end.
    async fn reconnect(&mut self) -> Option<Established> {
        loop {
            let delay = self.backoff.next_delay();
            let sleep = tokio::time::sleep(delay);
            tokio::pin!(sleep);
            loop {
                let taking = self.closing.is_none() && self.window_has_room();
                tokio::select! {
                    _ = &mut sleep => break,
                    r = self.requests.recv(), if taking => match r {
                        None => {
                            self.abandoned = true;
                            self.fail_all(MqttError::Closed(Some("closed while reconnecting".into())));
                            return None;
                        }
                        Some(r) => {
                            let (mut out, mut events) = (Vec::new(), Vec::new());
                            self.request(r, &mut out, &mut events);
                            self.events(&mut events);
                        }
                    },
                }
            }
            if self.closing.is_some() && self.state.is_idle() {
                if let Some(r) = self.closing.take() {
                    let _ = r.send(Ok(()));
                }
                return None;
            }
            match connect_once(&self.opts).await {
                Ok(est) => {
                    tracing::info!(
                        "MQTT {}: reconnected (session present: {})",
                        self.broker,
                        est.session_present
                    );
                    self.backoff.reset();
                    return Some(est);
                }
                Err(e) if e.is_authorization() => {
                    self.fail_all(e);
                    return None;
                }
                Err(e) => tracing::warn!("MQTT {}: reconnect failed: {e}", self.broker),
            }
        }
    }
}

/// Connects, sends CONNECT and waits for an accepting CONNACK.
pub(crate) async fn connect_once(opts: &MqttOptions) -> Result<Established, MqttError> {
    let broker = opts.broker();
    let mut stream = sinetstream_net::connect(&opts.host, opts.port, &opts.transport).await?;
    let mut c = Connect::new(opts.protocol, opts.client_id.clone());
    c.clean_session = opts.clean_session;
    c.keep_alive = u16::try_from(opts.keep_alive.as_secs()).unwrap_or(u16::MAX);
    if let Some(cred) = &opts.credentials {
        c.username = Some(cred.username.clone());
        c.password = cred
            .password
            .clone()
            .map(|p| bytes::Bytes::from(p.into_bytes()));
    }
    c.will = opts.will.as_ref().map(|w| LastWill {
        topic: w.topic.clone(),
        message: w.payload.clone(),
        qos: w.qos,
        retain: w.retain,
    });
    let mut wbuf = BytesMut::new();
    Packet::Connect(c).encode(&mut wbuf).map_err(|e| {
        MqttError::InvalidArgument(format!("cannot build CONNECT for {broker}: {e}"))
    })?;
    let timeout = if opts.transport.connect_timeout.is_zero() {
        Duration::from_secs(30)
    } else {
        opts.transport.connect_timeout
    };
    let lost = |d: String| MqttError::ConnectionLost {
        broker: broker.clone(),
        detail: d,
    };
    let handshake = async {
        stream
            .write_all(&wbuf)
            .await
            .map_err(|e| lost(e.to_string()))?;
        stream.flush().await.map_err(|e| lost(e.to_string()))?;
        let mut rbuf = BytesMut::with_capacity(4096);
        loop {
            match decode(&mut rbuf, opts.max_packet_size, opts.protocol) {
                Ok(Some(Packet::ConnAck(ack))) => {
                    if ack.code != ConnectReturnCode::Accepted {
                        return Err(MqttError::ConnectionRefused {
                            broker: broker.clone(),
                            code: ack.code,
                        });
                    }
                    return Ok((ack.session_present, rbuf));
                }
                Ok(Some(other)) => {
                    return Err(MqttError::Protocol {
                        broker: broker.clone(),
                        detail: format!("expected CONNACK, got {:?}", other.packet_type()),
                    });
                }
                Ok(None) => {}
                Err(e) => {
                    return Err(MqttError::Protocol {
                        broker: broker.clone(),
                        detail: e.to_string(),
                    });
                }
            }
            let n = stream
                .read_buf(&mut rbuf)
                .await
                .map_err(|e| lost(e.to_string()))?;
            if n == 0 {
                return Err(lost("closed before CONNACK".into()));
            }
        }
    };
    let (session_present, leftover) =
        tokio::time::timeout(timeout, handshake)
            .await
            .map_err(|_| {
                MqttError::Timeout(format!("no CONNACK from {broker} within {timeout:?}"))
            })??;
    Ok(Established {
        stream,
        session_present,
        leftover,
    })
}
