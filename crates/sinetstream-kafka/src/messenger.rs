//! One broker connection: many requests in flight, responses routed by
//! correlation id.
//!
//! Two tasks own the two halves of the stream. The writer receives whole
//! encoded frames over a channel, so a request future dropped at any point
//! either queued its frame entirely or not at all: no half frame can reach
//! the socket and desynchronise later requests. The reader matches each
//! response to its waiter. Any framing or I/O error poisons the messenger:
//! every waiter fails with that error, as does every later request, and
//! the owner ([`crate::cluster`]) opens a new connection.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::{Buf, Bytes};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::api::{Api, CLIENT_APIS, api_name};
use crate::error::{ErrorCode, KafkaError, Result};
use crate::frame::{FrameError, finish_frame, read_frame, start_frame};

/// How many encoded frames may wait for the writer before `request` waits.
const WRITE_QUEUE: usize = 256;
/// Bytes written before a flush even if more frames are queued.
const FLUSH_EVERY: usize = 256 * 1024;

type Waiter = oneshot::Sender<Result<Bytes>>;

enum State {
    Active(HashMap<i32, Waiter>),
    Poisoned(KafkaError),
}

struct Shared {
    addr: String,
    state: Mutex<State>,
    shutdown: watch::Sender<bool>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the map inconsistent
        // (every operation is a single insert/remove), so poisoning is ignored.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Fails every waiter and all future requests with `err`, and stops both
    /// tasks, which closes the socket. The first error wins.
    fn poison(&self, err: KafkaError) {
        let waiters = {
            let mut st = self.lock();
            match &mut *st {
                State::Poisoned(_) => return,
                State::Active(map) => {
                    let map = std::mem::take(map);
                    *st = State::Poisoned(err.clone());
                    map
                }
            }
        };
        tracing::debug!(broker = %self.addr, error = %err, "connection poisoned");
        for (_, w) in waiters {
            let _ = w.send(Err(err.clone()));
        }
        self.shutdown.send_replace(true);
    }

    fn deliver(&self, correlation_id: i32, frame: Bytes) {
        let waiter = match &mut *self.lock() {
            State::Active(map) => map.remove(&correlation_id),
            State::Poisoned(_) => None,
        };
        match waiter {
            // The requester may have given up (dropped); nothing to do then.
            Some(w) => {
                let _ = w.send(Ok(frame));
            }
            None => {
                tracing::debug!(broker = %self.addr, correlation_id, "response nobody waits for");
            }
        }
    }
}

/// Removes a waiter whose request future was dropped before its response.
struct Registration {
    shared: Arc<Shared>,
    correlation_id: i32,
    armed: bool,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if self.armed {
            if let State::Active(map) = &mut *self.shared.lock() {
                map.remove(&self.correlation_id);
            }
        }
    }
}

/// A request whose waiter is registered: its frame (unless already queued)
/// and where its response will come.
struct Pending {
    unsent: Option<WriteJob>,
    rx: oneshot::Receiver<Result<Bytes>>,
    registration: Registration,
}

struct WriteJob {
    frame: Bytes,
    /// Told once the frame has been flushed to the socket.
    written: Option<oneshot::Sender<()>>,
}

/// What the writer takes from the request queue.
enum Job {
    Frame(WriteJob),
    /// From here on only the exclusive lane is written, until it says
    /// [`Exclusive::End`]; later frames of this queue wait (SASL
    /// re-authentication: the broker takes nothing else between
    /// SaslHandshake and the last SaslAuthenticate).
    BeginExclusive,
}

/// What the writer takes from the exclusive lane.
enum Exclusive {
    Frame(WriteJob),
    End,
}

/// The versions negotiated with one broker.
#[derive(Debug, Clone, Default)]
pub(crate) struct Versions {
    /// API key → version to use.
    chosen: HashMap<i16, i16>,
    /// API key → broker's (min, max).
    broker: HashMap<i16, (i16, i16)>,
}

impl Versions {
    /// Intersects the broker's ranges with the client's, per API.
    pub(crate) fn negotiate(broker: impl IntoIterator<Item = (i16, i16, i16)>) -> Versions {
        let broker: HashMap<i16, (i16, i16)> = broker
            .into_iter()
            .map(|(k, lo, hi)| (k, (lo, hi)))
            .collect();
        let mut chosen = HashMap::new();
        for &(key, cmin, cmax) in CLIENT_APIS {
            if let Some(&(bmin, bmax)) = broker.get(&(key as i16)) {
                let hi = cmax.min(bmax);
                if hi >= cmin.max(bmin) {
                    chosen.insert(key as i16, hi);
                }
            }
        }
        Versions { chosen, broker }
    }

