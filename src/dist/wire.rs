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

/// A peer that sent this many frames within [`STREAM_WINDOW`] (or at that rate over the last
/// window) is streaming messages: before the reader goes back to the socket it waits
/// [`STREAM_PAUSE`], so that it takes many frames at once.
///
/// Why: a reader that takes every frame the moment it lands makes the kernel acknowledge
/// almost every segment, and a sender that gets those acknowledgements sends each small
/// message in its own segment (Linux corks small writes only while earlier data is
/// unacknowledged). An Erlang node pipelining 400,000 messages to an eager reader on loopback
/// put 490,000 packets on the wire and spent 2 s of CPU (210k messages/s); with the pause
/// 5,000–130,000 packets and 0.75–1.1 s (390–700k messages/s).
///
/// The threshold is a rate (160,000 frames/s), not frames per read: request/response traffic
/// often brings two frames at once (Erlang's `gen_server:call` sends MONITOR_P and SEND
/// together) and must not wait. Below the rate every read happens at once; above it a frame
/// may wait for the pause plus the kernel's timer slack (about 150 µs in all).
const STREAM_FRAMES: u32 = 32;
const STREAM_WINDOW: Duration = Duration::from_micros(200);
/// Picked from 50 and 100 µs by measuring benches/distribution.sh (100 µs batched more).
const STREAM_PAUSE: Duration = Duration::from_micros(100);

/// Counts a connection's frames per [`STREAM_WINDOW`] to tell a stream from request/response
/// traffic.
#[derive(Debug)]
struct Pacing {
    /// Frames read since `window` began.
    frames: u32,
    window: Instant,
    /// The last window that ended had the rate of a stream.
    streaming: bool,
}

impl Pacing {
    fn new(now: Instant) -> Pacing {
        Pacing {
            frames: 0,
            window: now,
            streaming: false,
        }
    }

    /// Before a read of the socket at `now`: whether to pause first. A window that ended
    /// decides for the next one by its rate over the time it really lasted, so a burst long
    /// past does not make the next message wait.
    fn before_read(&mut self, now: Instant) -> bool {
        let elapsed = now.duration_since(self.window);
        if elapsed >= STREAM_WINDOW {
            self.streaming = u128::from(self.frames) * STREAM_WINDOW.as_nanos()
                >= u128::from(STREAM_FRAMES) * elapsed.as_nanos();
            self.window = now;
            self.frames = 0;
        }
        self.streaming || self.frames >= STREAM_FRAMES
    }
}

/// Reads frames from a stream whose read timeout is set, failing when nothing at all arrived
/// for `silence` (the peer stopped ticking).
pub struct FrameReader {
    stream: io::BufReader<Blocking>,
    silence: Duration,
    /// When the peer was last heard from, as of the last read timeout.
    heard: Instant,
    /// Something arrived since the last read timeout.
    fresh: bool,
    /// The body of the frame being read, kept between frames.
    body: Vec<u8>,
    /// The peer's atom cache (its distribution headers fill it).
    atoms: super::depth::AtomCache,
    /// Whether the peer is streaming (see [`STREAM_FRAMES`]).
    pacing: Pacing,
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
            fresh: false,
            body: Vec::new(),
            atoms: Default::default(),
            pacing: Pacing::new(Instant::now()),
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
                    // The clock is read when a read times out, not on every read.
                    self.fresh = true;
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    if std::mem::take(&mut self.fresh) {
                        self.heard = Instant::now();
                    } else if self.heard.elapsed() > self.silence {
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
        // An empty buffer means the next bytes come from the socket: the clock is read here,
        // once per read.
        if self.stream.buffer().is_empty() && self.pacing.before_read(Instant::now()) {
            std::thread::sleep(STREAM_PAUSE);
        }
        self.pacing.frames += 1;
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
        let cache = &mut self.atoms;
        let message = read.and_then(|()| {
            let expanded;
            let terms = if body[0] == PASS_THROUGH {
                &body[1..]
            } else if super::depth::has_header(&body) {
                // A peer that uses the atom cache: its header lists the atoms the terms
                // refer to; they are put back in place for the decoder.
                match super::depth::expand_header(&body, cache) {
                    Ok(terms) => expanded = terms,
                    Err(refused) => return refusal(refused, "a malformed distribution header"),
                }
                &expanded[..]
            } else {
                return Err(ReadError::Malformed(format!(
                    "expected the pass-through tag 112 or a distribution header, got {}",
                    body[0]
                )));
            };
            if let Err(refused) = super::depth::check_frame(terms) {
                return refusal(refused, "a term that is not well-formed");
            }
            Message::read_from(&mut &terms[..])
                .map(Some)
                .map_err(|e| ReadError::Malformed(e.to_string()))
        });
        if body.capacity() <= 1 << 20 {
            self.body = body;
        }
        message
    }
}

/// What a refused frame costs: a message nested too deep is dropped with a log line (the
/// connection stays); a malformed one ends the connection.
fn refusal(refused: super::depth::Refused, malformed: &str) -> Result<Option<Message>, ReadError> {
    match refused {
        super::depth::Refused::TooDeep => {
            tracing::warn!(target: "moonweave",
                "dropped a message from another node: its terms nest deeper than {} levels",
                super::depth::MAX_NESTING);
            Ok(None)
        }
        super::depth::Refused::Malformed => Err(ReadError::Malformed(malformed.into())),
    }
}

