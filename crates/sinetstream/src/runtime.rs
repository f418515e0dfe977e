//! The runtime behind the blocking API.
//!
//! Blocking readers and writers run their backends on one shared multi-threaded tokio runtime,
//! so that background work (keepalives, heartbeats, acks) goes on while the application is not
//! calling into the library.

use std::future::Future;
use std::sync::LazyLock;

use crate::error::{Error, Result};

static RUNTIME: LazyLock<std::result::Result<tokio::runtime::Runtime, String>> =
    LazyLock::new(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sinetstream")
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    });

fn runtime() -> Result<&'static tokio::runtime::Runtime> {
    RUNTIME
        .as_ref()
        .map_err(|e| Error::connection(format!("cannot start the I/O runtime: {e}")))
}

/// Runs `fut` to completion on the shared runtime, from synchronous code.
///
/// Called from inside another tokio runtime (where `block_on` would panic), the future is run
/// from a scoped helper thread instead; the async API is the better choice there.
pub(crate) fn block_on<F>(fut: F) -> Result<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    let rt = runtime()?;
    if tokio::runtime::Handle::try_current().is_ok() {
        std::thread::scope(|s| {
            s.spawn(|| rt.block_on(fut))
                .join()
                .map_err(|_| Error::connection("the I/O thread panicked"))
        })
    } else {
        Ok(rt.block_on(fut))
    }
}
