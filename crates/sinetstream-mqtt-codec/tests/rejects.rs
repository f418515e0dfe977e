//! Input the decoder must refuse, and packets the encoder must refuse to write.

use bytes::{Bytes, BytesMut};
use sinetstream_mqtt_codec::{
    ConnAck, Connect, ConnectReturnCode, Error, LastWill, Packet, PacketId, PacketType, Protocol,
    Publish, PublishQos, QoS, SubAck, Subscribe, SubscribeFilter, TopicError, Unsubscribe, decode,
};

fn id(n: u16) -> PacketId {
    PacketId::new(n).expect("test ids are non-zero")
}

fn decode_err(wire: &[u8], protocol: Protocol) -> Error {
    match decode(&mut BytesMut::from(wire), usize::MAX, protocol) {
        Err(e) => e,
        Ok(p) => panic!("{wire:02x?} decoded as {p:?}"),
    }
}

fn v311(wire: &[u8]) -> Error {
    decode_err(wire, Protocol::V311)
}

fn encode_err(packet: impl Into<Packet>) -> Error {
    let packet = packet.into();
    let mut buf = BytesMut::from(&b"keep"[..]);
    let err = packet.encode(&mut buf).expect_err("encode must fail");
    assert_eq!(
        &buf[..],
        b"keep",
        "a failed encode must leave the buffer alone"
    );
    err
}

#[test]
fn reserved_packet_types() {
    assert_eq!(v311(&[0x00, 0x00]), Error::ReservedPacketType(0));
    assert_eq!(v311(&[0xf0, 0x00]), Error::ReservedPacketType(15));
    assert_eq!(
        decode_err(&[0xf0], Protocol::V31),
        Error::ReservedPacketType(15)
    );
}

#[test]
fn reserved_header_flags_in_v311() {
    let cases: &[(&[u8], PacketType, u8)] = &[
        (&[0x11], PacketType::Connect, 1),
        (&[0x28], PacketType::ConnAck, 8),
        (&[0x42, 0x02, 0x00, 0x01], PacketType::PubAck, 2),
        (&[0x51], PacketType::PubRec, 1),
        (&[0x60, 0x02, 0x00, 0x01], PacketType::PubRel, 0),
        (&[0x6a, 0x02, 0x00, 0x01], PacketType::PubRel, 0b1010),
        (&[0x72], PacketType::PubComp, 2),
        (&[0x80], PacketType::Subscribe, 0),
        (&[0x83], PacketType::Subscribe, 3),
        (&[0x92], PacketType::SubAck, 2),
        (&[0xa0], PacketType::Unsubscribe, 0),
        (&[0xb4], PacketType::UnsubAck, 4),
        (&[0xc1, 0x00], PacketType::PingReq, 1),
        (&[0xdf], PacketType::PingResp, 15),
        (&[0xe8], PacketType::Disconnect, 8),
    ];
    for &(wire, packet, flags) in cases {
        assert_eq!(
            v311(wire),
            Error::InvalidHeaderFlags { packet, flags },
            "{wire:02x?}"
        );
    }
}

#[test]
fn publish_qos3_and_dup_on_qos0() {
    for protocol in [Protocol::V31, Protocol::V311] {
        assert_eq!(
            decode_err(&[0x36, 0x05, 0x00, 0x01, b'a', 0x00, 0x01], protocol),
            Error::InvalidQos(3)
        );
        assert_eq!(
            decode_err(&[0x38, 0x03, 0x00, 0x01, b'a'], protocol),
            Error::DupWithQos0
        );
    }
}

