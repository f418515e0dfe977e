//! Generated packets: encode/decode round trips, streams split at every point,
//! and mutated bytes that must never panic the decoder.

use bytes::{Bytes, BytesMut};
use sinetstream_mqtt_codec::{
    ConnAck, Connect, ConnectReturnCode, Error, LastWill, MAX_CLIENT_ID_LEN_V31, Packet, PacketId,
    Protocol, PubAck, PubComp, PubRec, PubRel, Publish, PublishQos, QoS, SubAck, Subscribe,
    SubscribeFilter, SubscribeReturnCode, UnsubAck, Unsubscribe, decode,
};

const PROTOCOLS: [Protocol; 2] = [Protocol::V31, Protocol::V311];

/// xorshift64*: small, seedable and good enough to spread test cases.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    fn packet_id(&mut self) -> PacketId {
        let raw = if self.chance(10) {
            self.pick(&[1, 0xff, 0x100, 0xffff])
        } else {
            self.below(0xffff) as u16 + 1
        };
        PacketId::new(raw).expect("non-zero by construction")
    }

    fn qos(&mut self) -> QoS {
        self.pick(&[QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce])
    }

    fn bytes(&mut self, max: usize) -> Bytes {
        let len = self.below(max + 1);
        (0..len)
            .map(|_| self.next() as u8)
            .collect::<Vec<_>>()
            .into()
    }

    /// Text of up to `max_bytes` bytes from an alphabet mixing ASCII and multi-byte characters.
    fn text(&mut self, max_bytes: usize) -> String {
        const CHARS: [char; 12] = [
            'a', 'b', 'Z', '0', '-', '_', ' ', '$', 'é', '日', '🦀', '\u{7f}',
        ];
        let want = self.below(max_bytes + 1);
        let mut s = String::new();
        loop {
            let c = self.pick(&CHARS);
            if s.len() + c.len_utf8() > want {
                return s;
            }
            s.push(c);
        }
    }

    fn topic_name(&mut self) -> String {
        let levels = 1 + self.below(4);
        let name = (0..levels)
            .map(|_| self.text(8))
            .collect::<Vec<_>>()
            .join("/");
        if name.is_empty() { "x".into() } else { name }
    }

    fn topic_filter(&mut self) -> String {
        let levels = 1 + self.below(4);
        let mut parts: Vec<String> = (0..levels)
            .map(|_| {
                if self.chance(25) {
                    "+".into()
                } else {
                    self.text(6)
                }
            })
            .collect();
        if self.chance(25) {
            parts.push("#".into());
        }
        let filter = parts.join("/");
        if filter.is_empty() {
            "#".into()
        } else {
            filter
        }
    }

    fn connect(&mut self) -> Packet {
        let protocol = self.pick(&PROTOCOLS);
        let mut client_id = self.text(if protocol == Protocol::V31 {
            MAX_CLIENT_ID_LEN_V31
        } else {
            40
        });
        if protocol == Protocol::V31 && client_id.is_empty() {
            client_id.push('c');
        }
        let will = self.chance(50).then(|| LastWill {
            topic: self.topic_name(),
            message: self.bytes(40),
            qos: self.qos(),
            retain: self.chance(50),
        });
        let username = self.chance(50).then(|| self.text(20));
        let password = (username.is_some() && self.chance(50)).then(|| self.bytes(20));
        Connect {
            protocol,
            clean_session: client_id.is_empty() || self.chance(50),
            keep_alive: self.next() as u16,
            client_id,
            will,
            username,
            password,
        }
        .into()
    }

    fn publish(&mut self) -> Packet {
        let qos = PublishQos::new(self.qos(), self.packet_id());
        let payload_max = if self.chance(3) { 20_000 } else { 300 };
        Publish {
            dup: qos != PublishQos::AtMostOnce && self.chance(30),
            qos,
            retain: self.chance(30),
            topic: self.topic_name(),
            payload: self.bytes(payload_max),
        }
        .into()
    }

    /// A packet the decoder for `protocol` can produce.
    fn packet(&mut self, protocol: Protocol) -> Packet {
        match self.below(14) {
            0 => self.connect(),
            1 => {
                let code = ConnectReturnCode::from_u8(if self.chance(50) {
                    0
                } else {
                    self.next() as u8
                });
                ConnAck {
                    // 3.1 has no session-present bit.
                    session_present: protocol == Protocol::V311
                        && code.is_accepted()
                        && self.chance(50),
                    code,
                }
                .into()
            }
            2 => self.publish(),
            3 => PubAck::new(self.packet_id()).into(),
            4 => PubRec::new(self.packet_id()).into(),
            5 => PubRel::new(self.packet_id()).into(),
            6 => PubComp::new(self.packet_id()).into(),
            7 => {
                let n = 1 + self.below(5);
                let filters = (0..n)
                    .map(|_| SubscribeFilter::new(self.topic_filter(), self.qos()))
                    .collect();
                Subscribe::new(self.packet_id(), filters).into()
            }
            8 => {
                let n = 1 + self.below(8);
                let codes = (0..n)
                    .map(|_| {
                        if self.chance(20) {
                            SubscribeReturnCode::Failure
                        } else {
                            SubscribeReturnCode::Success(self.qos())
                        }
                    })
                    .collect();
                SubAck::new(self.packet_id(), codes).into()
            }
            9 => {
                let n = 1 + self.below(5);
                let filters = (0..n).map(|_| self.topic_filter()).collect();
                Unsubscribe::new(self.packet_id(), filters).into()
            }
            10 => UnsubAck::new(self.packet_id()).into(),
            11 => Packet::PingReq,
            12 => Packet::PingResp,
            _ => Packet::Disconnect,
        }
    }
}

