//! One connection to another node: dialled on demand or accepted, the handshake, then a
//! reader (this node's side of the peer's messages and ticks) and a writer (queued control
//! messages in one write per batch, and a tick when nothing else was written for a quarter of
//! the tick time).
//!
//! A connection exists before its stream: sends to a node queue while the dial and handshake
//! run, and whichever handshake completes first (ours, or the peer's dial that we accept)
//! attaches its stream. When the stream fails, the connection is down for good; the next send
//! to that node dials a new one.

use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use erl_dist::DistributionFlags;
use erl_dist::handshake::{ClientSideHandshake, HandshakeStatus, ServerSideHandshake};
use erl_dist::message::Message;
use erl_dist::node::{Creation, LocalNode, NodeName};

use super::wire::{Blocking, FrameReader};
use super::{Node, epmd};
use crate::error::{ErrorKind, ErrorValue};

/// How many times an idle writer yields, looking for more to write, before it parks.
/// Picked, not tuned.
const SPINS: usize = 64;

/// Bytes of frames a connection holds for its writer before sends to that node are refused
/// (`UNAVAILABLE`): a node that reads slowly or not at all cannot make this one queue without
/// bound. Links, monitors and exits are never refused. Picked, not tuned.
pub const MAX_QUEUED: usize = 64 << 20;

/// How long a handshake may take before the attempt is given up.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The distribution flags this node offers: the mandatory ones, plus the sender in sends,
/// monitors by PID and by name, and the atom cache of distribution headers (Erlang senders
/// then write each atom once per connection instead of in every message: an Erlang node
/// sending to this one used 1.7 times the CPU without it). Not `PUBLISHED`: a hidden node.
pub fn flags() -> DistributionFlags {
    DistributionFlags::mandatory()
        | DistributionFlags::SEND_SENDER
        | DistributionFlags::DIST_MONITOR
        | DistributionFlags::DIST_MONITOR_NAME
        | DistributionFlags::DIST_HDR_ATOM_CACHE
}

/// A connection to the node `peer` (an index into the node's table of node names).
pub struct Connection {
    pub peer: u32,
    pub peer_name: Arc<str>,
    state: Mutex<State>,
    wake: Condvar,
    /// Something is queued: what the writer watches while it spins before parking.
    pending: AtomicBool,
}

#[derive(Default)]
struct State {
    /// Frames waiting for the writer, encoded by whoever queued them.
    queue: Vec<u8>,
    stream: Option<Arc<TcpStream>>,
    /// Frames go after a distribution header (the peer negotiated the atom cache, as every
    /// Erlang node does); known once a handshake completes, assumed until then.
    plain: bool,
    down: bool,
    /// The node stops: the writer writes what is queued, then closes.
    finishing: bool,
    /// The writer waits on the condition variable (so a push must wake it).
    parked: bool,
}

