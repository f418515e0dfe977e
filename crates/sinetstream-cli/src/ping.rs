//! `sinetstream ping`: Python `sinetstream_cli ping`, plus a verdict. A reader and a writer on a
//! fresh topic; each ping is a random text that the reader must see again.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use clap::Args;
use futures::StreamExt as _;
use sinetstream::config::{CommonTls, Params, ServiceConfig, Value};
use sinetstream::{Map, Payload};

use crate::error::{CliError, CliResult, error_chain};
use crate::read::seconds;
use crate::target::{Target, random_alnum, random_digits};

/// Arguments of `ping`.
#[derive(Debug, Args)]
pub(crate) struct PingArgs {
    #[command(flatten)]
    pub(crate) target: Target,

    /// Number of pings (0: until interrupted)
    #[arg(short = 'C', long, value_name = "N", default_value_t = 1)]
    pub(crate) count: u64,

    /// Seconds between pings
    #[arg(short = 'i', long, value_name = "S", default_value_t = 1.0)]
    pub(crate) interval: f64,

    /// Seconds to wait for a connection, and for the last reply
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub(crate) timeout: f64,
}

/// Whether and how TLS is on, from the service's parameters.
fn describe_tls(cfg: &ServiceConfig) -> String {
    let c = cfg.common();
    let b = cfg.backend();
    let common = CommonTls::from_params(&c);
    let tls_set = ["tls_set", "tls"]
        .into_iter()
        .find_map(|k| b.raw(k).and_then(Value::as_map));
    let kafka_ssl = matches!(b.raw("security_protocol"), Some(Value::Str(s)) if s.ends_with("SSL"));
    if common.is_none() && tls_set.is_none() && !kafka_ssl {
        return "off".to_owned();
    }
    let ca = common
        .as_ref()
        .and_then(|t| t.ca_certs.clone())
        .or_else(|| {
            tls_set
                .and_then(|m| m.get("ca_certs"))
                .and_then(|v| v.as_str().map(str::to_owned))
        })
        .or_else(|| {
            b.raw("ssl_cafile")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
    match ca {
        Some(ca) => format!("on (CA {ca})"),
        None => "on (system CAs)".to_owned(),
    }
}

fn nested_str<'a>(p: &Params<'a>, maps: &[&str], key: &str) -> Option<&'a str> {
    maps.iter()
        .find_map(|m| p.raw(m).and_then(Value::as_map))
        .and_then(|m| m.get(key))
        .and_then(Value::as_str)
}

/// Who the client says it is, from the service's parameters (never the secret itself).
fn describe_auth(cfg: &ServiceConfig) -> String {
    let b = cfg.backend();
    let c = cfg.common();
    let mut parts = Vec::new();
    if let Some(u) = nested_str(&b, &["username_pw_set", "username_pw"], "username") {
        parts.push(format!("user {u:?}"));
    }
    if let Some(u) = b.raw("sasl_plain_username").and_then(Value::as_str) {
        let mech = b
            .raw("sasl_mechanism")
            .and_then(Value::as_str)
            .unwrap_or("PLAIN");
        parts.push(format!("SASL {mech} user {u:?}"));
    }
    let cert = nested_str(&c, &["tls"], "certfile")
        .or_else(|| nested_str(&b, &["tls_set", "tls"], "certfile"))
        .or_else(|| b.raw("ssl_certfile").and_then(Value::as_str));
    if cert.is_some() {
        parts.push("client certificate".to_owned());
    }
    if parts.is_empty() {
        "anonymous".to_owned()
    } else {
        parts.join(" + ")
    }
}

fn describe_brokers(cfg: &ServiceConfig) -> String {
    match cfg.common().raw("brokers") {
        Some(Value::Str(s)) => s.clone(),
        Some(Value::Seq(items)) => items
            .iter()
            .map(|i| i.as_str().unwrap_or("?"))
            .collect::<Vec<_>>()
            .join(","),
        _ => "?".to_owned(),
    }
}

/// What a failed connection most likely means.
pub(crate) fn classify(e: &sinetstream::Error) -> &'static str {
    match e {
        sinetstream::Error::Authorization(_) => "authentication or authorization refused",
        sinetstream::Error::Connection { .. } => {
            let s = error_chain(e).to_ascii_lowercase();
            if [
                "not authorized",
                "bad user name",
                "password",
                "authenticat",
                "sasl",
            ]
            .iter()
            .any(|w| s.contains(w))
            {
                "authentication or authorization refused"
            } else if ["certificate", "tls", "handshake", "ssl", "alert"]
                .iter()
                .any(|w| s.contains(w))
            {
                "TLS handshake failed"
            } else {
                "broker unreachable"
            }
        }
        _ => "failed",
    }
}