    /// The version to use for `key`, or why there is none.
    pub(crate) fn get(&self, key: ApiKey, addr: &str) -> Result<i16> {
        if let Some(v) = self.chosen.get(&(key as i16)) {
            return Ok(*v);
        }
        let client = CLIENT_APIS
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, lo, hi)| format!("client {lo}..={hi}"))
            .unwrap_or_else(|| "not implemented by the client".to_owned());
        let broker = match self.broker.get(&(key as i16)) {
            Some((lo, hi)) => format!("broker {lo}..={hi}"),
            None => "not offered by the broker".to_owned(),
        };
        Err(KafkaError::UnsupportedVersion {
            broker: addr.to_owned(),
            api: api_name(key),
            detail: format!("{broker}, {client}"),
        })
    }

    /// (API, chosen version) pairs, for diagnostics.
    pub(crate) fn chosen(&self) -> Vec<(ApiKey, i16)> {
        let mut v: Vec<(ApiKey, i16)> = CLIENT_APIS
            .iter()
            .filter_map(|(k, _, _)| self.chosen.get(&(*k as i16)).map(|v| (*k, *v)))
            .collect();
        v.sort_by_key(|(k, _)| *k as i16);
        v
    }
}

/// A connection to one broker. See the module docs.
pub(crate) struct Messenger {
    shared: Arc<Shared>,
    client_id: Option<StrBytes>,
    next_correlation_id: AtomicI32,
    frames: mpsc::Sender<Job>,
    exclusive: mpsc::UnboundedSender<Exclusive>,
    /// One re-authentication at a time.
    reauth: tokio::sync::Mutex<()>,
    versions: OnceLock<Versions>,
    request_timeout: Duration,
    tasks: [JoinHandle<()>; 2],
    /// Re-authenticates before the broker's SASL session expires (KIP-368).
    reauth_task: OnceLock<JoinHandle<()>>,
}

impl std::fmt::Debug for Messenger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Messenger")
            .field("addr", &self.shared.addr)
            .field("poisoned", &self.is_poisoned())
            .finish_non_exhaustive()
    }
}

impl Drop for Messenger {
    fn drop(&mut self) {
        self.shared.shutdown.send_replace(true);
        for t in &self.tasks {
            t.abort();
        }
        if let Some(t) = self.reauth_task.get() {
            t.abort();
        }
    }
}

