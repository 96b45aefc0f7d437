//! Synchronisation facade for the concurrent parts of the runtime.
//!
//! Code that must be checked with loom (`proc::process`, `proc::watchers`, `sched::park`)
//! imports its atomics and locks from `crate::sync` instead of `std`. Here they are `std`'s; the
//! `loom-tests` crate compiles the same source files against a facade of the same shape built
//! on `loom`, the way tokio's `loom` module does.

pub use crossbeam_utils::sync::{Parker, Unparker};
pub use std::sync::RwLock;
pub use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering, fence};
pub use std::sync::{Condvar, Mutex, MutexGuard};
