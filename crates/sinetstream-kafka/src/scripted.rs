//! A scripted Kafka broker for unit tests: a TCP listener on a free port
//! that frames requests and responses and leaves the answers to the test,
//! for the error paths a genuine broker rarely produces on demand.

use std::future::Future;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One request, header decoded.
pub(crate) struct Request {
    pub(crate) key: ApiKey,
    pub(crate) version: i16,
    /// The request body, after the header.
    pub(crate) body: Bytes,
    /// The broker's own port (for metadata naming itself).
    pub(crate) port: u16,
}

/// Serves on 127.0.0.1, every connection on its own task; returns the port.
/// `answer` returns the response body for a request (the header is added
/// here), or `None` to hang up.
pub(crate) async fn serve<F, Fut>(answer: F) -> u16
where
    F: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Option<BytesMut>> + Send,
{
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = l.local_addr().expect("addr").port();
    let answer = Arc::new(answer);
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let answer = Arc::clone(&answer);
            tokio::spawn(async move {
                loop {
                    let mut len = [0u8; 4];
                    if s.read_exact(&mut len).await.is_err() {
                        return;
                    }
                    let mut buf = vec![0u8; i32::from_be_bytes(len) as usize];
                    if s.read_exact(&mut buf).await.is_err() {
                        return;
                    }
                    let mut b = Bytes::from(buf);
                    let key = ApiKey::try_from(i16::from_be_bytes([b[0], b[1]])).expect("key");
                    let version = i16::from_be_bytes([b[2], b[3]]);
                    let h = RequestHeader::decode(&mut b, key.request_header_version(version))
                        .expect("header");
                    let req = Request {
                        key,
                        version,
                        body: b,
                        port,
                    };
                    let Some(body) = answer(req).await else {
                        return;
                    };
                    let mut out = BytesMut::new();
                    out.put_i32(0);
                    ResponseHeader::default()
                        .with_correlation_id(h.correlation_id)
                        .encode(&mut out, key.response_header_version(version))
                        .expect("header");
                    out.extend_from_slice(&body);
                    let n = (out.len() - 4) as i32;
                    out[..4].copy_from_slice(&n.to_be_bytes());
                    if s.write_all(&out).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

/// Encodes a response body.
pub(crate) fn body<M: Encodable>(m: &M, version: i16) -> BytesMut {
    let mut out = BytesMut::new();
    m.encode(&mut out, version).expect("encode response");
    out
}

/// An ApiVersions answer offering `list`: `(API, min, max)`.
pub(crate) fn versions(list: &[(ApiKey, i16, i16)]) -> ApiVersionsResponse {
    ApiVersionsResponse::default().with_api_keys(
        list.iter()
            .map(|(k, lo, hi)| {
                ApiVersion::default()
                    .with_api_key(*k as i16)
                    .with_min_version(*lo)
                    .with_max_version(*hi)
            })
            .collect(),
    )
}
