//! TLS settings and their translation into a rustls client configuration,
//! plus the classification of handshake errors.

use std::borrow::Cow;
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::{
    AlertDescription, CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore,
    SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use crate::ciphers::parse_cipher_list;
use crate::error::{NetError, TlsFailure};

/// Where a certificate or key comes from: a PEM file, or PEM text in memory.
#[derive(Clone, PartialEq, Eq)]
pub enum CertSource {
    /// Path of a PEM file, read at every connect (so rotated files are
    /// picked up on reconnect).
    File(PathBuf),
    /// PEM text.
    Pem(Vec<u8>),
}

// Hand-written so that inline key material never reaches a log.
impl fmt::Debug for CertSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CertSource::File(p) => f.debug_tuple("File").field(p).finish(),
            CertSource::Pem(b) => write!(f, "Pem(<{} bytes>)", b.len()),
        }
    }
}

impl From<PathBuf> for CertSource {
    fn from(p: PathBuf) -> Self {
        CertSource::File(p)
    }
}

impl From<&std::path::Path> for CertSource {
    fn from(p: &std::path::Path) -> Self {
        CertSource::File(p.to_path_buf())
    }
}

impl CertSource {
    fn describe(&self) -> String {
        match self {
            CertSource::File(p) => p.display().to_string(),
            CertSource::Pem(_) => "inline PEM".to_owned(),
        }
    }

    fn bytes(&self, what: &str) -> Result<Cow<'_, [u8]>, NetError> {
        match self {
            CertSource::File(p) => std::fs::read(p).map(Cow::Owned).map_err(|e| {
                NetError::tls_config(format!("cannot read {what} file {}: {e}", p.display()))
            }),
            CertSource::Pem(b) => Ok(Cow::Borrowed(b)),
        }
    }
}

/// A TLS protocol version that rustls implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum TlsVersion {
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

impl FromStr for TlsVersion {
    type Err = NetError;

    /// Accepts the usual spellings: `TLSv1.2`, `TLSv1_2`, `TLS1.2`, `tls12`,
    /// `1.2`, `PROTOCOL_TLSv1_2` (and the same for 1.3). Older versions are
    /// rejected with an explanation, since rustls does not implement them.
    fn from_str(s: &str) -> Result<Self, NetError> {
        let norm: String = s
            .trim()
            .to_ascii_lowercase()
            .trim_start_matches("protocol_")
            .chars()
            .filter(|c| !matches!(c, '.' | '_' | '-' | ' '))
            .collect();
        match norm.trim_start_matches("tls").trim_start_matches('v') {
            "12" => Ok(TlsVersion::Tls12),
            "13" => Ok(TlsVersion::Tls13),
            "1" | "10" | "11" | "sslv2" | "sslv3" | "ssl2" | "ssl3" => Err(NetError::tls_config(
                format!("TLS version {s:?} is not supported (only TLS 1.2 and TLS 1.3 are)"),
            )),
            _ => Err(NetError::tls_config(format!(
                "unknown TLS version {s:?} (expected TLSv1.2 or TLSv1.3)"
            ))),
        }
    }
}

impl fmt::Display for TlsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsVersion::Tls12 => "TLSv1.2",
            TlsVersion::Tls13 => "TLSv1.3",
        })
    }
}

/// Client-side TLS settings.
///
/// `Default` gives: system-independent Mozilla roots (webpki-roots), full
/// verification, TLS 1.2 and 1.3, rustls' cipher suites, no client
/// certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsOptions {
    /// CA certificates to trust instead of the built-in Mozilla roots.
    pub ca_certs: Option<CertSource>,
    /// Client certificate chain (leaf first) for mutual TLS.
    pub client_cert: Option<CertSource>,
    /// Private key of `client_cert`: PKCS#8, PKCS#1 (RSA) or SEC1 (EC) PEM,
    /// unencrypted.
    pub client_key: Option<CertSource>,
    /// Cipher list in OpenSSL or IANA spelling, `:`-separated; see
    /// [`TlsOptions::validate`] for what is accepted.
    pub ciphers: Option<String>,
    /// Whether the server certificate must be valid for the host name.
    /// `false` still verifies the chain up to a trusted CA.
    pub check_hostname: bool,
    /// Whether to verify the server certificate at all. `false` accepts any
    /// certificate: for tests only, as it allows man-in-the-middle attacks.
    pub verify: bool,
    /// Name to send in SNI and to check the certificate against, instead of
    /// the host connected to.
    pub server_name: Option<String>,
    /// Lowest protocol version to offer.
    pub min_version: Option<TlsVersion>,
    /// Highest protocol version to offer (set both to pin one version).
    pub max_version: Option<TlsVersion>,
}

