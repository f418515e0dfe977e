//! Idempotent production: the producer id and epoch from InitProducerId,
//! and sequence arithmetic.
//!
//! The broker keeps, per producer id and partition, the sequence numbers
//! of the last five batches. A batch resent after a lost response carries
//! its original sequence, so the broker recognises it and answers with the
//! original offset instead of writing it twice. Sequences must arrive in
//! order, which is why the sender resends retried batches one at a time, in
//! sequence order, and keeps at most five batches in flight per partition.

use std::time::Duration;

use kafka_protocol::messages::{InitProducerIdRequest, ProducerId};
use tokio::time::Instant;

use crate::backoff::Backoff;
use crate::cluster::Cluster;
use crate::error::{ErrorCode, KafkaError, Result};

/// Sequences wrap to 0 after `i32::MAX`, as in the Java client.
pub(crate) fn seq_add(seq: i32, n: usize) -> i32 {
    let m = i64::from(i32::MAX) + 1;
    let sum = (i64::from(seq) + (n as i64 % m)) % m;
    sum as i32
}

/// How far `to` is ahead of `from`, modulo the wrap.
pub(crate) fn seq_distance(from: i32, to: i32) -> i64 {
    let m = i64::from(i32::MAX) + 1;
    (i64::from(to) - i64::from(from)).rem_euclid(m)
}

/// A producer id and epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PidEpoch {
    pub(crate) id: i64,
    pub(crate) epoch: i16,
}

impl PidEpoch {
    /// The same id with the next epoch, when the epoch can still grow.
    ///
    /// An idempotent (non-transactional) producer bumps its epoch itself
    /// (KIP-360, as the Java client's `bumpIdempotentEpochAndResetIdIfNeeded`):
    /// the broker hands every InitProducerId without a transactional id a
    /// brand-new id, but accepts sequence 0 under a higher epoch of a known
    /// id, and from then on fences batches of the old epoch.
    pub(crate) fn bumped(self) -> Option<PidEpoch> {
        (self.id >= 0 && self.epoch >= 0 && self.epoch < i16::MAX).then(|| PidEpoch {
            id: self.id,
            epoch: self.epoch + 1,
        })
    }
}

/// Gets a producer id from any broker, retrying retriable errors until
/// `timeout`.
pub(crate) async fn init_producer_id(cluster: &Cluster, timeout: Duration) -> Result<PidEpoch> {
    let deadline = Instant::now() + timeout;
    let cfg = &cluster.config;
    let mut backoff = Backoff::new(cfg.retry_backoff, cfg.retry_backoff_max);
    let req = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(i32::MAX)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    loop {
        let e = match cluster.any_request(&req).await {
            Ok(r) => match ErrorCode::from_code(r.error_code) {
                None => {
                    let pid = PidEpoch {
                        id: r.producer_id.0,
                        epoch: r.producer_epoch,
                    };
                    tracing::debug!(
                        producer_id = pid.id,
                        epoch = pid.epoch,
                        "producer id assigned"
                    );
                    return Ok(pid);
                }
                Some(code) => KafkaError::broker(code, "InitProducerId", None),
            },
            Err(e) => e,
        };
        if !e.is_retriable() || Instant::now() >= deadline {
            return Err(e);
        }
        tracing::debug!(error = %e, "InitProducerId failed, retrying");
        tokio::time::sleep_until((Instant::now() + backoff.next_delay()).min(deadline)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_wrap_like_java() {
        assert_eq!(seq_add(5, 3), 8);
        assert_eq!(seq_add(i32::MAX, 1), 0);
        assert_eq!(seq_add(i32::MAX - 1, 5), 3);
        assert_eq!(seq_distance(i32::MAX - 1, 3), 5);
        assert_eq!(seq_distance(10, 10), 0);
    }

    #[test]
    fn epochs_bump_until_exhausted() {
        let p = PidEpoch { id: 42, epoch: 3 };
        assert_eq!(p.bumped(), Some(PidEpoch { id: 42, epoch: 4 }));
        let last = PidEpoch {
            id: 42,
            epoch: i16::MAX,
        };
        assert_eq!(last.bumped(), None);
        assert_eq!(PidEpoch { id: -1, epoch: -1 }.bumped(), None);
    }
}
