//! Monitors, links and exit signals across nodes, both ways.
//!
//! A local process watching a remote one watches its proxy (`Proxy`): the local halves
//! (the proxy's watcher set, the watcher's own state) are the ones every process has, and the
//! proxy tells the remote node (MONITOR_P, LINK, ...). When the remote process exits, the first
//! EXIT or MONITOR_P_EXIT about it ends the proxy, and every local watcher hears of it as of
//! any exit; when the connection is lost, every watched proxy of that node ends with
//! `UNAVAILABLE` `noconnection`.
//!
//! A remote process watching a local one is its proxy watching the local process: the local
//! process's exit reaches the proxy as it reaches any watcher, and the proxy sends the
//! EXIT or MONITOR_P_EXIT with the reference the remote node chose.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use eetf::{Atom, Term};
use erl_dist::message::Message;
use erl_dist::term::PidOrAtom;

use super::{Node, RemoteDest, Target, lock, term};
use crate::error::{ErrorKind, ErrorValue};
use crate::proc::{Envelope, Exit, Forward, Pid, Process, Signal, Watch};

/// What a process of another node stands for here: where its signals go.
pub struct Proxy {
    pub(super) node: Weak<Node>,
    pub(super) dest: RemoteDest,
    state: Mutex<ProxyState>,
}

#[derive(Default)]
struct ProxyState {
    /// Local processes monitoring the remote one: the reference each MONITOR_P carried.
    monitoring: HashMap<Pid, eetf::Reference>,
    /// Local processes the remote one monitors: the references it chose and how it named
    /// the target (a PID, or the name it monitored).
    monitored: HashMap<Pid, Vec<(eetf::Reference, PidOrAtom)>>,
}

impl Proxy {
    pub(super) fn new(node: Weak<Node>, dest: RemoteDest) -> Proxy {
        Proxy {
            node,
            dest,
            state: Mutex::default(),
        }
    }

    /// Whether no monitor runs either way (links are in the proxy's watcher set).
    fn is_idle(&self) -> bool {
        let state = lock(&self.state);
        state.monitoring.is_empty() && state.monitored.is_empty()
    }
}

impl Node {
    /// Lets go of `proxy` once nothing links or monitors across it any more.
    fn release(&self, proxy: &Process, state: &Proxy) {
        // Under the lock `keep` takes after a watch is recorded: a watch added concurrently
        // is either seen here or keeps the proxy again after this.
        let mut watched = lock(&self.watched);
        if proxy.watchers.is_idle() && state.is_idle() {
            watched.remove(&proxy.pid);
        }
    }
}

/// The reason term an exit becomes on the wire: `normal`, or the error as
/// `{moonweave_error, KIND, <<message>>}`.
fn reason_term(exit: &Exit, node: &Node) -> Term {
    match exit {
        Exit::Normal(_) => Term::from(Atom::from("normal")),
        Exit::Failed(error) => term::to_term(
            &crate::value::Value::Error(Box::new(error.clone())),
            node,
            0,
        )
        .unwrap_or_else(|_| Term::from(Atom::from("error"))),
    }
}

/// The exit an exit reason from another node stands for (docs: "Failures").
pub(super) fn reason_exit(reason: Term, node: &Node) -> Exit {
    let text = match &reason {
        Term::Atom(atom) => atom.name.clone(),
        other => other.to_string(),
    };
    let error = |kind, message: &str| Exit::Failed(ErrorValue::new(kind, message.to_string()));
    match text.as_str() {
        "normal" => Exit::Normal(crate::value::Value::Nil),
        "noconnection" => error(ErrorKind::Unavailable, "noconnection"),
        "noproc" => error(ErrorKind::NotFound, "noproc"),
        "killed" | "kill" => error(ErrorKind::Canceled, "killed"),
        _ => match term::from_term(reason, node, 0) {
            crate::value::Value::Error(error) => Exit::Failed(*error),
            _ => error(ErrorKind::Unknown, &text),
        },
    }
}