#[test]
fn publish_topic_rules() {
    assert_eq!(
        v311(&[0x30, 0x05, 0x00, 0x03, b'a', b'/', b'+']),
        Error::Topic(TopicError::WildcardInName)
    );
    assert_eq!(
        v311(&[0x30, 0x03, 0x00, 0x01, b'#']),
        Error::Topic(TopicError::WildcardInName)
    );
    assert_eq!(
        v311(&[0x30, 0x02, 0x00, 0x00]),
        Error::Topic(TopicError::Empty)
    );
    assert_eq!(v311(&[0x30, 0x03, 0x00, 0x01, 0xc3]), Error::InvalidUtf8);
    assert_eq!(
        v311(&[0x30, 0x04, 0x00, 0x02, b'a', 0x00]),
        Error::NullCharacter
    );
    // Topic length claims more than the packet holds.
    assert_eq!(
        v311(&[0x30, 0x03, 0x00, 0x09, b'a']),
        Error::Truncated(PacketType::Publish)
    );
    assert_eq!(
        v311(&[0x30, 0x01, 0x00]),
        Error::Truncated(PacketType::Publish)
    );
    assert_eq!(v311(&[0x30, 0x00]), Error::Truncated(PacketType::Publish));
}

#[test]
fn zero_packet_ids() {
    assert_eq!(
        v311(&[0x32, 0x05, 0x00, 0x01, b'a', 0x00, 0x00]),
        Error::ZeroPacketId(PacketType::Publish)
    );
    assert_eq!(
        v311(&[0x34, 0x05, 0x00, 0x01, b'a', 0x00, 0x00]),
        Error::ZeroPacketId(PacketType::Publish)
    );
    for (first, packet) in [
        (0x40, PacketType::PubAck),
        (0x50, PacketType::PubRec),
        (0x62, PacketType::PubRel),
        (0x70, PacketType::PubComp),
        (0xb0, PacketType::UnsubAck),
    ] {
        assert_eq!(
            v311(&[first, 0x02, 0x00, 0x00]),
            Error::ZeroPacketId(packet)
        );
    }
    assert_eq!(
        v311(&[0x82, 0x06, 0x00, 0x00, 0x00, 0x01, b'#', 0x00]),
        Error::ZeroPacketId(PacketType::Subscribe)
    );
    assert_eq!(
        v311(&[0xa2, 0x05, 0x00, 0x00, 0x00, 0x01, b'#']),
        Error::ZeroPacketId(PacketType::Unsubscribe)
    );
    assert_eq!(
        v311(&[0x90, 0x03, 0x00, 0x00, 0x00]),
        Error::ZeroPacketId(PacketType::SubAck)
    );
}

#[test]
fn wrong_lengths_for_fixed_size_packets() {
    assert_eq!(
        v311(&[0x40, 0x01, 0x00]),
        Error::Truncated(PacketType::PubAck)
    );
    assert_eq!(
        v311(&[0x40, 0x03, 0x00, 0x01, 0x00]),
        Error::TrailingBytes {
            packet: PacketType::PubAck,
            extra: 1
        }
    );
    assert_eq!(
        v311(&[0xc0, 0x01, 0x00]),
        Error::TrailingBytes {
            packet: PacketType::PingReq,
            extra: 1
        }
    );
    assert_eq!(
        v311(&[0x20, 0x03, 0x00, 0x00, 0x00]),
        Error::TrailingBytes {
            packet: PacketType::ConnAck,
            extra: 1
        }
    );
    assert_eq!(
        v311(&[0x20, 0x01, 0x00]),
        Error::Truncated(PacketType::ConnAck)
    );
}

#[test]
fn subscribe_payload_rules() {
    assert_eq!(
        v311(&[0x82, 0x02, 0x00, 0x01]),
        Error::EmptyPayload(PacketType::Subscribe)
    );
    assert_eq!(
        v311(&[0x82, 0x06, 0x00, 0x01, 0x00, 0x01, b'#', 0x03]),
        Error::InvalidQos(3)
    );
    // Reserved upper bits of the requested QoS byte [MQTT-3-8.3-4].
    assert_eq!(
        v311(&[0x82, 0x06, 0x00, 0x01, 0x00, 0x01, b'#', 0x41]),
        Error::InvalidQos(0x41)
    );
    // Filter without its QoS byte.
    assert_eq!(
        v311(&[0x82, 0x05, 0x00, 0x01, 0x00, 0x01, b'#']),
        Error::Truncated(PacketType::Subscribe)
    );
    assert_eq!(
        v311(&[0x82, 0x07, 0x00, 0x01, 0x00, 0x02, b'a', b'#', 0x00]),
        Error::Topic(TopicError::MisplacedWildcard)
    );
    assert_eq!(
        v311(&[0x82, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00]),
        Error::Topic(TopicError::Empty)
    );
}

