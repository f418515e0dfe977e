//! Delivery results: one shared outcome per batch, read by its records' futures.
//!
//! A channel per record cost an allocation on `send` and a send on completion, per record;
//! here a batch allocates one [`Outcome`] when its first tracked record arrives, and
//! completing it is one lock and one wake-up per waiting future.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use super::RecordMetadata;
use super::batch::TopicPartition;
use crate::error::{KafkaError, Result};

/// (base offset, LogAppendTime): both -1 when unknown.
type Stored = Result<(i64, i64)>;

/// One batch's result and the futures waiting for it.
struct Outcome {
    tp: TopicPartition,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    result: Option<Stored>,
    wakers: Vec<Waker>,
}

impl Outcome {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Every critical section leaves the state consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The batch's side: completes the outcome once; dropped uncompleted (the producer stopped
/// with the batch undelivered), it fails the futures rather than leave them waiting.
pub(crate) struct Completer {
    outcome: Arc<Outcome>,
}

impl Completer {
    pub(crate) fn new(tp: TopicPartition) -> Completer {
        Completer {
            outcome: Arc::new(Outcome {
                tp,
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// The future of the batch's record number `index`, stamped `timestamp`.
    pub(crate) fn future(&self, index: usize, timestamp: i64) -> DeliveryFuture {
        DeliveryFuture {
            outcome: Arc::clone(&self.outcome),
            index: i64::try_from(index).unwrap_or(i64::MAX),
            timestamp,
            slot: None,
        }
    }

    /// Stores the result (the first one wins) and wakes the waiting futures.
    pub(crate) fn complete(&self, result: Stored) {
        let wakers = {
            let mut st = self.outcome.lock();
            if st.result.is_some() {
                return;
            }
            st.result = Some(result);
            std::mem::take(&mut st.wakers)
        };
        wakers.into_iter().for_each(Waker::wake);
    }
}

impl Drop for Completer {
    fn drop(&mut self) {
        self.complete(Err(KafkaError::Closed(
            "the producer stopped before delivering the record".into(),
        )));
    }
}

/// Resolves to a record's [`RecordMetadata`], or why it was not delivered.
#[must_use = "the delivery result tells whether the record was stored"]
pub struct DeliveryFuture {
    outcome: Arc<Outcome>,
    /// The record's place in its batch: its offset is the batch's base plus this.
    index: i64,
    timestamp: i64,
    /// Where this future's waker sits in the outcome's list, once registered.
    slot: Option<usize>,
}

impl std::fmt::Debug for DeliveryFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeliveryFuture")
            .field("partition", &self.outcome.tp.partition)
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl Future for DeliveryFuture {
    type Output = Result<RecordMetadata>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let mut st = this.outcome.lock();
        match &st.result {
            Some(Ok((base, log_append_time))) => {
                let tp = &this.outcome.tp;
                Poll::Ready(Ok(RecordMetadata {
                    topic: Arc::clone(&tp.topic),
                    partition: tp.partition,
                    offset: if *base >= 0 { base + this.index } else { -1 },
                    timestamp: if *log_append_time >= 0 {
                        *log_append_time
                    } else {
                        this.timestamp
                    },
                }))
            }
            Some(Err(e)) => Poll::Ready(Err(e.clone())),
            None => {
                match this.slot.and_then(|i| st.wakers.get_mut(i)) {
                    Some(w) => w.clone_from(cx.waker()),
                    None => {
                        this.slot = Some(st.wakers.len());
                        st.wakers.push(cx.waker().clone());
                    }
                }
                Poll::Pending
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp() -> TopicPartition {
        TopicPartition {
            topic: Arc::from("t"),
            partition: 3,
        }
    }

    #[tokio::test]
    async fn futures_get_their_offset_and_timestamp() {
        let c = Completer::new(tp());
        let (a, b) = (c.future(0, 10), c.future(1, 11));
        let waiting = tokio::spawn(b);
        tokio::task::yield_now().await;
        c.complete(Ok((100, -1)));
        let b = waiting.await.expect("task").expect("delivered");
        assert_eq!((b.offset, b.timestamp, b.partition), (101, 11, 3));
        let a = a.await.expect("delivered");
        assert_eq!((a.offset, a.timestamp, &*a.topic), (100, 10, "t"));
        // Only the first result counts.
        c.complete(Err(KafkaError::Closed("late".into())));
        assert!(c.future(2, 12).await.is_ok());
    }

    #[tokio::test]
    async fn log_append_time_and_unknown_offsets() {
        let c = Completer::new(tp());
        let f = c.future(5, 10);
        c.complete(Ok((-1, 77)));
        let m = f.await.expect("delivered");
        assert_eq!((m.offset, m.timestamp), (-1, 77));
    }

    #[tokio::test]
    async fn a_dropped_completer_fails_its_futures() {
        let c = Completer::new(tp());
        let f = c.future(0, 1);
        drop(c);
        assert!(matches!(f.await, Err(KafkaError::Closed(_))));
    }
}