impl Messenger {
    /// Wraps a connected stream; spawns the reader and writer tasks (so it
    /// must be called within a Tokio runtime).
    pub(crate) fn new<S>(
        stream: S,
        addr: &str,
        client_id: Option<&str>,
        max_frame_bytes: usize,
        request_timeout: Duration,
    ) -> Messenger
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (rd, wr) = tokio::io::split(stream);
        let (shutdown, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            addr: addr.to_owned(),
            state: Mutex::new(State::Active(HashMap::new())),
            shutdown,
        });
        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        let (exclusive, exclusive_rx) = mpsc::unbounded_channel();
        // Responses to pipelined requests arrive back to back: a buffer takes several (length
        // and body) per read; a frame larger than the buffer bypasses it (tokio's BufReader
        // reads straight into the frame when its buffer is empty).
        let rd = BufReader::with_capacity(64 * 1024, rd);
        let reader = tokio::spawn(read_loop(rd, Arc::clone(&shared), max_frame_bytes));
        let writer = tokio::spawn(write_loop(
            BufWriter::with_capacity(64 * 1024, wr),
            rx,
            exclusive_rx,
            Arc::clone(&shared),
        ));
        Messenger {
            shared,
            client_id: client_id.map(|c| StrBytes::from_string(c.to_owned())),
            next_correlation_id: AtomicI32::new(1),
            frames: tx,
            exclusive,
            reauth: tokio::sync::Mutex::new(()),
            versions: OnceLock::new(),
            request_timeout,
            tasks: [reader, writer],
            reauth_task: OnceLock::new(),
        }
    }

    /// `host:port` of the broker.
    pub(crate) fn addr(&self) -> &str {
        &self.shared.addr
    }

    /// Whether the connection is dead.
    pub(crate) fn is_poisoned(&self) -> bool {
        matches!(&*self.shared.lock(), State::Poisoned(_))
    }

    /// Kills the connection: pending and later requests fail with `err`.
    pub(crate) fn poison(&self, err: KafkaError) {
        self.shared.poison(err);
    }

    /// The negotiated versions (empty before [`Messenger::negotiate`]).
    pub(crate) fn versions(&self) -> Option<&Versions> {
        self.versions.get()
    }

    /// The negotiated version of `key`.
    pub(crate) fn version_for(&self, key: ApiKey) -> Result<i16> {
        match self.versions.get() {
            Some(v) => v.get(key, self.addr()),
            None => Err(KafkaError::protocol(
                self.addr(),
                "API versions were not negotiated",
            )),
        }
    }

    /// Asks the broker which API versions it speaks and picks, for each API,
    /// the highest version both sides implement.
    pub(crate) async fn negotiate(&self) -> Result<()> {
        let req = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("sinetstream-rs"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let mut version = ApiVersionsRequest::VERSIONS.1;
        // At most two rounds: a broker that does not know our version answers
        // in v0 with UNSUPPORTED_VERSION and the range it does know.
        for _ in 0..2 {
            let raw = self
                .request_raw::<ApiVersionsRequest>(&req, version, self.request_timeout)
                .await?;
            let resp = decode_api_versions(raw, version, self.addr())?;
            match ErrorCode::from_code(resp.error_code) {
                None => {
                    let v = Versions::negotiate(
                        resp.api_keys
                            .iter()
                            .map(|k| (k.api_key, k.min_version, k.max_version)),
                    );
                    tracing::debug!(broker = %self.addr(), versions = ?v.chosen(), "API versions negotiated");
                    let _ = self.versions.set(v);
                    return Ok(());
                }
                Some(ErrorCode::UnsupportedVersion) => {
                    let theirs = resp
                        .api_keys
                        .iter()
                        .find(|k| k.api_key == ApiKey::ApiVersions as i16)
                        .map(|k| k.max_version)
                        .unwrap_or(0);
                    let next = theirs.min(ApiVersionsRequest::VERSIONS.1);
                    if next >= version || next < ApiVersionsRequest::VERSIONS.0 {
                        break;
                    }
                    version = next;
                }
                Some(code) => {
                    return Err(KafkaError::broker(
                        code,
                        format!("ApiVersions on {}", self.addr()),
                        None,
                    ));
                }
            }
        }
        Err(KafkaError::UnsupportedVersion {
            broker: self.addr().to_owned(),
            api: "ApiVersions".to_owned(),
            detail: "the broker refused every version offered".to_owned(),
        })
    }

    /// Sends `req` at the negotiated version and waits for the response.
    pub(crate) async fn request<A: Api>(&self, req: &A) -> Result<A::Response> {
        let version = self.version_for(A::KEY)?;
        self.request_at(req, version).await
    }

    /// Sends `req` at `version` and waits for the response.
    pub(crate) async fn request_at<A: Api>(&self, req: &A, version: i16) -> Result<A::Response> {
        let raw = self.request_raw(req, version, self.request_timeout).await?;
        decode_response::<A>(raw, version, self.addr())
    }

    /// Sends `req` at the negotiated version, allowing `extra` time beyond
    /// the request timeout: for requests the broker deliberately holds
    /// (JoinGroup waits for the whole group, up to the rebalance timeout).
    pub(crate) async fn request_with_extra_time<A: Api>(
        &self,
        req: &A,
        extra: Duration,
    ) -> Result<A::Response> {
        let version = self.version_for(A::KEY)?;
        let timeout = self.request_timeout.saturating_add(extra);
        let raw = self.request_raw(req, version, timeout).await?;
        decode_response::<A>(raw, version, self.addr())
    }

    /// Sends a request the broker will not answer (Produce with acks=0);
    /// returns once it has been written to the socket.
    pub(crate) async fn send_oneway<A: Api>(&self, req: &A) -> Result<()> {
        let version = self.version_for(A::KEY)?;
        let correlation_id = self.next_correlation_id.fetch_add(1, Ordering::Relaxed);
        let frame = self.encode(req, version, correlation_id)?;
        self.check_alive()?;
        let (tx, rx) = oneshot::channel();
        let work = async {
            self.frames
                .send(Job::Frame(WriteJob {
                    frame,
                    written: Some(tx),
                }))
                .await
                .map_err(|_| self.dead_error())?;
            rx.await.map_err(|_| self.dead_error())
        };
        self.with_timeout(A::KEY, self.request_timeout, work).await
    }

    /// Sends a request and returns the response frame (correlation id and
    /// header included).
    async fn request_raw<A: Api>(&self, req: &A, version: i16, timeout: Duration) -> Result<Bytes> {
        let pending = self.register(req, version)?;
        self.response(A::KEY, timeout, pending).await
    }

    /// Runs `exchange` with the connection to itself: frames queued before
    /// are written first, frames queued meanwhile wait, and the exchange's
    /// own requests ([`Messenger::request_exclusive`]) go out alone. For
    /// SASL re-authentication on a live connection (KIP-368): between
    /// SaslHandshake and the last SaslAuthenticate the broker accepts no
    /// other request. Responses to earlier requests still arrive and are
    /// routed as usual.
    pub(crate) async fn exclusively<T>(
        &self,
        exchange: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let _one = self.reauth.lock().await;
        self.frames
            .send(Job::BeginExclusive)
            .await
            .map_err(|_| self.dead_error())?;
        // Ends the exclusive stretch however the exchange ends (error,
        // timeout, or this future dropped): the queue must not stay held.
        struct End<'a>(&'a mpsc::UnboundedSender<Exclusive>);
        impl Drop for End<'_> {
            fn drop(&mut self) {
                let _ = self.0.send(Exclusive::End);
            }
        }
        let _end = End(&self.exclusive);
        exchange.await
    }

    /// [`Messenger::request`] through the exclusive lane; only within
    /// [`Messenger::exclusively`].
    pub(crate) async fn request_exclusive<A: Api>(&self, req: &A) -> Result<A::Response> {
        let version = self.version_for(A::KEY)?;
        self.request_exclusive_at(req, version).await
    }

    async fn request_exclusive_at<A: Api>(&self, req: &A, version: i16) -> Result<A::Response> {
        let mut pending = self.register(req, version)?;
        if let Some(job) = pending.unsent.take() {
            self.exclusive
                .send(Exclusive::Frame(job))
                .map_err(|_| self.dead_error())?;
        }
        let raw = self.response(A::KEY, self.request_timeout, pending).await?;
        decode_response::<A>(raw, version, self.addr())
    }

    /// Sets the task that keeps the SASL session alive (once).
    pub(crate) fn set_reauth_task(&self, task: JoinHandle<()>) {
        if let Err(t) = self.reauth_task.set(task) {
            t.abort();
        }
    }

    /// Queues `req` now, without waiting, and returns the future of its
    /// response, which owns everything it needs.
    ///
    /// For requests sent ahead of need from synchronous code (the consumer
    /// fetches while the application still works through buffered records):
    /// the frame is on its way before the future is first polled, and the
    /// response reaches its awaiter straight from the reader task, with no
    /// task in between. Should the write queue be full, the future queues the
    /// frame when first polled. Not for requests whose order on the wire
    /// matters against concurrent ones (that is what [`Messenger::request`]
    /// keeps).
    pub(crate) fn start<A: Api>(
        self: &Arc<Self>,
        req: &A,
    ) -> Result<impl Future<Output = Result<A::Response>> + Send + 'static + use<A>>
    where
        A::Response: Send + 'static,
    {
        let version = self.version_for(A::KEY)?;
        let mut pending = self.register(req, version)?;
        if let Some(job) = pending.unsent.take() {
            match self.frames.try_send(Job::Frame(job)) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(Job::Frame(job))) => pending.unsent = Some(job),
                Err(mpsc::error::TrySendError::Full(Job::BeginExclusive)) => {}
                Err(mpsc::error::TrySendError::Closed(_)) => return Err(self.dead_error()),
            }
        }
        let this = Arc::clone(self);
        Ok(async move {
            let raw = this.response(A::KEY, this.request_timeout, pending).await?;
            decode_response::<A>(raw, version, this.addr())
        })
    }

    /// Encodes `req` and registers its waiter: armed from here, so a request
    /// dropped at any later point unregisters.
    fn register<A: Api>(&self, req: &A, version: i16) -> Result<Pending> {
        let correlation_id = self.next_correlation_id.fetch_add(1, Ordering::Relaxed);
        let frame = self.encode(req, version, correlation_id)?;
        let (tx, rx) = oneshot::channel();
        match &mut *self.shared.lock() {
            State::Active(map) => {
                map.insert(correlation_id, tx);
            }
            State::Poisoned(e) => return Err(e.clone()),
        }
        Ok(Pending {
            unsent: Some(WriteJob {
                frame,
                written: None,
            }),
            rx,
            registration: Registration {
                shared: Arc::clone(&self.shared),
                correlation_id,
                armed: true,
            },
        })
    }

    /// Queues the frame if it still is to be, then waits for the response.
    async fn response(&self, key: ApiKey, timeout: Duration, pending: Pending) -> Result<Bytes> {
        let Pending {
            unsent,
            rx,
            mut registration,
        } = pending;
        let work = async {
            if let Some(job) = unsent {
                self.frames
                    .send(Job::Frame(job))
                    .await
                    .map_err(|_| self.dead_error())?;
            }
            rx.await.map_err(|_| self.dead_error())?
        };
        let res = self.with_timeout(key, timeout, work).await;
        registration.armed = false;
        res
    }

    async fn with_timeout<T>(
        &self,
        key: ApiKey,
        timeout: Duration,
        work: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        match tokio::time::timeout(timeout, work).await {
            Ok(r) => r,
            Err(_) => {
                let err = KafkaError::Timeout {
                    what: format!("{} request to {}", api_name(key), self.addr()),
                    timeout,
                };
                // As the Java client does: a broker that stopped answering
                // may have stopped reading too; start afresh.
                self.shared.poison(err.clone());
                Err(err)
            }
        }
    }

    fn check_alive(&self) -> Result<()> {
        match &*self.shared.lock() {
            State::Active(_) => Ok(()),
            State::Poisoned(e) => Err(e.clone()),
        }
    }

    fn dead_error(&self) -> KafkaError {
        match &*self.shared.lock() {
            State::Poisoned(e) => e.clone(),
            State::Active(_) => KafkaError::connection(self.addr(), "connection closed"),
        }
    }

    fn encode<A: Api>(&self, req: &A, version: i16, correlation_id: i32) -> Result<Bytes> {
        let header = RequestHeader::default()
            .with_request_api_key(A::KEY as i16)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(self.client_id.clone());
        let header_version = A::KEY.request_header_version(version);
        let mut buf = start_frame(64);
        // kafka-protocol's errors are `anyhow::Error`s: we can only print them.
        let bad = |e: String| {
            KafkaError::InvalidArgument(format!(
                "cannot encode {} v{version}: {e}",
                api_name(A::KEY)
            ))
        };
        header
            .encode(&mut buf, header_version)
            .map_err(|e| bad(e.to_string()))?;
        req.encode(&mut buf, version)
            .map_err(|e| bad(e.to_string()))?;
        finish_frame(&mut buf).map_err(|len| {
            KafkaError::InvalidArgument(format!(
                "{} request of {len} bytes is too large",
                api_name(A::KEY)
            ))
        })?;
        Ok(buf.freeze())
    }
}