#[test]
fn unsubscribe_and_suback_payload_rules() {
    assert_eq!(
        v311(&[0xa2, 0x02, 0x00, 0x01]),
        Error::EmptyPayload(PacketType::Unsubscribe)
    );
    assert_eq!(
        v311(&[0xa2, 0x05, 0x00, 0x01, 0x00, 0x02, b'+']),
        Error::Truncated(PacketType::Unsubscribe)
    );
    assert_eq!(
        v311(&[0xa2, 0x06, 0x00, 0x01, 0x00, 0x02, b'#', b'/']),
        Error::Topic(TopicError::MisplacedWildcard)
    );
    assert_eq!(
        v311(&[0x90, 0x02, 0x00, 0x01]),
        Error::EmptyPayload(PacketType::SubAck)
    );
    for bad in [0x03, 0x40, 0x81, 0xff] {
        assert_eq!(
            v311(&[0x90, 0x03, 0x00, 0x01, bad]),
            Error::InvalidSubAckCode(bad)
        );
    }
}

#[test]
fn connack_rules() {
    assert_eq!(
        v311(&[0x20, 0x02, 0x02, 0x00]),
        Error::InvalidConnAckFlags(0x02)
    );
    assert_eq!(
        v311(&[0x20, 0x02, 0x01, 0x05]),
        Error::SessionPresentOnRefusal
    );
    assert_eq!(
        v311(&[0x20, 0x02, 0x01, 0x06]),
        Error::SessionPresentOnRefusal
    );
}

/// A 3.1.1 CONNECT body up to the connect flags, then `rest`.
fn connect_wire(name: &[u8], level: u8, flags: u8, rest: &[u8]) -> Vec<u8> {
    let mut body = vec![0x00, u8::try_from(name.len()).expect("short name")];
    body.extend_from_slice(name);
    body.push(level);
    body.push(flags);
    body.extend_from_slice(&[0x00, 0x3c]);
    body.extend_from_slice(rest);
    let mut wire = vec![0x10, u8::try_from(body.len()).expect("short body")];
    wire.extend_from_slice(&body);
    wire
}

#[test]
fn connect_rules() {
    let cid: &[u8] = &[0x00, 0x01, b'c'];
    let unsupported = [
        (&b"MQTT"[..], 5),
        (&b"MQTT"[..], 3),
        (&b"MQIsdp"[..], 4),
        (&b"mqtt"[..], 4),
    ];
    for (name, level) in unsupported {
        assert_eq!(
            v311(&connect_wire(name, level, 0x02, cid)),
            Error::UnsupportedProtocol {
                name: String::from_utf8(name.to_vec()).expect("ascii"),
                level
            }
        );
    }
    // Reserved bit.
    assert_eq!(
        v311(&connect_wire(b"MQTT", 4, 0x03, cid)),
        Error::InvalidConnectFlags(0x03)
    );
    // Will QoS or retain without the will flag.
    assert_eq!(
        v311(&connect_wire(b"MQTT", 4, 0x0a, cid)),
        Error::InvalidConnectFlags(0x0a)
    );
    assert_eq!(
        v311(&connect_wire(b"MQTT", 4, 0x22, cid)),
        Error::InvalidConnectFlags(0x22)
    );
    // Will QoS 3.
    let will = [0x00, 0x01, b'c', 0x00, 0x01, b't', 0x00, 0x00];
    assert_eq!(
        v311(&connect_wire(b"MQTT", 4, 0x1e, &will)),
        Error::InvalidQos(3)
    );
    // Will topic with a wildcard.
    let will = [0x00, 0x01, b'c', 0x00, 0x01, b'#', 0x00, 0x00];
    assert_eq!(
        v311(&connect_wire(b"MQTT", 4, 0x06, &will)),
        Error::Topic(TopicError::WildcardInName)
    );
    // Password without user name, in both versions.
    let pw = [0x00, 0x01, b'c', 0x00, 0x01, b'p'];
    assert_eq!(
        v311(&connect_wire(b"MQTT", 4, 0x42, &pw)),
        Error::PasswordWithoutUsername
    );
    assert_eq!(
        v311(&connect_wire(b"MQIsdp", 3, 0x42, &pw)),
        Error::PasswordWithoutUsername
    );
    // User name flag but no user name.
    assert_eq!(
        v311(&connect_wire(b"MQTT", 4, 0x82, cid)),
        Error::Truncated(PacketType::Connect)
    );
    // Extra bytes after the last field.
    assert_eq!(
        v311(&connect_wire(b"MQTT", 4, 0x02, &[0x00, 0x01, b'c', 0xff])),
        Error::TrailingBytes {
            packet: PacketType::Connect,
            extra: 1
        }
    );
}

