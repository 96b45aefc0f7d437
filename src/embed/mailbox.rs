//! `Mailbox` (embedding.md §3): a process whose code is Rust. It has a PID, a mailbox, links
//! and monitors like a Lua process and is reached by the same signals; its owner receives
//! them on any thread, blocking or awaiting.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use super::{Dest, Pid};
use crate::error::{ErrorKind, ErrorValue};
use crate::proc::{self, Exit, Process, Signal, Taken};
use crate::sched::Shared;
use crate::value::{Payload, Value};

/// What a Rust process receives: a message or a lifecycle event (process.md §5).
#[derive(Debug, Clone, PartialEq)]
pub enum Received {
    /// A message.
    Message(Message),
    /// A monitored process exited: `Ok` with its first return value, or `Err` with its error.
    Exit {
        /// The process that exited.
        from: Pid,
        /// How it exited.
        result: Result<Value, ErrorValue>,
    },
    /// A linked process failed. A Rust process always traps links: this never ends it.
    LinkDown {
        /// The process that failed.
        from: Pid,
        /// Its error.
        error: ErrorValue,
    },
    /// Someone asks this process to stop before `deadline` (past it, the runtime ends the
    /// process at its next receive, or at shutdown). A CANCEL without a deadline carries one
    /// a hundred years away.
    Cancel {
        /// Who asks (`{runtime|0x00000}` at shutdown and for `Handle::cancel`).
        from: Pid,
        /// When the runtime ends the process if it has not exited.
        deadline: SystemTime,
    },
}

/// A message as a Rust process receives it.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    topic: String,
    from: Option<Pid>,
    payload: Payload,
}

impl Message {
    /// Its topic (bytes that are not UTF-8 are replaced, as `String::from_utf8_lossy` does).
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The sender's PID; `None` when no process sent it (a `Handle`).
    pub fn from(&self) -> Option<&Pid> {
        self.from.as_ref()
    }

    /// The first payload value; `Value::Nil` when there is none.
    pub fn payload(&self) -> &Value {
        self.payload.as_slice().first().unwrap_or(&Value::Nil)
    }

    /// Every payload value, in order.
    pub fn payloads(&self) -> &[Value] {
        self.payload.as_slice()
    }
}

/// A process whose code is Rust: made by [`Handle::mailbox`](crate::Handle::mailbox), owned
/// by this value (`Send`, not `Clone`). Dropping it ends the process normally.
///
/// ```
/// use moonweave::{Runtime, Received};
/// let runtime = Runtime::builder()
///     .app_file("main.lua", "return function(to) process.send(to, 'hello', 'from Lua') end")
///     .build()
///     .unwrap();
/// let handle = runtime.handle();
/// let mut mailbox = handle.mailbox().unwrap();
/// handle.spawn("app:main", (mailbox.pid().to_string(),)).unwrap();
/// match mailbox.recv() {
///     Some(Received::Message(msg)) => {
///         assert_eq!(msg.topic(), "hello");
///         assert_eq!(msg.payload().as_str(), Some("from Lua"));
///     }
///     other => panic!("{other:?}"),
/// }
/// ```
pub struct Mailbox {
    shared: Arc<Shared>,
    process: Arc<Process>,
    pid: Pid,
    /// Processes it monitors: an EXIT from another (after `unmonitor`) is dropped.
    monitoring: HashSet<proc::Pid>,
    /// The earliest cancel deadline received.
    deadline: Option<Instant>,
    /// Whether messages are counted against the host's `mailbox_limit`.
    counted: bool,
}

impl std::fmt::Debug for Mailbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailbox").field("pid", &self.pid).finish()
    }
}

impl Mailbox {
    pub(crate) fn new(shared: Arc<Shared>) -> Result<Mailbox, ErrorValue> {
        let process = shared.spawn_native()?;
        let counted = shared.hosts[process.host].config.mailbox_limit > 0;
        Ok(Mailbox {
            pid: Pid::from_runtime(process.pid_text.clone()),
            shared,
            process,
            monitoring: HashSet::new(),
            deadline: None,
            counted,
        })
    }

    fn inbox(&self) -> &proc::NativeInbox {
        self.process
            .native
            .as_deref()
            .expect("a Mailbox's process is native")
    }

    /// Its PID.
    pub fn pid(&self) -> &Pid {
        &self.pid
    }

