//! What every command shares: which service, from which config, with which `KEY=VALUE`
//! parameters (Python `sinetstream_cli`'s `-nc`, `-s`, `-c` and positional parameters).

use std::path::PathBuf;

use clap::Args;
use sinetstream::config::{ConfigFile, yaml};
use sinetstream::{
    ConfigSource, Map, MessageReader, MessageWriter, ReaderBuilder, Value, WriterBuilder,
};

use crate::error::{CliError, CliResult};

/// The service to use and the parameters that override its config.
#[derive(Debug, Clone, Args)]
pub(crate) struct Target {
    /// Load no config file: every parameter comes from KEY=VALUE (also written `-nc`)
    #[arg(long = "no-config-file", conflicts_with = "config")]
    pub(crate) no_config: bool,

    /// The service name (may be left out when the config file defines only one)
    #[arg(short = 's', long, value_name = "SERVICE")]
    pub(crate) service: Option<String>,

    /// The config file to read instead of searching ./.sinetstream_config.yml and
    /// ~/.config/sinetstream/config.yml
    #[arg(short = 'c', long = "config", value_name = "CONFIG")]
    pub(crate) config: Option<PathBuf>,

    /// The topic (same as the parameter topic=NAME)
    #[arg(long, value_name = "TOPIC")]
    pub(crate) topic: Option<String>,

    /// Parameters for SINETStream, YAML-typed, `.` nesting maps
    /// (e.g. brokers=mqtt.example.net:1883 tls.ca_certs=/ca.pem qos=1)
    #[arg(value_name = "KEY=VALUE")]
    pub(crate) parameters: Vec<String>,
}

/// Splits `KEY=VALUE` and parses VALUE as YAML (`1` an integer, `true` a boolean, `[a, b]` a
/// list, nothing at all null), as Python's CLI does with `yaml.load(..., SafeLoader)`.
pub(crate) fn parse_param(p: &str) -> CliResult<(Vec<String>, Value)> {
    let Some((key, val)) = p.split_once('=') else {
        return Err(CliError::usage(format!(
            "invalid parameter {:?}: expected KEY=VALUE",
            shorten(p)
        )));
    };
    let path: Vec<String> = key.split('.').map(str::to_owned).collect();
    if path.iter().any(String::is_empty) {
        return Err(CliError::usage(format!(
            "invalid parameter name {key:?}: empty part between dots"
        )));
    }
    let value = match yaml::parse(val) {
        Ok(Some(v)) => v,
        Ok(None) => Value::Null,
        // The value may be a secret: name the key and the YAML error only.
        Err(e) => {
            return Err(CliError::usage(format!(
                "parameter {key}: the value is not valid YAML ({e})"
            )));
        }
    };
    Ok((path, value))
}

fn shorten(s: &str) -> String {
    // A parameter without `=` may be a mistyped secret; show only its start.
    let mut out: String = s.chars().take(24).collect();
    if out.len() < s.len() {
        out.push_str("...");
    }
    out
}

/// Sets `path` (`["tls", "ca_certs"]`) in `map`, making nested maps as needed.
pub(crate) fn set_path(map: &mut Map, path: &[String], value: Value) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        map.insert(first.clone(), value);
        return;
    }
    if let Some(Value::Map(m)) = map.get_mut(first) {
        set_path(m, rest, value);
        return;
    }
    let mut m = Map::new();
    set_path(&mut m, rest, value);
    map.insert(first.clone(), Value::Map(m));
}

impl Target {
    /// The command-line parameters as a map (constructor arguments).
    pub(crate) fn params(&self) -> CliResult<Map> {
        let mut map = Map::new();
        for p in &self.parameters {
            let (path, value) = parse_param(p)?;
            set_path(&mut map, &path, value);
        }
        if let Some(t) = &self.topic {
            map.insert("topic", t.clone());
            map.remove("topics");
        }
        Ok(map)
    }

    /// Where the config comes from.
    pub(crate) fn source(&self) -> ConfigSource {
        if self.no_config {
            ConfigSource::None
        } else if let Some(p) = &self.config {
            ConfigSource::File(p.clone())
        } else {
            ConfigSource::Search
        }
    }

    /// A writer builder with the config source and `params` (and `extra` on top).
    pub(crate) fn writer(&self, extra: &Map) -> CliResult<WriterBuilder> {
        let b = match &self.service {
            Some(s) => MessageWriter::builder(s.clone()),
            None => MessageWriter::builder_default_service(),
        };
        Ok(b.config_source(self.source())
            .params(&self.params()?)
            .params(extra))
    }

