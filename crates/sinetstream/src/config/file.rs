//! Finding, reading and validating the configuration file.

use std::path::{Path, PathBuf};

use super::value::{Map, Value};
use super::yaml;
use crate::error::{Error, Result};

/// The environment variable that points at a config file (`file://` or `https://` URL).
pub const CONFIG_URL_ENV: &str = "SINETSTREAM_CONFIG_URL";
/// The config file looked for in the current directory.
pub const LOCAL_CONFIG_FILE: &str = ".sinetstream_config.yml";

/// Where the configuration comes from.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum ConfigSource {
    /// The standard search: `SINETSTREAM_CONFIG_URL`, `./.sinetstream_config.yml`,
    /// `~/.config/sinetstream/config.yml`; the first found is the only one read.
    #[default]
    Search,
    /// This file, and no other.
    File(PathBuf),
    /// YAML text given directly (tests, the CLI's `-nc` with a generated config).
    Text(String),
    /// No file at all: every parameter comes from the constructor (`-nc`).
    None,
}

/// A parsed configuration file.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    origin: String,
    version: u8,
    services: Map,
}

impl ConfigFile {
    /// Loads the configuration from `source`.
    pub fn load(source: &ConfigSource) -> Result<ConfigFile> {
        match source {
            ConfigSource::Search => Self::search(),
            ConfigSource::File(p) => Self::read_path(p),
            ConfigSource::Text(t) => Self::parse(t, "<inline config>"),
            ConfigSource::None => Ok(ConfigFile {
                origin: "<no config file>".into(),
                version: 3,
                services: Map::new(),
            }),
        }
    }

    /// The standard search order.
    pub fn search() -> Result<ConfigFile> {
        let mut looked = Vec::new();
        if let Ok(url) = std::env::var(CONFIG_URL_ENV) {
            if !url.is_empty() {
                match load_url(&url)? {
                    Some(cf) => return Ok(cf),
                    None => looked.push(url),
                }
            }
        }
        for path in search_paths() {
            if path.is_file() {
                return Self::read_path(&path);
            }
            looked.push(path.display().to_string());
        }
        Err(Error::NoConfig(format!(
            "no SINETStream config file found (looked at: {})",
            looked.join(", ")
        )))
    }

