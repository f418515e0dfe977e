//! What the integration tests of the `sinetstream` binary share: running it, starting the test
//! brokers of `tests/brokers/`, and readers running in the background.
//!
//! Each test file starts the brokers it needs once per process itself, naming a mosquitto run
//! directory of its own: other test binaries restart theirs.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tempfile::TempPath;

/// How long a reader may take to subscribe (a Kafka group join on a slow, shared machine).
const SUBSCRIBE_WAIT: Duration = Duration::from_secs(120);

pub(crate) fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sinetstream"));
    // No user config or log settings leak in.
    c.env_remove("RUST_LOG")
        .env_remove("SINETSTREAM_CONFIG_URL");
    c
}

/// Runs `bash tests/brokers/SCRIPT start ARGS` and parses the `KEY=VALUE` lines it prints; a
/// failed start fails the test with the script's output.
pub(crate) fn start_broker(script: &str, args: &[&Path]) -> HashMap<String, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/brokers")
        .join(script);
    let out = Command::new("bash")
        .arg(&path)
        .arg("start")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", path.display()));
    assert!(
        out.status.success(),
        "{} start failed ({}):\n{}\n{}",
        path.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().trim_matches('"').to_owned()))
        .collect()
}

/// Starts a mosquitto of its own in `<target>/brokers/RUN_DIR`: each test binary needs a run
/// directory (and ports) no other binary uses, since other binaries restart theirs.
pub(crate) fn start_mosquitto(run_dir: &str) -> HashMap<String, String> {
    // <target>/debug/sinetstream → <target>/brokers/RUN_DIR
    let exe = Path::new(env!("CARGO_BIN_EXE_sinetstream"));
    let target = exe
        .parent()
        .and_then(Path::parent)
        .unwrap_or_else(|| panic!("no target dir above {}", exe.display()));
    start_broker("mosquitto.sh", &[&target.join("brokers").join(run_dir)])
}

/// A value of a harness env; fails the test if absent.
pub(crate) fn var<'a>(env: &'a HashMap<String, String>, key: &str) -> &'a str {
    env.get(key)
        .map(String::as_str)
        .unwrap_or_else(|| panic!("broker env has no {key}: {:?}", env.keys()))
}

/// `MQTT_HOST:<port of listener PORT_KEY>` of a mosquitto harness env.
pub(crate) fn mqtt_addr(env: &HashMap<String, String>, port_key: &str) -> String {
    format!("{}:{}", var(env, "MQTT_HOST"), var(env, port_key))
}

/// A name (topic) no other test, test binary or earlier run uses.
pub(crate) fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub(crate) fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("the binary runs")
}

pub(crate) fn show(o: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}\n--- stderr\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub(crate) fn ok(o: Output) -> Output {
    assert!(o.status.success(), "{}", show(&o));
    o
}

pub(crate) fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// `sinetstream config check FLAGS -c CONFIG`.
pub(crate) fn config_check(flags: &[&str], config: &Path) -> Output {
    run(bin()
        .args(["config", "check"])
        .args(flags)
        .arg("-c")
        .arg(config))
}

/// `-nc type=KIND brokers=BROKERS topic=TOPIC`: a service given on the command line alone.
pub(crate) fn nc(kind: &str, brokers: &str, topic: &str) -> Vec<String> {
    vec![
        "-nc".into(),
        format!("type={kind}"),
        format!("brokers={brokers}"),
        format!("topic={topic}"),
    ]
}

fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("writes");
    p
}

/// A config file of `text`, removed when the returned path drops.
pub(crate) fn config_file(text: &str) -> TempPath {
    let mut f = tempfile::Builder::new()
        .suffix(".yml")
        .tempfile()
        .expect("creates a temp file");
    f.write_all(text.as_bytes()).expect("writes");
    f.into_temp_path()
}

/// `DIR/big.txt` of 10,000 numbered lines, and those lines: enough messages that a lost or
/// reordered one would show.
pub(crate) fn big_file(dir: &Path) -> (PathBuf, Vec<String>) {
    let lines: Vec<String> = (0..10_000)
        .map(|i| format!("line {i:05} of the big file"))
        .collect();
    let file = write_file(dir, "big.txt", &(lines.join("\n") + "\n"));
    (file, lines)
}

/// Fails unless the reader printed exactly `lines`, in order.
pub(crate) fn assert_read_lines(o: &Output, lines: &[String]) {
    let text = std::str::from_utf8(&o.stdout).expect("utf-8");
    let got: Vec<&str> = text.lines().collect();
    assert_eq!(got.len(), lines.len(), "{}", show(o));
    if let Some((i, (a, b))) = got.iter().zip(lines).enumerate().find(|(_, (a, b))| a != b) {
        panic!("message {i} is {a:?}, expected {b:?}: out of order or changed");
    }
}

/// A `read` running in the background, subscribed (it logged so with -v) before `start`
/// returns. Killed if dropped while running (a failed test leaves no reader behind).
pub(crate) struct BgReader {
    child: Option<Child>,
    stderr: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl BgReader {
    pub(crate) fn start(cmd: &mut Command) -> BgReader {
        let mut child = cmd
            .arg("-v")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("read spawns");
        let err = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut reader = BgReader {
            child: Some(child),
            stderr: rx,
            seen: Vec::new(),
        };
        let deadline = Instant::now() + SUBSCRIBE_WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match reader.stderr.recv_timeout(left) {
                Ok(l) => {
                    let done = l.contains("subscribed to");
                    reader.seen.push(l);
                    if done {
                        return reader;
                    }
                }
                // Timed out, or stderr closed (the reader exited).
                Err(_) => {
                    let out = reader.finish();
                    panic!(
                        "read did not subscribe within {SUBSCRIBE_WAIT:?}:\n{}",
                        show(&out)
                    );
                }
            }
        }
    }

    /// Whether the reader exited within `wait`.
    #[allow(
        dead_code,
        reason = "only listeners.rs waits on a reader while writing"
    )]
    pub(crate) fn exited_within(&mut self, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        let Some(child) = self.child.as_mut() else {
            return true;
        };
        loop {
            if child.try_wait().ok().flatten().is_some() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for the reader to end; its stderr is everything it logged.
    pub(crate) fn finish(mut self) -> Output {
        let child = self.child.take().expect("a running reader");
        let mut out = child.wait_with_output().expect("read ends");
        let mut lines = std::mem::take(&mut self.seen);
        // The stderr thread ends when the pipe closes, after the process exited.
        while let Ok(l) = self.stderr.recv_timeout(Duration::from_secs(5)) {
            lines.push(l);
        }
        out.stderr = lines.join("\n").into_bytes();
        out
    }
}

impl Drop for BgReader {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
