//! Shared bits of the benchmarks: timing summaries and the ratio table.

use std::time::Duration;

/// Percentile `p` (0–100) of sorted `v`.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// One row of a comparison: our figure, the reference's, and which is better when larger.
#[derive(Debug, Clone)]
pub struct Row {
    /// What was measured.
    pub name: String,
    /// Unit of the figures.
    pub unit: &'static str,
    /// Ours.
    pub ours: f64,
    /// The reference client's.
    pub reference: f64,
    /// Larger is better (throughput) or smaller is better (latency).
    pub higher_is_better: bool,
}

impl Row {
    /// ours / reference for throughput, reference / ours for latency: > 1 means we are better.
    pub fn ratio(&self) -> f64 {
        if self.higher_is_better {
            self.ours / self.reference
        } else {
            self.reference / self.ours
        }
    }
}

/// Prints rows as a markdown table.
pub fn print_table(title: &str, reference: &str, rows: &[Row]) {
    println!("\n### {title}\n");
    println!("| measure | sinetstream-rs | {reference} | ratio (>1 = ours better) |");
    println!("|---|---:|---:|---:|");
    for r in rows {
        println!(
            "| {} ({}) | {:.1} | {:.1} | {:.2}x |",
            r.name,
            r.unit,
            r.ours,
            r.reference,
            r.ratio()
        );
    }
}

/// CPU time (user + system) this process has used so far, from `/proc/self/stat` (Linux; zero
/// elsewhere). Its resolution is a clock tick (10 ms), so measure runs of a second or more.
pub fn process_cpu() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // The command name (field 2) may hold spaces; the fields after its ')' are fixed.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return Duration::ZERO;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after ')'.
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}
