//! Reader/writer metrics, as SINETStream 1.10 defines them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::Map;

/// A snapshot of a reader's or writer's counters (Python `reader.metrics`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Metrics {
    /// When counting started (seconds since the epoch).
    pub start_time: f64,
    /// The last update (seconds since the epoch).
    pub end_time: f64,
    /// Messages sent or received.
    pub msg_count_total: u64,
    /// Bytes of values before compression.
    pub msg_uncompressed_bytes_total: u64,
    /// Bytes of values after compression.
    pub msg_compressed_bytes_total: u64,
    /// Bytes on the wire.
    pub msg_bytes_total: u64,
    /// Smallest message on the wire, if any.
    pub msg_size_min: Option<u64>,
    /// Largest message on the wire, if any.
    pub msg_size_max: Option<u64>,
    /// Errors counted.
    pub error_count_total: u64,
    /// The backend's own metrics, if it keeps any.
    pub raw: Option<Map>,
}

impl Metrics {
    fn new() -> Metrics {
        let now = now_secs();
        Metrics {
            start_time: now,
            end_time: now,
            msg_count_total: 0,
            msg_uncompressed_bytes_total: 0,
            msg_compressed_bytes_total: 0,
            msg_bytes_total: 0,
            msg_size_min: None,
            msg_size_max: None,
            error_count_total: 0,
            raw: None,
        }
    }

    /// Seconds between start and the last update.
    pub fn time(&self) -> f64 {
        self.end_time - self.start_time
    }

    /// `start_time` in milliseconds.
    pub fn start_time_ms(&self) -> f64 {
        self.start_time * 1000.0
    }

    /// `end_time` in milliseconds.
    pub fn end_time_ms(&self) -> f64 {
        self.end_time * 1000.0
    }

    /// Messages per second.
    pub fn msg_count_rate(&self) -> f64 {
        rate(self.msg_count_total as f64, self.time())
    }

    /// Wire bytes per second.
    pub fn msg_bytes_rate(&self) -> f64 {
        rate(self.msg_bytes_total as f64, self.time())
    }

    /// Errors per second.
    pub fn error_count_rate(&self) -> f64 {
        rate(self.error_count_total as f64, self.time())
    }

    /// Compressed / uncompressed bytes (1.0 when nothing was counted).
    pub fn msg_compression_ratio(&self) -> f64 {
        if self.msg_uncompressed_bytes_total == 0 {
            1.0
        } else {
            self.msg_compressed_bytes_total as f64 / self.msg_uncompressed_bytes_total as f64
        }
    }

    /// Mean wire size of a message.
    pub fn msg_size_avg(&self) -> f64 {
        if self.msg_count_total == 0 {
            0.0
        } else {
            self.msg_bytes_total as f64 / self.msg_count_total as f64
        }
    }
}

