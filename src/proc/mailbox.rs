//! A process's mailbox and its state word: how a message wakes a process exactly once.
//!
//! # Protocol
//!
//! A process is in one of four states, kept in one atomic byte together with a `NOTIFIED` bit:
//!
//! * `SCHEDULED`: it sits in a run queue (a spawn deque, a ready queue or an inject queue). A new
//!   process starts here, so messages sent before its first run need no wake-up.
//! * `RUNNING`: its worker is resuming it right now.
//! * `WAITING`: it is parked in a receive with an empty mailbox; nobody holds it in a queue.
//! * `DONE`: it exited; its mailbox accepts nothing any more.
//!
//! A sender first pushes its message, then looks at the state:
//!
//! * `WAITING` → CAS to `SCHEDULED`. The sender that wins the CAS, and only that sender, must put
//!   the process on its owner's run queue ([`Push::Wake`]). A process is therefore never queued
//!   twice: only a `WAITING` process can be scheduled, and only by one CAS.
//! * `RUNNING` → set `NOTIFIED`. The owner clears the bit when it tries to park the process
//!   ([`Mailbox::park`]); finding it set, it resumes the process to look at the mailbox again
//!   instead of parking. This closes the window between "the receive found the mailbox empty" and
//!   "the process is `WAITING`": no wake-up is lost.
//! * `SCHEDULED`: the process will run and will see the message; nothing to do.
//! * `DONE`: the message will never be read ([`Push::Closed`]).
//!
//! Per-sender FIFO order comes from the queue, which is linearizable. The owner is the only
//! consumer: it pops while `RUNNING`, and it alone moves the state out of `SCHEDULED` and
//! `RUNNING`. The loom models in `loom-tests/` check these claims.

use crate::sync::{AtomicU8, Ordering, Queue};

const WAITING: u8 = 0;
const SCHEDULED: u8 = 1;
const RUNNING: u8 = 2;
const DONE: u8 = 3;
const STATE_MASK: u8 = 0b011;
const NOTIFIED: u8 = 0b100;

/// What a sender must do after [`Mailbox::push`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Push {
    /// The message is queued; the process will see it without help.
    Delivered,
    /// The message is queued and the process was waiting: the caller must schedule it.
    Wake,
    /// The process has exited; the message will never be received.
    Closed,
}

/// A multi-producer, single-consumer mailbox with the scheduling state of its process.
pub struct Mailbox<T> {
    queue: Queue<T>,
    state: AtomicU8,
}

impl<T> Mailbox<T> {
    /// A mailbox for a process that is about to be queued for its first run (`SCHEDULED`).
    pub fn new() -> Self {
        Self {
            queue: Queue::new(),
            state: AtomicU8::new(SCHEDULED),
        }
    }

    /// Sends `item`. Any thread may call this.
    pub fn push(&self, item: T) -> Push {
        if self.state.load(Ordering::Acquire) & STATE_MASK == DONE {
            return Push::Closed;
        }
        self.queue.push(item);
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            let next = match state & STATE_MASK {
                WAITING => SCHEDULED,
                RUNNING if state & NOTIFIED == 0 => state | NOTIFIED,
                RUNNING | SCHEDULED => return Push::Delivered,
                _ => return Push::Closed,
            };
            match self
                .state
                .compare_exchange(state, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) if next == SCHEDULED => return Push::Wake,
                Ok(_) => return Push::Delivered,
                Err(actual) => state = actual,
            }
        }
    }

    /// Owner only: the process was taken from a run queue and is about to be resumed.
    pub fn start_running(&self) {
        let previous = self.state.swap(RUNNING, Ordering::AcqRel);
        debug_assert!(
            previous & STATE_MASK == SCHEDULED || previous & STATE_MASK == RUNNING,
            "a process can only run after it was scheduled (state {previous})"
        );
    }

    /// Owner only: takes the oldest message, if any.
    pub fn pop(&self) -> Option<T> {
        self.queue.pop()
    }

    /// Owner only: the running process found nothing to receive and wants to wait.
    ///
    /// Returns `true` when the process is now `WAITING` (the next push wakes it), `false` when a
    /// message arrived meanwhile: the process stays `RUNNING` and must look again.
    pub fn park(&self) -> bool {
        match self
            .state
            .compare_exchange(RUNNING, WAITING, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            Err(_) => {
                // NOTIFIED was set by a sender: clear it and look again. An RMW, not a store,
                // so that it is ordered with the senders' CASes in the state's modification
                // order (loom finds a lost DONE with plain stores).
                self.state.fetch_and(!NOTIFIED, Ordering::AcqRel);
                false
            }
        }
    }

    /// Owner only: wakes a `WAITING` process for a reason that is not a message (a timer).
    ///
    /// Returns `true` when the caller must schedule it: the same CAS a sender makes, so a timer
    /// and a message racing to wake the process schedule it once.
    pub fn wake(&self) -> bool {
        self.state
            .compare_exchange(WAITING, SCHEDULED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Owner only: the process exited. Later pushes report [`Push::Closed`]; messages still
    /// queued are dropped here.
    pub fn close(&self) {
        self.state.swap(DONE, Ordering::AcqRel);
        while self.queue.pop().is_some() {}
    }

    /// Whether the process has exited.
    pub fn is_closed(&self) -> bool {
        self.state.load(Ordering::Acquire) & STATE_MASK == DONE
    }
}

impl<T> Default for Mailbox<T> {
    fn default() -> Self {
        Self::new()
    }
}
