//! TLS settings shared by the network backends: the common `tls` section and each backend's
//! own file/cipher keys, applied to the transport's [`TlsOptions`].

use sinetstream_net::{CertSource, TlsOptions};

use crate::config::{CommonTls, Params};
use crate::error::{Error, Result};

/// The names one backend gives to the CA file, client certificate, client key and ciphers,
/// and, if it has one, to the host-name check (kafka-python's `ssl_*`, paho's `tls_set`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct TlsKeys {
    pub(crate) ca_certs: &'static str,
    pub(crate) certfile: &'static str,
    pub(crate) keyfile: &'static str,
    pub(crate) ciphers: &'static str,
    pub(crate) check_hostname: Option<&'static str>,
}

/// Applies the common `tls` section. Encrypted key files cannot be read by the pure-Rust
/// stack, so a `keyfilePassword` is an error rather than a failure at connect time.
pub(crate) fn apply_common(t: &mut TlsOptions, ct: &CommonTls, service: &str) -> Result<()> {
    if ct
        .keyfile_password
        .as_deref()
        .is_some_and(|p| !p.is_empty())
    {
        return Err(Error::InvalidArgument(format!(
            "service {service:?}: tls.keyfilePassword: encrypted private keys are not supported; give an unencrypted key file"
        )));
    }
    set_files(
        t,
        ct.ca_certs.as_deref(),
        ct.certfile.as_deref(),
        ct.keyfile.as_deref(),
        ct.ciphers.as_deref(),
    );
    if let Some(h) = ct.check_hostname {
        t.check_hostname = h;
    }
    Ok(())
}

/// Applies a backend's own keys (they win over the common section, so apply them after it).
pub(crate) fn apply_keys(t: &mut TlsOptions, p: &Params<'_>, keys: TlsKeys) {
    set_files(
        t,
        p.str(keys.ca_certs),
        p.str(keys.certfile),
        p.str(keys.keyfile),
        p.str(keys.ciphers),
    );
    if let Some(h) = keys.check_hostname.and_then(|k| p.bool(k)) {
        t.check_hostname = h;
    }
}

fn set_files(
    t: &mut TlsOptions,
    ca: Option<&str>,
    cert: Option<&str>,
    key: Option<&str>,
    ciphers: Option<&str>,
) {
    if let Some(p) = ca {
        t.ca_certs = Some(CertSource::File(p.into()));
    }
    if let Some(p) = cert {
        t.client_cert = Some(CertSource::File(p.into()));
    }
    if let Some(p) = key {
        t.client_key = Some(CertSource::File(p.into()));
    }
    if let Some(c) = ciphers {
        t.ciphers = Some(c.to_owned());
    }
}
