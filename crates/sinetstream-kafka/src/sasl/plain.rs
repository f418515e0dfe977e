//! SASL PLAIN (RFC 4616): one message, `authzid NUL authcid NUL password`.

use zeroize::Zeroizing;

use super::Exchange;

pub(super) struct Plain {
    message: Zeroizing<Vec<u8>>,
}

impl Plain {
    pub(super) fn new(user: &str, password: &str) -> Plain {
        let mut m = Vec::with_capacity(user.len() + password.len() + 2);
        m.push(0);
        m.extend_from_slice(user.as_bytes());
        m.push(0);
        m.extend_from_slice(password.as_bytes());
        Plain {
            message: Zeroizing::new(m),
        }
    }
}

impl Exchange for Plain {
    fn first(&mut self) -> Result<Vec<u8>, String> {
        Ok(self.message.to_vec())
    }

    fn next(&mut self, _server: &[u8]) -> Result<Option<Vec<u8>>, String> {
        // The broker answers PLAIN with an empty message on success.
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_message_layout() {
        let mut p = Plain::new("sinet", "pw");
        assert_eq!(p.first().expect("first"), b"\0sinet\0pw");
        assert_eq!(p.next(b"").expect("done"), None);
    }
}
