//! Record batches (message format v2), encoded and decoded by our own code
//! (bounded, headers kept in order) with the compression hooks of
//! [`crate::compression`].

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::records::{Compression as Wire, NO_PARTITION_LEADER_EPOCH};

use crate::compression::{self, Compression};

/// A record header. Kafka allows repeated keys; they are kept, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Header name.
    pub key: String,
    /// Header value (`None` is a null value, distinct from empty).
    pub value: Option<Bytes>,
}

impl Header {
    /// A header with a value.
    pub fn new(key: impl Into<String>, value: impl Into<Bytes>) -> Self {
        Header {
            key: key.into(),
            value: Some(value.into()),
        }
    }
}

/// What goes into a batch for one record.
#[derive(Debug, Clone)]
pub(crate) struct BatchRecord {
    pub(crate) key: Option<Bytes>,
    pub(crate) value: Option<Bytes>,
    pub(crate) headers: Vec<Header>,
    pub(crate) timestamp: i64,
}

/// Fixed size of a v2 batch header.
pub(crate) const BATCH_OVERHEAD: usize = 61;

/// Upper bound of one record's encoded size in a batch, for buffer
/// accounting: varint lengths and deltas take at most 5 (or 10) bytes each.
pub(crate) fn record_size_bound(
    key: Option<&Bytes>,
    value: Option<&Bytes>,
    headers: &[Header],
) -> usize {
    let h: usize = headers
        .iter()
        .map(|h| 10 + h.key.len() + h.value.as_ref().map_or(0, Bytes::len))
        .sum();
    // length 5, attributes 1, timestamp delta 10, offset delta 5, key and
    // value lengths 5 each, header count 5
    36 + key.map_or(0, Bytes::len) + value.map_or(0, Bytes::len) + h
}

/// Identity of the batch for idempotence: producer id, epoch and the
/// sequence number of its first record (`-1, -1, -1` when not idempotent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProducerIdentity {
    pub(crate) producer_id: i64,
    pub(crate) epoch: i16,
    pub(crate) base_sequence: i32,
}

impl ProducerIdentity {
    pub(crate) const NONE: ProducerIdentity = ProducerIdentity {
        producer_id: -1,
        epoch: -1,
        base_sequence: -1,
    };
}

/// Encodes `records` as one v2 batch.
///
/// Ours rather than kafka-protocol's encoder, which needs every record
/// converted into its `Record` (headers in a map, so a repeated key would
/// collapse) and allocates per record. The layout and choices (base
/// timestamp = the smallest, the compression hooks) are the same, so the
/// bytes are identical for the records both can express (tested).
pub(crate) fn encode_batch(
    records: &[BatchRecord],
    id: ProducerIdentity,
    compression: Compression,
) -> Result<Bytes, String> {
    let (Some(min_ts), Some(max_ts)) = (
        records.iter().map(|r| r.timestamp).min(),
        records.iter().map(|r| r.timestamp).max(),
    ) else {
        return Err("cannot encode an empty record batch".into());
    };
    let count = i32::try_from(records.len())
        .map_err(|_| format!("{} records do not fit in one batch", records.len()))?;
    let size: usize = records
        .iter()
        .map(|r| record_size_bound(r.key.as_ref(), r.value.as_ref(), &r.headers))
        .sum();
    let mut buf = BytesMut::with_capacity(BATCH_OVERHEAD + size);
    buf.put_i64(0); // base offset: the broker assigns it
    buf.put_i32(0); // batch length, patched below
    buf.put_i32(NO_PARTITION_LEADER_EPOCH);
    buf.put_i8(2); // magic
    buf.put_u32(0); // CRC, patched below
    // Compression codec in the low bits; CreateTime, not transactional.
    buf.put_i16(codec_id(compression.wire()));
    buf.put_i32(count - 1); // last offset delta
    buf.put_i64(min_ts);
    buf.put_i64(max_ts);
    buf.put_i64(id.producer_id);
    buf.put_i16(id.epoch);
    buf.put_i32(id.base_sequence);
    buf.put_i32(count);
    if compression == Compression::None {
        encode_records(&mut buf, records, min_ts)?;
    } else {
        let mut raw = BytesMut::with_capacity(size);
        encode_records(&mut raw, records, min_ts)?;
        compression::compress(&mut raw, &mut buf, compression.wire())
            .map_err(|e| format!("cannot compress record batch: {e}"))?;
    }
    let len = i32::try_from(buf.len() - 12)
        .map_err(|_| format!("record batch of {} bytes is too large", buf.len()))?;
    buf[8..12].copy_from_slice(&len.to_be_bytes());
    let crc = crc32c::crc32c(&buf[21..]);
    buf[17..21].copy_from_slice(&crc.to_be_bytes());
    Ok(buf.freeze())
}