impl Default for TlsOptions {
    fn default() -> Self {
        TlsOptions {
            ca_certs: None,
            client_cert: None,
            client_key: None,
            ciphers: None,
            check_hostname: true,
            verify: true,
            server_name: None,
            min_version: None,
            max_version: None,
        }
    }
}

impl TlsOptions {
    /// Checks the settings without connecting: reads the files, parses the
    /// PEM, resolves the cipher list and the version range.
    ///
    /// Ciphers: OpenSSL names (`ECDHE-RSA-AES128-GCM-SHA256`), IANA names
    /// (`TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`, `TLS_AES_128_GCM_SHA256`),
    /// the keywords `DEFAULT`, `ALL`, `HIGH`, `ECDHE`, `ECDSA`, `aRSA`,
    /// `AESGCM`, `AES128`, `AES256`, `CHACHA20` joined with `+`, and `!`/`-`
    /// exclusions. As with OpenSSL, a list naming no TLS 1.3 suite leaves
    /// all TLS 1.3 suites enabled. Names of real ciphers that rustls lacks
    /// (CBC, DHE, static RSA) are skipped; any other unknown name is an
    /// error, and so is a list from which nothing usable remains.
    pub fn validate(&self) -> Result<(), NetError> {
        self.client_config().map(|_| ())
    }

    /// Builds the rustls configuration; files are read here, on each call.
    pub(crate) fn client_config(&self) -> Result<Arc<ClientConfig>, NetError> {
        let mut provider = rustls::crypto::ring::default_provider();
        if let Some(spec) = &self.ciphers {
            provider.cipher_suites = parse_cipher_list(spec)?;
        }
        let provider = Arc::new(provider);

        let versions = self.versions()?;
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| {
                NetError::tls_config(format!(
                    "{e} (the cipher list selects no suite for {})",
                    versions
                        .iter()
                        .map(|v| format!("{:?}", v.version))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;

        let verifier: Arc<dyn ServerCertVerifier> = if !self.verify {
            Arc::new(RelaxedVerifier {
                certs: RelaxedCerts::AcceptAny,
                provider,
            })
        } else {
            let roots = Arc::new(self.root_store()?);
            let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                .build()
                .map_err(|e| NetError::tls_config(format!("cannot build verifier: {e}")))?;
            if self.check_hostname {
                webpki
            } else {
                Arc::new(RelaxedVerifier {
                    certs: RelaxedCerts::IgnoreHostname(webpki),
                    provider,
                })
            }
        };
        let builder = builder
            .dangerous()
            .with_custom_certificate_verifier(verifier);

        let config = match (&self.client_cert, &self.client_key) {
            (None, None) => builder.with_no_client_auth(),
            (Some(cert), Some(key)) => {
                let chain = load_certs(cert, "client certificate")?;
                let key = load_key(key)?;
                builder.with_client_auth_cert(chain, key).map_err(|e| {
                    NetError::tls_config(format!(
                        "client certificate {} and key {} do not form a usable pair: {e}",
                        cert.describe(),
                        self.client_key
                            .as_ref()
                            .map(CertSource::describe)
                            .unwrap_or_default()
                    ))
                })?
            }
            (Some(_), None) => {
                return Err(NetError::tls_config(
                    "a client certificate was given without its private key",
                ));
            }
            (None, Some(_)) => {
                return Err(NetError::tls_config(
                    "a client private key was given without its certificate",
                ));
            }
        };
        Ok(Arc::new(config))
    }

    fn versions(&self) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, NetError> {
        let lo = self.min_version.unwrap_or(TlsVersion::Tls12);
        let hi = self.max_version.unwrap_or(TlsVersion::Tls13);
        if lo > hi {
            return Err(NetError::tls_config(format!(
                "minimum TLS version {lo} is above the maximum {hi}"
            )));
        }
        let mut v = Vec::new();
        if lo <= TlsVersion::Tls12 {
            v.push(&rustls::version::TLS12);
        }
        if hi >= TlsVersion::Tls13 {
            v.push(&rustls::version::TLS13);
        }
        Ok(v)
    }

    fn root_store(&self) -> Result<RootCertStore, NetError> {
        let mut roots = RootCertStore::empty();
        match &self.ca_certs {
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            Some(src) => {
                let certs = load_certs(src, "CA certificate")?;
                let (added, ignored) = roots.add_parsable_certificates(certs);
                if added == 0 {
                    return Err(NetError::tls_config(format!(
                        "no usable CA certificate in {} ({ignored} could not be parsed)",
                        src.describe()
                    )));
                }
            }
        }
        Ok(roots)
    }

    /// The name to verify and send in SNI for a connection to `host`.
    pub(crate) fn server_name_for(&self, host: &str) -> Result<ServerName<'static>, NetError> {
        let name = self.server_name.as_deref().unwrap_or(host);
        let bare = name
            .strip_prefix('[')
            .and_then(|n| n.strip_suffix(']'))
            .unwrap_or(name);
        ServerName::try_from(bare.to_owned())
            .map_err(|e| NetError::tls_config(format!("invalid TLS server name {name:?}: {e}")))
    }

    pub(crate) fn has_client_cert(&self) -> bool {
        self.client_cert.is_some()
    }
}

fn load_certs(src: &CertSource, what: &str) -> Result<Vec<CertificateDer<'static>>, NetError> {
    let bytes = src.bytes(what)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| NetError::tls_config(format!("bad PEM in {what} {}: {e}", src.describe())))?;
    if certs.is_empty() {
        return Err(NetError::tls_config(format!(
            "no certificate (BEGIN CERTIFICATE) found in {what} {}",
            src.describe()
        )));
    }
    Ok(certs)
}

