//! SCRAM-SHA-256/512 client (RFC 5802, RFC 7677), as Kafka speaks it:
//! no channel binding (`n,,`), no authorization identity.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, KeyInit, Mac};
use rand::RngCore as _;
use sha2::{Digest, Sha256, Sha512};
use zeroize::Zeroizing;

use super::Exchange;

/// Kafka's bounds on the iteration count (`ScramMechanism`): fewer is weak,
/// more would let a hostile broker make us burn CPU.
const MIN_ITERATIONS: u32 = 4096;
const MAX_ITERATIONS: u32 = 16384;

/// The hash function of the mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScramHash {
    Sha256,
    Sha512,
}

impl ScramHash {
    fn hmac(self, key: &[u8], data: &[u8]) -> Result<Vec<u8>, String> {
        fn run<M: Mac + KeyInit>(key: &[u8], data: &[u8]) -> Result<Vec<u8>, String> {
            let mut m =
                <M as KeyInit>::new_from_slice(key).map_err(|e| format!("HMAC key: {e}"))?;
            m.update(data);
            Ok(m.finalize().into_bytes().to_vec())
        }
        match self {
            ScramHash::Sha256 => run::<Hmac<Sha256>>(key, data),
            ScramHash::Sha512 => run::<Hmac<Sha512>>(key, data),
        }
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramHash::Sha256 => Sha256::digest(data).to_vec(),
            ScramHash::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// `Hi()` of RFC 5802: PBKDF2 with HMAC as the PRF.
    fn hi(self, password: &[u8], salt: &[u8], iterations: u32) -> Zeroizing<Vec<u8>> {
        match self {
            ScramHash::Sha256 => {
                let mut out = Zeroizing::new(vec![0u8; 32]);
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
                out
            }
            ScramHash::Sha512 => {
                let mut out = Zeroizing::new(vec![0u8; 64]);
                pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out);
                out
            }
        }
    }
}

enum Step {
    Start,
    SentFirst { client_first_bare: String },
    SentFinal { server_signature: Vec<u8> },
    Done,
}

pub(super) struct Scram {
    hash: ScramHash,
    username: String,
    password: Zeroizing<String>,
    nonce: String,
    step: Step,
}

impl Scram {
    pub(super) fn new(hash: ScramHash, username: &str, password: &str) -> Scram {
        let mut raw = [0u8; 24];
        rand::rng().fill_bytes(&mut raw);
        Scram::with_nonce(hash, username, password, B64.encode(raw))
    }

    fn with_nonce(hash: ScramHash, username: &str, password: &str, nonce: String) -> Scram {
        Scram {
            hash,
            username: username.to_owned(),
            password: Zeroizing::new(password.to_owned()),
            nonce,
            step: Step::Start,
        }
    }

    fn client_final(
        &mut self,
        server_first: &[u8],
        client_first_bare: &str,
    ) -> Result<Vec<u8>, String> {
        let server_first = std::str::from_utf8(server_first)
            .map_err(|_| "server-first-message is not UTF-8".to_owned())?;
        if let Some(e) = server_first.strip_prefix("e=") {
            return Err(format!("server refused: {e}"));
        }
        let mut nonce = None;
        let mut salt = None;
        let mut iterations = None;
        for attr in server_first.split(',') {
            match attr.split_once('=') {
                Some(("r", v)) => nonce = Some(v),
                Some(("s", v)) => salt = Some(v),
                Some(("i", v)) => iterations = Some(v),
                _ => {}
            }
        }
        let (Some(nonce), Some(salt), Some(iterations)) = (nonce, salt, iterations) else {
            return Err("malformed server-first-message".to_owned());
        };
        if !nonce.starts_with(&self.nonce) || nonce.len() == self.nonce.len() {
            return Err("server nonce does not extend the client nonce".to_owned());
        }
        let salt = B64
            .decode(salt)
            .map_err(|_| "server salt is not base64".to_owned())?;
        let iterations: u32 = iterations
            .parse()
            .map_err(|_| "server iteration count is not a number".to_owned())?;
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
            return Err(format!(
                "server iteration count {iterations} is outside {MIN_ITERATIONS}..={MAX_ITERATIONS}"
            ));
        }