/// The attribute bits of a compression codec.
fn codec_id(c: Wire) -> i16 {
    match c {
        Wire::None => 0,
        Wire::Gzip => 1,
        Wire::Snappy => 2,
        Wire::Lz4 => 3,
        Wire::Zstd => 4,
    }
}

/// Appends each record (length-prefixed, deltas from offset 0 and
/// `base_ts`).
fn encode_records(buf: &mut BytesMut, records: &[BatchRecord], base_ts: i64) -> Result<(), String> {
    for (i, r) in records.iter().enumerate() {
        let offset_delta = i64::try_from(i).map_err(|_| "too many records")?;
        let ts_delta = r.timestamp.wrapping_sub(base_ts);
        let body = record_body_len(r, offset_delta, ts_delta);
        let body_len = i64::try_from(body).map_err(|_| "record too large")?;
        if body_len > i64::from(i32::MAX) {
            return Err(format!("record of {body} bytes is too large"));
        }
        buf.reserve(body + 5);
        put_varlong(buf, body_len);
        buf.put_i8(0);
        put_varlong(buf, ts_delta);
        put_varlong(buf, offset_delta);
        put_bytes_field(buf, r.key.as_deref());
        put_bytes_field(buf, r.value.as_deref());
        put_varlong(buf, r.headers.len() as i64);
        for h in &r.headers {
            put_bytes_field(buf, Some(h.key.as_bytes()));
            put_bytes_field(buf, h.value.as_deref());
        }
    }
    Ok(())
}

/// The bytes `r` takes in a batch (length prefix included) as record
/// `offset_delta` with timestamp `ts_delta` from the batch's base: what
/// the accumulator counts against `batch_size`, as the Java client does (a
/// bound instead filled 16 KiB batches with ~120 records of 100 bytes
/// rather than ~150, and made a fifth more requests).
pub(crate) fn record_wire_size(r: &BatchRecord, offset_delta: i64, ts_delta: i64) -> usize {
    let body = record_body_len(r, offset_delta, ts_delta);
    varlong_len(i64::try_from(body).unwrap_or(i64::MAX)) + body
}

fn record_body_len(r: &BatchRecord, offset_delta: i64, ts_delta: i64) -> usize {
    let mut body = 1 // attributes
        + varlong_len(ts_delta)
        + varlong_len(offset_delta)
        + bytes_field_len(r.key.as_deref())
        + bytes_field_len(r.value.as_deref())
        + varlong_len(r.headers.len() as i64);
    for h in &r.headers {
        body += bytes_field_len(Some(h.key.as_bytes())) + bytes_field_len(h.value.as_deref());
    }
    body
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn varlong_len(v: i64) -> usize {
    let bits = 64 - zigzag(v).leading_zeros() as usize;
    bits.div_ceil(7).max(1)
}

fn put_varlong(buf: &mut BytesMut, v: i64) {
    let mut z = zigzag(v);
    while z >= 0x80 {
        buf.put_u8((z as u8) | 0x80);
        z >>= 7;
    }
    buf.put_u8(z as u8);
}

/// Size of a varint length (-1 for null) and the bytes.
fn bytes_field_len(b: Option<&[u8]>) -> usize {
    match b {
        None => varlong_len(-1),
        Some(b) => varlong_len(b.len() as i64) + b.len(),
    }
}

fn put_bytes_field(buf: &mut BytesMut, b: Option<&[u8]>) {
    match b {
        None => put_varlong(buf, -1),
        Some(b) => {
            put_varlong(buf, b.len() as i64);
            buf.put_slice(b);
        }
    }
}

/// One decoded record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DecodedRecord {
    pub(crate) offset: i64,
    pub(crate) timestamp: i64,
    pub(crate) key: Option<Bytes>,
    pub(crate) value: Option<Bytes>,
    /// In wire order, repeated keys kept.
    pub(crate) headers: Vec<Header>,
}

