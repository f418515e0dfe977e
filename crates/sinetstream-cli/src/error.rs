//! The CLI's error: a one-line message and the process exit code.

use std::fmt;

/// Exit code of a runtime failure (broker unreachable, message lost, I/O error).
pub(crate) const EXIT_RUNTIME: u8 = 1;
/// Exit code of a usage or configuration error (bad flag, unknown service, bad parameter).
pub(crate) const EXIT_USAGE: u8 = 2;

/// An error to report as `sinetstream: error: MESSAGE` before exiting with `code`.
#[derive(Debug)]
pub(crate) struct CliError {
    pub(crate) code: u8,
    pub(crate) message: String,
}

impl CliError {
    /// A usage or configuration error (exit 2).
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        CliError {
            code: EXIT_USAGE,
            message: message.into(),
        }
    }

    /// A runtime error (exit 1).
    pub(crate) fn runtime(message: impl Into<String>) -> Self {
        CliError {
            code: EXIT_RUNTIME,
            message: message.into(),
        }
    }

    /// Puts `context` in front of the message, keeping the exit code.
    pub(crate) fn context(self, context: impl fmt::Display) -> Self {
        CliError {
            code: self.code,
            message: format!("{context}: {}", self.message),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The exit code of a library error: configuration and argument problems are usage errors.
pub(crate) fn exit_code_of(e: &sinetstream::Error) -> u8 {
    use sinetstream::Error as E;
    match e {
        E::NoConfig(_)
        | E::NoService(_)
        | E::InvalidArgument(_)
        | E::InvalidConfig(_)
        | E::UnsupportedServiceType(_) => EXIT_USAGE,
        _ => EXIT_RUNTIME,
    }
}

impl From<sinetstream::Error> for CliError {
    fn from(e: sinetstream::Error) -> Self {
        CliError {
            code: exit_code_of(&e),
            message: error_chain(&e),
        }
    }
}

/// `e` and its sources on one line (`ConnectionError: ...: Connection refused (os error 111)`).
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(src) = cur {
        let m = src.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = src.source();
    }
    // One line, whatever the causes print.
    s.replace(['\n', '\r'], " ")
}

/// The result type of the CLI's commands.
pub(crate) type CliResult<T = ()> = Result<T, CliError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_errors_map_to_exit_codes() {
        assert_eq!(
            CliError::from(sinetstream::Error::NoService("x".into())).code,
            EXIT_USAGE
        );
        assert_eq!(
            CliError::from(sinetstream::Error::InvalidConfig("x".into())).code,
            EXIT_USAGE
        );
        assert_eq!(
            CliError::from(sinetstream::Error::UnsupportedServiceType("x".into())).code,
            EXIT_USAGE
        );
        assert_eq!(
            CliError::from(sinetstream::Error::connection("down")).code,
            EXIT_RUNTIME
        );
        assert_eq!(
            CliError::from(sinetstream::Error::Authorization("no".into())).code,
            EXIT_RUNTIME
        );
    }

    #[test]
    fn chain_is_one_line_with_sources() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused\nreally");
        let e = sinetstream::Error::connection_with("broker b:1", io);
        let s = CliError::from(e).message;
        assert!(s.starts_with("ConnectionError: broker b:1"), "{s}");
        assert!(s.contains("refused really"), "{s}");
        assert!(!s.contains('\n'));
    }
}
