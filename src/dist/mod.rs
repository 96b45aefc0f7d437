//! Distribution: this runtime as a hidden node of an Erlang cluster, speaking the Erlang
//! distribution protocol (`docs/src/distribution.md` is the user's page).
//!
//! - [`Node`] owns the node: its name and creation (from epmd), the listener, the
//!   connections by peer (`conn.rs`), and the processes that stand for remote ones.
//! - A process of another node is reached through a **proxy**: a process record with no code
//!   whose signals are forwarded (see [`Forward`]) to the connection of its node. The proxy's
//!   PID text is the remote PID's (`{node@host|<0.ID.SERIAL>}`) or the remote name's
//!   (`name@node@host`), so everything that takes a destination takes a remote one.
//! - A message from another node is delivered like one from a Rust process; its sender is
//!   marked remote ([`REMOTE_SENDER`]) and its text is rebuilt from the node's table of names.
//! - `term.rs` maps values to terms; `wire.rs` reads and writes frames; `epmd.rs` registers.

mod conn;
mod depth;
mod epmd;
mod links;
mod name;
mod term;
mod wire;

use std::collections::HashMap;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, Weak};
use std::time::Duration;

use eetf::{Atom, Term};
use erl_dist::handshake::HandshakeStatus;
use erl_dist::message::Message;

pub use name::{DEFAULT_TICKTIME, NodeConfig, full_name};

use crate::error::{ErrorKind, ErrorValue};
use crate::proc::{Envelope, Exit, Pid, Process, Sender};
use crate::sched::Shared;
use conn::Connection;
use term::PidCodec;

