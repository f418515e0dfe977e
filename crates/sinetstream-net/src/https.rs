//! A minimal HTTPS GET, enough to fetch a configuration file from a URL
//! without pulling an HTTP client stack into a statically linked library.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use crate::connect::{ConnectOptions, Deadline, authority, connect_within};
use crate::error::{NetError, Stage};
use crate::stream::Stream;
use crate::tls::TlsOptions;

/// Largest response body [`https_get`] accepts.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Status line plus headers may not exceed this (a misbehaving server must
/// not make us buffer without bound).
const MAX_HEAD_BYTES: usize = 64 * 1024;
const MAX_LINE_BYTES: usize = 8 * 1024;

/// Fetches `url` (which must be `https://`) with one HTTP/1.1 GET and
/// returns the body.
///
/// The whole exchange, connect included, must finish within `timeout`.
/// Redirects are not followed: any status other than 200 is an error naming
/// the status (and the `Location` of a redirect). Bodies may be sent with
/// `Content-Length`, chunked, or until close, and may not exceed
/// [`MAX_BODY_BYTES`]. The query string is left out of error messages, as
/// it may hold a token.
pub async fn https_get(
    url: &str,
    tls: &TlsOptions,
    timeout: Duration,
) -> Result<Vec<u8>, NetError> {
    let u = parse_url(url)?;
    let addr = authority(&u.host, u.port);
    let deadline = Deadline {
        at: Instant::now() + timeout,
        timeout,
        addr: &addr,
    };
    let opts = ConnectOptions {
        connect_timeout: timeout,
        tls: Some(tls.clone()),
        ..ConnectOptions::default()
    };
    let mut stream = connect_within(&u.host, u.port, &opts, &deadline).await?;
    deadline
        .run(Stage::HttpExchange, exchange(&mut stream, &u))
        .await
}

#[derive(Debug, PartialEq, Eq)]
struct Url {
    host: String,
    port: u16,
    /// Path and query, as sent in the request line.
    target: String,
    host_header: String,
    /// The URL without query, for messages.
    shown: String,
}

fn bad_url(detail: impl Into<String>) -> NetError {
    NetError::InvalidArgument {
        what: "URL",
        detail: detail.into(),
    }
}

fn parse_url(url: &str) -> Result<Url, NetError> {
    let rest = url
        .get(..8)
        .filter(|s| s.eq_ignore_ascii_case("https://"))
        .map(|_| &url[8..])
        .ok_or_else(|| bad_url("only https:// URLs are supported"))?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (auth, tail) = rest.split_at(end);
    if auth.contains('@') {
        return Err(bad_url(
            "user names or passwords in the URL are not supported",
        ));
    }
    let tail = tail.split('#').next().unwrap_or("");
    let target = match tail {
        "" => "/".to_owned(),
        t if t.starts_with('?') => format!("/{t}"),
        t => t.to_owned(),
    };
    if target.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(bad_url(
            "the path contains spaces or control characters; percent-encode them",
        ));
    }
    let (host, port) = if let Some(v6) = auth.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| bad_url("unterminated [IPv6] host"))?;
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or_else(|| bad_url("junk after [IPv6] host"))?,
            ),
        };
        (h, port)
    } else {
        match auth.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (auth, None),
        }
    };
    if host.is_empty() {
        return Err(bad_url("no host"));
    }
    let port = match port {
        None => 443,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| bad_url(format!("bad port {p:?}")))?,
    };
    let host_header = if port == 443 {
        authority(host, port)
            .rsplit_once(':')
            .map(|(h, _)| h.to_owned())
            .unwrap_or_default()
    } else {
        authority(host, port)
    };
    let path_only = target.split('?').next().unwrap_or("/");
    Ok(Url {
        host: host.to_owned(),
        port,
        shown: format!("https://{}{}", authority(host, port), path_only),
        target,
        host_header,
    })
}

