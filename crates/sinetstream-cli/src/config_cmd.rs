//! `sinetstream config show|check`: what a service's parameters are, and what is wrong with them.

use std::fmt::Debug;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use clap::{Args, Subcommand};
use sinetstream::config::value::is_secret_key;
use sinetstream::config::{CommonTls, ConfigFile};
use sinetstream::{Map, Value};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt as _};

use crate::error::{CliError, CliResult, error_chain};
use crate::output::{json_f64, json_map, json_str, yaml_map};
use crate::read::seconds;
use crate::target::Target;

/// `config` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Print the merged parameters of a service (all services without -s), secrets masked
    Show(ShowArgs),
    /// Load every service (or the one of -s) and report warnings, unknown types and unreadable
    /// files; exit 2 if anything is wrong
    Check(CheckArgs),
}

/// Arguments of `config show`.
#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    #[command(flatten)]
    pub(crate) target: Target,

    /// Print JSON instead of YAML
    #[arg(long)]
    pub(crate) json: bool,
}

/// Arguments of `config check`.
#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    #[command(flatten)]
    pub(crate) target: Target,

    /// Also connect a writer to each service (reports the backend's own warnings and whether
    /// the broker accepts the connection)
    #[arg(long)]
    pub(crate) connect: bool,

    /// Seconds to wait for each connection (with --connect)
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub(crate) timeout: f64,

    /// Print one JSON object instead of text: {"config": FILE, "version": N, "ok": BOOL,
    /// "errors": [PROBLEM], "services": [{"service": NAME, "type": TYPE, "ok": BOOL,
    /// "connected_ms": MS|null, "warnings": [PROBLEM], "errors": [PROBLEM]}]}, where PROBLEM is
    /// {"key": "tls.ca_certs"|null, "message": TEXT}; a service is ok with neither warnings
    /// nor errors. The top-level "errors" are about the file itself ("config" and "version"
    /// are null when it cannot be loaded). Secrets stay masked; exit codes as without --json
    #[arg(long)]
    pub(crate) json: bool,
}

/// Runs a `config` subcommand.
pub(crate) fn run(cmd: ConfigCommand) -> CliResult {
    match cmd {
        ConfigCommand::Show(a) => show(a),
        ConfigCommand::Check(a) => check(a),
    }
}

/// The services a command is about: the one named, the only one, or all.
fn selected(target: &Target, file: &ConfigFile) -> Vec<Option<String>> {
    if target.no_config || target.service.is_some() || file.service_names().len() <= 1 {
        vec![target.service.clone()]
    } else {
        file.service_names()
            .into_iter()
            .map(|s| Some(s.to_owned()))
            .collect()
    }
}

/// The library's built-in defaults that a service block may leave out.
fn with_defaults(mut m: Map) -> Map {
    for (k, v) in [
        ("consistency", "AT_MOST_ONCE"),
        ("value_type", "byte_array"),
    ] {
        if !m.contains_key(k) {
            m.insert(k, v);
        }
    }
    m
}

fn show(args: ShowArgs) -> CliResult {
    let file = args.target.load_file()?;
    let mut services: Vec<(String, Map)> = Vec::new();
    for name in selected(&args.target, &file) {
        let t = Target {
            service: name,
            ..args.target.clone()
        };
        let (name, block) = t.merged_block(&file)?;
        services.push((name, with_defaults(block)));
    }
    if args.json {
        let body: Vec<String> = services
            .iter()
            .map(|(n, m)| format!("{}:{}", json_str(n), json_map(m, false)))
            .collect();
        println!(
            "{{\"origin\":{},\"version\":{},\"services\":{{{}}}}}",
            json_str(file.origin()),
            file.version(),
            body.join(",")
        );
    } else {
        let mut out = format!(
            "# {} (config format version {}); secrets masked\n",
            file.origin(),
            file.version()
        );
        for (n, m) in &services {
            let mut one = Map::new();
            one.insert(n.clone(), m.clone());
            yaml_map(&mut out, &one, 0, false);
        }
        print!("{out}");
    }
    Ok(())
}

