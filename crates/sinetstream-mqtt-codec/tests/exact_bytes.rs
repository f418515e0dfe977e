//! Packets written out byte by byte from the layouts in the MQTT 3.1.1 and 3.1
//! specifications, checked in both directions.

use bytes::{Bytes, BytesMut};
use sinetstream_mqtt_codec::{
    ConnAck, Connect, ConnectReturnCode, Error, LastWill, MAX_REMAINING_LENGTH, Packet, PacketId,
    Protocol, PubAck, PubComp, PubRec, PubRel, Publish, PublishQos, QoS, SubAck, Subscribe,
    SubscribeFilter, SubscribeReturnCode, UnsubAck, Unsubscribe, decode,
};

fn id(n: u16) -> PacketId {
    PacketId::new(n).expect("test ids are non-zero")
}

/// Encodes `packet`, compares with `wire`, then decodes `wire` back to `packet`.
fn check(packet: Packet, wire: &[u8], protocol: Protocol) {
    let mut buf = BytesMut::new();
    packet.encode(&mut buf).expect("encodes");
    assert_eq!(&buf[..], wire, "encoding of {packet:?}");
    assert_eq!(packet.encoded_len(), wire.len());

    let mut buf = BytesMut::from(wire);
    let decoded = decode(&mut buf, usize::MAX, protocol).expect("decodes");
    assert_eq!(decoded, Some(packet));
    assert!(buf.is_empty(), "decode must consume exactly one packet");
}

fn decode_one(wire: &[u8], protocol: Protocol) -> Result<Option<Packet>, Error> {
    decode(&mut BytesMut::from(wire), usize::MAX, protocol)
}

#[test]
fn connect_v311_with_every_field() {
    let packet = Connect {
        protocol: Protocol::V311,
        clean_session: true,
        keep_alive: 10,
        client_id: "cid".into(),
        will: Some(LastWill {
            topic: "w/t".into(),
            message: Bytes::from_static(b"bye"),
            qos: QoS::AtLeastOnce,
            retain: true,
        }),
        username: Some("user".into()),
        password: Some(Bytes::from_static(b"pw")),
    };
    #[rustfmt::skip]
    let wire = [
        0x10, 35,                               // CONNECT, remaining length
        0x00, 0x04, b'M', b'Q', b'T', b'T',     // protocol name
        0x04,                                   // protocol level
        0b1110_1110,                            // user, password, will retain, will QoS 1, will, clean
        0x00, 0x0a,                             // keep alive 10 s
        0x00, 0x03, b'c', b'i', b'd',           // client id
        0x00, 0x03, b'w', b'/', b't',           // will topic
        0x00, 0x03, b'b', b'y', b'e',           // will message
        0x00, 0x04, b'u', b's', b'e', b'r',     // user name
        0x00, 0x02, b'p', b'w',                 // password
    ];
    check(packet.into(), &wire, Protocol::V311);
}

#[test]
fn connect_v311_minimal_with_empty_client_id() {
    let mut packet = Connect::new(Protocol::V311, "");
    packet.keep_alive = 0;
    #[rustfmt::skip]
    let wire = [
        0x10, 12,
        0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04,
        0b0000_0010,
        0x00, 0x00,
        0x00, 0x00,
    ];
    check(packet.into(), &wire, Protocol::V311);
}

#[test]
fn connect_v31_mqisdp() {
    let mut packet = Connect::new(Protocol::V31, "c1");
    packet.username = Some("u".into());
    #[rustfmt::skip]
    let wire = [
        0x10, 19,
        0x00, 0x06, b'M', b'Q', b'I', b's', b'd', b'p',
        0x03,
        0b1000_0010,                            // user name, clean session
        0x00, 0x3c,                             // keep alive 60 s
        0x00, 0x02, b'c', b'1',
        0x00, 0x01, b'u',
    ];
    // The CONNECT says which version it is, whatever the connection expects.
    check(packet.clone().into(), &wire, Protocol::V31);
    check(packet.into(), &wire, Protocol::V311);
}