impl Forward for Proxy {
    fn message(&self, _proxy: &Process, envelope: Envelope) -> Result<(), ErrorValue> {
        match self.node.upgrade() {
            Some(node) => node.send(&self.dest, envelope),
            None => Ok(()),
        }
    }

    fn signal(&self, proxy: &Process, signal: Signal) {
        let Some(node) = self.node.upgrade() else {
            return;
        };
        let to = match &self.dest.target {
            Target::Pid { id, serial } => Some(node.pid_term(self.dest.node, *id, *serial)),
            Target::Name(_) => None,
        };
        match signal {
            Signal::Message(envelope) => {
                let _ = node.send(&self.dest, envelope);
            }
            // `terminate` and `cancel` of a remote process: exit signals `kill` and
            // `shutdown` from nobody in particular (Erlang's exit/2).
            Signal::Kill(_) | Signal::Cancel { .. } => {
                let reason = match signal {
                    Signal::Kill(_) => "kill",
                    _ => "shutdown",
                };
                let from = match &signal {
                    Signal::Cancel { from, .. } => {
                        term::PidCodec::encode_pid(&*node, from.as_bytes())
                    }
                    _ => None,
                };
                if let Some(to) = to {
                    let from = from.unwrap_or_else(|| node.own_pid(Pid(0)));
                    node.push(
                        self.dest.node,
                        Message::exit2(from, to, Term::from(Atom::from(reason))),
                    );
                }
            }
            // A local process the remote one monitors exited.
            Signal::Exit { pid, exit, .. } => {
                let references = lock(&self.state).monitored.remove(&pid);
                if let (Some(to), Some(references)) = (to, references) {
                    let reason = reason_term(&exit, &node);
                    for (reference, target) in references {
                        node.push(
                            self.dest.node,
                            Message::monitor_p_exit(target, to.clone(), reference, reason.clone()),
                        );
                    }
                }
                node.release(proxy, self);
            }
            // A local process linked with the remote one exited.
            Signal::LinkDown { pid, .. } | Signal::LinkGone { pid }
                if proxy.watchers.take_link(pid) =>
            {
                let reason = match &signal {
                    Signal::LinkDown { exit, .. } => reason_term(exit, &node),
                    _ => Term::from(Atom::from("normal")),
                };
                if let Some(to) = to {
                    node.push(self.dest.node, Message::exit(node.own_pid(pid), to, reason));
                }
                node.release(proxy, self);
            }
            _ => {}
        }
    }

    fn watch(&self, proxy: &Process, watcher: &Process, change: Watch) -> Result<(), ErrorValue> {
        let Some(node) = self.node.upgrade() else {
            return Ok(());
        };
        let from = node.own_pid(watcher.pid);
        let target = match &self.dest.target {
            Target::Pid { id, serial } => {
                PidOrAtom::Pid(node.pid_term(self.dest.node, *id, *serial))
            }
            Target::Name(name) => PidOrAtom::Atom(Atom::from(&**name)),
        };
        let message = match change {
            Watch::Monitor => {
                node.keep(&self.dest);
                let reference = node.make_ref();
                lock(&self.state)
                    .monitoring
                    .insert(watcher.pid, reference.clone());
                Message::monitor_p(from, target, reference)
            }
            Watch::Unmonitor => match lock(&self.state).monitoring.remove(&watcher.pid) {
                Some(reference) => Message::demonitor_p(from, target, reference),
                None => return Ok(()),
            },
            Watch::Link | Watch::Unlink => {
                let PidOrAtom::Pid(to) = target else {
                    return Err(ErrorValue::new(
                        ErrorKind::Invalid,
                        "link: a process of another node is linked by its PID, not by a name",
                    ));
                };
                if change == Watch::Link {
                    node.keep(&self.dest);
                    Message::link(from, to)
                } else {
                    Message::unlink_id(node.unlink_id(), from, to)
                }
            }
        };
        node.push(self.dest.node, message);
        if matches!(change, Watch::Unmonitor | Watch::Unlink) {
            node.release(proxy, self);
        }
        Ok(())
    }
}

