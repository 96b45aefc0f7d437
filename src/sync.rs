//! Synchronisation facade for the lock-free parts of the runtime.
//!
//! Code that must be checked with loom (`proc::mailbox`) imports its atomics and its queue from
//! `crate::sync` instead of `std`. Here they map to `std` and `crossbeam_deque`; the `loom-tests`
//! crate compiles the same source files against a facade of the same shape built on `loom`.

use std::sync::OnceLock;

use crossbeam_deque::{Injector, Steal};

pub use std::sync::Mutex;
pub use std::sync::atomic::{AtomicU8, Ordering};

/// A lock-free multi-producer FIFO queue whose storage is allocated on the first push.
///
/// A mailbox that never receives a message (a process parked in `receive` forever, or one that
/// exits at once) costs one word, which keeps idle processes small. Any thread may push; only the
/// owner of the queue pops.
pub struct Queue<T> {
    inner: OnceLock<Box<Injector<T>>>,
}

impl<T> Queue<T> {
    /// An empty queue that has not allocated yet.
    pub const fn new() -> Self {
        Self {
            inner: OnceLock::new(),
        }
    }

    /// Appends `item` at the tail.
    pub fn push(&self, item: T) {
        self.inner
            .get_or_init(|| Box::new(Injector::new()))
            .push(item);
    }

    /// Takes the item at the head, if any.
    pub fn pop(&self) -> Option<T> {
        let queue = self.inner.get()?;
        loop {
            match queue.steal() {
                Steal::Success(item) => return Some(item),
                Steal::Empty => return None,
                Steal::Retry => std::hint::spin_loop(),
            }
        }
    }
}

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Self::new()
    }
}