#[test]
fn connect_v31_will_qos2_no_clean_session() {
    let packet = Connect {
        protocol: Protocol::V31,
        clean_session: false,
        keep_alive: 0x1234,
        client_id: "a".repeat(23),
        will: Some(LastWill {
            topic: "x".into(),
            message: Bytes::new(),
            qos: QoS::ExactlyOnce,
            retain: false,
        }),
        username: None,
        password: None,
    };
    let mut wire = vec![0x10, 12 + 25 + 3 + 2];
    wire.extend_from_slice(&[0x00, 0x06, b'M', b'Q', b'I', b's', b'd', b'p', 0x03]);
    wire.extend_from_slice(&[0b0001_0100, 0x12, 0x34, 0x00, 23]);
    wire.extend_from_slice(&[b'a'; 23]);
    wire.extend_from_slice(&[0x00, 0x01, b'x', 0x00, 0x00]);
    check(packet.into(), &wire, Protocol::V31);
}

#[test]
fn connack() {
    check(
        ConnAck::new(ConnectReturnCode::Accepted).into(),
        &[0x20, 0x02, 0x00, 0x00],
        Protocol::V311,
    );
    check(
        ConnAck {
            session_present: true,
            code: ConnectReturnCode::Accepted,
        }
        .into(),
        &[0x20, 0x02, 0x01, 0x00],
        Protocol::V311,
    );
    let refusals = [
        (1, ConnectReturnCode::UnacceptableProtocolVersion),
        (2, ConnectReturnCode::IdentifierRejected),
        (3, ConnectReturnCode::ServerUnavailable),
        (4, ConnectReturnCode::BadUsernameOrPassword),
        (5, ConnectReturnCode::NotAuthorized),
        (6, ConnectReturnCode::Unknown(6)),
        (0xff, ConnectReturnCode::Unknown(0xff)),
    ];
    for (byte, code) in refusals {
        assert!(!code.is_accepted());
        check(
            ConnAck::new(code).into(),
            &[0x20, 0x02, 0x00, byte],
            Protocol::V311,
        );
        check(
            ConnAck::new(code).into(),
            &[0x20, 0x02, 0x00, byte],
            Protocol::V31,
        );
    }
}

#[test]
fn connack_v31_has_no_session_present_bit() {
    // The first byte is unused in 3.1, whatever it holds.
    for flags in [0x00, 0x01, 0xff] {
        assert_eq!(
            decode_one(&[0x20, 0x02, flags, 0x00], Protocol::V31),
            Ok(Some(ConnAck::new(ConnectReturnCode::Accepted).into()))
        );
    }
}

#[test]
fn publish_qos0() {
    let packet = Publish::new("a/b", PublishQos::AtMostOnce, Bytes::from_static(b"hi"));
    let wire = [0x30, 0x07, 0x00, 0x03, b'a', b'/', b'b', b'h', b'i'];
    check(packet.into(), &wire, Protocol::V311);
}

#[test]
fn publish_qos0_retained_empty_payload() {
    let mut packet = Publish::new("a/b", PublishQos::AtMostOnce, Bytes::new());
    packet.retain = true;
    check(
        packet.into(),
        &[0x31, 0x05, 0x00, 0x03, b'a', b'/', b'b'],
        Protocol::V311,
    );
}

#[test]
fn publish_qos1_retain() {
    let mut packet = Publish::new(
        "a/b",
        PublishQos::AtLeastOnce(id(10)),
        Bytes::from_static(b"hi"),
    );
    packet.retain = true;
    let wire = [
        0x33, 0x09, 0x00, 0x03, b'a', b'/', b'b', 0x00, 0x0a, b'h', b'i',
    ];
    check(packet.into(), &wire, Protocol::V311);
}

#[test]
fn publish_qos2_dup() {
    let mut packet = Publish::new(
        "a/b",
        PublishQos::ExactlyOnce(id(0x1234)),
        Bytes::from_static(b"hi"),
    );
    packet.dup = true;
    let wire = [
        0x3c, 0x09, 0x00, 0x03, b'a', b'/', b'b', 0x12, 0x34, b'h', b'i',
    ];
    check(packet.clone().into(), &wire, Protocol::V311);
    check(packet.into(), &wire, Protocol::V31);
}

