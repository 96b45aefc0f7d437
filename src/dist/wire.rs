//! Bytes on a distribution connection: the blocking stream `erl_dist`'s handshake and epmd
//! client run on, and the frames of a connected node (a 4-byte length, `0` for a tick, else
//! the pass-through tag 112 and a control message with its payload).
//!
//! Connections are served by plain threads (one reader, one writer each): `erl_dist` is
//! written against `futures::io`, so [`Blocking`] makes a `TcpStream` look asynchronous by
//! completing every poll with a blocking call, and `futures::executor::block_on` drives it.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use erl_dist::message::Message;

/// The pass-through tag of a distribution frame.
const PASS_THROUGH: u8 = 112;

/// The largest frame taken from a peer: a bigger one ends the connection instead of
/// allocating that much.
pub const MAX_FRAME: usize = 256 << 20;

/// A shared blocking TCP stream with `futures::io` traits (each poll is one blocking call).
#[derive(Clone, Debug)]
pub struct Blocking(pub Arc<TcpStream>);

impl futures::io::AsyncRead for Blocking {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready((&*self.0).read(buf))
    }
}

impl futures::io::AsyncWrite for Blocking {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready((&*self.0).write(buf))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready((&*self.0).flush())
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.0.shutdown(std::net::Shutdown::Write))
    }
}

/// Why a connection's reader stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("connection closed by the peer")]
    Closed,
    #[error("no tick from the peer for {0:?}")]
    Silent(Duration),
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("malformed frame: {0}")]
    Malformed(String),
}

/// Reads frames from a stream whose read timeout is set, failing when nothing at all arrived
/// for `silence` (the peer stopped ticking).
pub struct FrameReader {
    stream: io::BufReader<Blocking>,
    silence: Duration,
    heard: Instant,
    /// The body of the frame being read, kept between frames.
    body: Vec<u8>,
}

impl Read for Blocking {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self.0).read(buf)
    }
}

impl FrameReader {
    pub fn new(stream: Arc<TcpStream>, silence: Duration) -> FrameReader {
        FrameReader {
            stream: io::BufReader::with_capacity(64 * 1024, Blocking(stream)),
            silence,
            heard: Instant::now(),
            body: Vec::new(),
        }
    }

    /// Fills `buf`, waiting through read timeouts until the peer has been silent too long.
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), ReadError> {
        let mut done = 0;
        while done < buf.len() {
            match self.stream.read(&mut buf[done..]) {
                Ok(0) => return Err(ReadError::Closed),
                Ok(n) => {
                    done += n;
                    self.heard = Instant::now();
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    if self.heard.elapsed() > self.silence {
                        return Err(ReadError::Silent(self.silence));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// The next frame: a control message, or `None` for a tick or a message whose terms nest
    /// deeper than `depth::MAX_NESTING` (dropped with a log line, the connection stays).
    pub fn next(&mut self) -> Result<Option<Message>, ReadError> {
        let mut len = [0u8; 4];
        self.fill(&mut len)?;
        let len = u32::from_be_bytes(len) as usize;
        if len == 0 {
            return Ok(None);
        }
        if len > MAX_FRAME {
            return Err(ReadError::Malformed(format!(
                "a frame of {len} bytes (at most {MAX_FRAME})"
            )));
        }
        let mut body = std::mem::take(&mut self.body);
        body.clear();
        body.resize(len, 0);
        let read = self.fill(&mut body);
        let message = read.and_then(|()| {
            if body[0] != PASS_THROUGH {
                return Err(ReadError::Malformed(format!(
                    "expected the pass-through tag 112, got {}",
                    body[0]
                )));
            }
            match super::depth::check_frame(&body[1..]) {
                Ok(()) => {}
                Err(super::depth::Refused::TooDeep) => {
                    tracing::warn!(target: "moonweave",
                        "dropped a message from another node: its terms nest deeper than {} levels",
                        super::depth::MAX_NESTING);
                    return Ok(None);
                }
                Err(super::depth::Refused::Malformed) => {
                    return Err(ReadError::Malformed(
                        "a term that is not well-formed".into(),
                    ));
                }
            }
            Message::read_from(&mut &body[1..])
                .map(Some)
                .map_err(|e| ReadError::Malformed(e.to_string()))
        });
        if body.capacity() <= 1 << 20 {
            self.body = body;
        }
        message
    }
}

/// Appends the frame of `message` to `out` (a tick is four zero bytes).
pub fn encode(message: Message, out: &mut Vec<u8>) -> Result<(), String> {
    if matches!(message, Message::Tick) {
        out.extend_from_slice(&[0; 4]);
        return Ok(());
    }
    let start = out.len();
    out.extend_from_slice(&[0, 0, 0, 0, PASS_THROUGH]);
    message.write_into(out).map_err(|e| e.to_string())?;
    let len = u32::try_from(out.len() - start - 4).map_err(|_| "a frame over 4 GiB".to_string())?;
    out[start..start + 4].copy_from_slice(&len.to_be_bytes());
    Ok(())
}