/// One thing wrong with a service: the parameter it is about (when known) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Problem {
    key: Option<String>,
    message: String,
}

impl Problem {
    /// A problem whose key is taken from the message (`parameter "KEY"` or a leading `KEY: `).
    fn new(message: String) -> Self {
        Problem {
            key: key_in(&message),
            message,
        }
    }

    fn json(&self) -> String {
        format!(
            "{{\"key\":{},\"message\":{}}}",
            self.key
                .as_deref()
                .map_or_else(|| "null".to_owned(), json_str),
            json_str(&self.message)
        )
    }
}

/// The parameter a library message names: `... parameter "KEY" ...` (the form of the library's
/// warnings and errors).
fn key_in(message: &str) -> Option<String> {
    let (_, rest) = message.split_once("parameter \"")?;
    let (key, _) = rest.split_once('"')?;
    (!key.is_empty()).then(|| key.to_owned())
}

/// Collects the `tracing` warnings (and errors) emitted while it is the current subscriber.
#[derive(Debug, Clone, Default)]
struct Collector(Arc<Mutex<Vec<Problem>>>);

/// The `message` of an event, and its `key` field where the library gives one.
#[derive(Default)]
struct MessageVisitor {
    message: String,
    key: Option<String>,
}

impl Visit for MessageVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message = value.to_owned(),
            "key" => self.key = Some(value.to_owned()),
            _ => {}
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            "key" => self.key = Some(format!("{value:?}")),
            _ => {}
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Collector {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        // Levels order by verbosity: ERROR < WARN < INFO.
        if *event.metadata().level() > tracing::Level::WARN {
            return;
        }
        let mut v = MessageVisitor::default();
        event.record(&mut v);
        let key = v.key.or_else(|| key_in(&v.message));
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Problem {
                key,
                message: v.message,
            });
    }
}

impl Collector {
    fn take(&self) -> Vec<Problem> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Keys that name files the backends open.
fn is_file_key(k: &str) -> bool {
    !k.ends_with("_data") && (k == "ca_certs" || k.ends_with("file") || k.ends_with("_path"))
}

/// Every file named by `map` that cannot be read.
fn unreadable_files(map: &Map, prefix: &str, out: &mut Vec<Problem>) {
    for (k, v) in map.iter() {
        let path = if prefix.is_empty() {
            k.to_owned()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            Value::Map(m) => unreadable_files(m, &path, out),
            Value::Str(p) if is_file_key(k) => {
                let r = std::fs::metadata(p).and_then(|md| {
                    if md.is_dir() && k != "ca_path" {
                        Err(std::io::Error::other("is a directory"))
                    } else if md.is_dir() {
                        std::fs::read_dir(p).map(|_| ())
                    } else {
                        std::fs::File::open(p).map(|_| ())
                    }
                });
                if let Err(e) = r {
                    let message = if is_secret_key(k) {
                        format!("{path}: cannot read the file it names: {e}")
                    } else {
                        format!("{path}: cannot read {p}: {e}")
                    };
                    out.push(Problem {
                        key: Some(path),
                        message,
                    });
                }
            }
            _ => {}
        }
    }
}

fn push_unique(v: &mut Vec<Problem>, p: Problem) {
    if !v.iter().any(|q| q.message == p.message) {
        v.push(p);
    }
}

/// The report on one service.
struct ServiceReport {
    name: String,
    kind: String,
    /// What the library logged as warnings while building (and connecting) it.
    warnings: Vec<Problem>,
    /// Build and connection failures, unreadable files.
    errors: Vec<Problem>,
    connected: Option<Duration>,
}

impl ServiceReport {
    fn ok(&self) -> bool {
        self.warnings.is_empty() && self.errors.is_empty()
    }

    fn problem_count(&self) -> usize {
        self.warnings.len() + self.errors.len()
    }

