//! `sinetstream write` (alias `pub`): Python `sinetstream_cli write`.

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::PathBuf;

use clap::Args;
use sinetstream::{Map, Payload};
use tokio::sync::mpsc;

use crate::error::{CliError, CliResult, error_chain};
use crate::target::Target;

/// Arguments of `write`.
#[derive(Debug, Args)]
pub(crate) struct WriteArgs {
    #[command(flatten)]
    pub(crate) target: Target,

    /// Text mode (value_type=text); implied by -m and -l
    #[arg(short = 't', long)]
    pub(crate) text: bool,

    /// Go on after a message fails to publish
    #[arg(short = 'k', long)]
    pub(crate) keep_going: bool,

    /// Write the contents of a file as the message
    #[arg(short = 'f', long, value_name = "INPUT")]
    pub(crate) file: Option<PathBuf>,

    /// Write a single message from the command line
    #[arg(short = 'm', long, value_name = "MESSAGE")]
    pub(crate) message: Option<String>,

    /// Split separate lines into separate messages
    #[arg(short = 'l', long)]
    pub(crate) line: bool,
}

/// Where the messages come from.
enum Input {
    One(String),
    Stream(Box<dyn std::io::Read + Send>),
}

/// Reads `input` on a thread of its own (stdin may block forever) and hands the messages over:
/// every line without its end-of-line characters with `lines`, else everything as one message.
fn spawn_producer(
    input: Box<dyn std::io::Read + Send>,
    lines: bool,
) -> mpsc::Receiver<std::io::Result<Vec<u8>>> {
    let (tx, rx) = mpsc::channel(1024);
    std::thread::spawn(move || {
        let mut input = BufReader::with_capacity(64 * 1024, input);
        if lines {
            loop {
                let mut buf = Vec::new();
                match input.read_until(b'\n', &mut buf) {
                    Ok(0) => return,
                    Ok(_) => {
                        // Python: ln.rstrip("\r\n")
                        while matches!(buf.last(), Some(b'\n' | b'\r')) {
                            buf.pop();
                        }
                        if tx.blocking_send(Ok(buf)).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e));
                        return;
                    }
                }
            }
        } else {
            let mut buf = Vec::new();
            let r = input.read_to_end(&mut buf);
            let _ = match r {
                // Python writes nothing for empty input.
                Ok(0) => Ok(()),
                Ok(_) => tx.blocking_send(Ok(buf)),
                Err(e) => tx.blocking_send(Err(e)),
            };
        }
    });
    rx
}

/// Runs `write`.
pub(crate) async fn run(args: WriteArgs) -> CliResult {
    let text = args.text || args.message.is_some() || args.line;
    let mut extra = Map::new();
    if text {
        extra.insert("value_type", "text");
    }
    // The input first: a missing file fails before connecting (as in Python).
    let input = if let Some(m) = &args.message {
        Input::One(m.clone())
    } else if let Some(path) = &args.file {
        let f = std::fs::File::open(path)
            .map_err(|e| CliError::runtime(format!("cannot open {}: {e}", path.display())))?;
        Input::Stream(Box::new(f))
    } else {
        Input::Stream(Box::new(std::io::stdin()))
    };

    let writer = args.target.writer(&extra)?.build()?;
    let mut w = writer.open_async().await?;
    tracing::info!(
        "writing to topic {:?} of service {:?}",
        w.topic(),
        w.service()
    );

    let mut rx = match input {
        Input::One(m) => {
            let (tx, rx) = mpsc::channel(1);
            let _ = tx.send(Ok(m.into_bytes())).await;
            rx
        }
        Input::Stream(r) => spawn_producer(r, args.line),
    };

    let mut interrupted = std::pin::pin!(tokio::signal::ctrl_c());
    let mut n: u64 = 0;
    let mut failed: u64 = 0;
    let mut outcome: CliResult = Ok(());
    loop {
        let item = tokio::select! {
            item = rx.recv() => item,
            _ = &mut interrupted => break,
        };
        let Some(item) = item else { break };
        let bytes = match item {
            Ok(b) => b,
            Err(e) => {
                outcome = Err(CliError::runtime(format!("reading the input: {e}")));
                break;
            }
        };
        n += 1;
        let value = if text {
            match String::from_utf8(bytes) {
                Ok(s) => Payload::Text(s),
                Err(e) => {
                    let err = CliError::runtime(format!(
                        "message {n} is not UTF-8 text ({}); leave out -t/-l/-m to send bytes",
                        e.utf8_error()
                    ));
                    if args.keep_going {
                        tracing::warn!("{err}; skipped");
                        failed += 1;
                        continue;
                    }
                    outcome = Err(err);
                    break;
                }
            }
        } else {
            Payload::Bytes(bytes.into())
        };
        if let Err(e) = w.publish(value).await {
            if args.keep_going {
                tracing::warn!("message {n}: {}", error_chain(&e));
                failed += 1;
                continue;
            }
            outcome = Err(CliError::from(e).context(format!("message {n}")));
            break;
        }
    }
    // Closing flushes: failures of queued messages show up here.
    let closed = w.close().await;
    tracing::info!("{} message(s) written, {failed} failed", n - failed);
    outcome?;
    closed.map_err(CliError::from)?;
    if failed > 0 {
        return Err(CliError::runtime(format!(
            "{failed} of {n} message(s) could not be written"
        )));
    }
    Ok(())
}
