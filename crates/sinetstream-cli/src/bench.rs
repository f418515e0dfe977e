//! `sinetstream bench`: N writers and M readers over one service and topic; throughput,
//! end-to-end latency, errors and this process's CPU time and peak memory.

use std::io::IsTerminal as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Args;
use futures::StreamExt as _;
use sinetstream::{AsyncReader, AsyncWriter, Consistency, Map, Payload, Value};

use crate::error::{CliError, CliResult, error_chain};
use crate::output::{json_f64, json_str};
use crate::procstat;
use crate::read::seconds;
use crate::target::{Target, random_digits};

/// Arguments of `bench`.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    #[command(flatten)]
    pub(crate) target: Target,

    /// Number of writers
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub(crate) writers: usize,

    /// Number of readers (each reads every message)
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub(crate) readers: usize,

    /// Message size in bytes (the first 8 carry the send time)
    #[arg(long, value_name = "BYTES", default_value_t = 1024)]
    pub(crate) size: usize,

    /// Messages per writer (without writers: per reader); 0 = until --duration
    /// [default: 1000, or 0 with --duration]
    #[arg(long, value_name = "N")]
    pub(crate) count: Option<u64>,

    /// Messages per second over all writers (0 = as fast as possible)
    #[arg(long, value_name = "MSGS_PER_S", default_value_t = 0.0)]
    pub(crate) rate: f64,

    /// Stop writing (without writers: reading) after SECS seconds (0 = no limit)
    #[arg(long, value_name = "SECS", default_value_t = 0.0)]
    pub(crate) duration: f64,

    /// AT_MOST_ONCE, AT_LEAST_ONCE or EXACTLY_ONCE (default: the service's)
    #[arg(long, value_name = "CONSISTENCY")]
    pub(crate) consistency: Option<String>,

    /// Seconds the readers wait for missing messages once the writers are done
    #[arg(long, value_name = "SECS", default_value_t = 5.0)]
    pub(crate) timeout: f64,

    /// Print the results as one JSON object
    #[arg(long)]
    pub(crate) json: bool,
}

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Counters the tasks share (for the progress line and the stop conditions).
#[derive(Debug, Default)]
struct Shared {
    sent: AtomicU64,
    received: AtomicU64,
    errors: AtomicU64,
    stop: AtomicBool,
    writers_done_at: std::sync::Mutex<Option<Instant>>,
}

