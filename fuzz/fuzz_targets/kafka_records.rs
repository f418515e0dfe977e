//! Decodes record batches as the Kafka client does, with every compression
//! codec: the raw input, the input as the (compressed) payload of a batch
//! with a valid CRC, and the input compressed by us into such a batch so
//! that the record parser sees fuzzed records after real decompression.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sinetstream_kafka::fuzzing::{batch_with_payload, decode_record_batches};

/// Decompression limit per batch: bombs must stop here, not exhaust memory.
const LIMIT: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let _ = decode_record_batches(data, LIMIT);
    let Some((&head, payload)) = data.split_first() else {
        return;
    };
    let codec = head & 0x7;
    let count = i32::from(head >> 3);
    for compress in [false, true] {
        let batch = batch_with_payload(codec, count, payload, compress);
        if let Ok(n) = decode_record_batches(&batch, LIMIT) {
            assert!(n <= payload.len() + 1, "more records than bytes");
        }
    }
});