async fn exchange(stream: &mut Stream, u: &Url) -> Result<Vec<u8>, NetError> {
    let io_err = |source: io::Error| NetError::Io {
        addr: authority(&u.host, u.port),
        source,
    };
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: sinetstream-rs/{}\r\nAccept: */*\r\n\
         Accept-Encoding: identity\r\nConnection: close\r\n\r\n",
        u.target,
        u.host_header,
        env!("CARGO_PKG_VERSION")
    );
    stream.write_all(request.as_bytes()).await.map_err(io_err)?;
    stream.flush().await.map_err(io_err)?;

    let fail = |detail: String| NetError::Http {
        url: u.shown.clone(),
        status: None,
        detail,
    };
    let mut r = Reader::new(stream);
    let head = loop {
        let head = r.head().await.map_err(|e| match e {
            ReadError::Io(e) => io_err(e),
            ReadError::Protocol(d) => fail(d),
        })?;
        // Interim 1xx responses precede the real one.
        if !(100..200).contains(&head.status) {
            break head;
        }
    };
    if head.status != 200 {
        let mut detail = head.reason.clone();
        if (300..400).contains(&head.status) {
            if let Some(loc) = head.header("location") {
                detail.push_str(&format!(" (redirect to {loc} not followed)"));
            }
        }
        return Err(NetError::Http {
            url: u.shown.clone(),
            status: Some(head.status),
            detail,
        });
    }
    r.body(&head).await.map_err(|e| match e {
        ReadError::Io(e) => io_err(e),
        ReadError::Protocol(d) => fail(d),
    })
}

#[derive(Debug)]
enum ReadError {
    Io(io::Error),
    Protocol(String),
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

fn proto(d: impl Into<String>) -> ReadError {
    ReadError::Protocol(d.into())
}

#[derive(Debug)]
struct Head {
    status: u16,
    reason: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Buffered reader over the stream with bounded lines.
struct Reader<'a> {
    s: &'a mut Stream,
    buf: Vec<u8>,
    pos: usize,
    eof: bool,
}

impl<'a> Reader<'a> {
    fn new(s: &'a mut Stream) -> Self {
        Reader {
            s,
            buf: Vec::new(),
            pos: 0,
            eof: false,
        }
    }

    fn available(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// Reads more bytes; returns false at end of stream.
    async fn fill(&mut self) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let mut chunk = [0u8; 16 * 1024];
        let n = match self.s.read(&mut chunk).await {
            Ok(n) => n,
            // Many HTTPS servers close without TLS close_notify; the framing
            // (Content-Length or chunked) is what guards against truncation.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => 0,
            Err(e) => return Err(e),
        };
        if n == 0 {
            self.eof = true;
            return Ok(false);
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(true)
    }

    async fn line(&mut self, max: usize) -> Result<String, ReadError> {
        loop {
            if let Some(i) = self.available().iter().position(|b| *b == b'\n') {
                let raw = &self.available()[..i];
                let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
                let line = String::from_utf8_lossy(raw).into_owned();
                self.pos += i + 1;
                return Ok(line);
            }
            if self.available().len() > max {
                return Err(proto(format!("response line longer than {max} bytes")));
            }
            if !self.fill().await? {
                return Err(proto(
                    "connection closed in the middle of the response head",
                ));
            }
        }
    }

    async fn head(&mut self) -> Result<Head, ReadError> {
        let mut used = 0;
        let status_line = self.line(MAX_LINE_BYTES).await?;
        used += status_line.len();
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or("");
        if !version.starts_with("HTTP/1.") {
            return Err(proto(format!(
                "not an HTTP/1.x response (status line {:?})",
                truncate(&status_line, 60)
            )));
        }
        let status = parts
            .next()
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| proto(format!("bad status line {:?}", truncate(&status_line, 60))))?;
        let reason = parts.next().unwrap_or("").trim().to_owned();
        let mut headers = Vec::new();
        loop {
            let line = self.line(MAX_LINE_BYTES).await?;
            used += line.len() + 2;
            if used > MAX_HEAD_BYTES {
                return Err(proto(format!(
                    "response head larger than {MAX_HEAD_BYTES} bytes"
                )));
            }
            if line.is_empty() {
                break;
            }
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| proto(format!("bad header line {:?}", truncate(&line, 60))))?;
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
        Ok(Head {
            status,
            reason,
            headers,
        })
    }

    async fn body(&mut self, head: &Head) -> Result<Vec<u8>, ReadError> {
        let te: Vec<String> = head
            .all("transfer-encoding")
            .flat_map(|v| v.split(','))
            .map(|t| t.trim().to_ascii_lowercase())
            .filter(|t| !t.is_empty())
            .collect();
        if let Some(last) = te.last() {
            if last != "chunked" || te.iter().any(|t| t != "chunked" && t != "identity") {
                return Err(proto(format!(
                    "unsupported Transfer-Encoding {}",
                    te.join(", ")
                )));
            }
            return self.chunked().await;
        }
        let mut lengths = head.all("content-length").flat_map(|v| v.split(','));
        if let Some(first) = lengths.next() {
            let n = parse_length(first)?;
            if lengths.any(|other| parse_length(other).ok() != Some(n)) {
                return Err(proto("conflicting Content-Length headers"));
            }
            if n > MAX_BODY_BYTES as u64 {
                return Err(too_large());
            }
            // Bounded by MAX_BODY_BYTES just above.
            let n = usize::try_from(n).map_err(|_| too_large())?;
            return self.exact(n).await;
        }
        self.until_close().await
    }

    async fn exact(&mut self, n: usize) -> Result<Vec<u8>, ReadError> {
        while self.available().len() < n {
            if !self.fill().await? {
                return Err(proto(format!(
                    "connection closed after {} of {n} body bytes",
                    self.available().len()
                )));
            }
        }
        let out = self.available()[..n].to_vec();
        self.pos += n;
        Ok(out)
    }

    async fn until_close(&mut self) -> Result<Vec<u8>, ReadError> {
        while self.fill().await? {
            if self.available().len() > MAX_BODY_BYTES {
                return Err(too_large());
            }
        }
        if self.available().len() > MAX_BODY_BYTES {
            return Err(too_large());
        }
        Ok(self.available().to_vec())
    }

    async fn chunked(&mut self) -> Result<Vec<u8>, ReadError> {
        let mut body = Vec::new();
        loop {
            let line = self.line(MAX_LINE_BYTES).await?;
            let size_text = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_text, 16)
                .map_err(|_| proto(format!("bad chunk size line {:?}", truncate(&line, 40))))?;
            if size == 0 {
                // Trailers, up to the blank line that ends the message.
                let mut used = 0;
                loop {
                    let t = self.line(MAX_LINE_BYTES).await?;
                    used += t.len();
                    if t.is_empty() {
                        return Ok(body);
                    }
                    if used > MAX_HEAD_BYTES {
                        return Err(proto("chunked trailers too large"));
                    }
                }
            }
            if body.len().saturating_add(size) > MAX_BODY_BYTES {
                return Err(too_large());
            }
            let data = self.exact(size).await?;
            body.extend_from_slice(&data);
            if !self.line(2).await?.is_empty() {
                return Err(proto("chunk data not followed by CRLF"));
            }
        }
    }
}

fn parse_length(v: &str) -> Result<u64, ReadError> {
    v.trim()
        .parse::<u64>()
        .map_err(|_| proto(format!("bad Content-Length {:?}", truncate(v, 30))))
}

fn too_large() -> ReadError {
    proto(format!("response body larger than {MAX_BODY_BYTES} bytes"))
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parsing() {
        let u = parse_url("https://example.org/conf/x.yml?token=s3cret#frag").expect("ok");
        assert_eq!(u.host, "example.org");
        assert_eq!(u.port, 443);
        assert_eq!(u.target, "/conf/x.yml?token=s3cret");
        assert_eq!(u.host_header, "example.org");
        assert_eq!(u.shown, "https://example.org:443/conf/x.yml");

        let u = parse_url("HTTPS://127.0.0.1:8443").expect("ok");
        assert_eq!(
            (u.host.as_str(), u.port, u.target.as_str()),
            ("127.0.0.1", 8443, "/")
        );
        assert_eq!(u.host_header, "127.0.0.1:8443");

        let u = parse_url("https://[::1]:9000?x=1").expect("ok");
        assert_eq!(
            (u.host.as_str(), u.port, u.target.as_str()),
            ("::1", 9000, "/?x=1")
        );
        assert_eq!(u.host_header, "[::1]:9000");
        let u = parse_url("https://[::1]/a").expect("ok");
        assert_eq!(u.host_header, "[::1]");
    }

    #[test]
    fn url_rejections() {
        for bad in [
            "http://example.org/",
            "ftp://x",
            "https://",
            "https://user:pw@example.org/",
            "https://example.org:0/",
            "https://example.org:99999/",
            "https://example.org/a b",
            "https://[::1/",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
        let e = parse_url("https://u:topsecret@h/").expect_err("creds");
        assert!(!e.to_string().contains("topsecret"));
    }
}
