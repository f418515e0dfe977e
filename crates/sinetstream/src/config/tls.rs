//! The common `tls` section, shared by every backend.
//!
//! `tls: true` turns TLS on with defaults; a map turns it on and sets `ca_certs`, `certfile`,
//! `keyfile`, `ciphers`, `check_hostname` (and `keyfilePassword`, as Java SINETStream does).
//! `tls: false` (or absent) leaves it off. Each backend maps these to its own keys and lets its
//! own keys win.

use super::params::Params;

/// The common TLS settings of a service.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct CommonTls {
    /// CA certificates file (PEM).
    pub ca_certs: Option<String>,
    /// Client certificate file (PEM).
    pub certfile: Option<String>,
    /// Client private key file (PEM).
    pub keyfile: Option<String>,
    /// Password of an encrypted key file (not supported by the pure-Rust stack; reported).
    pub keyfile_password: Option<String>,
    /// Cipher suites (OpenSSL or IANA names, colon-separated).
    pub ciphers: Option<String>,
    /// Whether the broker's certificate must match its host name (default true).
    pub check_hostname: Option<bool>,
}

impl std::fmt::Debug for CommonTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommonTls")
            .field("ca_certs", &self.ca_certs)
            .field("certfile", &self.certfile)
            .field("keyfile", &self.keyfile)
            .field(
                "keyfile_password",
                &self.keyfile_password.as_ref().map(|_| "***"),
            )
            .field("ciphers", &self.ciphers)
            .field("check_hostname", &self.check_hostname)
            .finish()
    }
}

impl CommonTls {
    /// Reads `tls` from the common parameters; `None` when TLS is not asked for.
    pub fn from_params(p: &Params<'_>) -> Option<CommonTls> {
        match p.raw("tls")? {
            super::Value::Bool(true) => Some(CommonTls::default()),
            super::Value::Bool(false) | super::Value::Null => None,
            super::Value::Map(_) => {
                let t = p.map_of("tls")?;
                Some(CommonTls {
                    ca_certs: t.str("ca_certs").map(str::to_owned),
                    certfile: t.str("certfile").map(str::to_owned),
                    keyfile: t.str("keyfile").map(str::to_owned),
                    keyfile_password: t.str("keyfilePassword").map(str::to_owned),
                    ciphers: t.str("ciphers").map(str::to_owned),
                    check_hostname: t.bool("check_hostname"),
                })
            }
            other => {
                p.warn_type("tls", "true/false or a map", other);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Map, Value};

    #[test]
    fn tls_true_map_false_and_wrong_type() {
        let mut m = Map::new();
        m.insert("tls", true);
        assert_eq!(
            CommonTls::from_params(&Params::new("s", &m)),
            Some(CommonTls::default())
        );
        m.insert("tls", false);
        assert_eq!(CommonTls::from_params(&Params::new("s", &m)), None);
        m.insert("tls", 5);
        assert_eq!(CommonTls::from_params(&Params::new("s", &m)), None);
        let mut t = Map::new();
        t.insert("ca_certs", "/ca.pem");
        t.insert("check_hostname", false);
        t.insert("keyfile", Value::Int(3));
        m.insert("tls", t);
        let tls = CommonTls::from_params(&Params::new("s", &m)).expect("on");
        assert_eq!(tls.ca_certs.as_deref(), Some("/ca.pem"));
        assert_eq!(tls.check_hostname, Some(false));
        assert_eq!(tls.keyfile, None);
    }
}