    /// A reader builder with the config source and `params` (and `extra` on top).
    pub(crate) fn reader(&self, extra: &Map) -> CliResult<ReaderBuilder> {
        let b = match &self.service {
            Some(s) => MessageReader::builder(s.clone()),
            None => MessageReader::builder_default_service(),
        };
        let mut params = self.params()?;
        if let Some(t) = &self.topic {
            // The reader takes `topics` before `topic`, and a file's `topics` would otherwise
            // win over --topic.
            params.insert("topics", Value::Seq(vec![Value::from(t.clone())]));
        }
        Ok(b.config_source(self.source()).params(&params).params(extra))
    }

    /// The config file (an empty one for `-nc`).
    pub(crate) fn load_file(&self) -> CliResult<ConfigFile> {
        Ok(ConfigFile::load(&self.source())?)
    }

    /// The selected service's name and its block merged with the command-line parameters, as
    /// the library merges them (without built-in defaults and without materializing `*_data`).
    pub(crate) fn merged_block(&self, file: &ConfigFile) -> CliResult<(String, Map)> {
        let (name, mut block) = if self.no_config {
            (self.service.clone().unwrap_or_default(), Map::new())
        } else {
            file.service(self.service.as_deref())?
        };
        block.merge_from(&self.params()?);
        Ok((name, block))
    }
}

/// A topic nobody else uses: `PREFIX` + 8 random digits.
pub(crate) fn random_digits(n: usize) -> String {
    use rand::Rng as _;
    let mut rng = rand::rng();
    (0..n)
        .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
        .collect()
}

/// `n` random ASCII letters and digits.
pub(crate) fn random_alnum(n: usize) -> String {
    use rand::Rng as _;
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..n)
        .map(|_| char::from(CHARS[rng.random_range(0..CHARS.len())]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(params: &[&str]) -> Target {
        Target {
            no_config: true,
            service: None,
            config: None,
            topic: None,
            parameters: params.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn values_are_yaml_typed_and_dots_nest() {
        let m = target(&[
            "type=mqtt",
            "brokers=127.0.0.1:1883",
            "qos=1",
            "retain=true",
            "topics=[a, b]",
            "tls.ca_certs=/x/ca.pem",
            "tls.check_hostname=false",
            "empty=",
            "text=a=b",
        ])
        .params()
        .expect("parses");
        assert_eq!(m.get("type"), Some(&Value::from("mqtt")));
        assert_eq!(m.get("brokers"), Some(&Value::from("127.0.0.1:1883")));
        assert_eq!(m.get("qos"), Some(&Value::Int(1)));
        assert_eq!(m.get("retain"), Some(&Value::Bool(true)));
        assert_eq!(
            m.get("topics"),
            Some(&Value::Seq(vec![Value::from("a"), Value::from("b")]))
        );
        let tls = m.get("tls").and_then(Value::as_map).expect("tls map");
        assert_eq!(tls.get("ca_certs"), Some(&Value::from("/x/ca.pem")));
        assert_eq!(tls.get("check_hostname"), Some(&Value::Bool(false)));
        assert_eq!(m.get("empty"), Some(&Value::Null));
        assert_eq!(m.get("text"), Some(&Value::from("a=b")));
    }

    #[test]
    fn later_scalar_replaced_by_map() {
        let m = target(&["tls=true", "tls.ca_certs=/c"])
            .params()
            .expect("ok");
        let tls = m.get("tls").and_then(Value::as_map).expect("map");
        assert_eq!(tls.get("ca_certs"), Some(&Value::from("/c")));
    }

    #[test]
    fn bad_parameters_are_usage_errors_without_the_value() {
        let e = target(&["nonsense"]).params().expect_err("no =");
        assert_eq!(e.code, crate::error::EXIT_USAGE);
        let e = target(&["a..b=1"]).params().expect_err("empty part");
        assert_eq!(e.code, crate::error::EXIT_USAGE);
        let e = target(&["password=[hunter2"])
            .params()
            .expect_err("bad yaml");
        assert_eq!(e.code, crate::error::EXIT_USAGE);
        assert!(!e.message.contains("hunter2"), "{}", e.message);
        let e = target(&["averyveryverylongsecretwithoutequalsign"])
            .params()
            .expect_err("no =");
        assert!(!e.message.contains("withoutequalsign"), "{}", e.message);
    }

    #[test]
    fn topic_flag_wins_over_topics() {
        let mut t = target(&["topics=[a, b]"]);
        t.topic = Some("c".into());
        let m = t.params().expect("ok");
        assert_eq!(m.get("topic"), Some(&Value::from("c")));
        assert!(!m.contains_key("topics"));
    }

    #[test]
    fn random_names() {
        let d = random_digits(8);
        assert_eq!(d.len(), 8);
        assert!(d.bytes().all(|b| b.is_ascii_digit()));
        let a = random_alnum(16);
        assert_eq!(a.len(), 16);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()));
    }
}
