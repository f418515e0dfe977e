//! Decodes arbitrary bytes as the consumer-group protocol data (Java's
//! `ConsumerProtocol` subscription and assignment) that other group members
//! send through the broker: the leader decodes every member's subscription,
//! every member decodes the leader's assignment. Decoding must fail cleanly,
//! never allocate from unchecked counts, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sinetstream_kafka::fuzzing::decode_group_protocol;

fuzz_target!(|data: &[u8]| {
    let (topics, partitions) = decode_group_protocol(data);
    // Every topic name takes at least 2 bytes, every partition 4.
    if let Some(n) = topics {
        assert!(n <= data.len() / 2, "more topics than bytes");
    }
    if let Some(n) = partitions {
        assert!(n <= data.len() / 4, "more partitions than bytes");
    }
});
