//! The sender task: takes ready batches to partition leaders, one Produce
//! request per broker at a time per round, and settles each batch from the
//! response: success, retry (in order, with backoff) or failure.

use std::collections::HashMap;
use std::sync::Arc;

use futures::StreamExt as _;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::Shared;
use super::batch::Batch;
use super::idempotence::{PidEpoch, init_producer_id, seq_add};
use crate::backoff::Backoff;
use crate::error::{ErrorCode, KafkaError, Result};
use crate::records::{ProducerIdentity, encode_batch};

/// A finished Produce request and the batches it carried.
struct Completion {
    broker: i32,
    generation: u64,
    batches: Vec<Batch>,
    result: Result<Option<ProduceResponse>>,
}

/// What the broker said about one batch.
struct PartitionResult {
    error: Option<ErrorCode>,
    message: Option<String>,
    base_offset: i64,
    log_append_time: i64,
}

pub(crate) struct Sender {
    shared: Arc<Shared>,
    in_flight: FuturesUnordered<BoxFuture<'static, Completion>>,
    broker_in_flight: HashMap<i32, usize>,
    pid: Option<PidEpoch>,
    /// A sequence gap or fencing happened: bump the epoch or get a new id
    /// (once nothing is in flight) and renumber.
    pid_reset: bool,
    /// The reset needs a new id from the broker, not a bumped epoch.
    pid_fresh: bool,
    pid_backoff: Backoff,
    pid_retry_at: Option<Instant>,
    refreshing: Option<JoinHandle<()>>,
    last_refresh: Option<Instant>,
}

impl Sender {
    pub(crate) fn new(shared: Arc<Shared>) -> Sender {
        let c = &shared.config.client;
        let pid_backoff = Backoff::new(c.retry_backoff, c.retry_backoff_max);
        Sender {
            shared,
            in_flight: FuturesUnordered::new(),
            broker_in_flight: HashMap::new(),
            pid: None,
            pid_reset: false,
            pid_fresh: false,
            pid_backoff,
            pid_retry_at: None,
            refreshing: None,
            last_refresh: None,
        }
    }

    fn idempotent(&self) -> bool {
        self.shared.config.enable_idempotence
    }

