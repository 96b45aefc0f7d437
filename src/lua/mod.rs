//! The Lua side of a worker: one sandboxed Luau VM per worker thread, the conversion of values,
//! preemption, and everything a process sees (`process`, `channel`, `errors`, the modules).
//!
//! This module knows nothing of how workers find work; it asks `sched::Core` to spawn, send and
//! tell which process is running, and `proc` holds the state of tasks and channels.

mod args;
mod builder;
mod channel;
pub mod convert;
pub use convert::MAX_DEPTH as MAX_COPY_DEPTH;
mod ctx;
pub mod errors;
mod io;
mod json;
mod logger;
mod message;
mod modules;
mod native_panic;
/// Drops a panic noted on this thread (it was the runtime's, caught by the worker).
pub(crate) fn forget_native_panic() {
    let _ = native_panic::take();
}
mod objects;
pub mod preempt;
mod print;
mod process_api;
pub mod raw;
mod run;
mod security;
mod supervisor;
pub mod time;
mod vm;
#[cfg(test)]
mod walker;

pub use raw::LuaRef;
pub use run::{Outcome, ProcessLua};
pub use vm::{Vm, compile_check};
