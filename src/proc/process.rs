//! The shared half of a process: what other threads may touch (its mailbox, its location).
//!
//! The Lua half (coroutine, environment, channels) lives in its owner worker's VM and is never
//! reachable from here.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use super::mailbox::Mailbox;
use super::pid::Pid;
use super::watchers::Watchers;
use crate::value::Value;

/// A message as it sits in a mailbox.
#[derive(Debug)]
pub struct Envelope {
    /// The sender's PID text; `None` when no process sent it.
    pub from: Option<Arc<str>>,
    pub topic: Box<str>,
    pub payload: Vec<Value>,
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
    /// Stop now, with this error (`terminate`).
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
pub type Context = Arc<[(Box<str>, crate::value::Value)]>;

/// A cancel deadline: when it is enforced, and how the CANCEL event shows it.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    pub at: std::time::Instant,
    pub wall: std::time::SystemTime,
}

/// Where a started process lives: worker index and slot in that worker's process slab.
const UNPLACED: u64 = u64::MAX;

/// A process as every thread sees it.
pub struct Process {
    pub pid: Pid,
    /// `{host|0x…}`, formatted once at spawn; shared by every message this process sends.
    pub pid_text: Arc<str>,
    /// Index of the host the process runs on.
    pub host: usize,
    pub mailbox: Mailbox<Signal>,
    /// Its monitors, links and names, for its exit.
    pub watchers: Watchers,
    /// `worker << 32 | slot` once a worker has started the process, else `UNPLACED`. Written
    /// once by the owner before the process can first be `WAITING`; the state word's
    /// release/acquire makes it visible to any sender that wins the wake-up CAS.
    location: AtomicU64,
    /// Whether someone outside the runtime waits for this process's exit.
    pub watched: bool,
    /// Messages waiting in the mailbox, counted only on hosts with a `mailbox_limit` (the
    /// counter costs two atomic operations per message, which unlimited hosts do not pay).
    waiting: AtomicUsize,
    /// The context values `ctx` reads (stdlib.md §7.2): inherited from the spawner, extended
    /// by `with_context` builders; `None` when empty.
    pub context: Option<Context>,
}

impl Process {
    /// A process that is about to be queued for its first run.
    pub fn new(pid: Pid, pid_text: Arc<str>, host: usize, watchers: Watchers) -> Self {
        Self {
            pid,
            pid_text,
            host,
            mailbox: Mailbox::new(),
            watchers,
            location: AtomicU64::new(UNPLACED),
            watched: false,
            waiting: AtomicUsize::new(0),
            context: None,
        }
    }

    /// Records the worker and slot that run this process.
    pub fn place(&self, worker: usize, slot: u32) {
        self.location
            .store(((worker as u64) << 32) | u64::from(slot), Ordering::Relaxed);
    }

    /// Reserves room for one more message under `limit`; `false` when the mailbox is full.
    pub fn reserve_message(&self, limit: usize) -> bool {
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= limit {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// Gives back the room of a message that was received (or never sent).
    pub fn release_message(&self) {
        self.waiting.fetch_sub(1, Ordering::AcqRel);
    }

    /// The worker and slot of a started process.
    pub fn location(&self) -> Option<(usize, u32)> {
        match self.location.load(Ordering::Relaxed) {
            UNPLACED => None,
            packed => Some(((packed >> 32) as usize, packed as u32)),
        }
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