#[test]
fn publish_multibyte_topic() {
    // "é" is 2 bytes of UTF-8: the length prefix counts bytes, not characters.
    let packet = Publish::new("é", PublishQos::AtMostOnce, Bytes::new());
    check(
        packet.into(),
        &[0x30, 0x04, 0x00, 0x02, 0xc3, 0xa9],
        Protocol::V311,
    );
}

#[test]
fn acknowledgments() {
    check(
        PubAck::new(id(1)).into(),
        &[0x40, 0x02, 0x00, 0x01],
        Protocol::V311,
    );
    check(
        PubRec::new(id(0x0102)).into(),
        &[0x50, 0x02, 0x01, 0x02],
        Protocol::V311,
    );
    check(
        PubRel::new(id(0xffff)).into(),
        &[0x62, 0x02, 0xff, 0xff],
        Protocol::V311,
    );
    check(
        PubComp::new(id(3)).into(),
        &[0x70, 0x02, 0x00, 0x03],
        Protocol::V311,
    );
    check(
        UnsubAck::new(id(2)).into(),
        &[0xb0, 0x02, 0x00, 0x02],
        Protocol::V311,
    );
}

#[test]
fn subscribe_and_suback() {
    let packet = Subscribe::new(
        id(1),
        vec![
            SubscribeFilter::new("a/+", QoS::AtLeastOnce),
            SubscribeFilter::new("#", QoS::ExactlyOnce),
        ],
    );
    #[rustfmt::skip]
    let wire = [
        0x82, 12,
        0x00, 0x01,
        0x00, 0x03, b'a', b'/', b'+', 0x01,
        0x00, 0x01, b'#', 0x02,
    ];
    check(packet.into(), &wire, Protocol::V311);

    let ack = SubAck::new(
        id(1),
        vec![
            SubscribeReturnCode::Success(QoS::AtMostOnce),
            SubscribeReturnCode::Success(QoS::ExactlyOnce),
            SubscribeReturnCode::Failure,
        ],
    );
    check(
        ack.clone().into(),
        &[0x90, 0x05, 0x00, 0x01, 0x00, 0x02, 0x80],
        Protocol::V311,
    );
    check(
        ack.into(),
        &[0x90, 0x05, 0x00, 0x01, 0x00, 0x02, 0x80],
        Protocol::V31,
    );
}

#[test]
fn unsubscribe() {
    let packet = Unsubscribe::new(id(2), vec!["a/+".into(), "#".into()]);
    #[rustfmt::skip]
    let wire = [
        0xa2, 10,
        0x00, 0x02,
        0x00, 0x03, b'a', b'/', b'+',
        0x00, 0x01, b'#',
    ];
    check(packet.into(), &wire, Protocol::V311);
}

#[test]
fn empty_packets() {
    check(Packet::PingReq, &[0xc0, 0x00], Protocol::V311);
    check(Packet::PingResp, &[0xd0, 0x00], Protocol::V311);
    check(Packet::Disconnect, &[0xe0, 0x00], Protocol::V311);
}

#[test]
fn v31_ignores_unused_header_flags() {
    // 3.1 senders set QoS 1 (and DUP on a resend) on these, or nothing at all.
    for first in [0x60, 0x62, 0x6a, 0x6f] {
        assert_eq!(
            decode_one(&[first, 0x02, 0x00, 0x05], Protocol::V31),
            Ok(Some(PubRel::new(id(5)).into()))
        );
    }
    assert_eq!(
        decode_one(
            &[0x8a, 0x06, 0x00, 0x01, 0x00, 0x01, b'#', 0x00],
            Protocol::V31
        ),
        Ok(Some(
            Subscribe::new(id(1), vec![SubscribeFilter::new("#", QoS::AtMostOnce)]).into()
        ))
    );
    assert_eq!(
        decode_one(&[0xc2, 0x00], Protocol::V31),
        Ok(Some(Packet::PingReq))
    );
}

