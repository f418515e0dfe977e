//! `!sinetstream/encrypted` config values: encrypted by `tests/python/encrypt_value.py` (Python
//! SINETStream 1.10's format, cross-checked there by Python's own decryption) with RSA keys that
//! `openssl` generates at test time, then decrypted by this library when a writer is built.
//!
//! Needs `openssl` and the Python venv of `tests/python/setup-venv.sh` (python3, and PyPI access
//! the first time); like the other interop tests, it fails rather than skips without them.
//!
//! The private key is chosen with the environment variables `SINETSTREAM_PRIVATE_KEY` and
//! `SINETSTREAM_PRIVATE_KEY_PASSPHRASE`, which this test sets with `std::env::set_var`: edition
//! 2024 makes that `unsafe` (another thread reading the environment at the same time is undefined
//! behaviour on some platforms), hence the `allow` below. Everything that depends on those
//! variables runs in the single `#[test]` function of this file, so no other test thread of this
//! binary reads or writes them concurrently.
#![allow(unsafe_code)]

#[cfg(feature = "encrypted-config")]
mod with_rsa {
    use std::io::Write as _;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};

    use sinetstream::config::Value;
    use sinetstream::config::secret::{PASSPHRASE_ENV, PRIVATE_KEY_ENV};
    use sinetstream::{Error, MessageWriter};

    /// The venv's python (created on first use by `tests/python/setup-venv.sh`).
    fn venv_python() -> PathBuf {
        let script = scripts_dir().join("setup-venv.sh");
        let out = Command::new("sh")
            .arg(&script)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "the Python SINETStream venv could not be set up ({}): this test needs python3 with \
             venv and, the first time, access to PyPI.\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let python = PathBuf::from(stdout.lines().last().unwrap_or_default().trim());
        assert!(python.is_file(), "setup-venv.sh printed {python:?}");
        python
    }

    fn scripts_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/python")
    }

    fn openssl(args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run openssl (is it installed?): {e}"));
        assert!(
            out.status.success(),
            "openssl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn genrsa(path: &Path) {
        openssl(&["genrsa", "-out", &path.display().to_string(), "2048"]);
    }

    /// A plaintext for `encrypt_value.py`.
    enum Plain<'a> {
        Text(&'a str),
        Bytes(&'a [u8]),
    }

    /// Encrypts `values` for `key` with the Python helper (checked by Python's decryption);
    /// returns the base64 blobs.
    fn encrypt(
        python: &Path,
        key: &Path,
        passphrase: Option<&str>,
        aes_key_bytes: usize,
        values: &[Plain<'_>],
    ) -> Vec<String> {
        let values: Vec<serde_json::Value> = values
            .iter()
            .map(|v| match v {
                Plain::Text(t) => serde_json::json!({ "text": t }),
                Plain::Bytes(b) => serde_json::json!({ "hex": hex::encode(b) }),
            })
            .collect();
        let req = serde_json::json!({
            "key": key,
            "passphrase": passphrase,
            "values": values,
            "aes_key_bytes": aes_key_bytes,
            "check": true,
        });
        let script = scripts_dir().join("encrypt_value.py");
        let mut child = Command::new(python)
            .arg(&script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", script.display()));
        {
            let mut stdin = child.stdin.take().expect("piped stdin");
            stdin
                .write_all(&serde_json::to_vec(&req).expect("json"))
                .expect("write request");
        }
        let out = child.wait_with_output().expect("wait for encrypt_value.py");
        assert!(
            out.status.success(),
            "encrypt_value.py failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let resp: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON answer");
        assert_eq!(resp["checked"], true, "{resp}");
        resp["values"]
            .as_array()
            .expect("values")
            .iter()
            .map(|v| v.as_str().expect("base64").to_owned())
            .collect()
    }

    fn set_env(key: &str, value: impl AsRef<std::ffi::OsStr>) {
        // SAFETY: only this file's single test function touches the environment (see the
        // file's doc comment); no other thread reads it meanwhile.
        unsafe { std::env::set_var(key, value) }
    }

    fn remove_env(key: &str) {
        // SAFETY: as in `set_env`.
        unsafe { std::env::remove_var(key) }
    }

    fn build(config: &str) -> sinetstream::Result<MessageWriter> {
        MessageWriter::builder("svc")
            .config_text(config)
            .topic("t")
            .build()
    }

    fn invalid_config(config: &str) -> String {
        match build(config) {
            Ok(_) => panic!("expected an InvalidConfigError"),
            Err(Error::InvalidConfig(m)) => m,
            Err(e) => panic!("expected an InvalidConfigError, got {e}"),
        }
    }

    const PASSWORD: &str = "s3cret-pässword";
    const USERNAME: &str = "alice";
    const LISTED: &str = "token-in-a-list";
    const DEEP: &str = "deep-value";
    const NOT_UTF8: &[u8] = &[0x00, 0xff, 0x80, 0xfe, 0x01];

    #[test]
    fn encrypted_values_are_decrypted() {
        let python = venv_python();
        let dir = tempfile::tempdir().expect("tmp dir");
        let key_a = dir.path().join("a.pem"); // PKCS#8 "PRIVATE KEY" (OpenSSL 3 default)
        let key_a1 = dir.path().join("a-pkcs1.pem"); // the same key, "RSA PRIVATE KEY"
        let key_a_der = dir.path().join("a.der"); // the same key, PKCS#8 DER
        let key_b = dir.path().join("b.pem"); // another key
        let key_c = dir.path().join("c.pem"); // passphrase-protected PKCS#8
        genrsa(&key_a);
        genrsa(&key_b);
        let p = |p: &Path| p.display().to_string();
        openssl(&[
            "rsa",
            "-in",
            &p(&key_a),
            "-traditional",
            "-out",
            &p(&key_a1),
        ]);
        openssl(&[
            "pkcs8",
            "-topk8",
            "-nocrypt",
            "-in",
            &p(&key_a),
            "-outform",
            "DER",
            "-out",
            &p(&key_a_der),
        ]);
        openssl(&[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-aes-256-cbc",
            "-pass",
            "pass:correct horse",
            "-out",
            &p(&key_c),
        ]);
        let pem_a = std::fs::read_to_string(&key_a).expect("read key a");
        assert!(
            pem_a.contains("BEGIN PRIVATE KEY"),
            "{}",
            pem_a.lines().next().unwrap_or("")
        );
        let pem_a1 = std::fs::read_to_string(&key_a1).expect("read key a1");
        assert!(pem_a1.contains("BEGIN RSA PRIVATE KEY"));
        let pem_c = std::fs::read_to_string(&key_c).expect("read key c");
        assert!(pem_c.contains("BEGIN ENCRYPTED PRIVATE KEY"));

        let enc = encrypt(
            &python,
            &key_a,
            None,
            32,
            &[
                Plain::Text(USERNAME),
                Plain::Text(PASSWORD),
                Plain::Text(LISTED),
                Plain::Text(DEEP),
                Plain::Bytes(NOT_UTF8),
                Plain::Text(""),
            ],
        );
        let [user, pw, listed, deep, raw, empty] = enc.as_slice() else {
            panic!("six values expected, got {}", enc.len());
        };
        // AES-128 and AES-192 keys decrypt too (PyCryptodome accepts them).
        let small = encrypt(&python, &key_a, None, 16, &[Plain::Text("k16")]);
        let medium = encrypt(&python, &key_a, None, 24, &[Plain::Text("k24")]);
        let config = format!(
            "svc:
  type: memory
  brokers: encrypted-config-ns
  username_pw_set:
    username: !sinetstream/encrypted {user}
    password: !sinetstream/encrypted {pw}
  tokens:
    - plain
    - !sinetstream/encrypted {listed}
  deep:
    a:
      - {{b: !sinetstream/encrypted {deep}}}
  raw: !sinetstream/encrypted {raw}
  empty: !sinetstream/encrypted {empty}
  k16: !sinetstream/encrypted {k16}
  k24: !sinetstream/encrypted {k24}
",
            k16 = small[0],
            k24 = medium[0],
        );

        // The same key as PKCS#8 PEM, PKCS#1 PEM and PKCS#8 DER.
        for key in [&key_a, &key_a1, &key_a_der] {
            set_env(PRIVATE_KEY_ENV, key);
            let w =
                build(&config).unwrap_or_else(|e| panic!("writer with key {}: {e}", key.display()));
            for params in [w.config().backend(), w.config().common()] {
                let up = params.map_of("username_pw_set").expect("username_pw_set");
                assert_eq!(up.str("username"), Some(USERNAME));
                assert_eq!(up.str("password"), Some(PASSWORD));
                assert_eq!(
                    params.raw("tokens"),
                    Some(&Value::Seq(vec![Value::from("plain"), Value::from(LISTED)]))
                );
                let b = params
                    .raw("deep")
                    .and_then(|d| d.get("a"))
                    .and_then(|a| match a {
                        Value::Seq(s) => s.first(),
                        _ => None,
                    })
                    .and_then(|m| m.get("b"));
                assert_eq!(b, Some(&Value::from(DEEP)));
                assert_eq!(params.raw("raw"), Some(&Value::Bytes(NOT_UTF8.to_vec())));
                assert_eq!(params.str("empty"), Some(""));
                assert_eq!(params.str("k16"), Some("k16"));
                assert_eq!(params.str("k24"), Some("k24"));
            }
            // Debug output masks the password, and every other decrypted value whatever its
            // key's name (an encrypted user name is a secret too).
            let dbg = format!("{:?}", w.config());
            for secret in [PASSWORD, USERNAME, LISTED, DEEP] {
                assert!(!dbg.contains(secret), "{secret} in {dbg}");
            }
            assert!(
                dbg.contains("encrypted-config-ns"),
                "plain values stay: {dbg}"
            );
        }

        // v3: in type_spec, and a constructor argument that is an encrypted value.
        set_env(PRIVATE_KEY_ENV, &key_a);
        let v3 = format!(
            "header: {{version: 3}}
config:
  svc:
    type: memory
    brokers: encrypted-config-ns
    type_spec:
      username_pw_set: {{password: !sinetstream/encrypted {pw}}}
"
        );
        let blob = base64_decode(listed);
        let w = MessageWriter::builder("svc")
            .config_text(v3)
            .topic("t")
            .param("extra_secret", Value::Encrypted(blob))
            .build()
            .expect("v3 writer");
        let backend = w.config().backend();
        assert_eq!(
            backend
                .map_of("username_pw_set")
                .and_then(|m| m.str("password")),
            Some(PASSWORD)
        );
        assert_eq!(backend.str("extra_secret"), Some(LISTED));
        assert_eq!(w.config().args().str("extra_secret"), Some(LISTED));

        // Another key: an InvalidConfigError naming the parameter, without the plaintext.
        set_env(PRIVATE_KEY_ENV, &key_b);
        let msg = invalid_config(&config);
        assert!(msg.contains("service \"svc\""), "{msg}");
        assert!(msg.contains("parameter \"username_pw_set."), "{msg}");
        assert!(msg.contains(&p(&key_b)), "{msg}");
        for secret in [USERNAME, PASSWORD, LISTED, DEEP] {
            assert!(!msg.contains(secret), "{msg}");
        }

        // A corrupted value (one ciphertext byte flipped) and a bad header.
        set_env(PRIVATE_KEY_ENV, &key_a);
        let mut bad = base64_decode(pw);
        if let Some(b) = bad.get_mut(4 + 256 + 12) {
            *b ^= 1;
        }
        let msg = invalid_config(&format!(
            "svc: {{type: memory, brokers: x, password: !sinetstream/encrypted {}}}\n",
            base64_encode(&bad)
        ));
        assert!(msg.contains("\"password\""), "{msg}");
        assert!(msg.contains("AES-GCM"), "{msg}");
        assert!(!msg.contains(PASSWORD), "{msg}");
        let mut bad = base64_decode(pw);
        if let Some(b) = bad.get_mut(1) {
            *b = 2;
        }
        let msg = invalid_config(&format!(
            "svc: {{type: memory, brokers: x, tokens: [!sinetstream/encrypted {}]}}\n",
            base64_encode(&bad)
        ));
        assert!(msg.contains("\"tokens[0]\""), "{msg}");
        assert!(msg.contains("version 2"), "{msg}");
        // Truncated: shorter than its parts.
        let msg = invalid_config(
            "svc: {type: memory, brokers: x, password: !sinetstream/encrypted AAEBAQAA}\n",
        );
        assert!(msg.contains("shorter"), "{msg}");

        // No key file: names the path.
        let missing = dir.path().join("no-such-key.pem");
        set_env(PRIVATE_KEY_ENV, &missing);
        let msg = invalid_config(&config);
        assert!(msg.contains(&p(&missing)), "{msg}");
        assert!(msg.contains("cannot be read"), "{msg}");
        assert!(
            msg.contains("parameter \"username_pw_set.username\""),
            "{msg}"
        );

        // A service without encrypted values never reads the key.
        build("svc: {type: memory, brokers: x, password: plain}\n").expect("no key needed");

        // The default path: ~/.config/sinetstream/private_key.pem.
        remove_env(PRIVATE_KEY_ENV);
        let expected = dirs_home().join(".config/sinetstream/private_key.pem");
        if !expected.exists() {
            let msg = invalid_config(&config);
            assert!(msg.contains(&p(&expected)), "{msg}");
        }

        // A passphrase-protected PKCS#8 key.
        let enc_c = encrypt(
            &python,
            &key_c,
            Some("correct horse"),
            32,
            &[Plain::Text(PASSWORD)],
        );
        let config_c = format!(
            "svc:\n  type: memory\n  brokers: x\n  username_pw_set: {{password: !sinetstream/encrypted {}}}\n",
            enc_c[0]
        );
        set_env(PRIVATE_KEY_ENV, &key_c);
        remove_env(PASSPHRASE_ENV);
        let msg = invalid_config(&config_c);
        assert!(msg.contains(PASSPHRASE_ENV), "{msg}");
        set_env(PASSPHRASE_ENV, "wrong horse");
        let msg = invalid_config(&config_c);
        assert!(msg.contains(PASSPHRASE_ENV), "{msg}");
        assert!(!msg.contains("wrong horse"), "{msg}");
        set_env(PASSPHRASE_ENV, "correct horse");
        let w = build(&config_c).expect("writer with the passphrase-protected key");
        assert_eq!(
            w.config()
                .backend()
                .map_of("username_pw_set")
                .and_then(|m| m.str("password")),
            Some(PASSWORD)
        );
        remove_env(PASSPHRASE_ENV);
        remove_env(PRIVATE_KEY_ENV);
    }

    fn dirs_home() -> PathBuf {
        std::env::var_os("HOME").map_or_else(|| PathBuf::from("/nonexistent"), PathBuf::from)
    }

    fn base64_decode(s: &str) -> Vec<u8> {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .expect("base64")
    }

    fn base64_encode(b: &[u8]) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(b)
    }
}

/// Without the `encrypted-config` feature, an encrypted value is a clear InvalidConfigError.
#[cfg(not(feature = "encrypted-config"))]
#[test]
fn encrypted_values_need_the_feature() {
    let e = sinetstream::MessageWriter::builder("svc")
        .config_text("svc: {type: memory, brokers: x, password: !sinetstream/encrypted AAEBAQ==}\n")
        .topic("t")
        .build()
        .expect_err("cannot decrypt");
    let msg = e.to_string();
    assert!(matches!(e, sinetstream::Error::InvalidConfig(_)), "{msg}");
    assert!(msg.contains("\"password\""), "{msg}");
    assert!(msg.contains("encrypted-config"), "{msg}");
}
