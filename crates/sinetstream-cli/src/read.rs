//! `sinetstream read` (alias `sub`): Python `sinetstream_cli read`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use futures::StreamExt as _;
use sinetstream::{Map, Message, Payload};

use crate::error::{CliError, CliResult, error_chain};
use crate::output::{json_payload, json_str, quote};
use crate::target::{Target, random_alnum};

/// Arguments of `read`.
#[derive(Debug, Args)]
pub(crate) struct ReadArgs {
    #[command(flatten)]
    pub(crate) target: Target,

    /// Text mode (value_type=text)
    #[arg(short = 't', long)]
    pub(crate) text: bool,

    /// Go on after a message cannot be received or decoded
    #[arg(short = 'k', long)]
    pub(crate) keep_going: bool,

    /// Print just the received messages
    #[arg(short = 'r', long, conflicts_with = "json")]
    pub(crate) raw: bool,

    /// Save each received message as a file under DIR
    #[arg(short = 'f', long = "file", value_name = "DIR")]
    pub(crate) dir: Option<PathBuf>,

    /// Exit after N messages (0: never)
    #[arg(short = 'C', long, value_name = "N", default_value_t = 0)]
    pub(crate) count: u64,

    /// Stop when no message came for SECS seconds (exit 1 if -C N was not reached)
    #[arg(long, value_name = "SECS")]
    pub(crate) timeout: Option<f64>,

    /// Print one JSON object per line: {"topic":..,"timestamp_us":..,"value":..}, the value as
    /// text when it is UTF-8, else {"base64":..}
    #[arg(long)]
    pub(crate) json: bool,
}

/// A non-negative, finite number of seconds.
pub(crate) fn seconds(what: &str, s: f64) -> CliResult<Duration> {
    Duration::try_from_secs_f64(s)
        .map_err(|_| CliError::usage(format!("{what} must be a non-negative number of seconds")))
}

enum Written {
    Ok,
    /// stdout was closed (`| head`): stop quietly.
    Closed,
}

fn value_bytes(v: &Payload) -> CliResult<Vec<u8>> {
    v.to_bytes()
        .ok_or_else(|| CliError::runtime("a received value is neither bytes nor text"))
}

/// Prints one message as Python's CLI does (or as a JSON line).
fn print_message(m: &Message, n: u64, raw: bool, json: bool) -> CliResult<Written> {
    let mut buf: Vec<u8> = Vec::new();
    if json {
        let value = match &m.value {
            Payload::Text(s) => json_str(s),
            other => json_payload(&value_bytes(other)?),
        };
        buf.extend_from_slice(
            format!(
                "{{\"topic\":{},\"timestamp_us\":{},\"value\":{value}}}\n",
                json_str(&m.topic),
                m.timestamp_us
            )
            .as_bytes(),
        );
    } else {
        if !raw {
            // Like `nats sub`.
            buf.extend_from_slice(format!("[#{n}] Received on \"{}\"\n", m.topic).as_bytes());
        }
        match &m.value {
            Payload::Text(s) => {
                buf.extend_from_slice(s.as_bytes());
                if !s.ends_with('\n') {
                    buf.push(b'\n');
                }
            }
            // Bytes go out as they are, with no newline added (Python's stdout.buffer.write).
            other => buf.extend_from_slice(&value_bytes(other)?),
        }
    }
    let mut out = std::io::stdout().lock();
    match out.write_all(&buf).and_then(|()| out.flush()) {
        Ok(()) => Ok(Written::Ok),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(Written::Closed),
        Err(e) => Err(CliError::runtime(format!("writing to stdout: {e}"))),
    }
}

/// Saves one message as `DIR/<quoted topic>-<random>-<n>` (Python's file names).
fn save_message(dir: &Path, rand: &str, m: &Message, n: u64) -> CliResult {
    let path = dir.join(format!("{}-{rand}-{n}", quote(&m.topic)));
    std::fs::write(&path, value_bytes(&m.value)?)
        .map_err(|e| CliError::runtime(format!("cannot write {}: {e}", path.display())))
}

/// Runs `read`.
pub(crate) async fn run(args: ReadArgs) -> CliResult {
    let mut extra = Map::new();
    if args.text {
        extra.insert("value_type", "text");
    }
    if let Some(dir) = &args.dir {
        if !dir.is_dir() {
            return Err(CliError::runtime(format!(
                "No such directory: {}",
                dir.display()
            )));
        }
    }
    let timeout = args.timeout.map(|t| seconds("--timeout", t)).transpose()?;
    let mut builder = args.target.reader(&extra)?;
    if let Some(t) = timeout {
        builder = builder.receive_timeout(t);
    }
    let reader = builder.build()?;
    let mut r = reader.open_async().await?;
    tracing::info!(
        "subscribed to {:?} of service {:?}",
        r.topics(),
        r.service()
    );
    let rand = random_alnum(16);

    let mut interrupted = std::pin::pin!(tokio::signal::ctrl_c());
    let mut n: u64 = 0;
    let mut outcome: CliResult = Ok(());
    let mut timed_out = false;
    loop {
        let item = tokio::select! {
            item = r.next() => item,
            _ = &mut interrupted => break,
        };
        let m = match item {
            None => {
                timed_out = true;
                break;
            }
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                if args.keep_going {
                    tracing::warn!("keep going: {}", error_chain(&e));
                    continue;
                }
                outcome = Err(e.into());
                break;
            }
        };
        n += 1;
        if let Some(dir) = &args.dir {
            if let Err(e) = save_message(dir, &rand, &m, n) {
                outcome = Err(e);
                break;
            }
        } else {
            match print_message(&m, n, args.raw, args.json) {
                Ok(Written::Ok) => {}
                Ok(Written::Closed) => break,
                Err(e) => {
                    outcome = Err(e);
                    break;
                }
            }
        }
        if args.count > 0 && n >= args.count {
            break;
        }
    }
    if let Err(e) = r.close().await {
        tracing::debug!("closing the reader: {}", error_chain(&e));
    }
    outcome?;
    if timed_out && args.count > 0 && n < args.count {
        let why = match timeout {
            Some(t) => format!("no message for {} s", t.as_secs_f64()),
            None => "the connection was closed".to_owned(),
        };
        return Err(CliError::runtime(format!(
            "{why}: received {n} of {} message(s)",
            args.count
        )));
    }
    Ok(())
}
