//! Processes whose code is Rust (embedding.md §3) and what any thread outside a process can
//! do (the embedding API's `Handle`): sending, resolving, monitoring, linking, registering.
//!
//! A Rust process is an ordinary entry of the process table with watchers and a PID; its
//! signals go to its [`NativeInbox`] instead of a worker. Nothing runs it: its exit is carried
//! out by the thread that ends it (its owner's `exit` or drop, a `terminate`, a passed cancel
//! deadline at shutdown), with the same protocol a worker follows for a Lua process.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{Shared, error};
use crate::bytes::Bytes;
use crate::error::{ErrorKind, ErrorValue};
use crate::proc::{Envelope, Exit, NativeInbox, Pid, Process, Sender, Signal, Watchers, pid};
use crate::value::{Payload, Value};

/// The bit that sets the PIDs of proxies of other nodes' processes apart from those of the
/// process table (which stay below 2^52, see [`pid::GENERATIONS`]).
const PROXY_PIDS: u64 = 1 << 52;

/// The entry id a Rust process's failure is logged with.
pub const NATIVE_ENTRY: &str = "rust";

fn not_found(dest: &[u8]) -> ErrorValue {
    let mut message = b"no process ".to_vec();
    message.extend_from_slice(dest);
    error(ErrorKind::NotFound, message)
}

fn stopped() -> ErrorValue {
    error(ErrorKind::Unavailable, "the runtime is shutting down")
}

/// The error of a cancel deadline that passed.
pub(crate) fn deadline_exceeded() -> ErrorValue {
    error(ErrorKind::Canceled, "cancel deadline exceeded")
}

/// Whether `topic` is one a message may have (process.md §2: not empty, not `@…`).
pub(crate) fn valid_topic(topic: &[u8]) -> bool {
    !topic.is_empty() && topic[0] != b'@'
}

/// After `me` linked `target`: when `target` is a process of another node, its node is told;
/// a link the remote side cannot take (to a name) is undone and its error returned.
pub(crate) fn announce_link(target: &Process, me: &Process) -> Result<(), ErrorValue> {
    let Some(forward) = target.forward() else {
        return Ok(());
    };
    forward
        .watch(target, me, crate::proc::Watch::Link)
        .inspect_err(|_| {
            target.watchers.remove_link(me.pid);
            me.watchers.remove_link(target.pid);
        })
}

