//! The shared half of a process: what other threads may touch (its location and pending
//! signals, its watchers, the mailbox counter, the gone flag).
//!
//! Everything else about a running process (its buffers, tasks, channels, timers, the Lua
//! coroutine) belongs to the worker that runs it and is never touched by another thread; see
//! `proc::local`.

use std::sync::Arc;

use crate::sync::{AtomicBool, AtomicU64, AtomicUsize, Mutex, Ordering};

use super::native::NativeInbox;
use super::pid::Pid;
use super::watchers::Watchers;
use crate::bytes::Bytes;
use crate::security::Identity;
use crate::value::{Payload, Value};

/// Who sent a message: the sender's host (an index into the runtime's hosts) and PID. Its text
/// (`{host|0x…}`) is rebuilt by the receiver only when `msg:from()` asks for it, so a message
/// carries no reference count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sender {
    pub host: u32,
    pub pid: Pid,
}

/// A message as it sits in a mailbox.
#[derive(Debug)]
pub struct Envelope {
    /// The sender; `None` when no process sent it.
    pub from: Option<Sender>,
    pub topic: Bytes,
    pub payload: Payload,
}

/// An entry of a mailbox: a message, or a lifecycle event of another process.
#[derive(Debug)]
pub enum Signal {
    Message(Envelope),
    /// A monitored process exited.
    Exit {
        from: Arc<str>,
        pid: Pid,
        exit: Arc<Exit>,
    },
    /// A linked process exited with an error.
    LinkDown {
        from: Arc<str>,
        pid: Pid,
        exit: Arc<Exit>,
    },
    /// A linked process exited normally: the link is gone, nothing else happens.
    LinkGone {
        pid: Pid,
    },
    /// Stop now, with this error (`terminate`, a passed cancel deadline).
    Kill(crate::error::ErrorValue),
    /// `cancel`: asks the process to stop, before `deadline` when there is one.
    Cancel {
        from: Arc<str>,
        deadline: Option<Deadline>,
    },
    /// Something the process waits for outside the runtime (a line of input) is ready: look
    /// again. Carries nothing.
    Wake,
}

/// Context values of a process, in the order they were added.
pub type Context = Arc<[(Bytes, Value)]>;

/// A cancel deadline: when it is enforced, and how the CANCEL event shows it.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    pub at: std::time::Instant,
    pub wall: std::time::SystemTime,
}

impl Deadline {
    /// `after` from now; a duration too large for the clock is a century.
    pub fn after(after: std::time::Duration) -> Deadline {
        let after = after.min(std::time::Duration::from_secs(100 * 365 * 24 * 3600));
        Deadline {
            at: std::time::Instant::now() + after,
            wall: std::time::SystemTime::now() + after,
        }
    }
}

/// `location` of a process that no worker has started yet.
const UNPLACED: u64 = u64::MAX;

/// Where a signal for a process must go; see [`Process::route`].
#[derive(Debug)]
pub enum Route {
    /// The process runs on this worker of its host, in this slot: push the signal to that
    /// worker's inbound queue (or, from the worker itself, straight into the process).
    Placed {
        worker: usize,
        slot: u32,
        signal: Signal,
    },
    /// The process has not started: the signal waits in the process and the worker that
    /// starts it takes it first.
    Pending,
    /// The process's code is Rust: the caller hands the signal to its [`NativeInbox`] (a
    /// Kill ends the process there and then, see `sched::native`).
    Native {
        inbox: Arc<NativeInbox>,
        signal: Signal,
    },
}

/// A process as every thread sees it.
///
/// # Placement
///
/// A process that has not started yet lives in a spawn queue and any worker of its host may
/// take it. Signals sent to it meanwhile wait in `pending`. The worker that starts it calls
/// [`Process::place`], which records the location and takes the pending signals under the same
/// lock; a sender calls [`Process::route`], which reads the location and, only while it is
/// unknown, takes that lock and looks again. So every signal is either among the pending ones
/// the starting worker takes, or routed to the location, exactly once and in the order each
/// sender sent (the loom model `placement.rs` checks this). After the start the lock is never
/// taken again.
pub struct Process {
    pub pid: Pid,
    /// `{host|0x…}`, formatted once at spawn.
    pub pid_text: Arc<str>,
    /// Index of the host the process runs on.
    pub host: usize,
    /// Its monitors, links and names, for its exit.
    pub watchers: Watchers,
    /// `worker << 32 | slot` once a worker has started the process, else `UNPLACED`.
    location: AtomicU64,
    /// Signals sent before the process started.
    pending: Mutex<Vec<Signal>>,
    /// Whether someone outside the runtime waits for this process's exit.
    pub watched: bool,
    /// Set when the process is terminated or exits: from then on sends report `NOT_FOUND`,
    /// also for senders that reach it through a cached reference instead of the table.
    gone: AtomicBool,
    /// Messages waiting in the mailbox, counted only on hosts with a `mailbox_limit` (the
    /// counter costs two atomic operations per message, which unlimited hosts do not pay).
    waiting: AtomicUsize,
    /// The context values `ctx` reads (stdlib.md §7.2): inherited from the spawner, extended
    /// by `with_context` builders; `None` when empty.
    pub context: Option<Context>,
    /// Its actor and scope (security.md §1): inherited from the spawner unless a builder set
    /// them; fixed for the life of the process.
    pub identity: Identity,
    /// Whether its permission checks must be evaluated (it has an actor and a scope, or
    /// strict mode applies); otherwise every check allows without looking.
    pub guarded: bool,
    /// Whether it runs the runtime's supervisor entry (the `supervisor` module's requests
    /// go only to such processes).
    pub supervisor: bool,
    /// The mailbox of a process whose code is Rust; `None` for a Lua process.
    pub native: Option<Arc<NativeInbox>>,
    /// Whether it traps links (a linked failure is an event to it, not its end): copied from
    /// its options for the exit log, which asks whether a failure is handled by someone.
    pub traps_links: AtomicBool,
}