    /// The text lines: warnings first (marked so), then errors.
    fn problem_lines(&self) -> impl Iterator<Item = String> + '_ {
        self.warnings
            .iter()
            .map(|w| format!("warning: {}", w.message))
            .chain(self.errors.iter().map(|e| e.message.clone()))
    }

    fn json(&self) -> String {
        let list = |v: &[Problem]| {
            let items: Vec<String> = v.iter().map(Problem::json).collect();
            format!("[{}]", items.join(","))
        };
        format!(
            "{{\"service\":{},\"type\":{},\"ok\":{},\"connected_ms\":{},\"warnings\":{},\"errors\":{}}}",
            json_str(&self.name),
            json_str(&self.kind),
            self.ok(),
            self.connected
                .map_or_else(|| "null".to_owned(), |d| json_f64(d.as_secs_f64() * 1000.0)),
            list(&self.warnings),
            list(&self.errors)
        )
    }
}

fn check_service(
    target: &Target,
    file: &ConfigFile,
    collector: &Collector,
    rt: Option<&tokio::runtime::Runtime>,
    timeout: Duration,
) -> ServiceReport {
    let mut report = ServiceReport {
        name: target.service.clone().unwrap_or_default(),
        kind: "?".to_owned(),
        warnings: Vec::new(),
        errors: Vec::new(),
        connected: None,
    };
    let block = match target.merged_block(file) {
        Ok((name, block)) => {
            report.name = name;
            block
        }
        Err(e) => {
            report.errors.push(Problem::new(e.message));
            return report;
        }
    };
    // A missing or unknown type is reported by the builds below.
    if let Some(Value::Str(t)) = block.get("type") {
        report.kind = t.clone();
    }
    let mut problems = Vec::new();
    let _ = collector.take();
    // The topics may come from the command line at run time: lend one where the file has none.
    let mut extra = Map::new();
    if !block.contains_key("topic") {
        extra.insert("topic", "sinetstream-config-check");
    }
    let writer = target
        .writer(&extra)
        .and_then(|b| b.build().map_err(CliError::from));
    let writer = match writer {
        Ok(w) => {
            let _ = CommonTls::from_params(&w.config().common());
            Some(w)
        }
        Err(e) => {
            push_unique(&mut problems, Problem::new(e.message));
            None
        }
    };
    let mut extra = Map::new();
    if !block.contains_key("topic") && !block.contains_key("topics") {
        extra.insert("topic", "sinetstream-config-check");
    }
    if let Err(e) = target
        .reader(&extra)
        .and_then(|b| b.build().map_err(CliError::from))
    {
        push_unique(&mut problems, Problem::new(e.message));
    }
    if let (Some(rt), Some(w)) = (rt, writer.as_ref()) {
        let r = rt.block_on(async {
            let t0 = std::time::Instant::now();
            match tokio::time::timeout(timeout, w.open_async()).await {
                Ok(Ok(h)) => {
                    let elapsed = t0.elapsed();
                    h.close().await.map(|()| elapsed)
                }
                Ok(Err(e)) => Err(e),
                Err(_) => Err(sinetstream::Error::connection(format!(
                    "no connection within {} s",
                    timeout.as_secs_f64()
                ))),
            }
        });
        match r {
            Ok(d) => report.connected = Some(d),
            Err(e) => problems.push(Problem {
                key: None,
                message: format!("connect: {}", error_chain(&e)),
            }),
        }
    }
    for w in collector.take() {
        push_unique(&mut report.warnings, w);
    }
    for p in problems {
        push_unique(&mut report.errors, p);
    }
    let mut files = Vec::new();
    unreadable_files(&block, "", &mut files);
    for f in files {
        push_unique(&mut report.errors, f);
    }
    report
}