#[test]
fn connect_v31_leniency() {
    // Reserved bit and orphan will bits are unused in 3.1 and ignored.
    let decoded = decode(
        &mut BytesMut::from(&connect_wire(b"MQIsdp", 3, 0x3b, &[0x00, 0x01, b'c'])[..]),
        usize::MAX,
        Protocol::V311,
    );
    let mut expected = Connect::new(Protocol::V31, "c");
    expected.clean_session = true;
    assert_eq!(decoded, Ok(Some(expected.into())));

    // Client ids a 3.1 server must refuse with CONNACK 2 still decode.
    let long_id = [&[0x00, 24][..], &[b'x'; 24]].concat();
    let wire = connect_wire(b"MQIsdp", 3, 0x02, &long_id);
    let Ok(Some(Packet::Connect(connect))) =
        decode(&mut BytesMut::from(&wire[..]), 1024, Protocol::V31)
    else {
        panic!("long 3.1 client id should decode");
    };
    assert!(connect.check_client_id().is_err());
}

#[test]
fn too_large_is_refused_from_the_header() {
    // 200-byte PUBLISH announced, only the header has arrived.
    let mut buf = BytesMut::with_capacity(8);
    buf.extend_from_slice(&[0x30, 0xc8, 0x01]);
    let capacity = buf.capacity();
    assert_eq!(
        decode(&mut buf, 100, Protocol::V311),
        Err(Error::PacketTooLarge {
            size: 203,
            max: 100
        })
    );
    assert_eq!(
        buf.capacity(),
        capacity,
        "nothing may be allocated for the body"
    );
    // The limit counts the fixed header too.
    let ping = [0xc0, 0x00];
    assert_eq!(
        decode(&mut BytesMut::from(&ping[..]), 1, Protocol::V311),
        Err(Error::PacketTooLarge { size: 2, max: 1 })
    );
    assert_eq!(
        decode(&mut BytesMut::from(&ping[..]), 2, Protocol::V311),
        Ok(Some(Packet::PingReq))
    );
}

#[test]
fn waiting_for_a_huge_packet_allocates_nothing() {
    let mut buf = BytesMut::with_capacity(8);
    buf.extend_from_slice(&[0x30, 0xff, 0xff, 0xff, 0x7f, 0x00]);
    let capacity = buf.capacity();
    assert_eq!(decode(&mut buf, usize::MAX, Protocol::V311), Ok(None));
    assert_eq!(buf.capacity(), capacity);
    assert_eq!(buf.len(), 6);
}

