//! Feeds arbitrary bytes to the MQTT decoder under both protocol versions.
//!
//! Besides never panicking, whatever decodes must encode again (the one
//! allowed exception: client ids a server refuses with CONNACK 2 decode but do
//! not encode) and decode back to the same packet.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use sinetstream_mqtt_codec::{Error, Packet, Protocol, decode};

/// Small enough to exercise the size check with fuzzer-sized inputs.
const MAX_PACKET_SIZE: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    for protocol in [Protocol::V31, Protocol::V311] {
        let mut buf = BytesMut::from(data);
        // Decode the whole stream, as a connection would, until it stalls or fails.
        while let Ok(Some(packet)) = decode(&mut buf, MAX_PACKET_SIZE, protocol) {
            check_round_trip(&packet, protocol);
        }
    }
});

fn check_round_trip(packet: &Packet, protocol: Protocol) {
    let mut encoded = BytesMut::new();
    match packet.encode(&mut encoded) {
        Ok(()) => {}
        Err(Error::InvalidClientId(_)) if matches!(packet, Packet::Connect(_)) => return,
        Err(e) => panic!("decoded packet does not encode: {e}: {packet:?}"),
    }
    assert_eq!(
        encoded.len(),
        packet.encoded_len(),
        "encoded_len is wrong for {packet:?}"
    );
    let again = decode(&mut encoded, usize::MAX, protocol)
        .unwrap_or_else(|e| panic!("re-encoded packet does not decode: {e}: {packet:?}"));
    assert_eq!(
        again.as_ref(),
        Some(packet),
        "round trip changed the packet"
    );
    assert!(encoded.is_empty(), "re-encoded packet left trailing bytes");
}
