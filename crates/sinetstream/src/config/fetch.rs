//! Fetching a config file from an `https://` URL (`SINETSTREAM_CONFIG_URL`).
//!
//! The server's certificate is checked against the Mozilla roots, or against the PEM file that
//! `SINETSTREAM_CONFIG_CA_CERTS` names (a private CA, or tests).

use crate::error::{Error, Result};

/// Names a PEM file of CA certificates to trust for the config URL instead of the built-in roots.
pub const CONFIG_CA_ENV: &str = "SINETSTREAM_CONFIG_CA_CERTS";

/// How long the whole download may take.
#[cfg(feature = "https-config")]
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Fetches `url` and returns its body as text.
#[cfg(feature = "https-config")]
pub(crate) fn https_text(url: &str) -> Result<String> {
    let mut tls = sinetstream_net::TlsOptions::default();
    if let Some(ca) = std::env::var_os(CONFIG_CA_ENV).filter(|v| !v.is_empty()) {
        tls.ca_certs = Some(sinetstream_net::CertSource::File(ca.into()));
    }
    let body = crate::runtime::block_on(sinetstream_net::https_get(url, &tls, TIMEOUT))?
        .map_err(|e| Error::NoConfig(format!("cannot fetch the config file: {e}")))?;
    String::from_utf8(body)
        .map_err(|_| Error::NoConfig(format!("the config file at {} is not UTF-8", redact(url))))
}

/// Fetches `url` and returns its body as text.
#[cfg(not(feature = "https-config"))]
pub(crate) fn https_text(url: &str) -> Result<String> {
    Err(Error::NoConfig(format!(
        "cannot fetch {}: https:// config URLs need sinetstream's `https-config` feature",
        redact(url)
    )))
}

/// The URL without its query string, which may hold a token.
pub(crate) fn redact(url: &str) -> &str {
    url.split_once('?').map_or(url, |(u, _)| u)
}