impl Connection {
    pub fn new(peer: u32, peer_name: Arc<str>) -> Connection {
        Connection {
            peer,
            peer_name,
            state: Mutex::default(),
            wake: Condvar::new(),
            pending: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the stream failed (or the dial did).
    pub fn is_down(&self) -> bool {
        self.lock().down
    }

    /// Whether a handshake has attached a stream.
    pub fn is_up(&self) -> bool {
        let state = self.lock();
        state.stream.is_some() && !state.down
    }

    /// Queues `message` for the writer; dropped when the connection is down (as Erlang drops
    /// a message to a node it cannot reach). Links, monitors and exits always go; a send
    /// (`bounded`) is refused with `UNAVAILABLE` while more than [`MAX_QUEUED`] bytes wait.
    pub fn push(&self, message: Message, bounded: bool) -> Result<(), ErrorValue> {
        let mut state = self.lock();
        if state.down {
            return Ok(());
        }
        if bounded && state.queue.len() > MAX_QUEUED {
            return Err(ErrorValue::new(
                ErrorKind::Unavailable,
                format!(
                    "the connection to node {} is busy: {} MiB wait to be written",
                    self.peer_name,
                    state.queue.len() >> 20
                ),
            ));
        }
        let headers = !state.plain;
        if let Err(e) = super::wire::encode(message, &mut state.queue, headers) {
            return Err(ErrorValue::new(
                ErrorKind::Invalid,
                format!("a message that cannot be written as a term: {e}"),
            ));
        }
        self.pending.store(true, Ordering::Release);
        let wake = state.parked;
        drop(state);
        if wake {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// Attaches the stream of a completed handshake; `false` when another already did (or the
    /// connection is down).
    fn attach(&self, stream: Arc<TcpStream>, flags: DistributionFlags) -> bool {
        let mut state = self.lock();
        if state.down || state.stream.is_some() {
            return false;
        }
        if !flags.contains(DistributionFlags::DIST_HDR_ATOM_CACHE) {
            // What was queued before the handshake assumed headers.
            state.plain = true;
            state.queue = super::wire::to_pass_through(&state.queue);
        }
        state.stream = Some(stream);
        drop(state);
        self.wake.notify_one();
        true
    }

    /// Marks the connection down (once): its stream is shut, queued messages dropped, the
    /// writer leaves. `true` for the call that did it.
    pub fn close(&self) -> bool {
        let mut state = self.lock();
        if state.down {
            return false;
        }
        state.down = true;
        state.queue.clear();
        if let Some(stream) = &state.stream {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
        drop(state);
        self.wake.notify_all();
        true
    }

    /// Writes what is queued, then closes; waits up to `timeout` for that (a node stopping:
    /// the last EXITs of its processes still reach their linked peers).
    pub fn finish(&self, timeout: Duration) {
        let mut state = self.lock();
        if state.stream.is_none() {
            drop(state);
            self.close();
            return;
        }
        state.finishing = true;
        self.wake.notify_all();
        let until = Instant::now() + timeout;
        while !state.down {
            let now = Instant::now();
            if now >= until {
                break;
            }
            state = self
                .wake
                .wait_timeout(state, until - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        drop(state);
        self.close();
    }

    /// The writer: batches of queued messages in one write each, ticks when idle.
    fn write_loop(&self, stream: Arc<TcpStream>, tick: Duration) {
        let mut buffer: Vec<u8> = Vec::with_capacity(64 * 1024);
        let mut last_write = Instant::now();
        loop {
            let mut spun = false;
            {
                let mut state = self.lock();
                loop {
                    if state.down {
                        return;
                    }
                    if !state.queue.is_empty() {
                        buffer.clear();
                        std::mem::swap(&mut buffer, &mut state.queue);
                        self.pending.store(false, Ordering::Relaxed);
                        break;
                    }
                    if state.finishing {
                        drop(state);
                        self.close();
                        return;
                    }
                    let waited = last_write.elapsed();
                    if waited >= tick {
                        buffer.clear();
                        buffer.extend_from_slice(&[0; 4]); // a tick
                        break;
                    }
                    if !spun {
                        // An answer usually follows soon (a round trip through a process of
                        // this node): look again a few times before paying for a wake-up.
                        spun = true;
                        drop(state);
                        for _ in 0..SPINS {
                            if self.pending.load(Ordering::Acquire) {
                                break;
                            }
                            std::thread::yield_now();
                        }
                        state = self.lock();
                        continue;
                    }
                    state.parked = true;
                    state = self
                        .wake
                        .wait_timeout(state, tick - waited)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                    state.parked = false;
                }
            }
            if let Err(e) = std::io::Write::write_all(&mut &*stream, &buffer) {
                tracing::debug!(target: "moonweave", "node {}: write failed: {e}", self.peer_name);
                self.close();
                return;
            }
            last_write = Instant::now();
            if buffer.capacity() > 1 << 20 {
                buffer = Vec::with_capacity(64 * 1024);
            }
        }
    }
}

/// Why a connection could not be made.
#[derive(Debug, thiserror::Error)]
enum DialError {
    #[error("{0}")]
    Epmd(#[from] epmd::EpmdError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("handshake: {0}")]
    Handshake(String),
    #[error("the node name '{0}' is not name@host")]
    Name(String),
}

fn local_node(node: &Node) -> Result<LocalNode, DialError> {
    let name: NodeName = node
        .name
        .parse()
        .map_err(|_| DialError::Name(node.name.to_string()))?;
    let mut local = LocalNode::new(name, Creation::new(node.creation));
    local.flags = flags();
    Ok(local)
}

fn prepare(stream: &TcpStream) -> std::io::Result<()> {
    // Without it a control message written in three parts waits ~40 ms for the peer's ack.
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
    stream.set_write_timeout(Some(HANDSHAKE_TIMEOUT))
}

/// Dials `conn`'s peer and, when this side's handshake is the one that completes, serves the
/// connection on this thread until it fails.
pub fn dial(node: Arc<Node>, conn: Arc<Connection>) {
    match dial_stream(&node, &conn) {
        Ok(Some((stream, flags))) => serve(node, conn, stream, flags),
        // The peer is dialling us at the same time and its handshake wins.
        Ok(None) => {}
        Err(e) => {
            if !conn.is_up() {
                tracing::warn!(target: "moonweave", "cannot connect to node {}: {e}", conn.peer_name);
                node.lost(&conn);
            }
        }
    }
}

fn dial_stream(
    node: &Node,
    conn: &Connection,
) -> Result<Option<(Arc<TcpStream>, DistributionFlags)>, DialError> {
    let (alive, host) = conn
        .peer_name
        .split_once('@')
        .ok_or_else(|| DialError::Name(conn.peer_name.to_string()))?;
    let port = epmd::lookup(host, alive)?;
    let stream = TcpStream::connect((host, port))?;
    prepare(&stream)?;
    let stream = Arc::new(stream);
    let mut handshake =
        ClientSideHandshake::new(Blocking(stream.clone()), local_node(node)?, &node.cookie);
    let status = futures::executor::block_on(
        handshake.execute_send_name(erl_dist::LOWEST_DISTRIBUTION_PROTOCOL_VERSION),
    )
    .map_err(|e| DialError::Handshake(e.to_string()))?;
    if status == HandshakeStatus::Nok {
        return Ok(None);
    }
    let (_, peer) = futures::executor::block_on(handshake.execute_rest(true)).map_err(|e| {
        // A peer that does not share the cookie closes the connection without a word.
        match &e {
            erl_dist::handshake::HandshakeError::Io(io)
                if io.kind() == std::io::ErrorKind::UnexpectedEof =>
            {
                DialError::Handshake(
                    "the node closed the connection during the handshake (is the cookie the same?)"
                        .into(),
                )
            }
            _ => DialError::Handshake(e.to_string()),
        }
    })?;
    if peer.name.to_string() != *conn.peer_name {
        return Err(DialError::Handshake(format!(
            "the node answering is {}, not {}",
            peer.name, conn.peer_name
        )));
    }
    if let Some(creation) = peer.creation {
        node.learn_creation(conn.peer, creation.get());
    }
    Ok(Some((stream, peer.flags)))
}

/// Accepts connections on `listener` until the node stops.
pub fn accept_loop(node: Arc<Node>, listener: std::net::TcpListener) {
    for stream in listener.incoming() {
        if node.is_stopping() {
            return;
        }
        let Ok(stream) = stream else {
            continue;
        };
        let node = node.clone();
        let spawned = std::thread::Builder::new()
            .name("moonweave-dist-in".into())
            .spawn(move || accept(node, stream));
        if let Err(e) = spawned {
            tracing::warn!(target: "moonweave", "cannot serve an incoming node connection: {e}");
        }
    }
}

/// The server side of a handshake, then the connection on this thread.
fn accept(node: Arc<Node>, stream: TcpStream) {
    if prepare(&stream).is_err() {
        return;
    }
    let stream = Arc::new(stream);
    let Ok(local) = local_node(&node) else {
        return;
    };
    let mut handshake = ServerSideHandshake::new(Blocking(stream.clone()), local, &node.cookie);
    let peer_name = match futures::executor::block_on(handshake.execute_recv_name()) {
        Ok(Some(name)) => name.to_string(),
        Ok(None) => {
            tracing::warn!(target: "moonweave", "refused a node that asked for a dynamic name");
            let _ =
                futures::executor::block_on(handshake.execute_rest(HandshakeStatus::NotAllowed));
            return;
        }
        Err(e) => {
            tracing::debug!(target: "moonweave", "an incoming handshake failed: {e}");
            return;
        }
    };
    let (conn, status) = node.incoming_connection(&peer_name);
    let result = futures::executor::block_on(handshake.execute_rest(status));
    let Some(conn) = conn else {
        return;
    };
    match result {
        Ok((_, peer)) => {
            if let Some(creation) = peer.creation {
                node.learn_creation(conn.peer, creation.get());
            }
            serve(node, conn, stream, peer.flags);
        }
        Err(e) => {
            // A wrong cookie lands here: say so, as Erlang does.
            tracing::warn!(target: "moonweave", "connection attempt from node {peer_name} failed: {e}");
            if !conn.is_up() {
                node.lost(&conn);
            }
        }
    }
}

/// Runs an established connection: starts the writer, reads on this thread, and tells the
/// node when the connection ends.
fn serve(node: Arc<Node>, conn: Arc<Connection>, stream: Arc<TcpStream>, flags: DistributionFlags) {
    let _ = stream.set_write_timeout(None);
    let tick = node.ticktime / 4;
    // Reads wake every quarter tick time to see whether the peer fell silent.
    let _ = stream.set_read_timeout(Some(tick.max(Duration::from_millis(10))));
    if !conn.attach(stream.clone(), flags) {
        let _ = stream.shutdown(std::net::Shutdown::Both);
        return;
    }
    tracing::debug!(target: "moonweave", "connected to node {}", conn.peer_name);
    let writer = {
        let conn = conn.clone();
        let stream = stream.clone();
        std::thread::Builder::new()
            .name("moonweave-dist-out".into())
            .spawn(move || conn.write_loop(stream, tick))
    };
    if writer.is_err() {
        node.lost(&conn);
        return;
    }
    let reader = FrameReader::new(stream, node.ticktime);
    // Whatever ends the reading (an error, a panic of a decoder on a frame it cannot take),
    // the connection is then lost for both sides, never left half open.
    let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        read_loop(&node, &conn, reader)
    }));
    if read.is_err() {
        tracing::error!(target: "moonweave",
            "node {}: reading from the connection failed; connection closed", conn.peer_name);
    }
    node.lost(&conn);
}

/// Reads and handles the peer's frames until the connection fails.
fn read_loop(node: &Node, conn: &Connection, mut reader: FrameReader) {
    loop {
        match reader.next() {
            Ok(None) => {}
            Ok(Some(message)) => node.incoming(conn, message),
            Err(e) => {
                if !node.is_stopping() && !conn.is_down() {
                    match e {
                        // A node that exits closes its connections: nothing went wrong.
                        super::wire::ReadError::Closed => {
                            tracing::debug!(target: "moonweave", "node {} disconnected", conn.peer_name)
                        }
                        super::wire::ReadError::Silent(_) => {
                            tracing::warn!(target: "moonweave", "node {} not responding, connection removed: {e}", conn.peer_name)
                        }
                        _ => {
                            tracing::info!(target: "moonweave", "connection to node {} lost: {e}", conn.peer_name)
                        }
                    }
                }
                break;
            }
        }
    }
}