/// Appends the frame of `message` to `out` (a tick is four zero bytes): after a normal
/// distribution header with no atom cache references when `headers` (a peer that negotiated
/// the atom cache takes nothing else), else as a pass-through frame.
pub fn encode(message: Message, out: &mut Vec<u8>, headers: bool) -> Result<(), String> {
    if matches!(message, Message::Tick) {
        out.extend_from_slice(&[0; 4]);
        return Ok(());
    }
    let start = out.len();
    out.extend_from_slice(&[0, 0, 0, 0]);
    if headers {
        out.extend_from_slice(&[131, 68, 0]);
    } else {
        out.push(PASS_THROUGH);
    }
    let terms = out.len();
    message.write_into(out).map_err(|e| e.to_string())?;
    if headers {
        // After a header the terms carry no version byte: drop the two the encoder wrote.
        let control = super::depth::term_len(&out[terms + 1..])
            .map_err(|_| "an unencodable control message".to_string())?;
        let payload = terms + 1 + control;
        if payload < out.len() {
            out.remove(payload);
        }
        out.remove(terms);
    }
    let len = u32::try_from(out.len() - start - 4).map_err(|_| "a frame over 4 GiB".to_string())?;
    out[start..start + 4].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

/// Frames written with headers (by [`encode`]) rewritten as pass-through frames, for a peer
/// that turned out not to take headers.
pub fn to_pass_through(frames: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(frames.len() + frames.len() / 16);
    let mut at = 0;
    while at + 4 <= frames.len() {
        let len = u32::from_be_bytes([frames[at], frames[at + 1], frames[at + 2], frames[at + 3]])
            as usize;
        let body = &frames[at + 4..at + 4 + len];
        at += 4 + len;
        if len == 0 {
            out.extend_from_slice(&[0; 4]);
            continue;
        }
        // 131 68 0, the control term, the payload term.
        let terms = &body[3..];
        let control = super::depth::term_len(terms).unwrap_or(terms.len());
        let mut frame = vec![PASS_THROUGH, 131];
        frame.extend_from_slice(&terms[..control]);
        if control < terms.len() {
            frame.push(131);
            frame.extend_from_slice(&terms[control..]);
        }
        out.extend_from_slice(&(frame.len() as u32).to_be_bytes());
        out.extend_from_slice(&frame);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use eetf::{Atom, Term};

    fn decode_frames(
        mut frames: &[u8],
        cache: &mut super::super::depth::AtomCache,
    ) -> Vec<Message> {
        let mut messages = Vec::new();
        while !frames.is_empty() {
            let len = u32::from_be_bytes([frames[0], frames[1], frames[2], frames[3]]) as usize;
            let body = &frames[4..4 + len];
            frames = &frames[4 + len..];
            let terms = if body[0] == PASS_THROUGH {
                body[1..].to_vec()
            } else {
                super::super::depth::expand_header(body, cache).unwrap()
            };
            messages.push(Message::read_from(&mut &terms[..]).unwrap());
        }
        messages
    }

    /// Reads at `times` (µs from the start), each bringing `frames`: whether each one paused.
    fn pauses(reads: &[(u64, u32)]) -> Vec<bool> {
        let start = Instant::now();
        let mut pacing = Pacing::new(start);
        reads
            .iter()
            .map(|&(at, frames)| {
                let pause = pacing.before_read(start + Duration::from_micros(at));
                pacing.frames += frames;
                pause
            })
            .collect()
    }

    #[test]
    fn request_and_response_traffic_never_waits() {
        // Two frames (MONITOR_P and SEND) every 40 µs: 50,000 frames/s.
        let reads: Vec<(u64, u32)> = (0..100).map(|i| (i * 40, 2)).collect();
        assert!(pauses(&reads).iter().all(|&p| !p));
    }

    #[test]
    fn a_stream_pauses_each_read_until_it_stops() {
        // Four frames every 10 µs (400,000 frames/s) for 1 ms: after the first 32 frames
        // every read pauses.
        let mut reads: Vec<(u64, u32)> = (0..100).map(|i| (i * 10, 4)).collect();
        let paused = pauses(&reads);
        assert!(!paused[0] && paused[8..].iter().all(|&p| p), "{paused:?}");
        // Batches after the pauses keep it streaming: 40 frames every 110 µs.
        reads = (0..20).map(|i| (i * 110, 40)).collect();
        assert!(pauses(&reads)[1..].iter().all(|&p| p));
        // A message long after a burst is read at once, and so is the next one.
        let paused = pauses(&[(0, 64), (150, 64), (10_000, 1), (10_040, 1)]);
        assert_eq!(paused, [false, true, false, false]);
    }

    #[test]
    fn frames_with_headers_and_pass_through_frames_carry_the_same_messages() {
        let message = || {
            Message::reg_send(
                eetf::Pid::new("a@b", 1, 2, 3),
                Atom::from("echo"),
                Term::from(eetf::Tuple::from(vec![Term::from(Atom::from("ping"))])),
            )
        };
        let mut with_headers = Vec::new();
        encode(message(), &mut with_headers, true).unwrap();
        encode(
            Message::send(eetf::Pid::new("a@b", 1, 2, 3), Term::from(Atom::from("x"))),
            &mut with_headers,
            true,
        )
        .unwrap();
        let mut cache = Default::default();
        let decoded = decode_frames(&with_headers, &mut cache);
        assert_eq!(decoded[0], message());
        let plain = to_pass_through(&with_headers);
        assert_eq!(decode_frames(&plain, &mut cache), decoded);
    }
}
