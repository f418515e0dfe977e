//! Shared fixtures for the integration tests: a throw-away PKI made by the
//! repository's `tests/brokers/pki.sh`, and small TLS servers.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use rustls::ServerConfig;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sinetstream_net::{CertSource, TlsOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The PKI of this test process, made once.
pub fn pki() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir for the PKI");
        let script = repo_root().join("tests/brokers/pki.sh");
        let out = Command::new("bash")
            .arg(&script)
            .arg(dir.path())
            .output()
            .expect("run pki.sh");
        assert!(
            out.status.success(),
            "{} failed: {}{}",
            script.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    })
    .path()
}

pub fn pki_file(name: &str) -> PathBuf {
    pki().join(name)
}

pub fn trusting(ca: &str) -> TlsOptions {
    TlsOptions {
        ca_certs: Some(CertSource::File(pki_file(ca))),
        ..TlsOptions::default()
    }
}

fn certs(name: &str) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(pki_file(name))
        .expect("open cert")
        .collect::<Result<_, _>>()
        .expect("parse cert")
}

fn key(name: &str) -> PrivateKeyDer<'static> {
    PrivateKeyDer::from_pem_file(pki_file(name)).expect("parse key")
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server configuration presenting `cert`/`key` (e.g. "server"), optionally
/// requiring a client certificate from the test CA, limited to `versions`.
pub fn server_config(
    cert: &str,
    require_client_cert: bool,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<ServerConfig> {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .expect("versions");
    let builder = if require_client_cert {
        let mut roots = rustls::RootCertStore::empty();
        for c in certs("ca.pem") {
            roots.add(c).expect("add CA");
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .expect("client verifier");
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let config = builder
        .with_single_cert(certs(&format!("{cert}.pem")), key(&format!("{cert}.key")))
        .expect("server cert");
    Arc::new(config)
}

pub fn default_server_config(cert: &str) -> Arc<ServerConfig> {
    server_config(
        cert,
        false,
        &[&rustls::version::TLS12, &rustls::version::TLS13],
    )
}

/// Starts a TLS echo server on a free port; it serves until the test ends.
pub async fn tls_echo_server(config: Arc<ServerConfig>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let acceptor = TlsAcceptor::from(config);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = [0u8; 4096];
                loop {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if tls.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                            let _ = tls.flush().await;
                        }
                    }
                }
            });
        }
    });
    addr
}

/// Writes `msg` and reads back as many bytes.
pub async fn echo_roundtrip(
    stream: &mut sinetstream_net::Stream,
    msg: &[u8],
) -> std::io::Result<Vec<u8>> {
    stream.write_all(msg).await?;
    stream.flush().await?;
    let mut back = vec![0u8; msg.len()];
    stream.read_exact(&mut back).await?;
    Ok(back)
}