impl Node {
    /// The local process a control message names: by PID of this node, or by name.
    fn local_target(&self, target: &PidOrAtom) -> Option<Arc<Process>> {
        let shared = self.shared.upgrade()?;
        match target {
            PidOrAtom::Pid(pid) => self.own_target(&shared, pid),
            PidOrAtom::Atom(name) => self.registered(&shared, name),
        }
    }

    /// The proxy of the remote process `pid` and its state, kept while it watches or is
    /// watched.
    fn remote_proxy_of(&self, pid: &eetf::Pid) -> Option<(Arc<Process>, Arc<Proxy>)> {
        let node = self.peer_index(&pid.node.name);
        self.learn_creation(node, pid.creation);
        let dest = RemoteDest {
            node,
            target: Target::Pid {
                id: pid.id,
                serial: pid.serial,
            },
        };
        let text = super::remote_text(&pid.node.name, pid.id, pid.serial);
        let found = self.proxy_with_state(dest.clone(), text)?;
        self.keep(&dest);
        Some(found)
    }

    /// Handles a control message about links, monitors or exits; gives back any other.
    pub(super) fn incoming_watch(&self, peer: u32, message: Message) -> Option<Message> {
        match message {
            Message::Link(m) => self.linked_by(&m.from_pid, &m.to_pid),
            Message::UnlinkId(m) => {
                self.unlinked_by(&m.from_pid, &m.to_pid);
                self.push(peer, Message::unlink_id_ack(m.id, m.to_pid, m.from_pid));
            }
            Message::Unlink(m) => self.unlinked_by(&m.from_pid, &m.to_pid),
            Message::UnlinkIdAck(_) => {}
            Message::Exit(m) => self.remote_exited(peer, &PidOrAtom::Pid(m.from_pid), m.reason),
            Message::ExitTt(m) => self.remote_exited(peer, &PidOrAtom::Pid(m.from_pid), m.reason),
            Message::PayloadExit(m) => {
                self.remote_exited(peer, &PidOrAtom::Pid(m.from_pid), m.reason)
            }
            Message::PayloadExitTt(m) => {
                self.remote_exited(peer, &PidOrAtom::Pid(m.from_pid), m.reason)
            }
            Message::MonitorPExit(m) => self.remote_exited(peer, &m.from_proc, m.reason),
            Message::PayloadMonitorPExit(m) => self.remote_exited(peer, &m.from_proc, m.reason),
            Message::Exit2(m) => self.exit_signal(&m.from_pid, &m.to_pid, m.reason),
            Message::Exit2Tt(m) => self.exit_signal(&m.from_pid, &m.to_pid, m.reason),
            Message::PayloadExit2(m) => self.exit_signal(&m.from_pid, &m.to_pid, m.reason),
            Message::PayloadExit2Tt(m) => self.exit_signal(&m.from_pid, &m.to_pid, m.reason),
            Message::MonitorP(m) => self.monitored_by(&m.from_pid, m.to_proc, m.reference),
            Message::DemonitorP(m) => self.demonitored_by(&m.from_pid, &m.to_proc, &m.reference),
            other => return Some(other),
        }
        None
    }

    /// LINK from the remote `from` to the local `to`.
    fn linked_by(&self, from: &eetf::Pid, to: &eetf::Pid) {
        let target = self.local_target(&PidOrAtom::Pid(to.clone()));
        let proxy = self.remote_proxy_of(from);
        let linked = match (&target, &proxy) {
            (Some(target), Some((proxy, _))) => crate::proc::watchers::link(
                &proxy.watchers,
                proxy.pid,
                &target.watchers,
                target.pid,
            ),
            _ => false,
        };
        if let Some((proxy, state)) = &proxy {
            self.release(proxy, state);
        }
        if !linked {
            let peer = self.peer_index(&from.node.name);
            self.push(
                peer,
                Message::exit(to.clone(), from.clone(), Term::from(Atom::from("noproc"))),
            );
        }
    }

