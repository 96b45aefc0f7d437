//! loom models of moonweave's concurrency core.
//!
//! The runtime's own source files are compiled here unchanged (`#[path]`), against a `sync`
//! facade of the same shape as `src/sync.rs` built on loom: the models explore the code that
//! runs, not a copy of it. Covered: the placement of a starting process and the routing of
//! signals to it (`proc/process.rs`), the mailbox limit counter (same file), the exit protocol
//! of monitors, links and names (`proc/watchers.rs`), the name registry (`proc/registry.rs`),
//! closing the process table at shutdown (`proc/table.rs`) and the park/unpark handshake of
//! idle workers (`sched/park.rs`).

pub mod sync {
    //! The loom side of `moonweave::sync`.

    pub use loom::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering, fence};
    pub use loom::sync::{Condvar, Mutex, MutexGuard, RwLock};

    use loom::sync::Arc;

    struct Inner {
        notified: Mutex<bool>,
        condvar: Condvar,
    }

    /// A thread parker with crossbeam's interface: an unpark before a park makes the park
    /// return at once (one token).
    pub struct Parker {
        unparker: Unparker,
    }

    /// Wakes a [`Parker`].
    #[derive(Clone)]
    pub struct Unparker {
        inner: Arc<Inner>,
    }

    impl Parker {
        pub fn new() -> Parker {
            Parker {
                unparker: Unparker {
                    inner: Arc::new(Inner {
                        notified: Mutex::new(false),
                        condvar: Condvar::new(),
                    }),
                },
            }
        }

        pub fn unparker(&self) -> &Unparker {
            &self.unparker
        }

        /// Blocks until unparked (consuming the token).
        pub fn park(&self) {
            let inner = &self.unparker.inner;
            let mut notified = inner.notified.lock().unwrap();
            while !*notified {
                notified = inner.condvar.wait(notified).unwrap();
            }
            *notified = false;
        }

        /// A timed park is a park in the models (loom has no clock); the models never rely
        /// on the timeout.
        pub fn park_deadline(&self, _deadline: std::time::Instant) {
            self.park();
        }
    }

    impl Default for Parker {
        fn default() -> Self {
            Self::new()
        }
    }

    impl Unparker {
        pub fn unpark(&self) {
            *self.inner.notified.lock().unwrap() = true;
            self.inner.condvar.notify_one();
        }
    }
}

#[path = "../../src/bytes.rs"]
pub mod bytes;

#[path = "../../src/error.rs"]
pub mod error;

#[path = "../../src/value.rs"]
pub mod value;

/// Actors and scopes, which a process record carries.
#[path = "../../src/security/mod.rs"]
pub mod security;

// The `proc` files are siblings at the crate root here, as they are in `src/proc/`, so that
// their `super::` paths resolve.

#[path = "../../src/proc/pid.rs"]
pub mod pid;

#[path = "../../src/proc/native.rs"]
pub mod native;

#[path = "../../src/proc/process.rs"]
pub mod process;

#[path = "../../src/proc/registry.rs"]
pub mod registry;

#[path = "../../src/proc/table.rs"]
pub mod table;

#[path = "../../src/proc/watchers.rs"]
pub mod watchers;

pub mod proc {
    //! The runtime's `proc` files under the names the models use.
    pub use crate::process::{Process, Route, Signal};
    pub use crate::watchers::Watchers;
    pub use crate::{native, pid, registry, table, watchers};
}

#[path = "../../src/sched/park.rs"]
pub mod park;

/// Explores every interleaving with up to three preemptions per thread (loom's recommended
/// bound; the full space of the larger models does not finish in CI's time).
pub fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    builder.check(f);
}
