//! Codec and configuration tests.

use super::*;
use crate::config::{Map, Params, Value};

fn map(entries: &[(&str, Value)]) -> Map {
    entries
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

fn cfg(entries: &[(&str, Value)]) -> Result<WireConfig> {
    let m = map(entries);
    WireConfig::from_params(&Params::new("svc", &m))
}

fn codec(entries: &[(&str, Value)]) -> Codec {
    Codec::new(&cfg(entries).expect("config")).expect("codec")
}

fn crypto(entries: &[(&str, Value)]) -> Value {
    Value::Map(map(entries))
}

/// The `crypto` entry for AES-GCM with `password`.
fn gcm(password: &str) -> (&'static str, Value) {
    (
        "crypto",
        crypto(&[
            ("algorithm", "AES".into()),
            ("mode", "GCM".into()),
            ("password", password.into()),
        ]),
    )
}

#[test]
fn default_is_plain_v3() {
    let c = codec(&[]);
    let w = c.encode(b"hi", 5).expect("encode");
    assert_eq!(&w[..6], &[0xDF, 3, 0, 0, 0, 0]);
    assert_eq!(
        c.decode(&w).expect("decode"),
        Decoded {
            payload: bytes::Bytes::from_static(b"hi"),
            timestamp_us: Some(5)
        }
    );
}

#[test]
fn v3_reader_accepts_v2_and_v2_reader_rejects_v3() {
    let v2 = codec(&[("message_format", 2.into())]);
    let v3 = codec(&[]);
    let w2 = v2.encode(b"x", 1).expect("encode");
    assert_eq!(w2[0], 0xC3);
    assert_eq!(v3.decode(&w2).expect("v3 reads v2").payload, &b"x"[..]);
    let w3 = v3.encode(b"x", 1).expect("encode");
    assert!(matches!(v2.decode(&w3), Err(Error::InvalidMessage(_))));
}

#[test]
fn user_data_only_is_the_bare_payload() {
    let c = codec(&[("user_data_only", true.into())]);
    assert_eq!(c.encode(b"raw", 9).expect("encode"), b"raw");
    assert_eq!(
        c.decode(b"").expect("decode"),
        Decoded {
            payload: bytes::Bytes::new(),
            timestamp_us: None
        }
    );
}

#[test]
fn key_version_must_match_encryption_setting() {
    let plain = codec(&[]);
    let enc = codec(&[("data_encryption", true.into()), gcm("p")]);
    let we = enc.encode(b"secret", 1).expect("encode");
    assert_eq!(&we[..6], &[0xDF, 3, 0, 0, 0, 1]);
    assert_eq!(enc.decode(&we).expect("decode").payload, &b"secret"[..]);
    let e = plain
        .decode(&we)
        .expect_err("encrypted message, plain reader");
    assert!(e.to_string().contains("key_version=1"), "{e}");
    let wp = plain.encode(b"x", 1).expect("encode");
    assert!(enc.decode(&wp).is_err());
    // v2 encrypted (no header) is read by a v3 reader with the highest key version
    let enc2 = codec(&[
        ("message_format", 2.into()),
        ("data_encryption", true.into()),
        gcm("p"),
    ]);
    let w2 = enc2.encode(b"old", 1).expect("encode");
    assert_eq!(enc.decode(&w2).expect("decode").payload, &b"old"[..]);
}

#[test]
fn writer_salt_is_drawn_once_and_iv_per_message() {
    let c = codec(&[
        ("data_encryption", true.into()),
        (
            "crypto",
            crypto(&[
                ("algorithm", "AES".into()),
                ("mode", "CBC".into()),
                ("padding", "pkcs7".into()),
                ("password", "p".into()),
            ]),
        ),
    ]);
    let a = c.encode(b"m", 1).expect("a");
    let b = c.encode(b"m", 1).expect("b");
    assert_eq!(a[6..14], b[6..14], "same salt");
    assert_ne!(a[14..30], b[14..30], "fresh IV");
}

#[test]
fn config_errors_name_the_key_and_hide_secrets() {
    let enc = |c: Value| cfg(&[("data_encryption", true.into()), ("crypto", c)]);
    let cases: Vec<(Value, &str)> = vec![
        (
            crypto(&[("mode", "GCM".into()), ("password", "hunter2".into())]),
            "crypto.algorithm",
        ),
        (
            crypto(&[
                ("algorithm", "DES".into()),
                ("mode", "GCM".into()),
                ("password", "hunter2".into()),
            ]),
            "crypto.algorithm",
        ),
        (
            crypto(&[("algorithm", "AES".into()), ("password", "hunter2".into())]),
            "crypto.mode",
        ),
        (
            crypto(&[
                ("algorithm", "AES".into()),
                ("mode", "ECB".into()),
                ("password", "hunter2".into()),
            ]),
            "crypto.mode",
        ),
        (
            crypto(&[
                ("algorithm", "AES".into()),
                ("mode", "GCM".into()),
                ("key_length", 100.into()),
                ("password", "hunter2".into()),
            ]),
            "crypto.key_length",
        ),
        (
            crypto(&[
                ("algorithm", "AES".into()),
                ("mode", "GCM".into()),
                ("padding", "zero".into()),
                ("password", "hunter2".into()),
            ]),
            "crypto.padding",
        ),
        (
            crypto(&[("algorithm", "AES".into()), ("mode", "GCM".into())]),
            "crypto.key or crypto.password",
        ),
        (
            crypto(&[
                ("algorithm", "AES".into()),
                ("mode", "GCM".into()),
                ("key", Value::Bytes(b"hunter2hunter2!".to_vec())),
            ]),
            "crypto.key",
        ),
        (
            crypto(&[
                ("algorithm", "AES".into()),
                ("mode", "GCM".into()),
                ("key", "hunter2hunter2!!".into()),
            ]),
            "crypto.key",
        ),
        (
            crypto(&[
                ("algorithm", "AES".into()),
                ("mode", "GCM".into()),
                ("key", Value::Bytes(b"hunter2hunter2!!".to_vec())),
                ("password", "hunter2".into()),
            ]),
            "only one",
        ),
        (
            crypto(&[
                ("algorithm", "AES".into()),
                ("mode", "GCM".into()),
                ("password", "hunter2\u{3042}".into()),
            ]),
            "Latin-1",
        ),
        (
            crypto(&[
                ("algorithm", "AES".into()),
                ("mode", "GCM".into()),
                ("password", "hunter2".into()),
                ("key_derivation", crypto(&[("prf", "MD5".into())])),
            ]),
            "prf",
        ),
        (
            crypto(&[
                ("algorithm", "AES".into()),
                ("mode", "GCM".into()),
                ("_keys", crypto(&[("0", Value::Bytes(vec![0; 16]))])),
            ]),
            "crypto._keys",
        ),
        (
            crypto(&[
                ("algorithm", "AES".into()),
                ("mode", "GCM".into()),
                ("_keys", crypto(&[("1", Value::Bytes(vec![0; 15]))])),
            ]),
            "crypto._keys.1",
        ),
    ];
    for (c, needle) in cases {
        match enc(c) {
            Err(Error::InvalidArgument(m)) => {
                assert!(m.contains(needle), "{m:?} should mention {needle}");
                assert!(!m.contains("hunter2"), "{m}");
            }
            other => panic!("expected InvalidArgument about {needle}, got {other:?}"),
        }
    }
    assert!(cfg(&[("message_format", 4.into())]).is_err());
    assert!(
        cfg(&[
            ("data_compression", true.into()),
            ("compression", crypto(&[("algorithm", "snappy".into())]))
        ])
        .is_err()
    );
    assert!(
        cfg(&[
            ("data_compression", true.into()),
            (
                "compression",
                crypto(&[("algorithm", "gzip".into()), ("level", 12.into())])
            )
        ])
        .is_err()
    );
    // wrong types are warned about and ignored
    assert_eq!(
        cfg(&[("message_format", "2".into())])
            .expect("ok")
            .message_format(),
        3
    );
}

#[test]
fn debug_never_shows_secrets() {
    let c = cfg(&[("data_encryption", true.into()), gcm("hunter2")]).expect("config");
    let codec = Codec::new(&c).expect("codec");
    codec.encode(b"x", 0).expect("encode");
    let s = format!("{c:?} {codec:?} {c:#?}");
    assert!(!s.contains("hunter2"), "{s}");
    assert!(s.contains("Gcm"), "{s}");
}

#[test]
fn password_map_forms() {
    let dir = std::env::temp_dir().join(format!("sst-wire-pw-{}", std::process::id()));
    std::fs::write(&dir, "from-file\n").expect("write");
    let path = dir.to_string_lossy().into_owned();
    let mk = |pw: Value| {
        codec(&[
            ("data_encryption", true.into()),
            (
                "crypto",
                crypto(&[
                    ("algorithm", "AES".into()),
                    ("mode", "CTR".into()),
                    ("password", pw),
                ]),
            ),
        ])
    };
    let a = mk(crypto(&[("value", "from-file\n".into())]));
    let b = mk(crypto(&[("path", path.as_str().into())]));
    let w = a.encode(b"p", 3).expect("encode");
    assert_eq!(b.decode(&w).expect("decode").payload, &b"p"[..]);
    let _ = std::fs::remove_file(&dir);
}

#[test]
fn codec_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Codec>();
    check::<WireConfig>();
}