    pub(crate) async fn run(mut self) {
        loop {
            if self.idempotent() {
                self.ensure_producer_id().await;
            }
            let mut next_wake = None;
            // Dispatch until nothing more can go: each round sends at most one
            // batch per partition.
            loop {
                let (sent, wake) = self.drain();
                next_wake = earliest(next_wake, wake);
                if !sent {
                    break;
                }
            }
            self.maybe_refresh(&mut next_wake);
            {
                let acc = self.shared.lock();
                if acc.closing && acc.is_empty() && self.in_flight.is_empty() {
                    break;
                }
            }
            let sleep = async {
                match next_wake {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                Some(c) = self.in_flight.next(), if !self.in_flight.is_empty() => {
                    self.complete(c);
                    // Settle every other finished request before the next round.
                    while let Some(Some(c)) = futures::FutureExt::now_or_never(self.in_flight.next()) {
                        self.complete(c);
                    }
                }
                _ = self.shared.wake.notified() => {}
                _ = sleep => {}
            }
        }
        if let Some(r) = self.refreshing.take() {
            r.abort();
        }
        tracing::debug!("producer sender stopped");
    }

    /// Gets a producer id when none is usable, once nothing is in flight
    /// (a new id restarts every partition's sequence at 0).
    async fn ensure_producer_id(&mut self) {
        if self.shared.lock().debug_reset_pid {
            // Test hook (Producer::debug_reset_producer_id).
            self.shared.lock().debug_reset_pid = false;
            self.pid_reset = self.pid.is_some();
        }
        if (self.pid.is_some() && !self.pid_reset) || !self.in_flight.is_empty() {
            return;
        }
        if self.pid_retry_at.is_some_and(|t| Instant::now() < t) {
            return;
        }
        if self.shared.lock().is_empty() && self.pid.is_some() {
            // Nothing to send yet: renumbering can wait.
            return;
        }
        let timeout = self.shared.config.client.request_timeout;
        if self.pid_reset && !self.pid_fresh {
            if let Some(next) = self.pid.and_then(PidEpoch::bumped) {
                tracing::debug!(
                    producer_id = next.id,
                    epoch = next.epoch,
                    "producer epoch bumped"
                );
                self.adopt_producer_id(next);
                return;
            }
        }
        match init_producer_id(&self.shared.cluster, timeout).await {
            Ok(pid) => {
                self.pid_retry_at = None;
                self.pid_backoff.reset();
                self.adopt_producer_id(pid);
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot get a producer id");
                self.pid_retry_at = Some(Instant::now() + self.pid_backoff.next_delay());
                if !e.is_retriable() {
                    // E.g. not authorised for idempotent writes: every queued
                    // record would wait for nothing.
                    self.fail_all_queued(&e);
                }
            }
        }
    }

    /// Starts every partition's sequences at 0 under `pid`.
    fn adopt_producer_id(&mut self, pid: PidEpoch) {
        self.pid = Some(pid);
        self.pid_reset = false;
        self.pid_fresh = false;
        let mut acc = self.shared.lock();
        acc.identity = Some((pid.id, pid.epoch));
        for ps in acc.partitions.values_mut() {
            ps.next_sequence = 0;
            ps.acked_sequence = 0;
            for b in ps.ready.iter_mut() {
                b.identity = None;
                b.encoded = None;
            }
        }
    }

    fn fail_all_queued(&mut self, err: &KafkaError) {
        let mut failed = Vec::new();
        {
            let mut acc = self.shared.lock();
            for ps in acc.partitions.values_mut() {
                failed.extend(ps.open.take());
                failed.extend(ps.ready.drain(..));
            }
            for b in &failed {
                acc.incomplete.remove(&b.id);
                acc.record_failure(b.records.len(), err);
            }
        }
        for b in failed {
            b.fail(err);
        }
        self.shared.progress.notify_waiters();
    }

    /// One dispatch round. Returns whether any request was sent, and when
    /// the next linger or retry timer expires.
    fn drain(&mut self) -> (bool, Option<Instant>) {
        let cfg = &self.shared.config;
        let now = Instant::now();
        let (snap, generation) = self.shared.cluster.metadata();
        let idempotent = cfg.enable_idempotence;
        let pid = if idempotent {
            match self.pid {
                Some(p) if !self.pid_reset => Some(p),
                _ => None,
            }
        } else {
            None
        };
        let mut next_wake = None;
        let mut need_metadata = false;
        let mut expired = Vec::new();
        let mut groups: HashMap<i32, (usize, Vec<Batch>)> = HashMap::new();
        {
            let mut acc = self.shared.lock();
            let force = acc.closing;
            let flush_upto = acc.flush_upto;
            let mut gap = false;
            for (tp, ps) in acc.partitions.iter_mut() {
                if let Some(open) = &ps.open {
                    let due = open.created + cfg.linger;
                    if force || open.id < flush_upto || now >= due {
                        ps.ready.extend(ps.open.take());
                    } else {
                        next_wake = earliest(next_wake, Some(due));
                    }
                }
                // Batches that waited too long fail here rather than linger.
                while ps
                    .ready
                    .front()
                    .is_some_and(|b| now >= b.created + cfg.delivery_timeout)
                {
                    if let Some(b) = ps.ready.pop_front() {
                        // A sent-once batch may or may not be in the log:
                        // later sequences would not fit any more.
                        gap |= b.identity.is_some();
                        expired.push(b);
                    }
                }
                let Some(head) = ps.ready.front() else {
                    continue;
                };
                if let Some(t) = head.retry_at.filter(|t| *t > now) {
                    next_wake = earliest(next_wake, Some(t));
                    continue;
                }
                // A retry goes alone: after everything before it settled, and
                // before anything after it, so that order is kept.
                if head.attempts > 0 && ps.in_flight > 0 {
                    continue;
                }
                if idempotent
                    && (pid.is_none() || ps.in_flight >= cfg.max_in_flight_requests_per_connection)
                {
                    continue;
                }
                let Some(leader) = snap.leader(&tp.topic, tp.partition) else {
                    need_metadata = true;
                    continue;
                };
                let busy = self.broker_in_flight.get(&leader).copied().unwrap_or(0);
                if busy >= cfg.max_in_flight_requests_per_connection {
                    continue;
                }
                let group = groups.entry(leader).or_default();
                if !group.1.is_empty() && group.0 + head.size > cfg.max_request_size {
                    continue;
                }
                let Some(mut b) = ps.ready.pop_front() else {
                    continue;
                };
                if let (Some(p), None) = (pid, b.identity) {
                    b.identity = Some(ProducerIdentity {
                        producer_id: p.id,
                        epoch: p.epoch,
                        base_sequence: ps.next_sequence,
                    });
                    ps.next_sequence = seq_add(ps.next_sequence, b.records.len());
                }
                ps.in_flight += 1;
                group.0 += b.size;
                group.1.push(b);
            }
            if gap {
                self.pid_reset = true;
            }
            for b in &expired {
                acc.incomplete.remove(&b.id);
            }
        }
        if !expired.is_empty() {
            let err = KafkaError::Timeout {
                what: "delivery (record not sent within delivery_timeout)".into(),
                timeout: cfg.delivery_timeout,
            };
            let mut acc = self.shared.lock();
            for b in &expired {
                acc.record_failure(b.records.len(), &err);
            }
            drop(acc);
            for b in expired {
                b.fail(&err);
            }
            self.shared.progress.notify_waiters();
        }
        if need_metadata {
            self.shared.cluster.invalidate(generation);
        }
        let sent = !groups.is_empty();
        for (broker, (_, batches)) in groups {
            self.dispatch(broker, generation, batches);
        }
        (sent, next_wake)
    }

    fn dispatch(&mut self, broker: i32, generation: u64, mut batches: Vec<Batch>) {
        let shared = Arc::clone(&self.shared);
        let cfg = &shared.config;
        // Encode (and compress) outside the accumulator lock.
        let mut topics: Vec<TopicProduceData> = Vec::new();
        let mut index: HashMap<Arc<str>, usize> = HashMap::new();
        let mut failed = Vec::new();
        let mut kept = Vec::with_capacity(batches.len());
        for mut b in batches.drain(..) {
            let id = b.identity.unwrap_or(ProducerIdentity::NONE);
            let bytes = match &b.encoded {
                Some((eid, bytes)) if *eid == id => bytes.clone(),
                _ => match encode_batch(&b.records, id, cfg.compression) {
                    Ok(bytes) => {
                        b.encoded = Some((id, bytes.clone()));
                        bytes
                    }
                    Err(e) => {
                        failed.push((b, KafkaError::InvalidArgument(e)));
                        continue;
                    }
                },
            };
            let pd = PartitionProduceData::default()
                .with_index(b.tp.partition)
                .with_records(Some(bytes));
            let i = *index.entry(Arc::clone(&b.tp.topic)).or_insert_with(|| {
                topics.push(
                    TopicProduceData::default()
                        .with_name(TopicName(StrBytes::from_string(b.tp.topic.to_string()))),
                );
                topics.len() - 1
            });
            topics[i].partition_data.push(pd);
            kept.push(b);
        }
        for (b, e) in failed {
            self.settle(b, Err(e), generation);
        }
        if kept.is_empty() {
            return;
        }
        *self.broker_in_flight.entry(broker).or_default() += 1;
        let timeout_ms = i32::try_from(cfg.client.request_timeout.as_millis()).unwrap_or(i32::MAX);
        let req = ProduceRequest::default()
            .with_acks(cfg.acks.wire())
            .with_timeout_ms(timeout_ms)
            .with_topic_data(topics);
        let cluster = Arc::clone(&self.shared.cluster);
        let oneway = cfg.acks == super::Acks::Zero;
        self.in_flight.push(Box::pin(async move {
            let result = async {
                let conn = cluster.broker(broker).await?;
                if oneway {
                    conn.send_oneway(&req).await.map(|()| None)
                } else {
                    conn.request(&req).await.map(Some)
                }
            }
            .await;
            Completion {
                broker,
                generation,
                batches: kept,
                result,
            }
        }));
    }

    fn complete(&mut self, c: Completion) {
        if let Some(n) = self.broker_in_flight.get_mut(&c.broker) {
            *n = n.saturating_sub(1);
        }
        match c.result {
            Ok(None) => {
                for b in c.batches {
                    self.settle(b, Ok(PartitionResult::unknown_offset()), c.generation);
                }
            }
            Ok(Some(resp)) => {
                let mut results: HashMap<(String, i32), PartitionResult> = HashMap::new();
                for t in &resp.responses {
                    for p in &t.partition_responses {
                        results.insert(
                            (t.name.0.as_str().to_owned(), p.index),
                            PartitionResult {
                                error: ErrorCode::from_code(p.error_code),
                                message: p.error_message.as_ref().map(|m| m.as_str().to_owned()),
                                base_offset: p.base_offset,
                                log_append_time: p.log_append_time_ms,
                            },
                        );
                    }
                }
                let mut settled = Vec::with_capacity(c.batches.len());
                for b in c.batches {
                    let r = results.remove(&(b.tp.topic.to_string(), b.tp.partition));
                    settled.push((b, r));
                }
                for (b, r) in settled {
                    let outcome = r.ok_or_else(|| {
                        KafkaError::protocol(
                            &format!("broker {}", c.broker),
                            format!("no result for partition {}", b.tp),
                        )
                    });
                    self.settle(b, outcome, c.generation);
                }
            }
            Err(e) => {
                for b in c.batches {
                    self.settle(b, Err(e.clone()), c.generation);
                }
            }
        }
        self.shared.progress.notify_waiters();
    }

    /// Decides a batch's fate from its partition's result.
    fn settle(&mut self, mut b: Batch, outcome: Result<PartitionResult>, generation: u64) {
        let cfg = &self.shared.config;
        let now = Instant::now();
        let err = match outcome {
            Ok(r) => match r.error {
                None => return self.finish(b, Ok((r.base_offset, r.log_append_time))),
                // The broker already has this batch but no longer knows its
                // offset: delivered.
                Some(ErrorCode::DuplicateSequenceNumber) => return self.finish(b, Ok((-1, -1))),
                Some(code) => KafkaError::broker(code, format!("Produce to {}", b.tp), r.message),
            },
            Err(e) => e,
        };
        if err.invalidates_metadata() {
            self.shared.cluster.invalidate(generation);
        }
        let code = err.code();
        let mut acc = self.shared.lock();
        let Some(ps) = acc.partitions.get_mut(&b.tp) else {
            drop(acc);
            return self.finish(b, Err(err));
        };
        // An out-of-order answer for a batch that is not the first
        // unacknowledged one only means an earlier batch failed and will be
        // resent first: wait for it.
        let waiting_for_earlier = code == Some(ErrorCode::OutOfOrderSequenceNumber)
            && b.base_sequence().is_some_and(|s| s != ps.acked_sequence);
        let retriable = waiting_for_earlier || err.is_retriable();
        let in_time = now < b.created + cfg.delivery_timeout;
        if retriable && in_time && b.attempts < cfg.retries {
            b.attempts += 1;
            let delay = Backoff::delay_for(
                cfg.client.retry_backoff,
                cfg.client.retry_backoff_max,
                b.attempts - 1,
            );
            b.retry_at = Some(now + delay);
            tracing::debug!(partition = %b.tp, attempt = b.attempts, error = %err, "retrying batch");
            ps.in_flight = ps.in_flight.saturating_sub(1);
            ps.requeue(b);
            drop(acc);
            self.shared.wake.notify_one();
            return;
        }
        drop(acc);
        if matches!(
            code,
            Some(
                ErrorCode::OutOfOrderSequenceNumber
                    | ErrorCode::UnknownProducerId
                    | ErrorCode::InvalidProducerEpoch
                    | ErrorCode::ProducerFenced
            )
        ) || (b.identity.is_some() && !in_time)
        {
            // The broker's sequence state and ours no longer match.
            self.pid_reset = true;
            // A newer epoch of our id exists (another instance, or the
            // broker's coordinator moved on): bumping ours cannot win.
            self.pid_fresh |= matches!(
                code,
                Some(ErrorCode::InvalidProducerEpoch | ErrorCode::ProducerFenced)
            );
        }
        self.finish(b, Err(err));
    }

    /// Completes a batch for good.
    fn finish(&mut self, b: Batch, result: Result<(i64, i64)>) {
        {
            let mut acc = self.shared.lock();
            acc.incomplete.remove(&b.id);
            if let Some(ps) = acc.partitions.get_mut(&b.tp) {
                ps.in_flight = ps.in_flight.saturating_sub(1);
                if let (Ok(_), Some(seq)) = (&result, b.base_sequence()) {
                    ps.acked_sequence = seq_add(seq, b.records.len());
                }
            }
            match &result {
                Ok(_) => acc.delivered_records += b.records.len() as u64,
                Err(e) => acc.record_failure(b.records.len(), e),
            }
        }
        match result {
            Ok((offset, time)) => b.succeed(offset, time),
            Err(e) => {
                tracing::debug!(partition = %b.tp, records = b.records.len(), error = %e, "batch failed");
                b.fail(&e);
            }
        }
    }

    /// Starts a background metadata refresh when the cache is stale, at most
    /// once per `retry_backoff`.
    fn maybe_refresh(&mut self, next_wake: &mut Option<Instant>) {
        if self.refreshing.as_ref().is_some_and(|h| !h.is_finished()) {
            return;
        }
        let Some(generation) = self.shared.cluster.needs_refresh() else {
            return;
        };
        let now = Instant::now();
        if let Some(t) = self
            .last_refresh
            .map(|t| t + self.shared.config.client.retry_backoff)
        {
            if now < t {
                *next_wake = earliest(*next_wake, Some(t));
                return;
            }
        }
        self.last_refresh = Some(now);
        let shared = Arc::clone(&self.shared);
        self.refreshing = Some(tokio::spawn(async move {
            if let Err(e) = shared.cluster.refresh(generation).await {
                tracing::debug!(error = %e, "metadata refresh failed");
            }
            shared.wake.notify_one();
        }));
    }
}

impl PartitionResult {
    fn unknown_offset() -> PartitionResult {
        PartitionResult {
            error: None,
            message: None,
            base_offset: -1,
            log_append_time: -1,
        }
    }
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("in_flight", &self.in_flight.len())
            .finish_non_exhaustive()
    }
}