fn rate(n: f64, t: f64) -> f64 {
    if t == 0.0 { 0.0 } else { n / t }
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The live counters behind [`Metrics`]; shared between a handle and its I/O path.
#[derive(Debug)]
pub(crate) struct IoMetrics {
    m: std::sync::Mutex<Metrics>,
}

impl Default for IoMetrics {
    fn default() -> Self {
        IoMetrics {
            m: std::sync::Mutex::new(Metrics::new()),
        }
    }
}

impl IoMetrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Metrics> {
        // A panic elsewhere must not make metrics unusable: the counters are plain numbers.
        self.m
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn update(&self, wire_len: usize, compressed_len: usize, uncompressed_len: usize) {
        self.update_at(wire_len, compressed_len, uncompressed_len, now_secs());
    }

    /// [`IoMetrics::update`] with the time already read (a writer stamping a message now
    /// reads the clock once for both; the clock showed in per-message profiles).
    pub(crate) fn update_at(
        &self,
        wire_len: usize,
        compressed_len: usize,
        uncompressed_len: usize,
        now_secs: f64,
    ) {
        let mut m = self.lock();
        m.end_time = now_secs;
        m.msg_count_total += 1;
        m.msg_uncompressed_bytes_total += uncompressed_len as u64;
        m.msg_compressed_bytes_total += compressed_len as u64;
        m.msg_bytes_total += wire_len as u64;
        let len = wire_len as u64;
        m.msg_size_min = Some(m.msg_size_min.map_or(len, |x| x.min(len)));
        m.msg_size_max = Some(m.msg_size_max.map_or(len, |x| x.max(len)));
    }

    pub(crate) fn update_err(&self) {
        let mut m = self.lock();
        m.end_time = now_secs();
        m.error_count_total += 1;
    }

    pub(crate) fn snapshot(&self) -> Metrics {
        self.lock().clone()
    }

    pub(crate) fn reset(&self) {
        *self.lock() = Metrics::new();
    }
}

/// The counters of a handle that alone updates them, through `&mut` (a writer): updates are
/// plain arithmetic, with no lock and no atomic read-modify-write; [`OwnedMetrics::snapshot`]
/// and [`OwnedMetrics::reset`] take `&self`.
#[derive(Debug)]
pub(crate) struct OwnedMetrics {
    /// f64 seconds, as bits.
    start_time: AtomicU64,
    /// f64 seconds, as bits.
    end_time: AtomicU64,
    count: AtomicU64,
    uncompressed: AtomicU64,
    compressed: AtomicU64,
    bytes: AtomicU64,
    /// `u64::MAX` while nothing was counted.
    size_min: AtomicU64,
    size_max: AtomicU64,
    errors: AtomicU64,
}

impl Default for OwnedMetrics {
    fn default() -> Self {
        let now = now_secs().to_bits();
        OwnedMetrics {
            start_time: AtomicU64::new(now),
            end_time: AtomicU64::new(now),
            count: AtomicU64::new(0),
            uncompressed: AtomicU64::new(0),
            compressed: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            size_min: AtomicU64::new(u64::MAX),
            size_max: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        }
    }
}

impl OwnedMetrics {
    /// Counts one message, now.
    pub(crate) fn update(
        &mut self,
        wire_len: usize,
        compressed_len: usize,
        uncompressed_len: usize,
    ) {
        self.update_at(wire_len, compressed_len, uncompressed_len, now_secs());
    }

    /// Counts one message, at `now_secs`.
    #[inline]
    pub(crate) fn update_at(
        &mut self,
        wire_len: usize,
        compressed_len: usize,
        uncompressed_len: usize,
        now_secs: f64,
    ) {
        let len = wire_len as u64;
        *self.end_time.get_mut() = now_secs.to_bits();
        *self.count.get_mut() += 1;
        *self.uncompressed.get_mut() += uncompressed_len as u64;
        *self.compressed.get_mut() += compressed_len as u64;
        *self.bytes.get_mut() += len;
        let min = self.size_min.get_mut();
        *min = (*min).min(len);
        let max = self.size_max.get_mut();
        *max = (*max).max(len);
    }

    /// Counts one error, now.
    pub(crate) fn update_err(&mut self) {
        *self.end_time.get_mut() = now_secs().to_bits();
        *self.errors.get_mut() += 1;
    }

    pub(crate) fn snapshot(&self) -> Metrics {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let count = get(&self.count);
        let some = |v: u64| if count == 0 { None } else { Some(v) };
        Metrics {
            start_time: f64::from_bits(get(&self.start_time)),
            end_time: f64::from_bits(get(&self.end_time)),
            msg_count_total: count,
            msg_uncompressed_bytes_total: get(&self.uncompressed),
            msg_compressed_bytes_total: get(&self.compressed),
            msg_bytes_total: get(&self.bytes),
            msg_size_min: some(get(&self.size_min)),
            msg_size_max: some(get(&self.size_max)),
            error_count_total: get(&self.errors),
            raw: None,
        }
    }

    pub(crate) fn reset(&self) {
        let now = now_secs().to_bits();
        let set = |a: &AtomicU64, v: u64| a.store(v, Ordering::Relaxed);
        set(&self.start_time, now);
        set(&self.end_time, now);
        set(&self.count, 0);
        set(&self.uncompressed, 0);
        set(&self.compressed, 0);
        set(&self.bytes, 0);
        set(&self.size_min, u64::MAX);
        set(&self.size_max, 0);
        set(&self.errors, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_rates() {
        let io = IoMetrics::default();
        assert_eq!(io.snapshot().msg_size_min, None);
        io.update(30, 10, 20);
        io.update(50, 20, 40);
        io.update_err();
        let m = io.snapshot();
        assert_eq!(m.msg_count_total, 2);
        assert_eq!(m.msg_bytes_total, 80);
        assert_eq!(m.msg_size_min, Some(30));
        assert_eq!(m.msg_size_max, Some(50));
        assert_eq!(m.error_count_total, 1);
        assert!((m.msg_compression_ratio() - 0.5).abs() < 1e-9);
        assert!((m.msg_size_avg() - 40.0).abs() < 1e-9);
        io.reset();
        assert_eq!(io.snapshot().msg_count_total, 0);
    }

    #[test]
    fn owned_counters_match_shared_ones() {
        let shared = IoMetrics::default();
        let mut owned = OwnedMetrics::default();
        let same = |a: Metrics, b: Metrics| {
            assert_eq!(
                (
                    a.msg_count_total,
                    a.msg_uncompressed_bytes_total,
                    a.msg_compressed_bytes_total,
                    a.msg_bytes_total,
                    a.msg_size_min,
                    a.msg_size_max,
                    a.error_count_total
                ),
                (
                    b.msg_count_total,
                    b.msg_uncompressed_bytes_total,
                    b.msg_compressed_bytes_total,
                    b.msg_bytes_total,
                    b.msg_size_min,
                    b.msg_size_max,
                    b.error_count_total
                )
            );
            assert!(a.start_time <= a.end_time && b.start_time <= b.end_time);
        };
        same(shared.snapshot(), owned.snapshot());
        for (w, c, u) in [(30, 10, 20), (50, 20, 40), (7, 7, 7)] {
            shared.update(w, c, u);
            owned.update(w, c, u);
        }
        shared.update_err();
        owned.update_err();
        same(shared.snapshot(), owned.snapshot());
        let m = owned.snapshot();
        assert_eq!(m.msg_size_min, Some(7));
        assert_eq!(m.msg_size_max, Some(50));
        owned.update_at(9, 9, 9, 123.5);
        assert_eq!(owned.snapshot().end_time, 123.5);
        shared.reset();
        owned.reset();
        same(shared.snapshot(), owned.snapshot());
        assert_eq!(owned.snapshot().msg_size_min, None);
    }
}
