//! SINETStream for Rust.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod config;
pub mod error;
pub mod wire;

pub use error::{Error, Result};