/// One decoded record batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DecodedBatch {
    pub(crate) base_offset: i64,
    pub(crate) last_offset_delta: i32,
    pub(crate) producer_id: i64,
    pub(crate) producer_epoch: i16,
    pub(crate) base_sequence: i32,
    pub(crate) compression: Wire,
    pub(crate) log_append_time: bool,
    pub(crate) transactional: bool,
    pub(crate) control: bool,
    pub(crate) records: Vec<DecodedRecord>,
}

/// Decodes every complete batch of `data` (a Fetch response's `records`),
/// decompressing at most `limit` bytes per batch. A truncated batch at the
/// end (brokers cut responses at the fetch size) is ignored.
///
/// Ours rather than kafka-protocol's decoder, which sizes vectors from the
/// counts in the data (record and header counts): a corrupt batch could
/// make it request gigabytes and abort the process. Here every count is
/// checked against the bytes that could hold it before anything is
/// allocated, and repeated header keys are kept.
pub(crate) fn decode_batches(mut data: Bytes, limit: usize) -> Result<Vec<DecodedBatch>, String> {
    let mut batches = Vec::new();
    while let Some(size) = batch_extent(&data)? {
        let one = data.split_to(size);
        batches.push(decode_batch(one, limit)?);
    }
    Ok(batches)
}

/// The size of the batch at the start of `data` (length field included),
/// `None` if it is not all there (the end of a response cut at the fetch
/// size), an error if its length field cannot be right.
pub(crate) fn batch_extent(data: &[u8]) -> Result<Option<usize>, String> {
    if data.len() < BATCH_OVERHEAD {
        return Ok(None);
    }
    let len = i32::from_be_bytes([data[8], data[9], data[10], data[11]]);
    let Ok(len) = usize::try_from(len) else {
        return Err(format!("negative batch length {len}"));
    };
    if len < BATCH_OVERHEAD - 12 {
        return Err(format!("batch length {len} is shorter than a batch header"));
    }
    if data.len() - 12 < len {
        return Ok(None);
    }
    Ok(Some(12 + len))
}

/// The base offset of the batch at the start of `b` (at least 8 bytes).
pub(crate) fn base_offset(b: &[u8]) -> i64 {
    be_i64(b, 0)
}

fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(x)
}

/// What the batch headers of fetched data tell without decoding anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BatchScan {
    /// Bytes taken by the complete batches at the start.
    pub(crate) complete: usize,
    /// One past the last offset of the last complete batch: where the next
    /// fetch starts (`None`: no complete batch).
    pub(crate) next_offset: Option<i64>,
    /// A batch right after the complete ones whose length field is wrong:
    /// its base offset and the problem.
    pub(crate) error: Option<(i64, String)>,
    /// The partition leader epoch of the last complete batch, which the
    /// consumer checks its position against after a leader change (KIP-320;
    /// `None`: no complete batch, or one written before epochs were kept).
    pub(crate) last_epoch: Option<i32>,
}

/// Walks the batch headers of `data` (base offset, length, last offset
/// delta), checking lengths as [`decode_batches`] does, so that the
/// consumer can fetch on from the end of the data before decoding it.
pub(crate) fn scan_batches(data: &[u8]) -> BatchScan {
    let mut scan = BatchScan {
        complete: 0,
        next_offset: None,
        error: None,
        last_epoch: None,
    };
    loop {
        let rest = &data[scan.complete..];
        match batch_extent(rest) {
            Ok(Some(size)) => {
                let last_delta = i32::from_be_bytes([rest[23], rest[24], rest[25], rest[26]]);
                let last = base_offset(rest).saturating_add(i64::from(last_delta));
                scan.next_offset = Some(last.saturating_add(1));
                scan.last_epoch = epoch_of(rest);
                scan.complete += size;
            }
            Ok(None) => return scan,
            Err(e) => {
                scan.error = Some((base_offset(rest), e));
                return scan;
            }
        }
    }
}

/// The partition leader epoch of the batch at the start of `b` (at least
/// 16 bytes), `None` when the broker did not set one.
fn epoch_of(b: &[u8]) -> Option<i32> {
    Some(i32::from_be_bytes([b[12], b[13], b[14], b[15]])).filter(|e| *e >= 0)
}