fn encode(packet: &Packet) -> BytesMut {
    let mut buf = BytesMut::new();
    packet
        .encode(&mut buf)
        .unwrap_or_else(|e| panic!("{packet:?} failed to encode: {e}"));
    buf
}

#[test]
fn generated_packets_round_trip() {
    let mut rng = Rng::new(1);
    for protocol in PROTOCOLS {
        for _ in 0..5_000 {
            let packet = rng.packet(protocol);
            let mut buf = encode(&packet);
            let wire = buf.clone();
            assert_eq!(buf.len(), packet.encoded_len(), "{packet:?}");

            let decoded = decode(&mut buf, usize::MAX, protocol).expect("decodes");
            assert!(buf.is_empty());
            let decoded = decoded.expect("complete packet");
            assert_eq!(decoded, packet);
            assert_eq!(decoded.packet_type(), packet.packet_type());
            // Decoding then encoding reproduces the exact bytes.
            assert_eq!(encode(&decoded), wire);

            // The size limit is inclusive.
            let mut exact = wire.clone();
            assert!(decode(&mut exact, wire.len(), protocol).is_ok());
            let mut over = wire.clone();
            assert_eq!(
                decode(&mut over, wire.len() - 1, protocol),
                Err(Error::PacketTooLarge {
                    size: wire.len(),
                    max: wire.len() - 1
                })
            );
        }
    }
}

#[test]
fn every_prefix_waits_and_consumes_nothing() {
    let mut rng = Rng::new(2);
    for protocol in PROTOCOLS {
        for _ in 0..300 {
            let packet = rng.packet(protocol);
            let wire = encode(&packet);
            // Long payloads are sampled; every prefix of short packets is tried.
            let step = (wire.len() / 512).max(1);
            for len in (0..wire.len()).step_by(step) {
                let mut buf = BytesMut::from(&wire[..len]);
                assert_eq!(
                    decode(&mut buf, usize::MAX, protocol),
                    Ok(None),
                    "{packet:?} cut at {len}"
                );
                assert_eq!(&buf[..], &wire[..len], "a prefix must not be consumed");
            }
        }
    }
}