#[test]
fn encoder_refuses_what_the_decoder_refuses() {
    let p = |topic: &str, qos| Publish::new(topic, qos, Bytes::new());
    assert_eq!(
        encode_err(p("a/+", PublishQos::AtMostOnce)),
        Error::Topic(TopicError::WildcardInName)
    );
    assert_eq!(
        encode_err(p("", PublishQos::AtMostOnce)),
        Error::Topic(TopicError::Empty)
    );
    assert_eq!(
        encode_err(p("a\0", PublishQos::AtMostOnce)),
        Error::Topic(TopicError::NullCharacter)
    );
    let mut dup = p("a", PublishQos::AtMostOnce);
    dup.dup = true;
    assert_eq!(encode_err(dup), Error::DupWithQos0);
    assert_eq!(
        encode_err(p(&"a".repeat(65_536), PublishQos::AtMostOnce)),
        Error::Topic(TopicError::TooLong(65_536))
    );

    assert_eq!(
        encode_err(Subscribe::new(id(1), vec![])),
        Error::EmptyPayload(PacketType::Subscribe)
    );
    assert_eq!(
        encode_err(Subscribe::new(
            id(1),
            vec![SubscribeFilter::new("a/#/b", QoS::AtMostOnce)]
        )),
        Error::Topic(TopicError::MisplacedWildcard)
    );
    assert_eq!(
        encode_err(Unsubscribe::new(id(1), vec![])),
        Error::EmptyPayload(PacketType::Unsubscribe)
    );
    assert_eq!(
        encode_err(Unsubscribe::new(id(1), vec!["a+".into()])),
        Error::Topic(TopicError::MisplacedWildcard)
    );
    assert_eq!(
        encode_err(SubAck::new(id(1), vec![])),
        Error::EmptyPayload(PacketType::SubAck)
    );
    assert_eq!(
        encode_err(ConnAck {
            session_present: true,
            code: ConnectReturnCode::NotAuthorized
        }),
        Error::SessionPresentOnRefusal
    );
}

#[test]
fn encoder_connect_rules() {
    assert!(matches!(
        encode_err(Connect::new(Protocol::V31, "x".repeat(24))),
        Error::InvalidClientId(_)
    ));
    assert!(matches!(
        encode_err(Connect::new(Protocol::V31, "")),
        Error::InvalidClientId(_)
    ));
    // Fine in 3.1.1, which lets servers accept longer ids.
    let mut buf = BytesMut::new();
    Connect::new(Protocol::V311, "x".repeat(24))
        .encode(&mut buf)
        .expect("3.1.1 allows long client ids");

    let mut persistent_anonymous = Connect::new(Protocol::V311, "");
    persistent_anonymous.clean_session = false;
    assert!(matches!(
        encode_err(persistent_anonymous),
        Error::InvalidClientId(_)
    ));

    let mut c = Connect::new(Protocol::V311, "c");
    c.password = Some(Bytes::from_static(b"pw"));
    assert_eq!(encode_err(c.clone()), Error::PasswordWithoutUsername);
    c.username = Some("u\0".into());
    assert_eq!(encode_err(c.clone()), Error::NullCharacter);
    c.username = Some("u".repeat(65_536));
    assert_eq!(encode_err(c.clone()), Error::FieldTooLong(65_536));
    c.username = Some("u".into());
    c.password = Some(Bytes::from(vec![0; 65_536]));
    assert_eq!(encode_err(c.clone()), Error::FieldTooLong(65_536));
    c.password = None;
    c.will = Some(LastWill {
        topic: "+".into(),
        message: Bytes::new(),
        qos: QoS::AtMostOnce,
        retain: false,
    });
    assert_eq!(encode_err(c), Error::Topic(TopicError::WildcardInName));

    assert_eq!(
        encode_err(Connect::new(Protocol::V311, "a\0")),
        Error::NullCharacter
    );
}

#[test]
fn errors_read_well() {
    assert_eq!(
        Error::InvalidHeaderFlags {
            packet: PacketType::PubRel,
            flags: 0
        }
        .to_string(),
        "invalid fixed header flags 0b0000 for PUBREL"
    );
    assert_eq!(
        Error::PacketTooLarge {
            size: 203,
            max: 100
        }
        .to_string(),
        "packet of 203 bytes exceeds the maximum packet size of 100 bytes"
    );
    assert_eq!(
        Error::Topic(TopicError::WildcardInName).to_string(),
        "invalid topic: topic name contains a wildcard character"
    );
}
