//! `*_data` parameters: file contents given inline in the config (certificates, keys).
//!
//! SINETStream writes each such value to a private temporary file and passes its path under the
//! key without the `_data` suffix (`ca_certs_data` → `ca_certs`), because the backends' TLS
//! options take paths. The files live as long as the reader/writer that made them.

use std::io::Write as _;
use std::path::PathBuf;

use super::value::{Map, Value};
use crate::error::{Error, Result};

/// Temporary files made from `*_data` parameters; removed on drop.
#[derive(Debug, Default)]
pub struct InlineFiles {
    paths: Vec<PathBuf>,
}

impl InlineFiles {
    /// Replaces every `X_data` key of `map` (at any depth, inside lists too) by `X` = path of a
    /// new file with mode 0600 holding the value (a string or `!!binary` bytes).
    pub fn materialize(&mut self, service: &str, map: &mut Map) -> Result<()> {
        let keys: Vec<String> = map
            .keys()
            .filter(|k| k.ends_with("_data") && k.len() > "_data".len())
            .map(str::to_owned)
            .collect();
        for key in keys {
            let Some(value) = map.remove(&key) else {
                continue;
            };
            let bytes: &[u8] = match &value {
                Value::Str(s) => s.as_bytes(),
                Value::Bytes(b) => b,
                Value::Map(_) | Value::Seq(_) => {
                    // Not file contents: keep it as it is, like Python does for dicts.
                    map.insert(key, value);
                    continue;
                }
                other => {
                    tracing::warn!(
                        "service {service:?}: parameter {key:?} should be a string or binary data \
                         but is {}; ignored",
                        other.type_name()
                    );
                    continue;
                }
            };
            let path = self.write_private(bytes).map_err(|e| {
                Error::InvalidArgument(format!(
                    "service {service:?}: cannot write {key:?} to a temporary file: {e}"
                ))
            })?;
            let target = key.trim_end_matches("_data").to_owned();
            tracing::debug!("service {service:?}: {key} written to {}", path.display());
            map.insert(target, Value::Str(path.display().to_string()));
        }
        let nested: Vec<String> = map
            .iter()
            .filter(|(_, v)| matches!(v, Value::Map(_) | Value::Seq(_)))
            .map(|(k, _)| k.to_owned())
            .collect();
        for key in nested {
            match map.get_mut(&key) {
                Some(Value::Map(m)) => self.materialize(service, m)?,
                Some(Value::Seq(items)) => {
                    for item in items {
                        if let Value::Map(m) = item {
                            self.materialize(service, m)?;
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The files made so far.
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    fn write_private(&mut self, bytes: &[u8]) -> std::io::Result<PathBuf> {
        let dir = std::env::temp_dir();
        let mut last_err = None;
        for _ in 0..16 {
            let path = dir.join(format!("sinetstream-{}.tmp", uuid::Uuid::new_v4().simple()));
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt as _;
                opts.mode(0o600);
            }
            match opts.open(&path) {
                Ok(mut f) => {
                    self.paths.push(path.clone());
                    f.write_all(bytes)?;
                    f.sync_all()?;
                    return Ok(path);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last_err = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_err.unwrap_or_else(|| std::io::Error::other("no free temporary file name")))
    }
}

impl Drop for InlineFiles {
    fn drop(&mut self) {
        for p in &self.paths {
            if let Err(e) = std::fs::remove_file(p) {
                tracing::debug!("could not remove {}: {e}", p.display());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_keys_become_private_files_removed_on_drop() {
        let mut m = Map::new();
        let mut tls = Map::new();
        tls.insert("ca_certs_data", "-----BEGIN CERTIFICATE-----\n");
        m.insert("tls", tls);
        m.insert("key_data", Value::Bytes(vec![1, 2, 3]));
        let mut files = InlineFiles::default();
        files.materialize("svc", &mut m).expect("written");
        assert_eq!(files.paths().len(), 2);
        let ca = m
            .get("tls")
            .and_then(|t| t.get("ca_certs"))
            .and_then(Value::as_str)
            .expect("ca_certs path")
            .to_owned();
        assert!(m.get("tls").and_then(|t| t.get("ca_certs_data")).is_none());
        assert_eq!(
            std::fs::read_to_string(&ca).expect("readable"),
            "-----BEGIN CERTIFICATE-----\n"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&ca).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let paths = files.paths().to_vec();
        drop(files);
        assert!(paths.iter().all(|p| !p.exists()));
    }
}