/// The header fields of a v2 batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchHeader {
    pub(crate) base_offset: i64,
    /// The leader's epoch when the batch was appended (`None`: not set).
    pub(crate) partition_leader_epoch: Option<i32>,
    pub(crate) last_offset_delta: i32,
    pub(crate) base_timestamp: i64,
    pub(crate) max_timestamp: i64,
    pub(crate) producer_id: i64,
    pub(crate) producer_epoch: i16,
    pub(crate) base_sequence: i32,
    pub(crate) count: i32,
    pub(crate) compression: Wire,
    pub(crate) log_append_time: bool,
    pub(crate) transactional: bool,
    pub(crate) control: bool,
}

impl BatchHeader {
    /// The offset of the batch's last record (or of the last one it held
    /// before compaction).
    pub(crate) fn last_offset(&self) -> i64 {
        self.base_offset
            .saturating_add(i64::from(self.last_offset_delta))
    }
}

/// Reads and checks (magic, CRC, codec) the header of `b`, one whole batch
/// as [`batch_extent`] measured it.
pub(crate) fn batch_header(b: &[u8]) -> Result<BatchHeader, String> {
    let be_i16 = |at: usize| i16::from_be_bytes([b[at], b[at + 1]]);
    let be_i32 = |at: usize| i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    let be_i64 = |at: usize| be_i64(b, at);
    if b.len() < BATCH_OVERHEAD {
        return Err(format!("record batch of {} bytes is truncated", b.len()));
    }
    let magic = b[16] as i8;
    if magic != 2 {
        return Err(format!(
            "record batch magic {magic} is not supported (only v2)"
        ));
    }
    let crc = u32::from_be_bytes([b[17], b[18], b[19], b[20]]);
    let actual = crc32c::crc32c(&b[21..]);
    if crc != actual {
        return Err(format!(
            "record batch CRC mismatch ({crc:#x} != {actual:#x})"
        ));
    }
    let attributes = be_i16(21);
    let compression = match attributes & 0x7 {
        0 => Wire::None,
        1 => Wire::Gzip,
        2 => Wire::Snappy,
        3 => Wire::Lz4,
        4 => Wire::Zstd,
        other => return Err(format!("unknown compression codec {other}")),
    };
    Ok(BatchHeader {
        base_offset: be_i64(0),
        partition_leader_epoch: epoch_of(b),
        last_offset_delta: be_i32(23),
        base_timestamp: be_i64(27),
        max_timestamp: be_i64(35),
        producer_id: be_i64(43),
        producer_epoch: be_i16(51),
        base_sequence: be_i32(53),
        count: be_i32(57),
        compression,
        log_append_time: attributes & 0x8 != 0,
        transactional: attributes & 0x10 != 0,
        control: attributes & 0x20 != 0,
    })
}

fn decode_batch(b: Bytes, limit: usize) -> Result<DecodedBatch, String> {
    let h = batch_header(&b)?;
    let mut records = Vec::new();
    decode_records(&b, &h, limit, |r| records.push(r))?;
    Ok(DecodedBatch {
        base_offset: h.base_offset,
        last_offset_delta: h.last_offset_delta,
        producer_id: h.producer_id,
        producer_epoch: h.producer_epoch,
        base_sequence: h.base_sequence,
        compression: h.compression,
        log_append_time: h.log_append_time,
        transactional: h.transactional,
        control: h.control,
        records,
    })
}

/// Decodes the records of batch `b` (its header `h` already checked by
/// [`batch_header`]) in order into `each`, decompressing at most `limit`
/// bytes. On an error some records may have been passed already.
pub(crate) fn decode_records(
    b: &Bytes,
    h: &BatchHeader,
    limit: usize,
    mut each: impl FnMut(DecodedRecord),
) -> Result<(), String> {
    let payload = b.slice(BATCH_OVERHEAD..);
    let mut body = match h.compression {
        Wire::None => payload,
        c => compression::decompress(&payload, c, limit)?,
    };
    let count = h.count;
    let count = usize::try_from(count).map_err(|_| format!("negative record count {count}"))?;
    // The smallest record is 7 bytes: a count the data cannot hold is corrupt.
    if count > body.remaining() / 7 + 1 {
        return Err(format!(
            "record count {count} does not fit in {} bytes",
            body.remaining()
        ));
    }
    for _ in 0..count {
        let len = read_len(&mut body, "record")?.ok_or("null record")?;
        let mut r = body.split_to(len);
        if r.remaining() < 1 {
            return Err("empty record".into());
        }
        r.advance(1); // attributes, unused in v2
        let ts_delta = read_varlong(&mut r)?;
        let offset_delta = read_varint(&mut r)?;
        let key = read_bytes(&mut r, "key")?;
        let value = read_bytes(&mut r, "value")?;
        let n = usize::try_from(read_varint(&mut r)?).map_err(|_| "negative header count")?;
        if n > r.remaining() / 2 {
            return Err(format!("header count {n} does not fit in the record"));
        }
        let mut headers = Vec::with_capacity(n);
        for _ in 0..n {
            let k = read_bytes(&mut r, "header key")?.ok_or("null header key")?;
            let key = String::from_utf8(k.to_vec()).map_err(|_| "header key is not UTF-8")?;
            let value = read_bytes(&mut r, "header value")?;
            headers.push(Header { key, value });
        }
        if r.has_remaining() {
            return Err(format!("{} bytes left in a record", r.remaining()));
        }
        each(DecodedRecord {
            offset: h.base_offset.wrapping_add(i64::from(offset_delta)),
            timestamp: if h.log_append_time {
                h.max_timestamp
            } else {
                h.base_timestamp.wrapping_add(ts_delta)
            },
            key,
            value,
            headers,
        });
    }
    Ok(())
}

