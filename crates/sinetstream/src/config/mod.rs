//! Configuration: finding and parsing the YAML file, and the parameter tree.

pub mod params;
pub mod value;

pub use params::Params;
pub use value::{Map, Value};