fn load_key(src: &CertSource) -> Result<PrivateKeyDer<'static>, NetError> {
    let bytes = src.bytes("private key")?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| {
        let hint = if contains(&bytes, b"ENCRYPTED") {
            "encrypted private keys are not supported; decrypt it with `openssl pkey`"
        } else {
            "expected an unencrypted PKCS#8, PKCS#1 or SEC1 PEM key"
        };
        NetError::tls_config(format!(
            "no usable private key in {}: {e}; {hint}",
            src.describe()
        ))
    })
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// A verifier for `verify = false` or `check_hostname = false`. Only the certificate check is
/// relaxed: the handshake signatures are still checked against the presented key, which costs
/// nothing and keeps the key exchange honest.
#[derive(Debug)]
struct RelaxedVerifier {
    certs: RelaxedCerts,
    /// The client's provider, which webpki is built with too: signatures are checked as webpki
    /// would check them.
    provider: Arc<CryptoProvider>,
}

#[derive(Debug)]
enum RelaxedCerts {
    /// `verify = false`: any certificate.
    AcceptAny,
    /// `check_hostname = false`: the chain is verified, the name is not.
    IgnoreHostname(Arc<WebPkiServerVerifier>),
}

impl ServerCertVerifier for RelaxedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let RelaxedCerts::IgnoreHostname(webpki) = &self.certs else {
            return Ok(ServerCertVerified::assertion());
        };
        // webpki checks the chain before the name, so a name error means
        // the chain itself was fine.
        match webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Turns an error from the TLS layer into a [`NetError::Tls`] with a kind and
/// an explanation. `during_handshake` only changes the wording of
/// connection-level failures.
pub(crate) fn classify(
    err: &io::Error,
    addr: &str,
    has_client_cert: bool,
    during_handshake: bool,
) -> NetError {
    let (kind, detail) = match err
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
    {
        Some(e) => classify_rustls(e, has_client_cert),
        None if during_handshake => (
            TlsFailure::HandshakeFailure,
            match err.kind() {
                io::ErrorKind::UnexpectedEof
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::BrokenPipe => format!(
                    "the server dropped the connection during the handshake \
                     (is this a TLS port? does it require a client certificate?): {err}"
                ),
                _ => err.to_string(),
            },
        ),
        None => (TlsFailure::HandshakeFailure, err.to_string()),
    };
    NetError::Tls {
        addr: addr.to_owned(),
        kind,
        detail,
    }
}

/// Whether an I/O error after the handshake carries a TLS-level cause worth
/// reporting as [`NetError::Tls`] (an alert or protocol error from rustls).
pub(crate) fn is_tls_error(err: &io::Error) -> bool {
    err.get_ref()
        .is_some_and(|e| e.downcast_ref::<rustls::Error>().is_some())
}

