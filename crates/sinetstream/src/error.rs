//! The one error type of the library.
//!
//! Every variant carries a message that names what is at fault (the service, the key, the broker),
//! so that a user can act on it without reading the source. Secrets never reach these messages:
//! code that builds an error from a parameter value must not format password or key values.

use std::fmt;

/// The result type used throughout SINETStream.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors raised by SINETStream, one variant per SINETStream error class.
///
/// The names match the Python/Java `SinetError` subclasses so that users of those libraries find
/// the same conditions here.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The requested service is not defined in the configuration file.
    #[error("NoServiceError: {0}")]
    NoService(String),
    /// No configuration file was found, or it could not be read or parsed.
    #[error("NoConfigError: {0}")]
    NoConfig(String),
    /// An argument (or the parameter it came from) has a value SINETStream cannot use.
    #[error("InvalidArgumentError: {0}")]
    InvalidArgument(String),
    /// The service's `type` has no registered backend.
    #[error("UnsupportedServiceTypeError: {0}")]
    UnsupportedServiceType(String),
    /// A broker could not be reached, or the connection failed.
    #[error("ConnectionError: {message}")]
    Connection {
        /// What failed, naming the broker.
        message: String,
        /// The underlying cause, if any.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    },
    /// `open()` was called on a reader or writer that is already open.
    #[error("AlreadyConnectedError: {0}")]
    AlreadyConnected(String),
    /// The configuration file is malformed (bad header, empty `config:`, bad YAML structure).
    #[error("InvalidConfigError: {0}")]
    InvalidConfig(String),
    /// A message could not be decoded (bad header, envelope, compression, decryption or value type).
    #[error("InvalidMessageError: {0}")]
    InvalidMessage(String),
    /// The broker refused the credentials or the operation.
    #[error("AuthorizationError: {0}")]
    Authorization(String),
}

impl Error {
    /// A [`Error::Connection`] with a message and no source.
    pub fn connection(message: impl fmt::Display) -> Self {
        Error::Connection {
            message: message.to_string(),
            source: None,
        }
    }

    /// A [`Error::Connection`] with a message and the error that caused it.
    pub fn connection_with(
        message: impl fmt::Display,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::Connection {
            message: message.to_string(),
            source: Some(Box::new(source)),
        }
    }

    /// The SINETStream name of this error class, e.g. `"NoServiceError"`.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Error::NoService(_) => "NoServiceError",
            Error::NoConfig(_) => "NoConfigError",
            Error::InvalidArgument(_) => "InvalidArgumentError",
            Error::UnsupportedServiceType(_) => "UnsupportedServiceTypeError",
            Error::Connection { .. } => "ConnectionError",
            Error::AlreadyConnected(_) => "AlreadyConnectedError",
            Error::InvalidConfig(_) => "InvalidConfigError",
            Error::InvalidMessage(_) => "InvalidMessageError",
            Error::Authorization(_) => "AuthorizationError",
        }
    }
}
