//! Kafka's framing: every request and response is a big-endian `i32`
//! length followed by that many bytes.

use std::io;

use bytes::{BufMut, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FrameError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("the connection was closed")]
    Eof,
    #[error("frame of {size} bytes exceeds the limit of {max} bytes")]
    TooLarge { size: usize, max: usize },
    #[error("negative frame size {0}")]
    Negative(i32),
}

/// Reads one frame body (without its length).
///
/// The size is checked against `max` before anything is allocated, so a
/// corrupt or hostile length cannot make us reserve gigabytes. Not
/// cancellation-safe: the messenger reads frames from one task only.
pub(crate) async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    max: usize,
) -> Result<BytesMut, FrameError> {
    let mut len = [0u8; 4];
    // A clean close between frames is EOF, not an I/O error.
    let n = r.read(&mut len[..]).await?;
    if n == 0 {
        return Err(FrameError::Eof);
    }
    r.read_exact(&mut len[n..]).await?;
    let size = i32::from_be_bytes(len);
    let size = usize::try_from(size).map_err(|_| FrameError::Negative(size))?;
    if size > max {
        return Err(FrameError::TooLarge { size, max });
    }
    // Read into the spare capacity: zeroing a fetch response of megabytes
    // first cost as much as the copy out of the socket.
    let mut buf = BytesMut::with_capacity(size);
    while buf.len() < size {
        let want = size - buf.len();
        if r.read_buf(&mut (&mut buf).limit(want)).await? == 0 {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
        }
    }
    Ok(buf)
}

/// Starts a frame: reserves the length prefix, to be filled by
/// [`finish_frame`] once the body is written.
pub(crate) fn start_frame(capacity: usize) -> BytesMut {
    let mut buf = BytesMut::with_capacity(capacity + 4);
    buf.put_i32(0);
    buf
}

/// Writes the length of the body into the prefix reserved by [`start_frame`].
pub(crate) fn finish_frame(buf: &mut BytesMut) -> Result<(), usize> {
    let body = buf.len() - 4;
    let len = i32::try_from(body).map_err(|_| body)?;
    buf[..4].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_frames_and_rejects_oversize_before_allocating() {
        let mut data: &[u8] = &[0, 0, 0, 3, b'a', b'b', b'c', 0x7f, 0xff, 0xff, 0xff];
        let f = read_frame(&mut data, 10).await.expect("frame");
        assert_eq!(&f[..], b"abc");
        let e = read_frame(&mut data, 10).await.expect_err("too large");
        assert!(
            matches!(
                e,
                FrameError::TooLarge {
                    size: 2147483647,
                    max: 10
                }
            ),
            "{e}"
        );
    }

    #[tokio::test]
    async fn negative_truncated_and_eof() {
        let mut data: &[u8] = &[0xff, 0xff, 0xff, 0xff];
        assert!(matches!(
            read_frame(&mut data, 10).await,
            Err(FrameError::Negative(-1))
        ));
        let mut data: &[u8] = &[0, 0, 0, 5, 1];
        assert!(matches!(
            read_frame(&mut data, 10).await,
            Err(FrameError::Io(_))
        ));
        let mut data: &[u8] = &[];
        assert!(matches!(
            read_frame(&mut data, 10).await,
            Err(FrameError::Eof)
        ));
    }

    #[tokio::test]
    async fn frames_trickling_in_are_not_overread() {
        // A pipe of 3 bytes: every frame arrives in pieces, the next one
        // right behind it.
        let (mut w, mut r) = tokio::io::duplex(3);
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let mut data = Vec::new();
            for body in [&b"hello"[..], b"", b"0123456789"] {
                data.extend_from_slice(&(body.len() as i32).to_be_bytes());
                data.extend_from_slice(body);
            }
            w.write_all(&data).await.expect("write");
        });
        for want in [&b"hello"[..], b"", b"0123456789"] {
            let f = read_frame(&mut r, 100).await.expect("frame");
            assert_eq!(&f[..], want);
        }
        writer.await.expect("writer");
        assert!(matches!(
            read_frame(&mut r, 100).await,
            Err(FrameError::Eof)
        ));
    }

    #[test]
    fn frame_prefix_is_filled() {
        let mut b = start_frame(3);
        b.put_slice(b"xyz");
        finish_frame(&mut b).expect("fits");
        assert_eq!(&b[..], &[0, 0, 0, 3, b'x', b'y', b'z']);
    }
}