impl Shared {
    fn writers_done_at(&self) -> Option<Instant> {
        *self
            .writers_done_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[derive(Debug, Default)]
struct WriterResult {
    sent: u64,
    errors: u64,
    elapsed: Duration,
    first_error: Option<String>,
}

#[derive(Debug, Default)]
struct ReaderResult {
    received: u64,
    errors: u64,
    /// From the start of the run to the last message.
    elapsed: Duration,
    latencies_us: Vec<u64>,
    first_error: Option<String>,
}

struct Plan {
    count: u64,
    duration: Option<Duration>,
    /// Seconds between two messages of one writer.
    period: Option<f64>,
    size: usize,
    timeout: Duration,
    writers: usize,
}

async fn run_writer(
    mut w: AsyncWriter,
    plan: Arc<Plan>,
    shared: Arc<Shared>,
    start: Instant,
) -> WriterResult {
    let mut res = WriterResult::default();
    let mut payload: Vec<u8> = (0..plan.size).map(|i| (i % 251) as u8).collect();
    let mut i: u64 = 0;
    loop {
        if (plan.count > 0 && i >= plan.count)
            || plan.duration.is_some_and(|d| start.elapsed() >= d)
            || shared.stop.load(Ordering::Relaxed)
        {
            break;
        }
        if let Some(p) = plan.period {
            let due = start + Duration::from_secs_f64(i as f64 * p);
            if due > Instant::now() {
                tokio::time::sleep_until(due.into()).await;
            }
        }
        let ts = now_us();
        if payload.len() >= 8 {
            payload[..8].copy_from_slice(&ts.to_le_bytes());
        }
        match w
            .publish_with_timestamp(Payload::from(&payload[..]), ts)
            .await
        {
            Ok(()) => {
                res.sent += 1;
                shared.sent.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                res.errors += 1;
                shared.errors.fetch_add(1, Ordering::Relaxed);
                res.first_error.get_or_insert_with(|| error_chain(&e));
            }
        }
        i += 1;
    }
    // Close flushes: a message the broker did not take is an error.
    if let Err(e) = w.close().await {
        res.errors += 1;
        shared.errors.fetch_add(1, Ordering::Relaxed);
        res.first_error.get_or_insert_with(|| error_chain(&e));
    }
    res.elapsed = start.elapsed();
    res
}

async fn run_reader(
    mut r: AsyncReader,
    plan: Arc<Plan>,
    shared: Arc<Shared>,
    start: Instant,
) -> ReaderResult {
    let mut res = ReaderResult::default();
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last = Instant::now();
    loop {
        tokio::select! {
            biased;
            item = r.next() => match item {
                Some(Ok(m)) => {
                    let now = now_us();
                    res.received += 1;
                    shared.received.fetch_add(1, Ordering::Relaxed);
                    last = Instant::now();
                    res.elapsed = start.elapsed();
                    // The message's timestamp; with user_data_only there is none, and the
                    // send time the writer put in the first 8 bytes stands in.
                    let sent = if m.timestamp_us > 0 {
                        Some(m.timestamp_us)
                    } else {
                        m.value.as_bytes()
                            .and_then(|b| b.get(..8))
                            .and_then(|b| b.try_into().ok())
                            .map(i64::from_le_bytes)
                            .filter(|t| *t > 0)
                    };
                    if let Some(t) = sent {
                        res.latencies_us.push(u64::try_from(now - t).unwrap_or(0));
                    }
                }
                Some(Err(e)) => {
                    res.errors += 1;
                    shared.errors.fetch_add(1, Ordering::Relaxed);
                    res.first_error.get_or_insert_with(|| error_chain(&e));
                }
                None => break,
            },
            _ = tick.tick() => {}
        }
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        if plan.writers > 0 {
            if let Some(done) = shared.writers_done_at() {
                if res.received >= shared.sent.load(Ordering::Relaxed) {
                    break;
                }
                let quiet = done.max(last);
                if quiet.elapsed() >= plan.timeout {
                    break;
                }
            }
        } else if (plan.count > 0 && res.received >= plan.count)
            || plan.duration.is_some_and(|d| start.elapsed() >= d)
        {
            break;
        }
    }
    if let Err(e) = r.close().await {
        tracing::debug!("closing a reader: {}", error_chain(&e));
    }
    res
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[u64], q: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// One row of the summary.
#[derive(Debug, Default)]
struct Row {
    clients: usize,
    msgs: u64,
    errors: u64,
    lost: Option<u64>,
    elapsed_s: f64,
    latency_ms: Option<[f64; 4]>,
    first_error: Option<String>,
}

impl Row {
    fn msgs_per_s(&self) -> f64 {
        if self.elapsed_s > 0.0 {
            self.msgs as f64 / self.elapsed_s
        } else {
            0.0
        }
    }
    fn mb_per_s(&self, size: usize) -> f64 {
        self.msgs_per_s() * size as f64 / 1e6
    }
    fn json(&self, size: usize) -> String {
        let lat = match self.latency_ms {
            Some([p50, p90, p99, max]) => format!(
                "{{\"p50\":{},\"p90\":{},\"p99\":{},\"max\":{}}}",
                json_f64(p50),
                json_f64(p90),
                json_f64(p99),
                json_f64(max)
            ),
            None => "null".to_owned(),
        };
        format!(
            "{{\"clients\":{},\"msgs\":{},\"errors\":{},\"lost\":{},\"elapsed_s\":{},\"msgs_per_s\":{},\"mb_per_s\":{},\"latency_ms\":{lat},\"first_error\":{}}}",
            self.clients,
            self.msgs,
            self.errors,
            self.lost.map_or("null".to_owned(), |l| l.to_string()),
            json_f64(self.elapsed_s),
            json_f64(self.msgs_per_s()),
            json_f64(self.mb_per_s(size)),
            self.first_error
                .as_deref()
                .map_or("null".to_owned(), json_str),
        )
    }
    fn line(&self, role: &str, size: usize) -> String {
        let lat: Vec<String> = match self.latency_ms {
            Some(l) => l.iter().map(|x| format!("{x:>8.3}")).collect(),
            None => vec![format!("{:>8}", "-"); 4],
        };
        format!(
            "{role:<6} {:>7} {:>10} {:>7} {:>7} {:>10.3} {:>11.1} {:>9.3} {}",
            self.clients,
            self.msgs,
            self.errors,
            self.lost.map_or("-".to_owned(), |l| l.to_string()),
            self.elapsed_s,
            self.msgs_per_s(),
            self.mb_per_s(size),
            lat.join(" ")
        )
    }
}

const HEADER: &str = "role   clients       msgs  errors    lost  elapsed_s      msgs/s      MB/s   p50_ms   p90_ms   p99_ms   max_ms";

fn progress_bar() -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let pb = indicatif::ProgressBar::new_spinner();
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
    {
        pb.set_style(style);
    }
    Some(pb)
}

/// Runs `bench`.
pub(crate) async fn run(args: BenchArgs) -> CliResult {
    if args.writers == 0 && args.readers == 0 {
        return Err(CliError::usage(
            "bench needs --writers or --readers (or both)",
        ));
    }
    let duration = seconds("--duration", args.duration)?;
    let duration = (!duration.is_zero()).then_some(duration);
    let count = args
        .count
        .unwrap_or(if duration.is_some() { 0 } else { 1000 });
    if count == 0 && duration.is_none() {
        return Err(CliError::usage(
            "bench needs --count or --duration (or both)",
        ));
    }
    if !(args.rate.is_finite() && args.rate >= 0.0) {
        return Err(CliError::usage(
            "--rate must be a non-negative number of messages per second",
        ));
    }
    let timeout = seconds("--timeout", args.timeout)?;
    let consistency = args
        .consistency
        .as_deref()
        .map(str::parse::<Consistency>)
        .transpose()?;

    let mut target = args.target.clone();
    let cli_params = target.params()?;
    if target.topic.is_none() && !cli_params.contains_key("topic") {
        target.topic = Some(format!("sinetstream-bench-{}", random_digits(8)));
    }
    let mut extra = Map::new();
    extra.insert("value_type", "byte_array");
    if let Some(c) = consistency {
        extra.insert("consistency", Value::from(c));
    }
    let mut reader_defs = Vec::new();
    for _ in 0..args.readers {
        reader_defs.push(target.reader(&extra)?.build()?);
    }
    let mut writer_defs = Vec::new();
    for _ in 0..args.writers {
        writer_defs.push(target.writer(&extra)?.build()?);
    }
    // Readers subscribe before anything is written.
    let mut readers = Vec::new();
    for (i, d) in reader_defs.iter().enumerate() {
        let r = d
            .open_async()
            .await
            .map_err(|e| CliError::from(e).context(format!("bench: reader {}", i + 1)))?;
        readers.push(r);
    }
    let mut writers = Vec::new();
    for (i, d) in writer_defs.iter().enumerate() {
        let w = d
            .open_async()
            .await
            .map_err(|e| CliError::from(e).context(format!("bench: writer {}", i + 1)))?;
        writers.push(w);
    }
    let (service, kind, topic, consistency) = match (writers.first(), readers.first()) {
        (Some(w), _) => (
            w.service().to_owned(),
            w.backend_type().to_owned(),
            w.topic().to_owned(),
            w.consistency(),
        ),
        (None, Some(r)) => (
            r.service().to_owned(),
            r.backend_type().to_owned(),
            r.topics().join(","),
            r.consistency(),
        ),
        (None, None) => return Err(CliError::usage("nothing to run")),
    };

    let plan = Arc::new(Plan {
        count,
        duration,
        period: (args.rate > 0.0).then(|| args.writers.max(1) as f64 / args.rate),
        size: args.size,
        timeout,
        writers: args.writers,
    });
    let shared = Arc::new(Shared::default());
    let start = Instant::now();
    let reader_tasks: Vec<_> = readers
        .into_iter()
        .map(|r| tokio::spawn(run_reader(r, plan.clone(), shared.clone(), start)))
        .collect();
    let writer_tasks: Vec<_> = writers
        .into_iter()
        .map(|w| tokio::spawn(run_writer(w, plan.clone(), shared.clone(), start)))
        .collect();

    // Ctrl-C stops everyone; the results so far are still printed.
    let stopper = {
        let shared = shared.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                shared.stop.store(true, Ordering::Relaxed);
            }
        })
    };
    let progress = progress_bar().map(|pb| {
        let shared = shared.clone();
        let pb2 = pb.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(200));
            loop {
                tick.tick().await;
                let t = start.elapsed().as_secs_f64().max(1e-9);
                let sent = shared.sent.load(Ordering::Relaxed);
                let recv = shared.received.load(Ordering::Relaxed);
                pb2.set_message(format!(
                    "sent {sent} ({:.0}/s), received {recv} ({:.0}/s), errors {}",
                    sent as f64 / t,
                    recv as f64 / t,
                    shared.errors.load(Ordering::Relaxed)
                ));
                pb2.tick();
            }
        });
        (pb, task)
    });

    let wres = collect(writer_tasks).await?;
    *shared
        .writers_done_at
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Instant::now());
    let rres = collect(reader_tasks).await?;
    stopper.abort();
    if let Some((pb, task)) = progress {
        task.abort();
        pb.finish_and_clear();
    }

    let wrow = (!wres.is_empty()).then(|| Row {
        clients: wres.len(),
        msgs: wres.iter().map(|r| r.sent).sum(),
        errors: wres.iter().map(|r| r.errors).sum(),
        lost: None,
        elapsed_s: wres
            .iter()
            .map(|r| r.elapsed.as_secs_f64())
            .fold(0.0, f64::max),
        latency_ms: None,
        first_error: wres.iter().find_map(|r| r.first_error.clone()),
    });
    let rrow = (!rres.is_empty()).then(|| {
        let mut lat: Vec<u64> = rres
            .iter()
            .flat_map(|r| r.latencies_us.iter().copied())
            .collect();
        lat.sort_unstable();
        let ms = |q: f64| percentile(&lat, q).map(|us| us as f64 / 1000.0);
        let latency_ms = match (ms(0.5), ms(0.9), ms(0.99), ms(1.0)) {
            (Some(a), Some(b), Some(c), Some(d)) => Some([a, b, c, d]),
            _ => None,
        };
        let received: u64 = rres.iter().map(|r| r.received).sum();
        let lost = wrow
            .as_ref()
            .map(|w| (w.msgs * rres.len() as u64).saturating_sub(received));
        Row {
            clients: rres.len(),
            msgs: received,
            errors: rres.iter().map(|r| r.errors).sum(),
            lost,
            elapsed_s: rres
                .iter()
                .map(|r| r.elapsed.as_secs_f64())
                .fold(0.0, f64::max),
            latency_ms,
            first_error: rres.iter().find_map(|r| r.first_error.clone()),
        }
    });
    let cpu = procstat::cpu_time();
    let rss = procstat::max_rss_bytes();

    if args.json {
        let row = |r: &Option<Row>| r.as_ref().map_or("null".to_owned(), |r| r.json(args.size));
        let cpu_json = cpu.map_or("null".to_owned(), |c| {
            format!(
                "{{\"user_s\":{},\"system_s\":{}}}",
                json_f64(c.user_s),
                json_f64(c.system_s)
            )
        });
        println!(
            "{{\"service\":{},\"type\":{},\"topic\":{},\"size\":{},\"consistency\":{},\"rate\":{},\"writers\":{},\"readers\":{},\"cpu\":{cpu_json},\"max_rss_bytes\":{}}}",
            json_str(&service),
            json_str(&kind),
            json_str(&topic),
            args.size,
            json_str(consistency.as_str()),
            json_f64(args.rate),
            row(&wrow),
            row(&rrow),
            rss.map_or("null".to_owned(), |b| b.to_string()),
        );
    } else {
        let rate = if args.rate > 0.0 {
            format!("{} msg/s", args.rate)
        } else {
            "max".to_owned()
        };
        println!(
            "sinetstream bench: service {} ({kind}), topic {topic}, {} writer(s), {} reader(s), {}-byte messages, {consistency}, rate {rate}",
            crate::ping::service_label(&service),
            args.writers,
            args.readers,
            args.size
        );
        println!("{HEADER}");
        if let Some(w) = &wrow {
            println!("{}", w.line("write", args.size));
        }
        if let Some(r) = &rrow {
            println!("{}", r.line("read", args.size));
        }
        let cpu_text = cpu.map_or("n/a".to_owned(), |c| {
            format!("user {:.2} s, system {:.2} s", c.user_s, c.system_s)
        });
        let rss_text = rss.map_or("n/a".to_owned(), |b| {
            format!("{:.1} MiB", b as f64 / 1048576.0)
        });
        println!("client cpu: {cpu_text}; max RSS: {rss_text}");
        for (role, row) in [("write", &wrow), ("read", &rrow)] {
            if let Some(e) = row.as_ref().and_then(|r| r.first_error.as_deref()) {
                println!("first {role} error: {e}");
            }
        }
    }
    Ok(())
}

async fn collect<T>(tasks: Vec<tokio::task::JoinHandle<T>>) -> CliResult<Vec<T>> {
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(
            t.await
                .map_err(|e| CliError::runtime(format!("bench: a task failed: {e}")))?,
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.5), Some(50));
        assert_eq!(percentile(&v, 0.9), Some(90));
        assert_eq!(percentile(&v, 0.99), Some(99));
        assert_eq!(percentile(&v, 1.0), Some(100));
        assert_eq!(percentile(&[7], 0.5), Some(7));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn rows() {
        let r = Row {
            clients: 2,
            msgs: 2000,
            errors: 0,
            lost: Some(0),
            elapsed_s: 2.0,
            latency_ms: Some([1.0, 2.0, 3.0, 4.0]),
            first_error: None,
        };
        assert_eq!(r.msgs_per_s(), 1000.0);
        assert_eq!(r.mb_per_s(1000), 1.0);
        let v: serde_json::Value = serde_json::from_str(&r.json(1000)).expect("json");
        assert_eq!(v["latency_ms"]["p99"], 3.0);
        assert!(r.line("read", 1000).starts_with("read"));
    }
}