fn check(args: CheckArgs) -> CliResult {
    let timeout = seconds("--timeout", args.timeout)?;
    let file = match args.target.load_file() {
        Ok(f) => f,
        Err(e) => {
            if args.json {
                // Still one JSON object on stdout; the error line goes to stderr as usual.
                println!(
                    "{{\"config\":null,\"version\":null,\"ok\":false,\"errors\":[{}],\"services\":[]}}",
                    Problem::new(e.message.clone()).json()
                );
            }
            return Err(e);
        }
    };
    let names = selected(&args.target, &file);
    if !args.json {
        println!(
            "config: {} (format version {}, {} service(s))",
            file.origin(),
            file.version(),
            file.service_names().len()
        );
    }
    let rt = if args.connect {
        Some(
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| CliError::runtime(format!("cannot start the async runtime: {e}")))?,
        )
    } else {
        None
    };
    let collector = Collector::default();
    let subscriber = tracing_subscriber::registry().with(collector.clone());
    let reports: Vec<ServiceReport> = tracing::subscriber::with_default(subscriber, || {
        names
            .iter()
            .map(|n| {
                let t = Target {
                    service: n.clone(),
                    ..args.target.clone()
                };
                check_service(&t, &file, &collector, rt.as_ref(), timeout)
            })
            .collect()
    });
    let bad = reports.iter().filter(|r| !r.ok()).count();
    let total: usize = reports.iter().map(ServiceReport::problem_count).sum();
    if args.json {
        let services: Vec<String> = reports.iter().map(ServiceReport::json).collect();
        println!(
            "{{\"config\":{},\"version\":{},\"ok\":{},\"errors\":[],\"services\":[{}]}}",
            json_str(file.origin()),
            file.version(),
            bad == 0,
            services.join(",")
        );
    } else {
        for r in &reports {
            let connected = r
                .connected
                .map(|d| format!(", connected in {:.1} ms", d.as_secs_f64() * 1000.0))
                .unwrap_or_default();
            if r.ok() {
                println!("{} ({}): ok{connected}", r.name, r.kind);
            } else {
                println!(
                    "{} ({}): {} problem(s){connected}",
                    r.name,
                    r.kind,
                    r.problem_count()
                );
                for p in r.problem_lines() {
                    println!("  - {p}");
                }
            }
        }
    }
    if bad > 0 {
        return Err(CliError::usage(format!(
            "config check: {total} problem(s) in {bad} of {} service(s)",
            reports.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_keys() {
        for k in [
            "ca_certs",
            "certfile",
            "keyfile",
            "ssl_cafile",
            "ssl_crlfile",
            "ca_path",
        ] {
            assert!(is_file_key(k), "{k}");
        }
        for k in [
            "keyfilePassword",
            "ca_certs_data",
            "keyfile_data",
            "key",
            "brokers",
        ] {
            assert!(!is_file_key(k), "{k}");
        }
    }

    #[test]
    fn collector_keeps_warnings_only() {
        let c = Collector::default();
        let sub = tracing_subscriber::registry().with(c.clone());
        tracing::subscriber::with_default(sub, || {
            tracing::info!("not this");
            tracing::warn!(key = 1, "this {}", 2);
            tracing::error!("and this");
        });
        assert_eq!(
            c.take(),
            vec![
                Problem {
                    key: Some("1".to_owned()),
                    message: "this 2".to_owned()
                },
                Problem {
                    key: None,
                    message: "and this".to_owned()
                }
            ]
        );
    }

    #[test]
    fn keys_from_messages() {
        assert_eq!(
            key_in("service \"s\": parameter \"tls.ca_certs\" should be a string").as_deref(),
            Some("tls.ca_certs")
        );
        assert_eq!(key_in("connect: refused"), None);
        assert_eq!(key_in("parameter \"\" odd"), None);
        assert_eq!(key_in("parameter \"unterminated"), None);
        let p = Problem::new("service \"s\": parameter \"x\" is odd".to_owned());
        assert_eq!(
            p.json(),
            r#"{"key":"x","message":"service \"s\": parameter \"x\" is odd"}"#
        );
    }
}
