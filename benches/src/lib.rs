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
    cpu_from_stat("/proc/self/stat")
}

/// CPU time (user + system, all threads) process `pid` has used so far, as [`process_cpu`]
/// reads it: for a broker's share of a run.
pub fn cpu_of(pid: u32) -> Duration {
    cpu_from_stat(&format!("/proc/{pid}/stat"))
}

/// The pid in a broker's pid file, if the file holds one.
pub fn pid_in(file: &str) -> Option<u32> {
    std::fs::read_to_string(file).ok()?.trim().parse().ok()
}

fn cpu_from_stat(path: &str) -> Duration {
    let Ok(stat) = std::fs::read_to_string(path) else {
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

/// A broker's CPU use over a stretch of a benchmark: how busy it was, and its CPU time per
/// message. When a broker is busy nearly all the time it sets the pace, and clients can only
/// differ by what they make it do per message.
#[derive(Debug, Clone, Copy)]
pub struct BrokerLoad {
    pid: Option<u32>,
    cpu0: Duration,
    t0: std::time::Instant,
}

impl BrokerLoad {
    /// Starts measuring the process `pid` (nothing is measured when `None`).
    pub fn start(pid: Option<u32>) -> BrokerLoad {
        BrokerLoad {
            pid,
            cpu0: pid.map(cpu_of).unwrap_or_default(),
            t0: std::time::Instant::now(),
        }
    }

    /// The broker's CPU time per message (µs) and its busy share of the wall time (one core
    /// = 1.0) since `start`, for `n` messages; `None` without a pid.
    pub fn finish(&self, n: usize) -> Option<(f64, f64)> {
        let pid = self.pid?;
        let cpu = cpu_of(pid).saturating_sub(self.cpu0).as_secs_f64();
        let wall = self.t0.elapsed().as_secs_f64().max(1e-9);
        Some((cpu * 1e6 / n.max(1) as f64, cpu / wall))
    }
}

/// Whether a larger or a smaller figure is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    /// Throughput.
    Higher,
    /// Latency, CPU time.
    Lower,
}

/// Who a measured client is: this project's code or a reference to compare with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// sinetstream-rs.
    Ours,
    /// A reference client (rumqttc, librdkafka, the Java client, Python SINETStream).
    Reference,
}

/// One machine-readable measurement.
#[derive(Debug, Clone)]
pub struct Measurement<'a> {
    /// The benchmark (`mqtt`, `kafka`, `kafka_consumer`).
    pub bench: &'a str,
    /// The case within it (sizes, settings).
    pub case: &'a str,
    /// The client measured.
    pub client: &'a str,
    /// Ours or a reference.
    pub role: Role,
    /// What was measured (`msgs/s`, `round trip p50`, ...).
    pub metric: &'a str,
    /// The figure.
    pub value: f64,
    /// Its unit.
    pub unit: &'a str,
    /// Which direction is better.
    pub better: Better,
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Measurement<'_> {
    /// The measurement as one JSON object (no newline).
    pub fn json(&self) -> String {
        let value = if self.value.is_finite() {
            format!("{}", self.value)
        } else {
            "null".to_owned()
        };
        format!(
            "{{\"bench\":{},\"case\":{},\"client\":{},\"role\":{},\"metric\":{},\"value\":{value},\"unit\":{},\"better\":{}}}",
            json_string(self.bench),
            json_string(self.case),
            json_string(self.client),
            json_string(match self.role {
                Role::Ours => "ours",
                Role::Reference => "reference",
            }),
            json_string(self.metric),
            json_string(self.unit),
            json_string(match self.better {
                Better::Higher => "higher",
                Better::Lower => "lower",
            }),
        )
    }

    /// Appends the measurement as one JSON line to the file named by `BENCH_JSON`, if set
    /// (scripts/bench collects them into its report); does nothing otherwise.
    pub fn emit(&self) {
        let Some(path) = std::env::var_os("BENCH_JSON").filter(|p| !p.is_empty()) else {
            return;
        };
        use std::io::Write as _;
        let line = format!("{}\n", self.json());
        let res = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(line.as_bytes()));
        if let Err(e) = res {
            eprintln!("BENCH_JSON={}: {e}", std::path::Path::new(&path).display());
        }
    }
}

/// Emits both figures of `row` (see [`Measurement::emit`]): `ours` by `our_client`, `reference`
/// by `ref_client`, both under `case` and `metric`, in the row's unit and direction.
pub fn emit_row(bench: &str, case: &str, metric: &str, row: &Row, clients: [&str; 2]) {
    let better = if row.higher_is_better {
        Better::Higher
    } else {
        Better::Lower
    };
    for (client, role, value) in [
        (clients[0], Role::Ours, row.ours),
        (clients[1], Role::Reference, row.reference),
    ] {
        Measurement {
            bench,
            case,
            client,
            role,
            metric,
            value,
            unit: row.unit,
            better,
        }
        .emit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measurement_json() {
        let m = Measurement {
            bench: "mqtt",
            case: "QoS 1 \"x\"",
            client: "rumqttc",
            role: Role::Reference,
            metric: "msgs/s",
            value: 1.5,
            unit: "msg/s",
            better: Better::Higher,
        };
        assert_eq!(
            m.json(),
            r#"{"bench":"mqtt","case":"QoS 1 \"x\"","client":"rumqttc","role":"reference","metric":"msgs/s","value":1.5,"unit":"msg/s","better":"higher"}"#
        );
        let nan = Measurement {
            value: f64::NAN,
            ..m
        };
        assert!(nan.json().contains("\"value\":null"));
    }
}