impl std::fmt::Debug for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Process")
            .field("pid", &self.pid_text)
            .field("location", &self.location())
            .field("gone", &self.is_gone())
            .finish()
    }
}

impl Process {
    /// A process that is about to be queued for its first run.
    pub fn new(pid: Pid, pid_text: Arc<str>, host: usize, watchers: Watchers) -> Self {
        Self {
            pid,
            pid_text,
            host,
            watchers,
            location: AtomicU64::new(UNPLACED),
            pending: Mutex::new(Vec::new()),
            watched: false,
            gone: AtomicBool::new(false),
            waiting: AtomicUsize::new(0),
            context: None,
            identity: Identity::default(),
            guarded: false,
            supervisor: false,
            native: None,
            traps_links: AtomicBool::new(false),
        }
    }

    /// Owner only, once: the process starts on `worker` in `slot`. Returns the signals sent
    /// before, oldest first; every later signal is routed to the location.
    pub fn place(&self, worker: usize, slot: u32) -> Vec<Signal> {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        self.location
            .store(((worker as u64) << 32) | u64::from(slot), Ordering::Release);
        std::mem::take(&mut *pending)
    }

    /// Where the signals of a process standing for one of another node go, if it is one.
    pub fn forward(&self) -> Option<&Arc<dyn super::native::Forward>> {
        self.native.as_ref().and_then(|inbox| inbox.forward())
    }

    /// Where `signal` must go: to the worker that runs the process, or into the pending
    /// signals of a process that has not started.
    pub fn route(&self, signal: Signal) -> Route {
        if let Some(inbox) = &self.native {
            return Route::Native {
                inbox: inbox.clone(),
                signal,
            };
        }
        if let Some((worker, slot)) = self.location() {
            return Route::Placed {
                worker,
                slot,
                signal,
            };
        }
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        match self.location() {
            Some((worker, slot)) => Route::Placed {
                worker,
                slot,
                signal,
            },
            None => {
                pending.push(signal);
                Route::Pending
            }
        }
    }

    /// The worker and slot of a started process.
    pub fn location(&self) -> Option<(usize, u32)> {
        match self.location.load(Ordering::Acquire) {
            UNPLACED => None,
            packed => Some(((packed >> 32) as usize, packed as u32)),
        }
    }

    /// Marks the process gone for senders (terminated, or exited).
    pub fn set_gone(&self) {
        self.gone.store(true, Ordering::Release);
    }

    /// Whether the process was terminated or has exited.
    pub fn is_gone(&self) -> bool {
        self.gone.load(Ordering::Acquire)
    }

    /// Counts a message that entered the mailbox without a limit check (messages queued by a
    /// SpawnBuilder before the process runs), so that receiving it balances the count.
    pub fn count_message(&self) {
        self.waiting.fetch_add(1, Ordering::AcqRel);
    }

    /// Reserves room for one more message under `limit`; `false` when the mailbox is full.
    pub fn reserve_message(&self, limit: usize) -> bool {
        self.waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .is_ok()
    }

    /// Gives back the room of a message that was received (or never sent). Never goes below
    /// zero, whatever the caller does.
    pub fn release_message(&self) {
        let _ = self
            .waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }

    #[allow(dead_code)] // for the loom models (loom-tests/)
    /// Messages counted as waiting.
    pub fn waiting_messages(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }
}

/// How a process ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Exit {
    /// It returned; the first return value, copied.
    Normal(Value),
    /// It failed: an error, a bad return, or it was stopped.
    Failed(crate::error::ErrorValue),
}