/// A service name for messages; `-nc` services have none.
pub(crate) fn service_label(name: &str) -> String {
    if name.is_empty() {
        "(command line)".to_owned()
    } else {
        format!("{name:?}")
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Opens with a deadline; a failure names the step and its likely cause.
async fn open_step<T>(
    what: &str,
    timeout: Duration,
    fut: impl std::future::Future<Output = sinetstream::Result<T>>,
) -> CliResult<(T, Duration)> {
    let t0 = Instant::now();
    match tokio::time::timeout(timeout, fut).await {
        Ok(Ok(v)) => Ok((v, t0.elapsed())),
        Ok(Err(e)) => {
            let why = classify(&e);
            Err(CliError::from(e).context(format!("ping: {what}: {why}")))
        }
        Err(_) => Err(CliError::runtime(format!(
            "ping: {what}: broker unreachable: no connection within {} s",
            timeout.as_secs_f64()
        ))),
    }
}

/// Runs `ping`.
pub(crate) async fn run(args: PingArgs) -> CliResult {
    let interval = seconds("--interval", args.interval)?;
    let timeout = seconds("--timeout", args.timeout)?;
    let mut target = args.target.clone();
    let cli_params = target.params()?;
    if target.topic.is_none() && !cli_params.contains_key("topic") {
        target.topic = Some(format!("sinetstream_cli_ping_{}", random_digits(8)));
    }
    let mut extra = Map::new();
    extra.insert("value_type", "text");
    let reader = target.reader(&extra)?.build()?;
    let writer = target.writer(&extra)?.build()?;
    println!("topic={}", writer.topic());
    let cfg = writer.config();
    let backend_type = cfg
        .common()
        .raw("type")
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_owned();
    println!(
        "service {}: type {backend_type}, brokers {}, tls {}, auth {}",
        service_label(writer.service()),
        describe_brokers(cfg),
        describe_tls(cfg),
        describe_auth(cfg)
    );

    // Subscribe first: MQTT delivers only what is published after the subscription.
    let (mut r, rt) = open_step("reader", timeout, reader.open_async()).await?;
    let (mut w, wt) = open_step("writer", timeout, writer.open_async()).await?;
    println!(
        "connected: reader {:.1} ms, writer {:.1} ms (tls and auth accepted)",
        ms(rt),
        ms(wt)
    );

    let mut interrupted = std::pin::pin!(tokio::signal::ctrl_c());
    let mut sent_at: HashMap<String, (u64, Instant)> = HashMap::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut rtts: Vec<Duration> = Vec::new();
    let mut sent: u64 = 0;
    let start = Instant::now();
    let mut next_send = tokio::time::Instant::now();
    let mut last_send = tokio::time::Instant::now();
    let mut failure: Option<CliError> = None;
    loop {
        let all_sent = args.count > 0 && sent >= args.count;
        if all_sent && rtts.len() as u64 >= sent {
            break;
        }
        let give_up = last_send + timeout.max(interval);
        tokio::select! {
            _ = tokio::time::sleep_until(next_send), if !all_sent => {
                sent += 1;
                let msg = random_alnum(16);
                sent_at.insert(msg.clone(), (sent, Instant::now()));
                println!("send {sent}");
                if let Err(e) = w.publish(Payload::Text(msg)).await {
                    failure = Some(CliError::from(e).context(format!("ping: send {sent}")));
                    break;
                }
                last_send = tokio::time::Instant::now();
                next_send += interval;
            }
            item = r.next() => match item {
                Some(Ok(m)) => {
                    let text = match &m.value {
                        Payload::Text(s) => s.clone(),
                        other => String::from_utf8_lossy(&other.to_bytes().unwrap_or_default()).into_owned(),
                    };
                    let dup = !seen.insert(text.clone());
                    let tag = if dup { " (DUP)" } else { "" };
                    match sent_at.get(&text) {
                        Some((i, t)) => {
                            let rtt = t.elapsed();
                            if !dup {
                                rtts.push(rtt);
                            }
                            println!("        recv {i}{tag} time={:.2} ms", ms(rtt));
                        }
                        None => println!("        recv {text}{tag}"),
                    }
                }
                Some(Err(e)) => println!("        recv error: {}", error_chain(&e)),
                None => {
                    failure = Some(CliError::runtime("ping: the reader was closed"));
                    break;
                }
            },
            _ = tokio::time::sleep_until(give_up), if all_sent => break,
            _ = &mut interrupted => break,
        }
    }
    let closed = w.close().await;
    if let Err(e) = r.close().await {
        tracing::debug!("closing the reader: {}", error_chain(&e));
    }
    if let Some(f) = failure {
        return Err(f);
    }
    closed.map_err(|e| CliError::from(e).context("ping: closing the writer"))?;

    let received = rtts.len() as u64;
    let lost = sent.saturating_sub(received);
    let loss = if sent == 0 {
        0.0
    } else {
        lost as f64 * 100.0 / sent as f64
    };
    print!("--- {sent} sent, {received} received, {loss:.0}% loss");
    if let (Some(min), Some(max)) = (rtts.iter().min(), rtts.iter().max()) {
        let avg = rtts.iter().map(|d| ms(*d)).sum::<f64>() / rtts.len() as f64;
        print!(
            ", rtt min/avg/max = {:.2}/{avg:.2}/{:.2} ms",
            ms(*min),
            ms(*max)
        );
    }
    println!(" ({:.1} s)", start.elapsed().as_secs_f64());
    if lost > 0 {
        return Err(CliError::runtime(format!(
            "ping: {lost} of {sent} message(s) not received within {} s",
            timeout.as_secs_f64()
        )));
    }
    Ok(())
}