/// Decodes a response frame (correlation id first) of API `A` at `version`:
/// the same path the client takes for every response.
///
/// Known limitation: kafka-protocol 0.18 preallocates arrays from the
/// counts on the wire, so a hostile broker (or a MITM on plaintext) can make
/// it attempt a huge allocation, which aborts the process. Fixed upstream
/// in open pull requests (kafka-protocol-rs #152, #161, #200); bump the pin
/// once released. Record batches do not go through it (see `records`).
pub(crate) fn decode_response<A: Api>(
    mut raw: Bytes,
    version: i16,
    addr: &str,
) -> Result<A::Response> {
    let header_version = A::KEY.response_header_version(version);
    let bad = |what: &str, e: String| {
        KafkaError::protocol(
            addr,
            format!("cannot decode {} v{version} {what}: {e}", api_name(A::KEY)),
        )
    };
    ResponseHeader::decode(&mut raw, header_version).map_err(|e| bad("header", e.to_string()))?;
    let resp =
        A::Response::decode(&mut raw, version).map_err(|e| bad("response", e.to_string()))?;
    if raw.has_remaining() {
        return Err(bad(
            "response",
            format!("{} bytes left over", raw.remaining()),
        ));
    }
    Ok(resp)
}

/// ApiVersions is special: a broker that does not speak the requested
/// version answers in v0 (with UNSUPPORTED_VERSION), whatever was asked.
pub(crate) fn decode_api_versions(
    raw: Bytes,
    version: i16,
    addr: &str,
) -> Result<kafka_protocol::messages::ApiVersionsResponse> {
    // Header v0 is the 4-byte correlation id; the body starts with error_code.
    let error = raw.get(4..6).map(|b| i16::from_be_bytes([b[0], b[1]]));
    if version > 0 && error == Some(ErrorCode::UnsupportedVersion.code()) {
        return decode_response::<ApiVersionsRequest>(raw, 0, addr);
    }
    decode_response::<ApiVersionsRequest>(raw, version, addr)
}