    /// Reads and parses one file.
    pub fn read_path(path: &Path) -> Result<ConfigFile> {
        let path = expand_tilde(path);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            Error::NoConfig(format!("cannot read config file {}: {e}", path.display()))
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses YAML text; `origin` names it in error messages.
    pub fn parse(text: &str, origin: &str) -> Result<ConfigFile> {
        let root = yaml::parse(text)
            .map_err(|e| Error::NoConfig(format!("config file {origin} is not valid YAML: {e}")))?
            .ok_or_else(|| Error::NoConfig(format!("config file {origin} is empty")))?;
        let Value::Map(mut top) = root else {
            return Err(Error::NoConfig(format!(
                "config file {origin} must be a map of services, not {}",
                root.type_name()
            )));
        };
        if top.is_empty() {
            return Err(Error::NoConfig(format!("config file {origin} is empty")));
        }
        let (version, services) = if let Some(header) = top.remove("header") {
            let version = match header.get("version") {
                None => 3,
                Some(Value::Int(v @ (2 | 3))) => *v as u8,
                Some(other) => {
                    return Err(Error::InvalidConfig(format!(
                        "config file {origin}: header.version must be 2 or 3, not {other:?}"
                    )));
                }
            };
            if !matches!(header, Value::Map(_)) {
                return Err(Error::InvalidConfig(format!(
                    "config file {origin}: header must be a map"
                )));
            }
            match top.remove("config") {
                Some(Value::Map(m)) if !m.is_empty() => (version, m),
                Some(Value::Map(_)) | Some(Value::Null) => {
                    return Err(Error::InvalidConfig(format!(
                        "config file {origin}: no service defined in config:"
                    )));
                }
                Some(other) => {
                    return Err(Error::InvalidConfig(format!(
                        "config file {origin}: config: must be a map of services, not {}",
                        other.type_name()
                    )));
                }
                None => {
                    return Err(Error::InvalidConfig(format!(
                        "config file {origin}: has a header but no config: section"
                    )));
                }
            }
        } else {
            (1, top)
        };
        Ok(ConfigFile {
            origin: origin.to_owned(),
            version,
            services,
        })
    }

    /// Where this configuration came from (a path, or a description).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The config format version: 1 (no header), 2 or 3.
    pub fn version(&self) -> u8 {
        self.version
    }

    /// The names of the services defined.
    pub fn service_names(&self) -> Vec<&str> {
        self.services.keys().collect()
    }

    /// The block of service `name`; with `None`, the only service of the file.
    pub fn service(&self, name: Option<&str>) -> Result<(String, Map)> {
        let name = match name {
            Some(n) => n.to_owned(),
            None => {
                if self.services.len() == 1 {
                    self.services.keys().next().unwrap_or_default().to_owned()
                } else if self.services.is_empty() {
                    return Err(Error::NoConfig(format!(
                        "no service given and {} defines none",
                        self.origin
                    )));
                } else {
                    return Err(Error::NoConfig(format!(
                        "a service must be named since {} defines several: {}",
                        self.origin,
                        self.service_names().join(", ")
                    )));
                }
            }
        };
        match self.services.get(&name) {
            Some(Value::Map(m)) => Ok((name, m.clone())),
            Some(other) => Err(Error::InvalidConfig(format!(
                "service {name:?} in {} must be a map of parameters, not {}",
                self.origin,
                other.type_name()
            ))),
            None => Err(Error::NoService(format!(
                "service {name:?} is not defined in {} (defined: {})",
                self.origin,
                if self.services.is_empty() {
                    "none".to_owned()
                } else {
                    self.service_names().join(", ")
                }
            ))),
        }
    }
}

/// `./.sinetstream_config.yml`, then `~/.config/sinetstream/config.yml`.
pub fn search_paths() -> Vec<PathBuf> {
    let mut v = vec![PathBuf::from(LOCAL_CONFIG_FILE)];
    if let Some(home) = dirs::home_dir() {
        // Not dirs::config_dir(): SINETStream uses ~/.config on every OS, Windows included.
        v.push(home.join(".config").join("sinetstream").join("config.yml"));
    }
    v
}

fn expand_tilde(p: &Path) -> PathBuf {
    if let Ok(rest) = p.strip_prefix("~") {
        if let Some(home) = dirs::home_dir() {
            return home.join(rest);
        }
    }
    p.to_path_buf()
}

/// Loads the file a `SINETSTREAM_CONFIG_URL` points at; `Ok(None)` if it does not exist (the
/// search then goes on, as in SINETStream 0.9.8).
fn load_url(url: &str) -> Result<Option<ConfigFile>> {
    if let Some(rest) = url.strip_prefix("file://") {
        let path = PathBuf::from(percent_decode(rest));
        if !path.is_file() {
            tracing::warn!("{CONFIG_URL_ENV}={url}: no such file; searching the usual places");
            return Ok(None);
        }
        return ConfigFile::read_path(&path).map(Some);
    }
    if url.starts_with("https://") {
        let text = crate::config::fetch::https_text(url)?;
        return ConfigFile::parse(&text, crate::config::fetch::redact(url)).map(Some);
    }
    Err(Error::NoConfig(format!(
        "{CONFIG_URL_ENV}={url}: only file:// and https:// URLs are supported"
    )))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Some(v) = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_format() {
        let cf = ConfigFile::parse("service-1:\n  type: memory\n  brokers: a\n", "t").expect("ok");
        assert_eq!(cf.version(), 1);
        let (name, m) = cf.service(None).expect("only service");
        assert_eq!(name, "service-1");
        assert_eq!(m.get("type"), Some(&Value::from("memory")));
    }

    #[test]
    fn v3_format() {
        let cf = ConfigFile::parse(
            "header:\n  version: 3\nconfig:\n  s1:\n    type: mqtt\n    type_spec: {qos: 1}\n",
            "t",
        )
        .expect("ok");
        assert_eq!(cf.version(), 3);
        assert!(cf.service(Some("s1")).is_ok());
    }

    #[test]
    fn errors() {
        assert!(matches!(
            ConfigFile::parse("", "t"),
            Err(Error::NoConfig(_))
        ));
        assert!(matches!(
            ConfigFile::parse("a: [", "t"),
            Err(Error::NoConfig(_))
        ));
        assert!(matches!(
            ConfigFile::parse("header: {version: 9}\nconfig: {a: {}}\n", "t"),
            Err(Error::InvalidConfig(_))
        ));
        assert!(matches!(
            ConfigFile::parse("header: {version: 2}\nconfig: {}\n", "t"),
            Err(Error::InvalidConfig(_))
        ));
        assert!(matches!(
            ConfigFile::parse("header: {version: 2}\n", "t"),
            Err(Error::InvalidConfig(_))
        ));
        let cf = ConfigFile::parse("a: {type: x}\nb: {type: y}\n", "t").expect("ok");
        assert!(matches!(cf.service(None), Err(Error::NoConfig(_))));
        let e = cf.service(Some("c")).expect_err("no such service");
        assert!(matches!(e, Error::NoService(_)));
        let msg = e.to_string();
        assert!(msg.contains("\"c\"") && msg.contains("a, b"), "{msg}");
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("/tmp/a%20b.yml"), "/tmp/a b.yml");
        assert_eq!(percent_decode("/tmp/%"), "/tmp/%");
        assert_eq!(percent_decode("/tmp/%4"), "/tmp/%4");
    }
}
