//! Configuration: finding and parsing the YAML file, and the merged parameters of a service.
//!
//! The file is searched as SINETStream does (see [`ConfigSource::Search`]); both the seed format
//! (services at the top level) and the v2/v3 format (`header:` + `config:`, backend keys under
//! `type_spec` in v3) load.

pub mod brokers;
pub mod fetch;
pub mod file;
pub mod inline;
pub mod params;
pub mod secret;
pub mod service;
pub mod tls;
pub mod value;
pub mod yaml;

pub use brokers::Broker;
pub use file::{ConfigFile, ConfigSource};
pub use params::Params;
pub use service::ServiceConfig;
pub use tls::CommonTls;
pub use value::{Map, Value};
