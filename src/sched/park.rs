//! How a worker sleeps when it has nothing to do, and how other threads wake it.
//!
//! # Handshake
//!
//! A worker that found no work calls [`Parking::prepare`], which raises its `parked` flag, then
//! looks at every queue it takes work from once more, and only then calls [`Parking::park`] (or
//! [`Parking::cancel`] when it found something). A thread that gives the worker work (pushes a
//! signal to its inbound queue, a spawn to its host's queues) pushes first and then calls
//! [`Idle::notify`], which unparks the worker only if the flag is up.
//!
//! The flag's store and the pusher's load are sequentially consistent, with a fence between
//! each side's two steps (Dekker's pattern): either the worker's second look finds the pushed
//! work, or the pusher sees the flag and unparks. A wake-up is never lost. A pusher that finds
//! the flag down does nothing, so a busy worker costs its senders one load per message, not an
//! unpark. The unpark token of the parker covers an unpark that lands between the second look
//! and the park itself. The loom model `loom-tests/tests/park.rs` checks this handshake.

use crate::sync::{AtomicBool, Ordering, Parker, Unparker, fence};

/// What other threads hold of a worker's sleep: the flag and the means to wake it.
pub struct Idle {
    /// True from [`Parking::prepare`] until the worker is awake again.
    parked: AtomicBool,
    unparker: Unparker,
}

/// The worker's own side of its sleep.
pub struct Parking {
    parker: Parker,
}

impl Idle {
    /// A worker's idle state and its parking side.
    pub fn new() -> (Idle, Parking) {
        let parker = Parker::new();
        let idle = Idle {
            parked: AtomicBool::new(false),
            unparker: parker.unparker().clone(),
        };
        (idle, Parking { parker })
    }

    /// After pushing work for the worker: wakes it if it is parked or about to park. Returns
    /// whether it woke it.
    pub fn notify(&self) -> bool {
        fence(Ordering::SeqCst);
        if self.parked.load(Ordering::SeqCst) && self.parked.swap(false, Ordering::SeqCst) {
            self.unparker.unpark();
            return true;
        }
        false
    }

    /// Wakes the worker whatever it is doing (shutdown).
    pub fn unpark(&self) {
        self.parked.store(false, Ordering::SeqCst);
        self.unparker.unpark();
    }

    /// Raises the flag: from now on pushers unpark this worker. Call before the last look at
    /// the queues.
    pub fn prepare(&self) {
        self.parked.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
    }

    /// Lowers the flag after the worker found work on its last look, or woke up.
    pub fn cancel(&self) {
        self.parked.store(false, Ordering::SeqCst);
    }
}

impl Parking {
    /// Sleeps until unparked, or until `deadline`.
    pub fn park(&self, deadline: Option<std::time::Instant>) {
        match deadline {
            Some(deadline) => self.parker.park_deadline(deadline),
            None => self.parker.park(),
        }
    }
}
