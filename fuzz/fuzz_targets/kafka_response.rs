//! Decodes arbitrary bytes as every response (API and version) the Kafka
//! client uses, through the client's own decode path: response header,
//! body, leftover check, and for Metadata the cluster snapshot builder.
//!
//! No allocation limit of its own: a count on the wire that sizes an
//! allocation beyond the input (what kafka-protocol 0.18.0 did before the
//! workspace's patch, vendor/kafka-protocol/PATCHED.md) shows as libFuzzer's
//! malloc limit being hit, a crash.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sinetstream_kafka::fuzzing::{client_apis, decode_response};

fuzz_target!(|data: &[u8]| {
    // The first byte picks one (API, version), the rest is the response
    // frame (correlation id first).
    let Some((&pick, frame)) = data.split_first() else {
        return;
    };
    let all: Vec<(i16, i16)> = client_apis()
        .into_iter()
        .flat_map(|(key, lo, hi)| (lo..=hi).map(move |v| (key, v)))
        .collect();
    let (key, version) = all[usize::from(pick) % all.len()];
    let _ = decode_response(key, version, frame);
});
