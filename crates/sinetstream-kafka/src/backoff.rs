//! Exponential backoff with jitter, for retries and reconnects.

use std::time::Duration;

use rand::Rng as _;

/// Doubling delays from `base` up to `max`, each scaled by a random factor
/// in 0.8..1.2 so that many clients (or partitions) failing together do not
/// retry in lockstep.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub(crate) fn new(base: Duration, max: Duration) -> Self {
        Backoff {
            base,
            max: max.max(base),
            attempt: 0,
        }
    }

    /// The delay before attempt `n` (0-based), without state.
    pub(crate) fn delay_for(base: Duration, max: Duration, attempt: u32) -> Duration {
        let exp = base.saturating_mul(2u32.saturating_pow(attempt.min(20)));
        let capped = exp.min(max.max(base));
        let jitter: f64 = rand::rng().random_range(0.8..1.2);
        capped.mul_f64(jitter)
    }

    /// The next delay.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let d = Self::delay_for(self.base, self.max, self.attempt);
        self.attempt = self.attempt.saturating_add(1);
        d
    }

    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_jittered_and_capped() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        let d: Vec<Duration> = (0..8).map(|_| b.next_delay()).collect();
        assert!(
            d[0] >= Duration::from_millis(80) && d[0] <= Duration::from_millis(120),
            "{d:?}"
        );
        assert!(
            d[1] >= Duration::from_millis(160) && d[1] <= Duration::from_millis(240),
            "{d:?}"
        );
        for x in &d[4..] {
            assert!(
                *x >= Duration::from_millis(800) && *x <= Duration::from_millis(1200),
                "{d:?}"
            );
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(120));
    }
}