    /// UNLINK from the remote `from` to the local `to`.
    fn unlinked_by(&self, from: &eetf::Pid, to: &eetf::Pid) {
        let (Some(target), Some((proxy, state))) = (
            self.local_target(&PidOrAtom::Pid(to.clone())),
            self.remote_proxy_of(from),
        ) else {
            return;
        };
        proxy.watchers.remove_link(target.pid);
        target.watchers.remove_link(proxy.pid);
        self.release(&proxy, &state);
    }

    /// MONITOR_P from the remote `from` of the local `target`.
    fn monitored_by(&self, from: &eetf::Pid, target: PidOrAtom, reference: eetf::Reference) {
        let local = self.local_target(&target);
        let proxy = self.remote_proxy_of(from);
        if let (Some(local), Some((proxy, state))) = (&local, &proxy)
            && local.watchers.add_monitor(proxy.pid)
        {
            lock(&state.state)
                .monitored
                .entry(local.pid)
                .or_default()
                .push((reference, target));
            return;
        }
        if let Some((proxy, state)) = &proxy {
            self.release(proxy, state);
        }
        let peer = self.peer_index(&from.node.name);
        self.push(
            peer,
            Message::monitor_p_exit(
                target,
                from.clone(),
                reference,
                Term::from(Atom::from("noproc")),
            ),
        );
    }

    /// DEMONITOR_P from the remote `from`.
    fn demonitored_by(&self, from: &eetf::Pid, target: &PidOrAtom, reference: &eetf::Reference) {
        let (Some(local), Some((proxy, forward))) =
            (self.local_target(target), self.remote_proxy_of(from))
        else {
            return;
        };
        let mut state = lock(&forward.state);
        if let Some(references) = state.monitored.get_mut(&local.pid) {
            references.retain(|(r, _)| r != reference);
            if references.is_empty() {
                state.monitored.remove(&local.pid);
                local.watchers.remove_monitor(proxy.pid);
            }
        }
        drop(state);
        self.release(&proxy, &forward);
    }

    /// The remote process `from` exited (EXIT of a link, MONITOR_P_EXIT of a monitor): its
    /// proxy ends with the reason, which every local watcher hears.
    fn remote_exited(&self, peer: u32, from: &PidOrAtom, reason: Term) {
        let dest = match from {
            PidOrAtom::Pid(pid) => RemoteDest {
                node: self.peer_index(&pid.node.name),
                target: Target::Pid {
                    id: pid.id,
                    serial: pid.serial,
                },
            },
            // A monitor by name, on the connection's node.
            PidOrAtom::Atom(name) => RemoteDest {
                node: peer,
                target: Target::Name(Arc::from(name.name.as_str())),
            },
        };
        let Some(proxy) = lock(&self.proxies)
            .get(&dest)
            .and_then(|entry| entry.process.upgrade())
        else {
            return;
        };
        let exit = reason_exit(reason, self);
        self.end(&proxy, exit);
    }

    /// EXIT2 (Erlang's `exit/2`) to the local `to`: `kill` terminates it, `normal` does
    /// nothing, any other reason is a CANCEL.
    fn exit_signal(&self, from: &eetf::Pid, to: &eetf::Pid, reason: Term) {
        let Some(shared) = self.shared.upgrade() else {
            return;
        };
        let Some(target) = self.local_target(&PidOrAtom::Pid(to.clone())) else {
            return;
        };
        match &reason {
            Term::Atom(atom) if atom.name == "normal" => {}
            Term::Atom(atom) if atom.name == "kill" => {
                shared.terminate_outside(&target);
            }
            _ => shared.deliver_remote(
                &target,
                Signal::Cancel {
                    from: Arc::from(term::PidCodec::decode_pid(self, from)),
                    deadline: None,
                },
            ),
        }
    }

    /// Ends `proxy` with `exit` and forgets it.
    pub(super) fn end(&self, proxy: &Arc<Process>, exit: Exit) {
        lock(&self.watched).remove(&proxy.pid);
        if let Some(shared) = self.shared.upgrade() {
            shared.end_proxy(proxy, exit);
        }
    }
}