/// Set in [`Sender::host`] for a sender on another node; the other bits index the node's
/// table of node names, and the sender's PID packs the remote ID (low half) and serial.
pub const REMOTE_SENDER: u32 = 1 << 31;

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("{0}")]
    Name(#[from] name::NameError),
    #[error("cannot listen for other nodes: {0}")]
    Listen(std::io::Error),
    #[error("cannot register with epmd: {0}")]
    Epmd(#[from] epmd::EpmdError),
    #[error("cannot start the node's threads: {0}")]
    Thread(std::io::Error),
}

/// A node this one has heard of: its name and last known creation.
struct Peer {
    name: Arc<str>,
    creation: AtomicU32,
}

#[derive(Default)]
struct Peers {
    list: Vec<Arc<Peer>>,
    index: HashMap<Arc<str>, u32>,
}

/// Where a proxy forwards: a process by PID, or a registered name, on node `node`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct RemoteDest {
    node: u32,
    target: Target,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Target {
    Pid { id: u32, serial: u32 },
    Name(Arc<str>),
}

/// A proxy as the node remembers it: alive while someone holds its process.
struct ProxyEntry {
    process: Weak<Process>,
    forward: Weak<links::Proxy>,
}

/// This runtime as a node.
pub struct Node {
    /// `name@host`.
    pub name: Arc<str>,
    atom: Atom,
    creation: u32,
    cookie: String,
    ticktime: Duration,
    shared: Weak<Shared>,
    me: Weak<Node>,
    peers: RwLock<Peers>,
    connections: Mutex<HashMap<u32, Arc<Connection>>>,
    proxies: Mutex<HashMap<RemoteDest, ProxyEntry>>,
    /// Proxies in a link or monitor (either way), by their local PID and node: kept alive
    /// for the signals that reach them by PID, ended when their node's connection is lost.
    watched: Mutex<HashMap<Pid, (u32, Arc<Process>)>>,
    /// Numbers for references and unlink ids.
    counter: AtomicU64,
    /// The proxy map's size after its last sweep of dead entries.
    swept: AtomicU32,
    stopping: AtomicBool,
    port: u16,
    /// The registration: epmd forgets the node when this closes.
    epmd: Mutex<Option<TcpStream>>,
    acceptor: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node").field("name", &self.name).finish()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The text of a PID of another node: `{node@host|<0.ID.SERIAL>}`.
fn remote_text(node: &str, id: u32, serial: u32) -> String {
    format!("{{{node}|<0.{id}.{serial}>}}")
}

/// A PID text of the remote form: the node, ID and serial.
fn parse_remote(text: &[u8]) -> Option<(&str, u32, u32)> {
    let text = std::str::from_utf8(text).ok()?;
    let inner = text.strip_prefix('{')?.strip_suffix("}")?;
    let (node, numbers) = inner.rsplit_once("|<")?;
    let numbers = numbers.strip_suffix('>')?;
    let mut parts = numbers.split('.');
    let (Some("0"), Some(id), Some(serial), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let digits = |s: &str| !s.is_empty() && s.len() <= 10 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(id) || !digits(serial) || !is_node_name(node) {
        return None;
    }
    Some((node, id.parse().ok()?, serial.parse().ok()?))
}

/// Whether `text` is `name@host` as node names are.
fn is_node_name(text: &str) -> bool {
    match text.split_once('@') {
        Some((alive, host)) => {
            !alive.is_empty() && !host.is_empty() && !host.contains('@') && text.len() <= 255
        }
        None => false,
    }
}

fn not_found(dest: &[u8]) -> ErrorValue {
    let mut message = b"no process ".to_vec();
    message.extend_from_slice(dest);
    ErrorValue::new(ErrorKind::NotFound, message)
}

impl Node {
    /// Starts the node: listens, registers with epmd (starting it if needed), accepts.
    pub fn start(shared: &Arc<Shared>, config: &NodeConfig) -> Result<Arc<Node>, NodeError> {
        let name = full_name(&config.name, config.long)?;
        let cookie = name::cookie(config.cookie.as_deref())?;
        let listener = std::net::TcpListener::bind(("0.0.0.0", 0)).map_err(NodeError::Listen)?;
        let port = listener.local_addr().map_err(NodeError::Listen)?.port();
        let alive = name.split_once('@').map(|(a, _)| a).unwrap_or(&name);
        let (registration, creation) = epmd::register(alive, port)?;
        let node = Arc::new_cyclic(|me| Node {
            atom: Atom::from(name.as_str()),
            name: Arc::from(name.as_str()),
            creation,
            cookie,
            ticktime: config.ticktime,
            shared: Arc::downgrade(shared),
            me: me.clone(),
            peers: RwLock::default(),
            connections: Mutex::default(),
            proxies: Mutex::default(),
            watched: Mutex::default(),
            counter: AtomicU64::new(1),
            swept: AtomicU32::new(0),
            stopping: AtomicBool::new(false),
            port,
            epmd: Mutex::new(Some(registration)),
            acceptor: Mutex::new(None),
        });
        let acceptor = {
            let node = node.clone();
            std::thread::Builder::new()
                .name("moonweave-dist-accept".into())
                .spawn(move || conn::accept_loop(node, listener))
                .map_err(NodeError::Thread)?
        };
        *lock(&node.acceptor) = Some(acceptor);
        tracing::debug!(target: "moonweave", "node {} listening on port {port}", node.name);
        Ok(node)
    }

    /// Closes every connection, stops accepting and leaves epmd.
    pub fn stop(&self) {
        if self.stopping.swap(true, Ordering::SeqCst) {
            return;
        }
        let connections: Vec<_> = lock(&self.connections).drain().map(|(_, c)| c).collect();
        for connection in connections {
            connection.finish(Duration::from_secs(1));
        }
        // Wake the acceptor with a connection of our own; it sees `stopping` and leaves.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(acceptor) = lock(&self.acceptor).take() {
            let _ = acceptor.join();
        }
        lock(&self.epmd).take();
    }

    fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// The index of the node `name` in the table of peers (added when new).
    fn peer_index(&self, name: &str) -> u32 {
        if let Some(&index) = self
            .peers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .index
            .get(name)
        {
            return index;
        }
        let mut peers = self.peers.write().unwrap_or_else(|e| e.into_inner());
        if let Some(&index) = peers.index.get(name) {
            return index;
        }
        let index = peers.list.len() as u32;
        let name: Arc<str> = Arc::from(name);
        peers.list.push(Arc::new(Peer {
            name: name.clone(),
            creation: AtomicU32::new(0),
        }));
        peers.index.insert(name, index);
        index
    }

    fn peer(&self, index: u32) -> Option<Arc<Peer>> {
        self.peers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .list
            .get(index as usize)
            .cloned()
    }

    /// Records the creation (incarnation) a peer's PIDs carry.
    fn learn_creation(&self, index: u32, creation: u32) {
        if let Some(peer) = self.peer(index) {
            peer.creation.store(creation, Ordering::Relaxed);
        }
    }

    fn pid_term(&self, node: u32, id: u32, serial: u32) -> eetf::Pid {
        match self.peer(node) {
            Some(peer) => eetf::Pid::new(
                peer.name.to_string(),
                id,
                serial,
                peer.creation.load(Ordering::Relaxed),
            ),
            None => self.own_pid(Pid(0)),
        }
    }

    fn own_pid(&self, pid: Pid) -> eetf::Pid {
        eetf::Pid {
            node: self.atom.clone(),
            id: pid.0 as u32,
            serial: (pid.0 >> 32) as u32,
            creation: self.creation,
        }
    }

    /// The PID term of a message's sender.
    fn sender_pid(&self, sender: Sender) -> eetf::Pid {
        if sender.host & REMOTE_SENDER != 0 {
            self.pid_term(
                sender.host & !REMOTE_SENDER,
                sender.pid.0 as u32,
                (sender.pid.0 >> 32) as u32,
            )
        } else {
            self.own_pid(sender.pid)
        }
    }

    /// The PID text of a sender on another node.
    pub fn sender_text(&self, sender: Sender) -> String {
        match self.peer(sender.host & !REMOTE_SENDER) {
            Some(peer) => remote_text(&peer.name, sender.pid.0 as u32, (sender.pid.0 >> 32) as u32),
            None => "{?}".to_string(),
        }
    }

    /// The connection to node `index`, dialled when there is none.
    fn connection(&self, index: u32) -> Option<Arc<Connection>> {
        let peer = self.peer(index)?;
        let mut connections = lock(&self.connections);
        if let Some(connection) = connections.get(&index)
            && !connection.is_down()
        {
            return Some(connection.clone());
        }
        if self.is_stopping() {
            return None;
        }
        let connection = Arc::new(Connection::new(index, peer.name.clone()));
        connections.insert(index, connection.clone());
        drop(connections);
        let node = self.me.upgrade()?;
        let dialled = connection.clone();
        let spawned = std::thread::Builder::new()
            .name("moonweave-dist-dial".into())
            .spawn(move || conn::dial(node, dialled));
        if let Err(e) = spawned {
            tracing::warn!(target: "moonweave", "cannot dial node {}: {e}", peer.name);
            self.lost(&connection);
        }
        Some(connection)
    }

    /// The connection an incoming handshake from `peer_name` serves, and the status to
    /// answer (Erlang's rules for two nodes dialling each other at once: the greater name's
    /// dial wins).
    fn incoming_connection(&self, peer_name: &str) -> (Option<Arc<Connection>>, HandshakeStatus) {
        if self.is_stopping() || peer_name == &*self.name {
            return (None, HandshakeStatus::NotAllowed);
        }
        let index = self.peer_index(peer_name);
        let mut connections = lock(&self.connections);
        match connections.get(&index) {
            Some(existing) if !existing.is_down() && !existing.is_up() => {
                return if &*self.name > peer_name {
                    (None, HandshakeStatus::Nok)
                } else {
                    (Some(existing.clone()), HandshakeStatus::OkSimultaneous)
                };
            }
            // Connected already: the peer's dial crossed ours, which completed first. (A peer
            // that restarted is refused until its old connection is found closed, at once
            // for a process that died, within net_ticktime for a host that went away.)
            Some(existing) if existing.is_up() => return (None, HandshakeStatus::Nok),
            _ => {}
        }
        let fresh = Arc::new(Connection::new(index, Arc::from(peer_name)));
        connections.insert(index, fresh.clone());
        (Some(fresh), HandshakeStatus::Ok)
    }

    /// `connection` is down: it is closed and forgotten.
    /// `connection` is down: it is closed and forgotten, and every link and monitor across it
    /// ends with `UNAVAILABLE` `noconnection`.
    fn lost(&self, connection: &Arc<Connection>) {
        connection.close();
        {
            let mut connections = lock(&self.connections);
            if connections
                .get(&connection.peer)
                .is_some_and(|c| Arc::ptr_eq(c, connection))
            {
                connections.remove(&connection.peer);
            }
        }
        let ended: Vec<Arc<Process>> = {
            let mut watched = lock(&self.watched);
            let pids: Vec<Pid> = watched
                .iter()
                .filter(|(_, (node, _))| *node == connection.peer)
                .map(|(pid, _)| *pid)
                .collect();
            pids.iter()
                .filter_map(|pid| watched.remove(pid).map(|(_, p)| p))
                .collect()
        };
        for proxy in ended {
            self.end(
                &proxy,
                Exit::Failed(ErrorValue::new(ErrorKind::Unavailable, "noconnection")),
            );
        }
    }

    /// The process `dest` names when it is a destination on another node (or this node's
    /// own name in a remote form); `None` when `dest` is not of a remote form.
    pub fn resolve(&self, dest: &[u8]) -> Option<Result<Arc<Process>, ErrorValue>> {
        if dest.first() == Some(&b'{') {
            let (node, id, serial) = parse_remote(dest)?;
            if node == &*self.name {
                // This node's live processes arrive in their local form; the remote form of
                // this node names an exited process or one of a previous incarnation.
                return Some(Err(not_found(dest)));
            }
            let text = remote_text(node, id, serial);
            let target = Target::Pid { id, serial };
            let node = self.peer_index(node);
            return Some(self.proxy(RemoteDest { node, target }, text, dest));
        }
        let text = std::str::from_utf8(dest).ok()?;
        let (name, node) = text.split_once('@')?;
        if name.is_empty() || !is_node_name(node) || name.chars().count() > 255 {
            return None;
        }
        if node == &*self.name {
            let shared = self.shared.upgrade()?;
            return Some(shared.resolve_dest(name.as_bytes()));
        }
        let target = Target::Name(Arc::from(name));
        let node = self.peer_index(node);
        Some(self.proxy(RemoteDest { node, target }, text.to_string(), dest))
    }

    /// The proxy for `dest`, made when there is none alive.
    fn proxy(
        &self,
        dest: RemoteDest,
        text: String,
        written: &[u8],
    ) -> Result<Arc<Process>, ErrorValue> {
        self.proxy_with_state(dest, text)
            .map(|(process, _)| process)
            .ok_or_else(|| not_found(written))
    }

    /// The proxy for `dest` and its forwarding state, made when there is none alive.
    fn proxy_with_state(
        &self,
        dest: RemoteDest,
        text: String,
    ) -> Option<(Arc<Process>, Arc<links::Proxy>)> {
        let shared = self.shared.upgrade()?;
        let mut proxies = lock(&self.proxies);
        if let Some(entry) = proxies.get(&dest)
            && let (Some(process), Some(forward)) =
                (entry.process.upgrade(), entry.forward.upgrade())
            && !process.is_gone()
        {
            return Some((process, forward));
        }
        let forward = Arc::new(links::Proxy::new(self.me.clone(), dest.clone()));
        let process = shared.proxy_process(Arc::from(text), forward.clone());
        let entry = ProxyEntry {
            process: Arc::downgrade(&process),
            forward: Arc::downgrade(&forward),
        };
        proxies.insert(dest, entry);
        // Proxies live as long as someone holds them (a worker's destination cache, a
        // link); sweep the dead entries whenever the map has doubled.
        let swept = self.swept.load(Ordering::Relaxed) as usize;
        if proxies.len() > 2 * swept.max(1024) {
            proxies.retain(|_, p| p.process.strong_count() > 0);
            self.swept.store(proxies.len() as u32, Ordering::Relaxed);
        }
        Some((process, forward))
    }

    /// Keeps the proxy for `dest` alive: it is in a link or a monitor.
    fn keep(&self, dest: &RemoteDest) {
        let process = lock(&self.proxies)
            .get(dest)
            .and_then(|entry| entry.process.upgrade());
        if let Some(process) = process {
            lock(&self.watched).insert(process.pid, (dest.node, process));
        }
    }

    /// The watched proxy whose local PID is `pid`.
    pub fn watched(&self, pid: Pid) -> Option<Arc<Process>> {
        lock(&self.watched).get(&pid).map(|(_, p)| p.clone())
    }

    /// A new reference of this node.
    fn make_ref(&self) -> eetf::Reference {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        eetf::Reference {
            node: self.atom.clone(),
            id: vec![(n & 0x3_ffff) as u32, (n >> 18) as u32, (n >> 50) as u32],
            creation: self.creation,
        }
    }

    /// A new id for UNLINK_ID.
    fn unlink_id(&self) -> Term {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        Term::from(eetf::BigInteger::from(n))
    }

    /// Queues a control message for node `index` (dialling it when needed).
    fn push(&self, index: u32, message: Message) {
        if let Some(connection) = self.connection(index) {
            let _ = connection.push(message, false);
        }
    }

    /// Sends a message to a process of another node.
    fn send(&self, dest: &RemoteDest, envelope: Envelope) -> Result<(), ErrorValue> {
        let message = term::message_to_term(envelope.topic.as_bytes(), &envelope.payload, self)?;
        let from = envelope.from.map(|s| self.sender_pid(s));
        let control = match &dest.target {
            Target::Pid { id, serial } => {
                let to = self.pid_term(dest.node, *id, *serial);
                match from {
                    Some(from) => Message::send_sender(from, to, message),
                    None => Message::send(to, message),
                }
            }
            Target::Name(name) => Message::reg_send(
                from.unwrap_or_else(|| self.own_pid(Pid(0))),
                Atom::from(&**name),
                message,
            ),
        };
        match self.connection(dest.node) {
            Some(connection) => connection.push(control, true),
            None => Ok(()),
        }
    }

    /// A control message from `connection`'s peer.
    fn incoming(&self, connection: &Connection, message: Message) {
        tracing::trace!(target: "moonweave", "from node {}: {message:?}", connection.peer_name);
        let Some(message) = self.incoming_watch(connection.peer, message) else {
            return;
        };
        match message {
            Message::Send(m) => self.deliver(None, Some(&m.to_pid), None, m.message),
            Message::SendTt(m) => self.deliver(None, Some(&m.to_pid), None, m.message),
            Message::SendSender(m) => {
                self.deliver(Some(&m.from_pid), Some(&m.to_pid), None, m.message)
            }
            Message::SendSenderTt(m) => {
                self.deliver(Some(&m.from_pid), Some(&m.to_pid), None, m.message)
            }
            Message::RegSend(m) => {
                self.deliver(Some(&m.from_pid), None, Some(&m.to_name), m.message)
            }
            Message::RegSendTt(m) => {
                self.deliver(Some(&m.from_pid), None, Some(&m.to_name), m.message)
            }
            Message::SpawnRequest(m) => self.refuse_spawn(connection.peer, m.req_id, m.from_pid),
            Message::SpawnRequestTt(m) => self.refuse_spawn(connection.peer, m.req_id, m.from_pid),
            other => {
                tracing::warn!(target: "moonweave",
                    "node {}: ignored a control message this node does not implement: {}",
                    connection.peer_name, operation(&other));
            }
        }
    }

    /// Answers a SPAWN_REQUEST with the error `notsup`: a Lua node runs no Erlang functions.
    fn refuse_spawn(&self, peer: u32, request: eetf::Reference, from: eetf::Pid) {
        tracing::warn!(target: "moonweave",
            "node {}: refused a spawn request (a moonweave node spawns no Erlang functions)",
            from.node.name);
        self.push(
            peer,
            Message::spawn_reply(
                request,
                from,
                eetf::FixInteger::from(0),
                erl_dist::term::PidOrAtom::Atom(Atom::from("notsup")),
            ),
        );
    }

    /// Delivers a message from another node to the local process `to` (or the one
    /// registered as `name`); dropped, as Erlang drops it, when there is none.
    fn deliver(
        &self,
        from: Option<&eetf::Pid>,
        to: Option<&eetf::Pid>,
        name: Option<&Atom>,
        message: Term,
    ) {
        let Some(shared) = self.shared.upgrade() else {
            return;
        };
        let target = match (to, name) {
            (Some(pid), _) => self.own_target(&shared, pid),
            (_, Some(name)) => self.registered(&shared, name),
            _ => None,
        };
        let Some(target) = target else {
            tracing::debug!(target: "moonweave", "a message from another node for {to:?}/{name:?} found no process");
            return;
        };
        let sender = from.map(|pid| self.remote_sender(pid));
        let (topic, payload) = term::term_to_message(message, self);
        let delivered =
            shared.deliver_message(&target, target.pid_text.as_bytes(), sender, topic, payload);
        if let Err(e) = delivered {
            tracing::debug!(target: "moonweave", "a message from another node was dropped: {e}");
        }
    }

    /// The live local process a PID term of this node names: its node and creation must be
    /// this node's (a PID of a previous incarnation names no process, as in Erlang).
    fn own_target(&self, shared: &Shared, pid: &eetf::Pid) -> Option<Arc<Process>> {
        if pid.node != self.atom || pid.creation != self.creation {
            return None;
        }
        shared
            .table
            .get(Pid(u64::from(pid.serial) << 32 | u64::from(pid.id)))
            .filter(|p| !p.is_gone() && p.forward().is_none())
    }

    /// The live local process registered as `name`: this node's registry only, so a name
    /// from another node never leads on to a third one.
    fn registered(&self, shared: &Shared, name: &Atom) -> Option<Arc<Process>> {
        shared
            .registry
            .lookup(name.name.as_bytes())
            .and_then(|pid| shared.table.get(pid))
            .filter(|p| !p.is_gone() && p.forward().is_none())
    }

    /// The sender of a message from another node.
    fn remote_sender(&self, pid: &eetf::Pid) -> Sender {
        if pid.node == self.atom && pid.creation == self.creation {
            let serial = u64::from(pid.serial) << 32 | u64::from(pid.id);
            if let Some(process) = self.shared.upgrade().and_then(|s| s.table.get(Pid(serial))) {
                return Sender {
                    host: process.host as u32,
                    pid: process.pid,
                };
            }
        }
        let node = self.peer_index(&pid.node.name);
        self.learn_creation(node, pid.creation);
        Sender {
            host: REMOTE_SENDER | node,
            pid: Pid(u64::from(pid.serial) << 32 | u64::from(pid.id)),
        }
    }
}

impl PidCodec for Node {
    fn encode_pid(&self, text: &[u8]) -> Option<eetf::Pid> {
        if let Some(parsed) = std::str::from_utf8(text)
            .ok()
            .and_then(crate::proc::pid::parse)
        {
            let shared = self.shared.upgrade()?;
            if !shared.has_host(parsed.host) {
                return None;
            }
            return Some(self.own_pid(parsed.pid));
        }
        let (node, id, serial) = parse_remote(text)?;
        if node == &*self.name {
            return Some(self.own_pid(Pid(u64::from(serial) << 32 | u64::from(id))));
        }
        Some(self.pid_term(self.peer_index(node), id, serial))
    }

    fn decode_pid(&self, pid: &eetf::Pid) -> String {
        if pid.node == self.atom && pid.creation == self.creation {
            let serial = u64::from(pid.serial) << 32 | u64::from(pid.id);
            if let Some(process) = self.shared.upgrade().and_then(|s| s.table.get(Pid(serial))) {
                return process.pid_text.to_string();
            }
        } else {
            let node = self.peer_index(&pid.node.name);
            self.learn_creation(node, pid.creation);
        }
        remote_text(&pid.node.name, pid.id, pid.serial)
    }
}

/// The name of a control message's operation, for log lines.
fn operation(message: &Message) -> String {
    let debug = format!("{message:?}");
    debug
        .split(['(', ' ', '{'])
        .next()
        .unwrap_or_default()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_pid_texts_parse_and_format() {
        let text = remote_text("beam1@host", 123, 4);
        assert_eq!(text, "{beam1@host|<0.123.4>}");
        assert_eq!(parse_remote(text.as_bytes()), Some(("beam1@host", 123, 4)));
        for bad in [
            "{beam1@host|<1.2.3>}",
            "{beam1|<0.2.3>}",
            "{beam1@host|<0.2>}",
            "{beam1@host|<0.2.3.4>}",
            "{beam1@host|<0.x.3>}",
            "{app:processes|0x0001f}",
        ] {
            assert_eq!(parse_remote(bad.as_bytes()), None, "{bad}");
        }
    }
}
