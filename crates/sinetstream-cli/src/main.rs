//! `sinetstream`: the SINETStream command line.
//!
//! `write`/`pub` and `read`/`sub` take the flags of Python `sinetstream_cli` 1.10 (`-nc`, `-s`,
//! `-c`, `-t`, `-v`, `-k`, `KEY=VALUE` parameters; write `-m -f -l`; read `-r -f -C`), and add
//! `--topic`, `--timeout` and `--json`. `ping` checks a service end to end, `config show|check`
//! prints and checks the configuration, and `bench` measures throughput and latency.
//!
//! Exit codes: 0 success, 1 runtime error, 2 usage or configuration error.

mod bench;
mod config_cmd;
mod error;
mod output;
mod ping;
mod procstat;
mod read;
mod target;
mod write;

use std::ffi::OsString;
use std::io::IsTerminal as _;
use std::process::ExitCode;

use clap::{ArgAction, Parser, Subcommand};

use crate::error::{CliError, CliResult};

/// SINETStream command line: write, read, ping, config, bench.
#[derive(Debug, Parser)]
#[command(name = "sinetstream", version, propagate_version = true)]
#[command(
    after_help = "Parameters are KEY=VALUE with YAML values and dotted keys for nesting \
    (qos=1 tls.ca_certs=/etc/ca.pem topics=[a, b]).\n`-nc` is short for --no-config-file. \
    Exit codes: 0 ok, 1 runtime error, 2 usage or configuration error."
)]
struct Cli {
    /// More logs on stderr: -v info, -vv debug, -vvv trace (RUST_LOG wins)
    #[arg(short = 'v', long, action = ArgAction::Count, global = true)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write messages: one from -m, a whole file (-f) or stdin, or one per line (-l)
    #[command(visible_alias = "pub")]
    Write(write::WriteArgs),
    /// Read messages and print them (or save them with -f DIR)
    #[command(visible_alias = "sub")]
    Read(read::ReadArgs),
    /// Check a service end to end: connect, publish, receive, round-trip time
    Ping(ping::PingArgs),
    /// Show or check the configuration
    #[command(subcommand)]
    Config(config_cmd::ConfigCommand),
    /// Measure throughput and latency with N writers and M readers
    Bench(bench::BenchArgs),
}

/// Python's `-nc` is a two-letter short option, which clap cannot express: it is rewritten to
/// `--no-config-file` (up to a `--`).
fn rewrite_args(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut out = Vec::new();
    let mut rest = false;
    for a in args {
        if !rest && a == "--" {
            rest = true;
        }
        if !rest && a == "-nc" {
            out.push(OsString::from("--no-config-file"));
        } else {
            out.push(a);
        }
    }
    out
}

fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = std::env::var("RUST_LOG")
        .ok()
        .filter(|s| !s.is_empty())
        .and_then(|s| EnvFilter::try_new(s).ok())
        .unwrap_or_else(|| EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}

fn run(cli: Cli) -> CliResult {
    if let Command::Config(c) = cli.command {
        // Synchronous: `config check` captures warnings on this thread.
        return config_cmd::run(c);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::runtime(format!("cannot start the async runtime: {e}")))?;
    let r = rt.block_on(async move {
        match cli.command {
            Command::Write(a) => write::run(a).await,
            Command::Read(a) => read::run(a).await,
            Command::Ping(a) => ping::run(a).await,
            Command::Bench(a) => bench::run(a).await,
            Command::Config(_) => Ok(()),
        }
    });
    // Connections closed in the background get a moment, not forever.
    rt.shutdown_timeout(std::time::Duration::from_millis(500));
    r
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse_from(rewrite_args(std::env::args_os())) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    init_logging(cli.verbose);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sinetstream: error: {}", e.message);
            ExitCode::from(e.code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(rewrite_args(args.iter().map(OsString::from)))
    }

    #[test]
    fn clap_definition_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn python_flags() {
        let cli = parse(&[
            "sinetstream",
            "pub",
            "-nc",
            "-t",
            "-m",
            "hi",
            "type=mqtt",
            "topic=x",
        ])
        .expect("parses");
        let Command::Write(w) = cli.command else {
            panic!("not write")
        };
        assert!(w.target.no_config && w.text);
        assert_eq!(w.message.as_deref(), Some("hi"));
        assert_eq!(w.target.parameters, ["type=mqtt", "topic=x"]);

        let cli = parse(&[
            "sinetstream",
            "sub",
            "-s",
            "svc",
            "-c",
            "/x.yml",
            "-r",
            "-C",
            "3",
            "-f",
            "/d",
            "-vv",
        ])
        .expect("parses");
        assert_eq!(cli.verbose, 2);
        let Command::Read(r) = cli.command else {
            panic!("not read")
        };
        assert_eq!(r.target.service.as_deref(), Some("svc"));
        assert!(r.raw);
        assert_eq!(r.count, 3);
        assert_eq!(r.dir.as_deref(), Some(std::path::Path::new("/d")));
    }

    #[test]
    fn nc_only_before_double_dash() {
        let a = rewrite_args(["x", "-nc", "--", "-nc"].map(OsString::from));
        assert_eq!(
            a,
            ["x", "--no-config-file", "--", "-nc"].map(OsString::from)
        );
    }

    #[test]
    fn usage_errors() {
        assert!(parse(&["sinetstream"]).is_err());
        assert!(parse(&["sinetstream", "frobnicate"]).is_err());
        assert!(parse(&["sinetstream", "read", "-r", "--json"]).is_err());
        assert!(parse(&["sinetstream", "read", "-nc", "-c", "x.yml"]).is_err());
    }
}