async fn read_loop<R: AsyncRead + Send>(rd: R, shared: Arc<Shared>, max_frame_bytes: usize) {
    let mut rd = std::pin::pin!(rd);
    let mut shutdown = shared.shutdown.subscribe();
    loop {
        let frame = tokio::select! {
            f = read_frame(&mut rd, max_frame_bytes) => f,
            _ = shutdown.wait_for(|s| *s) => return,
        };
        match frame {
            Ok(frame) if frame.len() >= 4 => {
                let correlation_id = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
                shared.deliver(correlation_id, frame.freeze());
            }
            Ok(frame) => {
                shared.poison(KafkaError::protocol(
                    &shared.addr,
                    format!(
                        "response frame of {} bytes has no correlation id",
                        frame.len()
                    ),
                ));
                return;
            }
            Err(e) => {
                let err = match e {
                    FrameError::Io(io) => KafkaError::from_io(&shared.addr, io),
                    FrameError::Eof => {
                        KafkaError::connection(&shared.addr, "connection closed by the broker")
                    }
                    other => KafkaError::protocol(&shared.addr, other.to_string()),
                };
                shared.poison(err);
                return;
            }
        }
    }
}

async fn write_loop<W: AsyncWrite + Send + Unpin>(
    mut wr: BufWriter<W>,
    mut rx: mpsc::Receiver<Job>,
    mut exclusive: mpsc::UnboundedReceiver<Exclusive>,
    shared: Arc<Shared>,
) {
    let mut shutdown = shared.shutdown.subscribe();
    let mut written = Vec::new();
    // Within an exclusive stretch: only the exclusive lane is read.
    let mut held = false;
    loop {
        let first = if held {
            let job = tokio::select! {
                j = exclusive.recv() => j,
                _ = shutdown.wait_for(|s| *s) => return,
            };
            match job {
                Some(Exclusive::Frame(j)) => j,
                Some(Exclusive::End) => {
                    held = false;
                    continue;
                }
                None => return,
            }
        } else {
            let job = tokio::select! {
                j = rx.recv() => j,
                _ = shutdown.wait_for(|s| *s) => return,
            };
            match job {
                Some(Job::Frame(j)) => j,
                Some(Job::BeginExclusive) => {
                    held = true;
                    continue;
                }
                None => {
                    // Messenger dropped: close our side politely.
                    let _ = wr.shutdown().await;
                    return;
                }
            }
        };
        // Take whatever else is queued, so that one flush (one TLS record,
        // one syscall) carries many small requests. A stretch of exclusive
        // frames is written one at a time (each waits for its answer).
        let io = async {
            let mut job = Some(first);
            let mut since_flush = 0;
            while let Some(j) = job.take() {
                wr.write_all(&j.frame).await?;
                since_flush += j.frame.len();
                written.extend(j.written);
                if since_flush < FLUSH_EVERY && !held {
                    match rx.try_recv() {
                        Ok(Job::Frame(next)) => job = Some(next),
                        Ok(Job::BeginExclusive) => held = true,
                        Err(_) => {}
                    }
                }
            }
            wr.flush().await
        };
        let res = tokio::select! {
            r = io => r,
            _ = shutdown.wait_for(|s| *s) => return,
        };
        match res {
            Ok(()) => {
                for w in written.drain(..) {
                    let _ = w.send(());
                }
            }
            Err(e) => {
                shared.poison(KafkaError::from_io(&shared.addr, e));
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests;