impl Shared {
    /// Whether the runtime has begun to shut down (or stopped): no new work is accepted.
    pub(crate) fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire) || self.is_stopping()
    }

    /// The live process `dest` names (a PID text or a registered name), without a cache.
    pub(crate) fn resolve_dest(&self, dest: &[u8]) -> Result<Arc<Process>, ErrorValue> {
        if dest.first() != Some(&b'{') {
            let local = self
                .registry
                .lookup(dest)
                .and_then(|pid| self.table.get(pid))
                .filter(|p| !p.is_gone());
            if local.is_none()
                && let Some(remote) = self.dist.get().and_then(|node| node.resolve(dest))
            {
                return remote;
            }
            return local.ok_or_else(|| {
                let mut message = b"no process is registered as '".to_vec();
                message.extend_from_slice(dest);
                message.push(b'\'');
                error(ErrorKind::NotFound, message)
            });
        }
        if dest == super::RUNTIME_PID.as_bytes() {
            return Err(not_found(dest)); // the runtime's PID accepts no messages
        }
        let Some(parsed) = std::str::from_utf8(dest).ok().and_then(pid::parse) else {
            if let Some(remote) = self.dist.get().and_then(|node| node.resolve(dest)) {
                return remote;
            }
            let mut message = b"malformed PID '".to_vec();
            message.extend_from_slice(dest);
            message.push(b'\'');
            return Err(error(ErrorKind::Invalid, message));
        };
        let host = self
            .host_index(parsed.host)
            .ok_or_else(|| not_found(dest))?;
        self.table
            .get(parsed.pid)
            .filter(|p| p.host == host && !p.is_gone())
            .ok_or_else(|| not_found(dest))
    }

    /// The PID text of the sender of a message.
    pub(crate) fn sender_text(&self, sender: Sender) -> String {
        if sender.host & crate::dist::REMOTE_SENDER != 0 {
            return match self.dist.get() {
                Some(node) => node.sender_text(sender),
                None => "{?}".to_string(),
            };
        }
        match self.hosts.get(sender.host as usize) {
            Some(host) => sender.pid.format(&host.id),
            None => sender.pid.format("?"),
        }
    }

    /// Sends `payload` (a value built in Rust, checked first) from the Rust process `from`, or
    /// from nobody.
    pub(crate) fn send_value(
        &self,
        from: Option<&Process>,
        dest: &[u8],
        topic: &[u8],
        payload: Value,
    ) -> Result<(), ErrorValue> {
        payload.check_copyable()?;
        self.send_outside(from, dest, topic, Payload::One(payload))
    }

    /// Sends a message from outside any Lua process: from the Rust process `from`, or from
    /// nobody.
    pub(crate) fn send_outside(
        &self,
        from: Option<&Process>,
        dest: &[u8],
        topic: &[u8],
        payload: Payload,
    ) -> Result<(), ErrorValue> {
        // During the graceful shutdown messages still flow (as between Lua processes): a
        // process handling its CANCEL may be waiting for an answer.
        if self.is_stopping() {
            return Err(stopped());
        }
        if !valid_topic(topic) {
            return Err(error(
                ErrorKind::Invalid,
                "send: topic must be a non-empty string that does not start with '@'",
            ));
        }
        let target = self.resolve_dest(dest)?;
        let from = from.map(|p| Sender {
            host: p.host as u32,
            pid: p.pid,
        });
        self.deliver_message(&target, dest, from, Bytes::new(topic), payload)
    }

    /// Delivers a message from outside any worker (a Rust process, another node) to the
    /// resolved `target`: the mailbox limit, the count, then the signal.
    pub(crate) fn deliver_message(
        &self,
        target: &Arc<Process>,
        dest: &[u8],
        from: Option<Sender>,
        topic: Bytes,
        payload: Payload,
    ) -> Result<(), ErrorValue> {
        let envelope = Envelope {
            from,
            topic,
            payload,
        };
        if let Some(forward) = target.forward() {
            self.counters
                .messages_outside
                .fetch_add(1, Ordering::Relaxed);
            return forward.message(target, envelope);
        }
        let limit = self.hosts[target.host].config.mailbox_limit as usize;
        if limit > 0 && !target.reserve_message(limit) {
            let mut message = b"the mailbox of ".to_vec();
            message.extend_from_slice(dest);
            message.extend_from_slice(format!(" is full ({limit} messages waiting)").as_bytes());
            return Err(error(ErrorKind::Unavailable, message));
        }
        // Counted first: whoever receives it then sees it counted.
        self.counters
            .messages_outside
            .fetch_add(1, Ordering::Relaxed);
        self.deliver_remote(target, Signal::Message(envelope));
        Ok(())
    }

    /// Creates a Rust process on the default host.
    pub(crate) fn spawn_native(&self) -> Result<Arc<Process>, ErrorValue> {
        if self.is_closing() {
            return Err(stopped());
        }
        let host_id = crate::app::DEFAULT_HOST;
        let host_index = self
            .host_index(host_id)
            .ok_or_else(|| error(ErrorKind::NotFound, format!("no host '{host_id}'")))?;
        let host = &self.hosts[host_index];
        let limited = host.config.max_processes > 0;
        if limited {
            let live = host.live.fetch_add(1, Ordering::AcqRel);
            if live as u64 >= host.config.max_processes {
                host.live.fetch_sub(1, Ordering::AcqRel);
                return Err(error(
                    ErrorKind::Unavailable,
                    format!(
                        "host '{host_id}' is at max_processes ({})",
                        host.config.max_processes
                    ),
                ));
            }
        }
        let Some(pid) = self.table.allocate(None) else {
            if limited {
                host.live.fetch_sub(1, Ordering::AcqRel);
            }
            return Err(error(ErrorKind::Unavailable, "the process table is full"));
        };
        let mut process = Process::new(pid, pid.text(host_id), host_index, Watchers::default());
        process.native = Some(Arc::new(NativeInbox::default()));
        // A Rust process always traps links.
        process
            .traps_links
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let process = Arc::new(process);
        if !self.table.insert(process.clone()) {
            if limited {
                host.live.fetch_sub(1, Ordering::AcqRel);
            }
            return Err(stopped());
        }
        self.counters
            .spawned_outside
            .fetch_add(1, Ordering::Relaxed);
        Ok(process)
    }

    /// A process that stands for one of another node (its PID text `text`): its signals go
    /// to `forward`. It is not in the process table: it lives while someone holds it.
    pub(crate) fn proxy_process(
        &self,
        text: Arc<str>,
        forward: Arc<dyn crate::proc::Forward>,
    ) -> Arc<Process> {
        // Proxies are not in the table: their numbers are above every table PID's.
        let pid = Pid(PROXY_PIDS | self.next_proxy.fetch_add(1, Ordering::Relaxed));
        let host = self.host_index(crate::app::DEFAULT_HOST).unwrap_or(0);
        let mut process = Process::new(pid, text, host, Watchers::default());
        process.native = Some(Arc::new(NativeInbox::forwarding(forward)));
        Arc::new(process)
    }

    /// Whether the app has a host `id`.
    pub(crate) fn has_host(&self, id: &str) -> bool {
        self.host_index(id).is_some()
    }

    /// Hands `signal` to the Rust process `target`: a Kill ends it here and now, anything
    /// else waits in its inbox.
    pub(crate) fn deliver_native(&self, target: &Process, inbox: &NativeInbox, signal: Signal) {
        if let Some(forward) = inbox.forward() {
            forward.signal(target, signal);
            return;
        }
        match signal {
            Signal::Kill(reason) => self.exit_native(target, Exit::Failed(reason)),
            Signal::Wake => {}
            signal => {
                if let Signal::Cancel {
                    deadline: Some(deadline),
                    ..
                } = &signal
                {
                    self.native_deadlines.arm(&self.me, target.pid, deadline.at);
                }
                inbox.push(signal);
            }
        }
    }

    /// Ends the Rust process `process` with `exit` (once; later calls do nothing): its inbox
    /// closes, then the exit protocol runs on this thread.
    pub(crate) fn exit_native(&self, process: &Process, exit: Exit) {
        let Some(inbox) = &process.native else {
            return;
        };
        let Some(farewell) = process.watchers.exit() else {
            return;
        };
        inbox.close();
        drop(inbox.drain());
        self.counters.exited_outside.fetch_add(1, Ordering::Relaxed);
        self.report_exit(
            process,
            NATIVE_ENTRY,
            exit,
            farewell,
            None,
            |pid, signal| {
                if let Some(target) = self.find(pid) {
                    self.deliver_remote(&target, signal);
                }
            },
        );
    }

    /// Ends `proxy` (the remote process it stands for exited, or its node is unreachable):
    /// its local monitors get EXIT and its links LINK_DOWN, as from any exit.
    pub(crate) fn end_proxy(&self, proxy: &Process, exit: Exit) {
        let Some(farewell) = proxy.watchers.exit() else {
            return;
        };
        proxy.set_gone();
        self.notify_watchers(proxy, exit, farewell, |pid, signal| {
            if let Some(target) = self.find(pid) {
                self.deliver_remote(&target, signal);
            }
        });
    }

    /// The live process `pid`: in the table, or a proxy of a remote process someone watches.
    pub(crate) fn find(&self, pid: Pid) -> Option<Arc<Process>> {
        self.table
            .get(pid)
            .or_else(|| self.dist.get().and_then(|node| node.watched(pid)))
    }

    /// A process that exits stops monitoring the remote processes among `monitored` (their
    /// nodes are told, as Erlang demonitors at exit).
    pub(crate) fn forget_remote_monitors(&self, process: &Process, monitored: &[Pid]) {
        let Some(node) = self.dist.get() else {
            return;
        };
        for &pid in monitored {
            if let Some(proxy) = node.watched(pid) {
                proxy.watchers.remove_monitor(process.pid);
                if let Some(forward) = proxy.forward() {
                    let _ = forward.watch(&proxy, process, crate::proc::Watch::Unmonitor);
                }
            }
        }
    }

    /// The proxy `dest` names when it is a process of another node.
    pub(crate) fn remote_proxy(&self, dest: &[u8]) -> Option<Arc<Process>> {
        self.dist
            .get()?
            .resolve(dest)?
            .ok()
            .filter(|p| p.forward().is_some())
    }

    /// `terminate` from outside any process (the embedding API): as
    /// [`Core::terminate_process`](super::Core), delivering the Kill from this thread.
    pub(crate) fn terminate_outside(&self, target: &Arc<Process>) -> bool {
        if let Some(forward) = target.forward() {
            forward.signal(
                target,
                Signal::Kill(error(ErrorKind::Canceled, "terminated")),
            );
            return true;
        }
        let Some(names) = target.watchers.terminate() else {
            return false;
        };
        target.set_gone();
        for name in &names {
            self.registry.release(name, target.pid);
        }
        self.table.remove(target.pid, None);
        self.deliver_remote(
            target,
            Signal::Kill(error(ErrorKind::Canceled, "terminated")),
        );
        true
    }

    /// Ends every Rust process still alive with `error`: when a shutdown's deadline passed
    /// (`cancel deadline exceeded`, as for a Lua process), when the workers stop, or when the
    /// runtime fails. Their owners' receives return `None` from then on.
    pub(crate) fn end_native_processes(&self, error: &ErrorValue) {
        for process in self.table.all() {
            if process.native.is_some() {
                self.exit_native(&process, Exit::Failed(error.clone()));
            }
        }
    }

    /// `monitor` by the Rust process `me`: `Ok(false)` when it monitors itself (nothing to do).
    pub(crate) fn monitor_from(&self, me: &Process, dest: &[u8]) -> Result<bool, ErrorValue> {
        let target = self.resolve_dest(dest)?;
        if target.pid == me.pid {
            return Ok(false);
        }
        if !target.watchers.add_monitor(me.pid) {
            return Err(not_found(dest));
        }
        if let Some(forward) = target.forward() {
            forward.watch(&target, me, crate::proc::Watch::Monitor)?;
        }
        Ok(true)
    }

    /// `link` by the Rust process `me`: `Ok(false)` when it links itself (nothing to do).
    pub(crate) fn link_from(&self, me: &Process, dest: &[u8]) -> Result<bool, ErrorValue> {
        let target = self.resolve_dest(dest)?;
        if target.pid == me.pid {
            return Ok(false);
        }
        if !crate::proc::watchers::link(&me.watchers, me.pid, &target.watchers, target.pid) {
            return Err(not_found(dest));
        }
        announce_link(&target, me)?;
        Ok(true)
    }

    /// Registers `name` for `process` (a Rust process registering itself).
    pub(crate) fn register_as(&self, process: &Process, name: &[u8]) -> Result<(), ErrorValue> {
        if name.is_empty() || name[0] == b'{' {
            return Err(error(
                ErrorKind::Invalid,
                "register: a name must be a non-empty string that does not start with '{'",
            ));
        }
        self.take_name(process, name)
    }

    /// Registers `name` for `process` under its watcher lock (so that an exit cannot slip
    /// between): `ALREADY_EXISTS` when another process holds it, `NOT_FOUND` once `process`
    /// has exited. The checks of the caller (name, permission) come first.
    pub(crate) fn take_name(&self, process: &Process, name: &[u8]) -> Result<(), ErrorValue> {
        let held = process
            .watchers
            .hold_name(name, || self.registry.insert(name, process.pid).is_ok());
        match held {
            Some(true) => Ok(()),
            Some(false) => {
                let mut message = b"the name '".to_vec();
                message.extend_from_slice(name);
                message.extend_from_slice(b"' is registered by another process");
                Err(error(ErrorKind::AlreadyExists, message))
            }
            None => Err(not_found(process.pid_text.as_bytes())),
        }
    }
}
