//! Fetching a config file from an `https://` URL.

use crate::error::{Error, Result};

/// Fetches `url` and returns its body as text.
pub(crate) fn https_text(url: &str) -> Result<String> {
    Err(Error::NoConfig(format!(
        "cannot fetch {url}: https:// config URLs need the `https-config` feature"
    )))
}
