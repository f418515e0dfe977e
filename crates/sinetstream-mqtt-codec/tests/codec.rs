//! The `tokio_util` codec, driven directly and through `Framed` I/O.
#![cfg(feature = "codec")]

use bytes::{Bytes, BytesMut};
use futures::{SinkExt, StreamExt};
use sinetstream_mqtt_codec::{
    CodecError, Connect, Error, MqttCodec, Packet, PacketId, Protocol, PubAck, Publish, PublishQos,
};
use tokio_util::codec::{Decoder, Encoder, FramedRead, FramedWrite};

fn publish(payload: &'static [u8]) -> Packet {
    let id = PacketId::new(9).expect("non-zero");
    Publish::new(
        "a/b",
        PublishQos::ExactlyOnce(id),
        Bytes::from_static(payload),
    )
    .into()
}

#[test]
fn decoder_and_encoder_traits() {
    let mut codec = MqttCodec::new(Protocol::V311).with_max_packet_size(64);
    let mut buf = BytesMut::new();
    codec.encode(publish(b"x"), &mut buf).expect("encodes");
    codec.encode(Packet::PingReq, &mut buf).expect("encodes");
    let wire = buf.clone();

    let mut partial = BytesMut::from(&wire[..3]);
    assert!(matches!(codec.decode(&mut partial), Ok(None)));
    assert_eq!(partial.len(), 3);

    assert_eq!(codec.decode(&mut buf).expect("ok"), Some(publish(b"x")));
    assert_eq!(codec.decode(&mut buf).expect("ok"), Some(Packet::PingReq));
    assert_eq!(codec.decode(&mut buf).expect("ok"), None);
}

#[test]
fn codec_errors_wrap_protocol_errors() {
    let mut codec = MqttCodec::new(Protocol::V311).with_max_packet_size(8);
    let mut buf = BytesMut::new();
    codec
        .encode(publish(b"too long for eight"), &mut buf)
        .expect("no limit on output");
    let err = codec.decode(&mut buf).expect_err("over the limit");
    assert!(matches!(
        err,
        CodecError::Mqtt(Error::PacketTooLarge { max: 8, .. })
    ));
    assert_eq!(
        err.to_string(),
        "packet of 27 bytes exceeds the maximum packet size of 8 bytes"
    );

    let err = codec
        .encode(
            Packet::from(Connect::new(Protocol::V31, "")),
            &mut BytesMut::new(),
        )
        .expect_err("3.1 needs a client id");
    assert!(matches!(err, CodecError::Mqtt(Error::InvalidClientId(_))));
}

#[test]
fn default_codec() {
    let codec = MqttCodec::default();
    assert_eq!(codec.protocol, Protocol::V311);
    assert_eq!(codec.max_packet_size, MqttCodec::DEFAULT_MAX_PACKET_SIZE);
}

#[tokio::test]
async fn framed_over_a_narrow_pipe() {
    let sent: Vec<Packet> = vec![
        Connect::new(Protocol::V31, "client-1").into(),
        publish(b"hello"),
        PubAck::new(PacketId::new(1).expect("non-zero")).into(),
        Packet::Disconnect,
    ];
    // A 3-byte pipe hands the reader packets in pieces, exercising reassembly.
    let (client, server) = tokio::io::duplex(3);
    let mut writer = FramedWrite::new(client, MqttCodec::new(Protocol::V31));
    let reader = FramedRead::new(server, MqttCodec::new(Protocol::V31));
    let write_all = async {
        for p in &sent {
            writer.send(p.clone()).await.expect("writes");
        }
        writer.close().await.expect("closes");
    };
    let ((), received) = tokio::join!(
        write_all,
        reader.map(|r| r.expect("decodes")).collect::<Vec<_>>()
    );
    assert_eq!(received, sent);
}
