//! Choosing a partition: the Java client's key hash (so that a key lands on
//! the same partition whichever client wrote it), and sticky partitioning
//! for records without a key.

use rand::Rng as _;

/// Kafka's murmur2 (`org.apache.kafka.common.utils.Utils.murmur2`), bit for
/// bit, including its signed result.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let len = data.len();
    // Java's `int` arithmetic: the length is truncated to 32 bits too.
    let mut h: u32 = SEED ^ (len as u32);
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition of `key` among `partitions`, as the Java client's
/// `BuiltInPartitioner.partitionForKey`: `toPositive(murmur2(key)) % n`.
pub(crate) fn partition_for_key(key: &[u8], partitions: usize) -> i32 {
    let positive = (murmur2(key) & 0x7fff_ffff) as u32;
    let n = u32::try_from(partitions.max(1)).unwrap_or(u32::MAX);
    (positive % n) as i32
}

/// Sticky choice for keyless records: stay on one partition until about a
/// batch worth of bytes went there, then move to another (KIP-794). Fewer,
/// fuller batches than round-robin.
#[derive(Debug, Clone)]
pub(crate) struct Sticky {
    partition: i32,
    bytes: usize,
}

impl Sticky {
    /// A fresh choice among `available` (partitions with a leader), or
    /// among all `partitions` when none is available.
    pub(crate) fn new(available: &[i32], partitions: usize, avoid: Option<i32>) -> Sticky {
        Sticky {
            partition: pick(available, partitions, avoid),
            bytes: 0,
        }
    }

    pub(crate) fn partition(&self) -> i32 {
        self.partition
    }

    /// Accounts a record of `size` bytes; returns whether to switch next.
    pub(crate) fn add(&mut self, size: usize, batch_size: usize) -> bool {
        self.bytes += size;
        self.bytes >= batch_size
    }
}

fn pick(available: &[i32], partitions: usize, avoid: Option<i32>) -> i32 {
    let mut rng = rand::rng();
    let candidates: Vec<i32> = if available.is_empty() {
        (0..i32::try_from(partitions.max(1)).unwrap_or(i32::MAX)).collect()
    } else {
        available.to_vec()
    };
    let filtered: Vec<i32> = candidates
        .iter()
        .copied()
        .filter(|p| Some(*p) != avoid)
        .collect();
    let from = if filtered.is_empty() {
        &candidates
    } else {
        &filtered
    };
    from[rng.random_range(0..from.len())]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values computed with the Java client's `Utils.murmur2`.
    #[test]
    fn murmur2_matches_java() {
        let cases: &[(&[u8], i32)] = &[
            (b"21", -973932308),
            (b"foobar", -790332482),
            (b"a-little-bit-long-string", -985981536),
            (b"a-little-bit-longer-string", -1486304829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58897971,
            ),
            (b"abc", 479470107),
            (b"", 275646681),
            (b"k", -1567496736),
            (b"key-0", 29210041),
        ];
        for (data, want) in cases {
            assert_eq!(murmur2(data), *want, "{}", String::from_utf8_lossy(data));
        }
    }

    #[test]
    fn key_partition_is_positive_modulo() {
        // toPositive(-973932308) % 7
        assert_eq!(
            partition_for_key(b"21", 7),
            ((-973932308i32 & 0x7fffffff) % 7)
        );
        for n in 1..20 {
            let p = partition_for_key(b"foobar", n);
            assert!((0..n as i32).contains(&p));
        }
    }

    #[test]
    fn sticky_switches_after_a_batch() {
        let mut s = Sticky::new(&[0, 1, 2], 3, None);
        let first = s.partition();
        assert!(!s.add(100, 250));
        assert!(!s.add(100, 250));
        assert!(s.add(100, 250));
        let next = Sticky::new(&[0, 1, 2], 3, Some(first));
        assert_ne!(next.partition(), first);
        assert_eq!(Sticky::new(&[2], 3, Some(2)).partition(), 2);
    }
}
