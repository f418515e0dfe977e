//! Decodes arbitrary bytes as SINETStream messages with a few codecs; must never panic.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use sinetstream::config::{Map, Params, Value};
use sinetstream::wire::{Codec, WireConfig, decode_envelope, unpack_header};

fn map(entries: &[(&str, Value)]) -> Map {
    entries
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

fn codec(entries: &[(&str, Value)]) -> Codec {
    let m = map(entries);
    let cfg = WireConfig::from_params(&Params::new("fuzz", &m)).expect("valid config");
    Codec::new(&cfg).expect("codec")
}

fn crypto(mode: &str, extra: &[(&str, Value)]) -> Value {
    let mut m = map(&[
        ("algorithm", "AES".into()),
        ("mode", mode.into()),
        // few iterations: the fuzzer derives a key for every new salt
        (
            "key_derivation",
            Value::Map(map(&[("iteration", 1.into())])),
        ),
    ]);
    for (k, v) in extra {
        m.insert(*k, v.clone());
    }
    Value::Map(m)
}

static CODECS: LazyLock<Vec<Codec>> = LazyLock::new(|| {
    let enc = |c: Value| [("data_encryption", Value::Bool(true)), ("crypto", c)];
    vec![
        codec(&[]),
        codec(&[("message_format", 2.into())]),
        codec(&[("user_data_only", true.into())]),
        codec(&[("data_compression", true.into())]),
        codec(&[
            ("data_compression", true.into()),
            (
                "compression",
                Value::Map(map(&[("algorithm", "zstd".into())])),
            ),
        ]),
        codec(&[
            ("data_compression", true.into()),
            (
                "compression",
                Value::Map(map(&[("algorithm", "lz4".into())])),
            ),
        ]),
        codec(&enc(crypto("GCM", &[("password", "fuzz".into())]))),
        codec(&enc(crypto("EAX", &[("key", Value::Bytes(vec![1; 16]))]))),
        codec(&enc(crypto(
            "CBC",
            &[("padding", "pkcs7".into()), ("password", "fuzz".into())],
        ))),
        codec(&enc(crypto(
            "CTR",
            &[
                ("key_length", 256.into()),
                ("key", Value::Bytes(vec![2; 32])),
            ],
        ))),
        codec(&enc(crypto(
            "OPENPGP",
            &[("key", Value::Bytes(vec![3; 16]))],
        ))),
        codec(&[
            ("user_data_only", true.into()),
            ("data_compression", true.into()),
            ("data_encryption", true.into()),
            (
                "crypto",
                crypto("CFB", &[("key", Value::Bytes(vec![4; 16]))]),
            ),
        ]),
    ]
});

fuzz_target!(|data: &[u8]| {
    let _ = unpack_header(data);
    let _ = decode_envelope(data);
    for c in CODECS.iter() {
        if let Ok(d) = c.decode(data) {
            // whatever decodes must re-encode and decode to the same payload
            let ts = d.timestamp_us.unwrap_or(0);
            let again = c.encode(&d.payload, ts).expect("re-encode");
            assert_eq!(c.decode(&again).expect("decode again").payload, d.payload);
        }
    }
});
