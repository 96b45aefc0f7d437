//! loom models of moonweave's concurrency core.
//!
//! The runtime's `src/proc/mailbox.rs` and `src/proc/watchers.rs` are compiled here unchanged, against a `sync` facade built
//! on loom's atomics. The queue in the facade is a loom mutex around a `VecDeque`: the models
//! check the state-word protocol assuming a linearizable FIFO queue, which is the contract of
//! the lock-free queue the runtime uses (`crossbeam_deque::Injector`).

pub mod sync {
    //! The loom side of `moonweave::sync`.

    use std::collections::VecDeque;

    pub use loom::sync::Mutex;
    pub use loom::sync::atomic::{AtomicU8, Ordering};

    /// A linearizable FIFO queue with the interface of `moonweave::sync::Queue`.
    pub struct Queue<T> {
        inner: Mutex<VecDeque<T>>,
    }

    impl<T> Queue<T> {
        pub fn new() -> Self {
            Self {
                inner: Mutex::new(VecDeque::new()),
            }
        }

        pub fn push(&self, item: T) {
            self.inner.lock().unwrap().push_back(item);
        }

        pub fn pop(&self) -> Option<T> {
            self.inner.lock().unwrap().pop_front()
        }
    }

    impl<T> Default for Queue<T> {
        fn default() -> Self {
            Self::new()
        }
    }
}

#[path = "../../src/proc/mailbox.rs"]
pub mod mailbox;

#[path = "../../src/proc/pid.rs"]
pub mod pid;

#[path = "../../src/proc/watchers.rs"]
pub mod watchers;