fn read_varlong(b: &mut Bytes) -> Result<i64, String> {
    let mut raw: u64 = 0;
    for i in 0..10 {
        if !b.has_remaining() {
            return Err("truncated varint".into());
        }
        let byte = b.get_u8();
        raw |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            // zigzag
            return Ok((raw >> 1) as i64 ^ -((raw & 1) as i64));
        }
    }
    Err("varint too long".into())
}

fn read_varint(b: &mut Bytes) -> Result<i32, String> {
    let v = read_varlong(b)?;
    i32::try_from(v).map_err(|_| format!("varint {v} out of range"))
}

/// A varint length: `None` for -1 (null), an error if it exceeds the data.
fn read_len(b: &mut Bytes, what: &str) -> Result<Option<usize>, String> {
    match read_varint(b)? {
        -1 => Ok(None),
        n => {
            let n = usize::try_from(n).map_err(|_| format!("negative {what} length {n}"))?;
            if n > b.remaining() {
                return Err(format!(
                    "{what} length {n} exceeds the {} bytes left",
                    b.remaining()
                ));
            }
            Ok(Some(n))
        }
    }
}

fn read_bytes(b: &mut Bytes, what: &str) -> Result<Option<Bytes>, String> {
    Ok(read_len(b, what)?.map(|n| b.split_to(n)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_CODECS: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    /// Without and with an idempotent producer's identity.
    const IDENTITIES: [ProducerIdentity; 2] = [
        ProducerIdentity::NONE,
        ProducerIdentity {
            producer_id: 7,
            epoch: 2,
            base_sequence: 40,
        },
    ];

    fn rec(i: i64) -> BatchRecord {
        BatchRecord {
            key: Some(Bytes::from(format!("k{i}"))),
            value: Some(Bytes::from(vec![b'v'; 100])),
            headers: vec![Header::new("h", format!("{i}"))],
            timestamp: 1_700_000_000_000 + i,
        }
    }

    #[test]
    fn wire_sizes_add_up_to_the_encoded_batch() {
        // Varint boundaries: 63/64 and 8191/8192 bytes, null key and value,
        // timestamps far apart, many records (offset deltas past 63).
        let mut records: Vec<BatchRecord> = (0..300).map(rec).collect();
        records[3].key = None;
        records[4].value = None;
        records[5].value = Some(Bytes::from(vec![b'x'; 63]));
        records[6].value = Some(Bytes::from(vec![b'x'; 64]));
        records[7].value = Some(Bytes::from(vec![b'x'; 8191]));
        records[8].value = Some(Bytes::from(vec![b'x'; 8192]));
        records[9].timestamp += 10_000_000;
        records[10].headers.clear();
        let first = records[0].timestamp;
        let sum: usize = records
            .iter()
            .enumerate()
            .map(|(i, r)| record_wire_size(r, i as i64, r.timestamp - first))
            .sum();
        let b = encode_batch(&records, ProducerIdentity::NONE, Compression::None).expect("encode");
        assert_eq!(b.len(), BATCH_OVERHEAD + sum);
    }

    #[test]
    fn batches_round_trip_with_every_codec() {
        let records: Vec<BatchRecord> = (0..50).map(rec).collect();
        for c in ALL_CODECS {
            for id in IDENTITIES {
                let b = encode_batch(&records, id, c).expect("encode");
                let sets = decode_batches(b, 1 << 20).expect("decode");
                assert_eq!(sets.len(), 1, "{c:?}: one batch");
                let got = &sets[0].records;
                assert_eq!(sets[0].compression, c.wire());
                assert_eq!(sets[0].producer_id, id.producer_id);
                assert_eq!(sets[0].base_sequence, id.base_sequence);
                assert_eq!(got.len(), 50);
                for (i, r) in got.iter().enumerate() {
                    assert_eq!(r.offset, i as i64);
                    assert_eq!(r.timestamp, 1_700_000_000_000 + i as i64);
                    assert_eq!(r.key.as_deref(), Some(format!("k{i}").as_bytes()));
                    assert_eq!(r.value.as_ref().map(Bytes::len), Some(100));
                    assert_eq!(r.headers, vec![Header::new("h", format!("{i}"))]);
                }
            }
        }
    }

    /// kafka-protocol's encoder, which this module's replaced: same bytes.
    fn reference_encode(records: &[BatchRecord], id: ProducerIdentity, c: Compression) -> Bytes {
        use kafka_protocol::protocol::StrBytes;
        use kafka_protocol::records::{
            Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
        };
        let converted: Vec<Record> = records
            .iter()
            .enumerate()
            .map(|(i, r)| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
                producer_id: id.producer_id,
                producer_epoch: id.epoch,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                sequence: id.base_sequence.wrapping_add(i as i32),
                timestamp: r.timestamp,
                key: r.key.clone(),
                value: r.value.clone(),
                headers: r
                    .headers
                    .iter()
                    .map(|h| (StrBytes::from_string(h.key.clone()), h.value.clone()))
                    .collect(),
            })
            .collect();
        let mut buf = BytesMut::new();
        let opts = RecordEncodeOptions {
            version: 2,
            compression: c.wire(),
        };
        RecordBatchEncoder::encode_with_custom_compression(
            &mut buf,
            &converted,
            &opts,
            Some(compression::compress),
        )
        .expect("reference encode");
        buf.freeze()
    }

    #[test]
    fn bytes_match_kafka_protocols_encoder() {
        let mut records: Vec<BatchRecord> = (0..40).map(rec).collect();
        // Out-of-order and far-apart timestamps, null key/value, no headers,
        // a big value (multi-byte varints).
        records[3].timestamp = 1_600_000_000_000;
        records[5].key = None;
        records[6].value = None;
        records[7].headers.clear();
        records[8].headers.push(Header {
            key: "n".into(),
            value: None,
        });
        records[9].value = Some(Bytes::from(vec![7u8; 70_000]));
        for c in ALL_CODECS {
            for id in IDENTITIES {
                let ours = encode_batch(&records, id, c).expect("encode");
                assert_eq!(ours, reference_encode(&records, id, c), "{c:?} {id:?}");
            }
        }
    }

    #[test]
    fn repeated_header_keys_are_kept_in_order() {
        let mut r = rec(1);
        r.headers = vec![
            Header::new("a", "1"),
            Header::new("b", "2"),
            Header::new("a", "3"),
        ];
        let b =
            encode_batch(&[r.clone()], ProducerIdentity::NONE, Compression::None).expect("encode");
        let sets = decode_batches(b, 1 << 20).expect("decode");
        assert_eq!(sets[0].records[0].headers, r.headers);
    }

    #[test]
    fn empty_batch_is_an_error() {
        assert!(encode_batch(&[], ProducerIdentity::NONE, Compression::None).is_err());
    }

    #[test]
    fn varints_match_the_zigzag_encoding() {
        for v in [
            0i64,
            -1,
            1,
            63,
            -64,
            64,
            300,
            -300,
            i64::from(i32::MAX),
            i64::MIN,
            i64::MAX,
        ] {
            let mut b = BytesMut::new();
            put_varlong(&mut b, v);
            assert_eq!(b.len(), varlong_len(v), "{v}");
            assert_eq!(read_varlong(&mut b.freeze()), Ok(v), "{v}");
        }
    }

    #[test]
    fn truncated_tail_is_ignored() {
        let b = encode_batch(&[rec(1)], ProducerIdentity::NONE, Compression::None).expect("encode");
        let mut two = BytesMut::from(&b[..]);
        two.extend_from_slice(&b[..b.len() - 3]);
        let scan = scan_batches(&two);
        assert_eq!(decode_batches(two.freeze(), 1000).expect("decode").len(), 1);
        assert_eq!(scan.complete, b.len(), "the scan agrees");
        assert_eq!(scan.next_offset, Some(1));
        assert_eq!(scan.error, None);
        assert_eq!(scan.last_epoch, None, "a producer leaves the epoch unset");
    }

    #[test]
    fn the_leader_epoch_comes_from_the_last_complete_batch() {
        let b = encode_batch(&[rec(1)], ProducerIdentity::NONE, Compression::None).expect("encode");
        let mut data = BytesMut::new();
        for epoch in [3i32, 5, 9] {
            // The broker stamps the epoch outside the CRC'd part.
            let mut one = BytesMut::from(&b[..]);
            one[12..16].copy_from_slice(&epoch.to_be_bytes());
            data.extend_from_slice(&one);
        }
        let cut = data.len() - 1; // the batch of epoch 9 is cut
        let scan = scan_batches(&data[..cut]);
        assert_eq!(scan.last_epoch, Some(5));
        let h = batch_header(&data[..b.len()]).expect("header");
        assert_eq!(h.partition_leader_epoch, Some(3));
    }

    #[test]
    fn scan_stops_where_decoding_fails_on_a_length() {
        let records: Vec<BatchRecord> = (0..3).map(rec).collect();
        let b = encode_batch(&records, ProducerIdentity::NONE, Compression::Lz4).expect("encode");
        let mut data = BytesMut::from(&b[..]);
        let mut bad = BytesMut::from(&b[..]);
        bad[..8].copy_from_slice(&3i64.to_be_bytes());
        bad[8..12].copy_from_slice(&48i32.to_be_bytes()); // one short of a header
        data.extend_from_slice(&bad);
        let scan = scan_batches(&data);
        assert_eq!(scan.complete, b.len());
        assert_eq!(scan.next_offset, Some(3));
        let (base, e) = scan.error.expect("bad length");
        assert_eq!(base, 3);
        assert_eq!(decode_batches(data.freeze(), 1 << 20), Err(e));
    }
}

#[cfg(test)]
mod fuzz_helper_tests {
    #[test]
    fn hand_built_batches_pass_the_crc() {
        let b = crate::records::encode_batch(
            &[crate::records::BatchRecord {
                key: None,
                value: Some(bytes::Bytes::from_static(b"v")),
                headers: Vec::new(),
                timestamp: 0,
            }],
            crate::records::ProducerIdentity::NONE,
            crate::compression::Compression::None,
        )
        .expect("encode");
        // Records start after the 61-byte header.
        let records = &b[61..];
        for codec in 0..5 {
            let built = crate::fuzzing::batch_with_payload(codec, 1, records, true);
            assert_eq!(
                crate::fuzzing::decode_record_batches(&built, 1 << 20),
                Ok(1),
                "codec {codec}"
            );
        }
    }

    #[test]
    fn hostile_counts_are_errors_not_allocations() {
        use crate::fuzzing::{batch_with_payload, decode_record_batches};
        // A billion records claimed, a few bytes present, for every codec.
        for codec in 0..5 {
            for compress in [false, true] {
                let b = batch_with_payload(codec, 1_000_000_000, &[0u8; 16], compress);
                assert!(decode_record_batches(&b, 1 << 20).is_err(), "codec {codec}");
            }
        }
        // One record claiming a billion headers: len 10, attrs, ts 0, off 0,
        // key null, value null, headers varint(1e9): 10 bytes.
        let mut rec = vec![0x14u8, 0, 0, 0, 1, 1];
        rec.extend_from_slice(&[0x80, 0xa8, 0xd6, 0xb9, 0x07]);
        let b = batch_with_payload(0, 1, &rec, false);
        let e = decode_record_batches(&b, 1 << 20).expect_err("headers");
        assert!(e.contains("header count"), "{e}");
        // A flipped bit fails the CRC.
        let mut b = batch_with_payload(0, 1, &[0x0c, 0, 0, 0, 1, 1, 0], false);
        assert_eq!(decode_record_batches(&b, 1 << 20), Ok(1));
        let last = b.len() - 1;
        b[last] ^= 1;
        assert!(
            decode_record_batches(&b, 1 << 20)
                .expect_err("crc")
                .contains("CRC")
        );
    }
}