#[test]
fn measured_sizes() {
    let c = codec(&[("data_compression", true.into())]);
    let payload = vec![b'a'; 1000];
    let (w, s) = c.encode_measured(&payload, 0).expect("encode");
    assert_eq!(s.payload, 1000);
    assert!(s.compressed < 100);
    assert_eq!(s.wire, w.len());
    let (d, s2) = c.decode_measured(&w).expect("decode");
    assert_eq!(d.payload, payload);
    assert_eq!(s, s2);
}

#[test]
fn shared_decode_slices_plain_payloads_and_matches_decode() {
    let plain = codec(&[]);
    let compressed = codec(&[("data_compression", true.into())]);
    let encrypted = codec(&[("data_encryption", true.into()), gcm("pw")]);
    let user_only = codec(&[("user_data_only", true.into())]);
    for (name, c) in [
        ("plain", &plain),
        ("compressed", &compressed),
        ("encrypted", &encrypted),
        ("user_data_only", &user_only),
    ] {
        for payload in [&b""[..], b"x", &[7u8; 3000][..]] {
            let w = bytes::Bytes::from(c.encode(payload, 9).expect("encode"));
            let (shared, s1) = c.decode_shared(&w).expect("decode_shared");
            let (copied, s2) = c.decode_measured(&w).expect("decode");
            assert_eq!(shared, copied, "{name}");
            assert_eq!(s1, s2, "{name}");
            assert_eq!(shared.payload, payload, "{name}");
            let inside = w.as_ptr_range().contains(&shared.payload.as_ptr());
            if !payload.is_empty() && (name == "plain" || name == "user_data_only") {
                assert!(inside, "{name}: the payload is a slice of the wire bytes");
            }
        }
    }
}