/// A QoS 0 PUBLISH to "t" whose remaining length is exactly `remaining`.
fn publish_with_remaining(remaining: usize) -> Publish {
    let topic_field = 3;
    Publish::new(
        "t",
        PublishQos::AtMostOnce,
        vec![0; remaining - topic_field],
    )
}

#[test]
fn remaining_length_boundaries_on_the_wire() {
    let cases: &[(usize, &[u8])] = &[
        (127, &[0x7f]),
        (128, &[0x80, 0x01]),
        (16_383, &[0xff, 0x7f]),
        (16_384, &[0x80, 0x80, 0x01]),
        (2_097_151, &[0xff, 0xff, 0x7f]),
        (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
    ];
    for &(remaining, length_bytes) in cases {
        let packet = publish_with_remaining(remaining);
        let mut buf = BytesMut::new();
        packet.encode(&mut buf).expect("encodes");
        assert_eq!(buf[0], 0x30);
        assert_eq!(
            &buf[1..=length_bytes.len()],
            length_bytes,
            "length {remaining}"
        );
        assert_eq!(buf.len(), 1 + length_bytes.len() + remaining);
        assert_eq!(packet.encoded_len(), buf.len());
        let decoded = decode(&mut buf, usize::MAX, Protocol::V311).expect("decodes");
        assert_eq!(decoded, Some(packet.into()));
        assert!(buf.is_empty());
    }
    // Remaining length 0.
    check(Packet::Disconnect, &[0xe0, 0x00], Protocol::V311);
}

#[test]
fn largest_remaining_length() {
    // Zeroed allocations are lazily mapped, so 256 MiB of payload is cheap as
    // long as nothing writes it; only lengths are computed here.
    let packet = publish_with_remaining(MAX_REMAINING_LENGTH);
    assert_eq!(packet.encoded_len(), 1 + 4 + MAX_REMAINING_LENGTH);

    let too_big = publish_with_remaining(MAX_REMAINING_LENGTH + 1);
    let mut buf = BytesMut::new();
    assert_eq!(
        too_big.encode(&mut buf),
        Err(Error::BodyTooLarge(MAX_REMAINING_LENGTH + 1))
    );
    assert!(buf.is_empty());

    // The decoder learns the size from the header alone.
    let header = [0x30, 0xff, 0xff, 0xff, 0x7f];
    let mut buf = BytesMut::from(&header[..]);
    assert_eq!(decode(&mut buf, usize::MAX, Protocol::V311), Ok(None));
    assert_eq!(&buf[..], &header);
    assert_eq!(
        decode(&mut buf, 1 << 20, Protocol::V311),
        Err(Error::PacketTooLarge {
            size: 5 + MAX_REMAINING_LENGTH,
            max: 1 << 20
        })
    );
}

#[test]
fn five_byte_remaining_length_rejected() {
    assert_eq!(
        decode_one(&[0x30, 0xff, 0xff, 0xff, 0xff, 0x7f], Protocol::V311),
        Err(Error::MalformedRemainingLength)
    );
    assert_eq!(
        decode_one(&[0x30, 0x80, 0x80, 0x80, 0x80, 0x00], Protocol::V31),
        Err(Error::MalformedRemainingLength)
    );
}

#[test]
fn two_packets_in_one_buffer_decode_in_order() {
    let mut buf = BytesMut::from(&[0x40, 0x02, 0x00, 0x01, 0xd0, 0x00, 0x50][..]);
    assert_eq!(
        decode(&mut buf, 16, Protocol::V311),
        Ok(Some(PubAck::new(id(1)).into()))
    );
    assert_eq!(
        decode(&mut buf, 16, Protocol::V311),
        Ok(Some(Packet::PingResp))
    );
    assert_eq!(decode(&mut buf, 16, Protocol::V311), Ok(None));
    assert_eq!(&buf[..], &[0x50]);
}