#[test]
fn stream_prefixes_yield_only_whole_packets() {
    let mut rng = Rng::new(3);
    for protocol in PROTOCOLS {
        for _ in 0..50 {
            let packets: Vec<Packet> = (0..4)
                .map(|_| {
                    loop {
                        // Keep the stream short so that every cut point is tried.
                        let p = rng.packet(protocol);
                        if p.encoded_len() < 400 {
                            break p;
                        }
                    }
                })
                .collect();
            let mut stream = BytesMut::new();
            let mut ends = Vec::new();
            for p in &packets {
                p.encode(&mut stream).expect("encodes");
                ends.push(stream.len());
            }
            for cut in 0..=stream.len() {
                let mut buf = BytesMut::from(&stream[..cut]);
                let mut got = Vec::new();
                while let Some(p) = decode(&mut buf, usize::MAX, protocol).expect("valid stream") {
                    got.push(p);
                }
                let whole = ends.iter().filter(|&&end| end <= cut).count();
                assert_eq!(got, packets[..whole]);
                let consumed = if whole == 0 { 0 } else { ends[whole - 1] };
                assert_eq!(&buf[..], &stream[consumed..cut]);
            }
        }
    }
}

#[test]
fn stream_fed_in_random_chunks() {
    let mut rng = Rng::new(4);
    for protocol in PROTOCOLS {
        let packets: Vec<Packet> = (0..1_000).map(|_| rng.packet(protocol)).collect();
        let mut stream = BytesMut::new();
        for p in &packets {
            p.encode(&mut stream).expect("encodes");
        }
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        let mut rest = &stream[..];
        while !rest.is_empty() {
            let n = (1 + rng.below(700)).min(rest.len());
            buf.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            while let Some(p) = decode(&mut buf, 1 << 16, protocol).expect("valid stream") {
                got.push(p);
            }
        }
        assert!(buf.is_empty());
        assert_eq!(got, packets);
    }
}

/// What the fuzz target checks: whatever decodes re-encodes to something that
/// decodes to the same packet.
fn check_decoded(packet: &Packet, protocol: Protocol) {
    let mut buf = BytesMut::new();
    match packet.encode(&mut buf) {
        Ok(()) => {}
        // Decoding accepts client ids a server must refuse with CONNACK 2.
        Err(Error::InvalidClientId(_)) if matches!(packet, Packet::Connect(_)) => return,
        Err(e) => panic!("decoded {packet:?} does not re-encode: {e}"),
    }
    assert_eq!(buf.len(), packet.encoded_len());
    let again = decode(&mut buf, usize::MAX, protocol).expect("re-encoded packet decodes");
    assert_eq!(again.as_ref(), Some(packet));
    assert!(buf.is_empty());
}

#[test]
fn mutated_bytes_never_panic() {
    let mut rng = Rng::new(5);
    let mut decoded = 0;
    for round in 0..20_000 {
        let protocol = rng.pick(&PROTOCOLS);
        let mut wire = if round % 10 == 0 {
            rng.bytes(64).to_vec()
        } else {
            let packet = loop {
                let p = rng.packet(protocol);
                if p.encoded_len() < 2_000 {
                    break p;
                }
            };
            encode(&packet).to_vec()
        };
        for _ in 0..1 + rng.below(3) {
            if wire.is_empty() {
                break;
            }
            let at = rng.below(wire.len());
            match rng.below(4) {
                0 => wire[at] ^= 1 << rng.below(8),
                1 => wire[at] = rng.next() as u8,
                2 => wire.truncate(at),
                _ => wire.insert(at, rng.next() as u8),
            }
        }
        for protocol in PROTOCOLS {
            let mut buf = BytesMut::from(&wire[..]);
            if let Ok(Some(packet)) = decode(&mut buf, 4_096, protocol) {
                decoded += 1;
                check_decoded(&packet, protocol);
            }
        }
    }
    // Mutations must leave a fair share decodable, or this tests nothing.
    assert!(decoded > 2_000, "only {decoded} mutated inputs decoded");
}