        let h = self.hash;
        let salted = h.hi(self.password.as_bytes(), &salt, iterations);
        let client_key = Zeroizing::new(h.hmac(&salted, b"Client Key")?);
        let stored_key = h.hash(&client_key);
        // "biws" is base64("n,,"): no channel binding, no authzid.
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
        let client_signature = h.hmac(&stored_key, auth_message.as_bytes())?;
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&client_signature)
            .map(|(a, b)| a ^ b)
            .collect();
        let server_key = h.hmac(&salted, b"Server Key")?;
        let server_signature = h.hmac(&server_key, auth_message.as_bytes())?;
        self.step = Step::SentFinal { server_signature };
        Ok(format!("{without_proof},p={}", B64.encode(proof)).into_bytes())
    }
}

/// `saslname` of RFC 5802: `=` and `,` are escaped.
fn sasl_name(user: &str) -> String {
    user.replace('=', "=3D").replace(',', "=2C")
}

impl Exchange for Scram {
    fn first(&mut self) -> Result<Vec<u8>, String> {
        let bare = format!("n={},r={}", sasl_name(&self.username), self.nonce);
        let msg = format!("n,,{bare}");
        self.step = Step::SentFirst {
            client_first_bare: bare,
        };
        Ok(msg.into_bytes())
    }

    fn next(&mut self, server: &[u8]) -> Result<Option<Vec<u8>>, String> {
        match std::mem::replace(&mut self.step, Step::Done) {
            Step::SentFirst { client_first_bare } => {
                self.client_final(server, &client_first_bare).map(Some)
            }
            Step::SentFinal { server_signature } => {
                let text = std::str::from_utf8(server)
                    .map_err(|_| "server-final-message is not UTF-8".to_owned())?;
                if let Some(e) = text.strip_prefix("e=") {
                    return Err(format!("server refused: {e}"));
                }
                let v = text
                    .split(',')
                    .find_map(|a| a.strip_prefix("v="))
                    .ok_or_else(|| "server-final-message has no verifier".to_owned())?;
                let v = B64
                    .decode(v)
                    .map_err(|_| "server verifier is not base64".to_owned())?;
                if v != server_signature {
                    // The server does not know our password: it is not the
                    // broker we meant to talk to.
                    return Err("the server's signature is wrong".to_owned());
                }
                Ok(None)
            }
            Step::Start | Step::Done => Err("unexpected SCRAM message".to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example exchange of RFC 7677, section 3.
    #[test]
    fn rfc7677_example() {
        let mut s = Scram::with_nonce(
            ScramHash::Sha256,
            "user",
            "pencil",
            "rOprNGfwEbeRWgbNEkqO".into(),
        );
        assert_eq!(
            s.first().expect("first"),
            b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
        );
        let server_first = b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let fin = s.next(server_first).expect("final").expect("message");
        assert_eq!(
            String::from_utf8(fin).expect("utf8"),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        let done = s
            .next(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .expect("verified");
        assert_eq!(done, None);
    }

    /// The example of RFC 5802 (SHA-1) cannot be reused, so check SHA-512
    /// against itself: a wrong server signature must be refused.
    #[test]
    fn wrong_server_signature_is_refused() {
        let mut s = Scram::with_nonce(ScramHash::Sha512, "u,=", "pw", "abc".into());
        assert_eq!(s.first().expect("first"), b"n,,n=u=2C=3D,r=abc");
        s.next(b"r=abcdef,s=c2FsdA==,i=4096").expect("final");
        let e = s.next(b"v=AAAA").expect_err("bad signature");
        assert!(e.contains("signature"), "{e}");
    }

    #[test]
    fn hostile_server_first_messages() {
        for bad in [
            &b"r=zzz,s=c2FsdA==,i=4096"[..],   // nonce not ours
            b"r=abc,s=c2FsdA==,i=4096",        // nonce not extended
            b"r=abcd,s=!!,i=4096",             // salt not base64
            b"r=abcd,s=c2FsdA==,i=1",          // too few iterations
            b"r=abcd,s=c2FsdA==,i=4000000000", // too many
            b"r=abcd,s=c2FsdA==",              // missing i
            b"e=invalid-proof",
            b"\xff",
        ] {
            let mut s = Scram::with_nonce(ScramHash::Sha256, "u", "p", "abc".into());
            s.first().expect("first");
            assert!(s.next(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
