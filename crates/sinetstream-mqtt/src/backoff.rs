//! Reconnect delays: exponential with full jitter, between a floor and a cap.
//!
//! Jitter keeps a fleet of clients that lost the same broker from reconnecting in lock-step.

use std::time::Duration;

/// Delays between reconnect attempts.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub(crate) fn new(min: Duration, max: Duration) -> Self {
        let min = min.max(Duration::from_millis(1));
        let max = max.max(min);
        Backoff {
            min,
            max,
            next: min,
        }
    }

    /// The next delay: uniformly in [current/2, current], then doubles the current (to the cap).
    pub(crate) fn next_delay(&mut self) -> Duration {
        let cur = self.next;
        self.next = (cur * 2).min(self.max);
        let lo = cur / 2;
        let span = cur.saturating_sub(lo).as_millis() as u64;
        let jitter = if span == 0 {
            0
        } else {
            rand::random_range(0..=span)
        };
        (lo + Duration::from_millis(jitter)).max(self.min.min(cur))
    }

    /// Back to the floor after a successful connection.
    pub(crate) fn reset(&mut self) {
        self.next = self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        let mut last = Duration::ZERO;
        for _ in 0..20 {
            last = b.next_delay();
            assert!(last <= Duration::from_millis(1000));
            assert!(last >= Duration::from_millis(50));
        }
        assert!(last >= Duration::from_millis(500), "{last:?}");
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }
}
