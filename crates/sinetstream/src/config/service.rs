//! A service's merged parameters: defaults ← config file block ← constructor arguments.

use super::file::{ConfigFile, ConfigSource};
use super::inline::InlineFiles;
use super::params::Params;
use super::secret;
use super::value::{Map, Value};
use crate::error::Result;

/// Parameter names that SINETStream itself interprets; everything else belongs to a backend.
pub const COMMON_KEYS: &[&str] = &[
    "type",
    "brokers",
    "topic",
    "topics",
    "consistency",
    "client_id",
    "value_type",
    "value_serializer",
    "value_deserializer",
    "receive_timeout_ms",
    "tls",
    "data_compression",
    "compression",
    "data_encryption",
    "crypto",
    "message_format",
    "user_data_only",
    "type_spec",
    "debug",
];

/// The parameters of one service, merged and ready for a backend.
///
/// Precedence, highest first: constructor argument > backend-specific key > common key >
/// built-in default. Backends see the common keys through [`ServiceConfig::common`] and their
/// own keys through [`ServiceConfig::backend`] (`type_spec` in a v3 file, the whole block in v1/v2),
/// and learn which keys the constructor set from [`ServiceConfig::args`].
#[derive(Debug)]
pub struct ServiceConfig {
    service: String,
    version: u8,
    origin: String,
    common: Map,
    backend: Map,
    args: Map,
    // Held for the life of the reader/writer: removes the `*_data` files on drop.
    inline_files: InlineFiles,
}

impl ServiceConfig {
    /// Loads `service` from `source` and merges `defaults` and the constructor `args` into it.
    pub fn load(
        source: &ConfigSource,
        service: Option<&str>,
        defaults: &Map,
        args: &Map,
    ) -> Result<ServiceConfig> {
        let file = ConfigFile::load(source)?;
        let (name, block) = if matches!(source, ConfigSource::None) {
            (service.unwrap_or("").to_owned(), Map::new())
        } else {
            file.service(service)?
        };
        Self::from_block(name, file.version(), file.origin(), block, defaults, args)
    }

    /// Builds from an already-selected service block.
    pub fn from_block(
        service: String,
        version: u8,
        origin: &str,
        mut block: Map,
        defaults: &Map,
        args: &Map,
    ) -> Result<ServiceConfig> {
        // `!sinetstream/encrypted` values become their plaintexts before anything reads them.
        let mut args = args.clone();
        {
            // The private key, if it was read, is zeroized at the end of this block.
            let mut secrets = secret::Decryptor::new(&service);
            secrets.decrypt_map(&mut block)?;
            secrets.decrypt_map(&mut args)?;
        }
        let mut merged = defaults.clone();
        merged.merge_from(&block);
        merged.merge_from(&args);
        let mut inline_files = InlineFiles::default();
        inline_files.materialize(&service, &mut merged)?;
        inline_files.materialize(&service, &mut args)?;

        let backend = if version >= 3 {
            let mut spec = match merged.remove("type_spec") {
                Some(Value::Map(m)) => m,
                Some(Value::Null) | None => Map::new(),
                Some(other) => {
                    tracing::warn!(
                        "service {service:?}: parameter \"type_spec\" should be a map but is {}; ignored",
                        other.type_name()
                    );
                    Map::new()
                }
            };
            // Constructor arguments that are not SINETStream's own go to the backend too.
            for (k, v) in args.iter() {
                if !COMMON_KEYS.contains(&k) {
                    let mut one = Map::new();
                    one.insert(k, v.clone());
                    spec.merge_from(&one);
                }
            }
            spec
        } else {
            merged.clone()
        };
        Ok(ServiceConfig {
            service,
            version,
            origin: origin.to_owned(),
            common: merged,
            backend,
            args,
            inline_files,
        })
    }

    /// The service name.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The config format version (1, 2 or 3).
    pub fn version(&self) -> u8 {
        self.version
    }

    /// Where the config came from.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The merged common parameters (for v3 without `type_spec`).
    pub fn common(&self) -> Params<'_> {
        Params::new(&self.service, &self.common)
    }

    /// The backend-specific parameters.
    pub fn backend(&self) -> Params<'_> {
        Params::new(&self.service, &self.backend)
    }

    /// The parameters the constructor set explicitly (they win over everything).
    pub fn args(&self) -> Params<'_> {
        Params::new(&self.service, &self.args)
    }

    /// Mutable access to the common parameters (used to fill generated values like client_id).
    pub fn common_mut(&mut self) -> &mut Map {
        &mut self.common
    }

    /// The `*_data` temporary files of this service.
    pub fn inline_files(&self) -> &InlineFiles {
        &self.inline_files
    }

    /// Takes ownership of the temporary files (to tie their life to an open handle).
    pub fn take_inline_files(&mut self) -> InlineFiles {
        std::mem::take(&mut self.inline_files)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str, args: &Map) -> ServiceConfig {
        let defaults: Map = [("consistency".to_owned(), Value::from("AT_MOST_ONCE"))]
            .into_iter()
            .collect();
        ServiceConfig::load(&ConfigSource::Text(text.into()), Some("s"), &defaults, args)
            .expect("loads")
    }

    #[test]
    fn v1_backend_view_is_the_whole_block() {
        let c = cfg("s: {type: mqtt, brokers: b, qos: 1}\n", &Map::new());
        assert_eq!(c.backend().i64("qos"), Some(1));
        assert_eq!(c.common().str("consistency"), Some("AT_MOST_ONCE"));
    }

    #[test]
    fn v3_backend_view_is_type_spec_plus_ctor_extras() {
        let mut args = Map::new();
        args.insert("retain", true);
        args.insert("consistency", "AT_LEAST_ONCE");
        let c = cfg(
            "header: {version: 3}\nconfig:\n  s: {type: mqtt, brokers: b, qos: 2, type_spec: {qos: 1}}\n",
            &args,
        );
        assert_eq!(c.backend().i64("qos"), Some(1));
        assert_eq!(c.backend().bool("retain"), Some(true));
        assert!(!c.backend().contains("consistency"));
        assert_eq!(c.common().str("consistency"), Some("AT_LEAST_ONCE"));
        assert!(!c.common().contains("type_spec"));
        assert_eq!(c.args().str("consistency"), Some("AT_LEAST_ONCE"));
    }
}