fn classify_rustls(e: &rustls::Error, has_client_cert: bool) -> (TlsFailure, String) {
    use rustls::Error as E;
    match e {
        E::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => (TlsFailure::HostnameMismatch, cert_error_text(e)),
        E::InvalidCertificate(CertificateError::UnknownIssuer) => (
            TlsFailure::UntrustedCertificate,
            "server certificate is not signed by a trusted CA (unknown issuer); \
             check ca_certs"
                .to_owned(),
        ),
        E::InvalidCertificate(CertificateError::BadSignature) => (
            TlsFailure::UntrustedCertificate,
            "server certificate signature does not verify (BadSignature): ca_certs holds a \
             different CA of the same name as the issuer"
                .to_owned(),
        ),
        E::InvalidCertificate(_) => (
            TlsFailure::UntrustedCertificate,
            format!("server certificate rejected: {}", cert_error_text(e)),
        ),
        E::AlertReceived(AlertDescription::CertificateRequired) => (
            TlsFailure::BadClientCertificate,
            "the server requires a client certificate (alert certificate_required)".to_owned(),
        ),
        E::AlertReceived(
            a @ (AlertDescription::BadCertificate
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::CertificateRevoked
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateUnknown
            | AlertDescription::UnknownCA
            | AlertDescription::AccessDenied),
        ) => (
            TlsFailure::BadClientCertificate,
            if has_client_cert {
                format!("the server rejected our client certificate (alert {a:?})")
            } else {
                format!("the server requires a valid client certificate (alert {a:?})")
            },
        ),
        E::AlertReceived(AlertDescription::HandshakeFailure) if !has_client_cert => (
            TlsFailure::HandshakeFailure,
            "the server aborted the handshake (alert handshake_failure): no common cipher or \
             version, or it requires a client certificate"
                .to_owned(),
        ),
        E::InvalidMessage(_) => (
            TlsFailure::HandshakeFailure,
            format!("{e} (is this port speaking TLS?)"),
        ),
        other => (TlsFailure::HandshakeFailure, other.to_string()),
    }
}

fn cert_error_text(e: &rustls::Error) -> String {
    match e {
        rustls::Error::InvalidCertificate(c) => c.to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_version_spellings() {
        for s in [
            "TLSv1.2",
            "TLSv1_2",
            "tls1.2",
            "TLS12",
            "1.2",
            "PROTOCOL_TLSv1_2",
        ] {
            assert_eq!(s.parse::<TlsVersion>().ok(), Some(TlsVersion::Tls12), "{s}");
        }
        for s in ["TLSv1.3", "tlsv1_3", "1.3"] {
            assert_eq!(s.parse::<TlsVersion>().ok(), Some(TlsVersion::Tls13), "{s}");
        }
        let e = "TLSv1.1".parse::<TlsVersion>().expect_err("old");
        assert!(e.to_string().contains("not supported"), "{e}");
        let e = "TLSv1".parse::<TlsVersion>().expect_err("old");
        assert!(e.to_string().contains("not supported"), "{e}");
        assert!("banana".parse::<TlsVersion>().is_err());
    }

    #[test]
    fn version_range() {
        let o = TlsOptions {
            min_version: Some(TlsVersion::Tls13),
            max_version: Some(TlsVersion::Tls12),
            ..TlsOptions::default()
        };
        assert!(o.validate().is_err());
        let o = TlsOptions {
            min_version: Some(TlsVersion::Tls13),
            ..TlsOptions::default()
        };
        assert!(o.validate().is_ok());
    }

    #[test]
    fn tls12_only_with_tls13_ciphers_is_a_config_error() {
        let o = TlsOptions {
            max_version: Some(TlsVersion::Tls12),
            ciphers: Some("TLS_AES_128_GCM_SHA256".into()),
            ..TlsOptions::default()
        };
        let e = o.validate().expect_err("no usable suite");
        assert_eq!(e.tls_failure(), Some(TlsFailure::Config));
    }

    #[test]
    fn cert_without_key_is_rejected() {
        let o = TlsOptions {
            client_cert: Some(CertSource::Pem(b"x".to_vec())),
            ..TlsOptions::default()
        };
        assert!(
            o.validate()
                .expect_err("half pair")
                .to_string()
                .contains("without")
        );
    }

    #[test]
    fn bad_ca_file_names_the_path() {
        let o = TlsOptions {
            ca_certs: Some(CertSource::File("/nonexistent/ca.pem".into())),
            ..TlsOptions::default()
        };
        let e = o.validate().expect_err("missing file");
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
        let o = TlsOptions {
            ca_certs: Some(CertSource::Pem(b"not pem".to_vec())),
            ..TlsOptions::default()
        };
        assert!(o.validate().is_err());
    }

    #[test]
    fn inline_pem_is_not_debug_printed() {
        let s = CertSource::Pem(b"-----BEGIN PRIVATE KEY-----secret".to_vec());
        assert!(!format!("{s:?}").contains("secret"));
    }

    #[test]
    fn server_name_override_and_ipv6() {
        let o = TlsOptions::default();
        assert!(matches!(
            o.server_name_for("[::1]"),
            Ok(ServerName::IpAddress(_))
        ));
        let o = TlsOptions {
            server_name: Some("broker.example".into()),
            ..TlsOptions::default()
        };
        assert_eq!(
            o.server_name_for("127.0.0.1")
                .ok()
                .map(|n| n.to_str().into_owned()),
            Some("broker.example".to_owned())
        );
    }
}