#[test]
fn encode_into_appends_exactly_what_encode_returns() {
    let configs: [(&str, Codec); 5] = [
        ("plain v3", codec(&[])),
        ("v2", codec(&[("message_format", 2.into())])),
        ("user_data_only", codec(&[("user_data_only", true.into())])),
        ("compressed", codec(&[("data_compression", true.into())])),
        (
            "encrypted",
            codec(&[("data_encryption", true.into()), gcm("pw")]),
        ),
    ];
    for (name, c) in &configs {
        for payload in [&b""[..], b"x", &[7u8; 127][..], &[9u8; 3000][..]] {
            for ts in [0, -1, 63, 64, 1_700_000_000_123_456, i64::MAX, i64::MIN] {
                let mut out = bytes::BytesMut::from(&b"prefix"[..]);
                let sizes = c.encode_into(payload, ts, &mut out).expect("encode_into");
                assert_eq!(&out[..6], b"prefix", "{name}");
                let appended = &out[6..];
                assert_eq!(sizes.wire, appended.len(), "{name}");
                let (vec, vec_sizes) = c.encode_measured(payload, ts).expect("encode");
                assert_eq!(sizes, vec_sizes, "{name}");
                assert_eq!(vec.capacity(), vec.len(), "{name}: exact allocation");
                if *name == "encrypted" {
                    // A fresh IV per message: compare what decodes.
                    let d = c.decode(appended).expect("decode");
                    assert_eq!(d.payload, payload, "{name}");
                    assert_eq!(d.timestamp_us, Some(ts), "{name}");
                } else {
                    assert_eq!(appended, &vec[..], "{name} ts={ts}");
                }
            }
        }
    }
}
