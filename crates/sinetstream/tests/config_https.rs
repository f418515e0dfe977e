//! `SINETSTREAM_CONFIG_URL=https://...`: the config is fetched over TLS from a real HTTPS server
//! (`openssl s_server -WWW`, with the project's throw-away test CA). One test in its own binary:
//! it sets process environment variables.
#![allow(unsafe_code)] // edition 2024 env::set_var; this binary runs one test
#![cfg(feature = "https-config")]

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sinetstream::Error;
use sinetstream::config::{ConfigFile, ConfigSource};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn serve(dir: &Path, pki: &Path, port: u16) -> Server {
    let child = Command::new("openssl")
        .args(["s_server", "-quiet", "-WWW", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(pki.join("server.pem"))
        .arg("-key")
        .arg(pki.join("server.key"))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_server starts (is openssl installed?)");
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "s_server did not listen"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Server(child)
}

#[test]
fn config_is_fetched_over_https() {
    let tmp = tempfile::tempdir().expect("tmp");
    let pki = tmp.path().join("pki");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/brokers/pki.sh");
    let ok = Command::new("bash")
        .arg(&script)
        .arg(&pki)
        .status()
        .expect("pki.sh runs");
    assert!(ok.success(), "pki.sh failed");
    let www = tmp.path().join("www");
    std::fs::create_dir_all(&www).expect("mkdir");
    std::fs::write(
        www.join("config.yml"),
        "from-https:\n  type: memory\n  brokers: https-test\n",
    )
    .expect("write");
    let port = free_port();
    let _server = serve(&www, &pki, port);

    let set = |k: &str, v: &str| unsafe { std::env::set_var(k, v) };
    set(
        "SINETSTREAM_CONFIG_URL",
        &format!("https://localhost:{port}/config.yml"),
    );

    // Trusting only the built-in roots, the test CA's certificate is refused.
    unsafe { std::env::remove_var("SINETSTREAM_CONFIG_CA_CERTS") };
    let e = ConfigFile::load(&ConfigSource::Search).expect_err("untrusted");
    assert!(matches!(e, Error::NoConfig(_)), "{e}");
    assert!(e.to_string().contains("localhost"), "{e}");

    set(
        "SINETSTREAM_CONFIG_CA_CERTS",
        &pki.join("ca.pem").display().to_string(),
    );
    let cf = ConfigFile::load(&ConfigSource::Search).expect("fetched");
    assert_eq!(cf.service_names(), ["from-https"]);
    assert!(
        cf.origin().starts_with("https://localhost"),
        "{}",
        cf.origin()
    );

    // A missing file is an error naming the HTTP status.
    set(
        "SINETSTREAM_CONFIG_URL",
        &format!("https://localhost:{port}/nope.yml"),
    );
    let e = ConfigFile::load(&ConfigSource::Search).expect_err("404");
    assert!(matches!(e, Error::NoConfig(_)), "{e}");
}