    /// Sends a message from this process (`msg:from()` is its PID).
    pub fn send(
        &self,
        dest: impl Into<Dest>,
        topic: &str,
        payload: impl Into<Value>,
    ) -> Result<(), ErrorValue> {
        let dest = dest.into();
        self.shared.send_value(
            Some(&self.process),
            dest.as_bytes(),
            topic.as_bytes(),
            payload.into(),
        )
    }

    /// The next message or event, blocking the calling thread; `None` once the process has
    /// ended (the runtime stopped, it was terminated, or its cancel deadline passed).
    pub fn recv(&mut self) -> Option<Received> {
        self.receive(None)
    }

    /// As [`Mailbox::recv`], waiting at most `timeout`; `None` also when it passed.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Option<Received> {
        // A timeout beyond the clock's range is no timeout.
        self.receive(Instant::now().checked_add(timeout))
    }

    /// The next message or event if one is there; never blocks.
    pub fn try_recv(&mut self) -> Option<Received> {
        loop {
            if self.deadline_passed() {
                return None;
            }
            match self.inbox().try_take() {
                Taken::Signal(signal) => match self.sort(signal) {
                    Some(received) => return Some(received),
                    None => continue,
                },
                Taken::Empty | Taken::Closed => return None,
            }
        }
    }

    /// As [`Mailbox::recv`], awaitable from any executor without blocking a thread.
    pub fn recv_async(&mut self) -> impl Future<Output = Option<Received>> + Send + '_ {
        Recv { mailbox: self }
    }

    fn receive(&mut self, until: Option<Instant>) -> Option<Received> {
        loop {
            if self.deadline_passed() {
                return None;
            }
            // Wake at the cancel deadline to enforce it.
            let wake = match (until, self.deadline) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            match self.inbox().take(wake) {
                Taken::Signal(signal) => {
                    if let Some(received) = self.sort(signal) {
                        return Some(received);
                    }
                }
                Taken::Closed => return None,
                Taken::Empty if until.is_some_and(|u| Instant::now() >= u) => return None,
                Taken::Empty => {}
            }
        }
    }

    /// Ends the process when its cancel deadline has passed; whether it has.
    fn deadline_passed(&self) -> bool {
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            self.shared.exit_native(
                &self.process,
                Exit::Failed(crate::sched::deadline_exceeded()),
            );
            return true;
        }
        false
    }

    /// What the owner sees of `signal`, as a Lua process would (an EXIT of a process no
    /// longer monitored is dropped, and so on).
    fn sort(&mut self, signal: Signal) -> Option<Received> {
        match signal {
            Signal::Message(envelope) => {
                if self.counted {
                    self.process.release_message();
                }
                Some(Received::Message(Message {
                    topic: envelope.topic.to_string_lossy().into_owned(),
                    from: envelope
                        .from
                        .map(|s| Pid::from_runtime(self.shared.sender_text(s))),
                    payload: envelope.payload,
                }))
            }
            Signal::Exit { from, pid, exit } => {
                if !self.monitoring.remove(&pid) {
                    return None;
                }
                let result = match &*exit {
                    Exit::Normal(value) => Ok(value.clone()),
                    Exit::Failed(error) => Err(error.clone()),
                };
                Some(Received::Exit {
                    from: Pid::from_runtime(from),
                    result,
                })
            }
            Signal::LinkDown { from, pid, exit } => {
                // The shared link set knows links either side made; `unlink` removed it.
                if !self.process.watchers.take_link(pid) {
                    return None;
                }
                let error = match &*exit {
                    Exit::Failed(error) => error.clone(),
                    Exit::Normal(_) => ErrorValue::new(ErrorKind::Unknown, "linked process failed"),
                };
                Some(Received::LinkDown {
                    from: Pid::from_runtime(from),
                    error,
                })
            }
            Signal::LinkGone { pid } => {
                self.process.watchers.remove_link(pid);
                None
            }
            Signal::Cancel { from, deadline } => {
                if let Some(d) = deadline {
                    self.deadline = Some(self.deadline.map_or(d.at, |old| old.min(d.at)));
                }
                let wall = deadline.map(|d| d.wall).unwrap_or_else(|| {
                    SystemTime::now() + Duration::from_secs(100 * 365 * 24 * 3600)
                });
                Some(Received::Cancel {
                    from: Pid::from_runtime(from),
                    deadline: wall,
                })
            }
            Signal::Kill(_) | Signal::Wake => None,
        }
    }

    /// Monitors `pid`: its exit arrives as [`Received::Exit`]. `ALREADY_EXISTS` when it is
    /// monitored already; `NOT_FOUND` when it is not alive. Monitoring itself does nothing.
    pub fn monitor(&mut self, pid: &Pid) -> Result<(), ErrorValue> {
        let target = self.shared.resolve_dest(pid.as_str().as_bytes())?;
        if self.monitoring.contains(&target.pid) {
            return Err(ErrorValue::new(
                ErrorKind::AlreadyExists,
                format!("{pid} is already monitored"),
            ));
        }
        if self
            .shared
            .monitor_from(&self.process, pid.as_str().as_bytes())?
        {
            self.monitoring.insert(target.pid);
        }
        Ok(())
    }

    /// Stops monitoring `pid` (an EXIT already queued is dropped); idempotent.
    pub fn unmonitor(&mut self, pid: &Pid) -> Result<(), ErrorValue> {
        if let Some(proxy) = self.shared.remote_proxy(pid.as_str().as_bytes()) {
            proxy.watchers.remove_monitor(self.process.pid);
            self.monitoring.remove(&proxy.pid);
            if let Some(forward) = proxy.forward() {
                forward.watch(&proxy, &self.process, proc::Watch::Unmonitor)?;
            }
            return Ok(());
        }
        let id = parse_pid(pid)?;
        if let Some(target) = self.shared.table.get(id) {
            target.watchers.remove_monitor(self.process.pid);
        }
        self.monitoring.remove(&id);
        Ok(())
    }

    /// Links with `pid`: its failure arrives as [`Received::LinkDown`], and this process's
    /// `exit(Err(…))` reaches it. `NOT_FOUND` when it is not alive.
    pub fn link(&mut self, pid: &Pid) -> Result<(), ErrorValue> {
        self.shared
            .link_from(&self.process, pid.as_str().as_bytes())?;
        Ok(())
    }

    /// Removes the link with `pid` (a LINK_DOWN already queued is dropped); idempotent.
    pub fn unlink(&mut self, pid: &Pid) -> Result<(), ErrorValue> {
        if let Some(proxy) = self.shared.remote_proxy(pid.as_str().as_bytes()) {
            proxy.watchers.remove_link(self.process.pid);
            self.process.watchers.remove_link(proxy.pid);
            if let Some(forward) = proxy.forward() {
                forward.watch(&proxy, &self.process, proc::Watch::Unlink)?;
            }
            return Ok(());
        }
        let id = parse_pid(pid)?;
        if let Some(target) = self.shared.table.get(id) {
            target.watchers.remove_link(self.process.pid);
        }
        self.process.watchers.remove_link(id);
        Ok(())
    }

    /// Registers this process's PID as `name` (released when it ends).
    pub fn register(&self, name: &str) -> Result<(), ErrorValue> {
        self.shared.register_as(&self.process, name.as_bytes())
    }

    /// Ends the process with `result`: monitors receive EXIT with it; on `Err`, linked
    /// processes receive LINK_DOWN.
    pub fn exit(self, result: Result<Value, ErrorValue>) {
        let exit = match result {
            Ok(value) => Exit::Normal(value),
            Err(error) => Exit::Failed(error),
        };
        self.shared.exit_native(&self.process, exit);
    }
}

fn parse_pid(pid: &Pid) -> Result<proc::Pid, ErrorValue> {
    proc::pid::parse(pid.as_str())
        .map(|p| p.pid)
        .ok_or_else(|| ErrorValue::new(ErrorKind::Invalid, format!("'{pid}' is not a PID")))
}

impl Drop for Mailbox {
    /// A normal exit (EXIT with `nil`), unless the process ended already.
    fn drop(&mut self) {
        self.shared
            .exit_native(&self.process, Exit::Normal(Value::Nil));
    }
}

/// The future of [`Mailbox::recv_async`].
struct Recv<'a> {
    mailbox: &'a mut Mailbox,
}

impl Future for Recv<'_> {
    type Output = Option<Received>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Received>> {
        let mailbox = &mut *self.mailbox;
        loop {
            if mailbox.deadline_passed() {
                return Poll::Ready(None);
            }
            match mailbox.inbox().poll_take(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Taken::Signal(signal)) => {
                    if let Some(received) = mailbox.sort(signal) {
                        return Poll::Ready(Some(received));
                    }
                }
                Poll::Ready(_) => return Poll::Ready(None),
            }
        }
    }
}
