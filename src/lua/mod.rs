//! The Lua side of a worker: one sandboxed Luau VM per worker thread, the conversion of values,
//! preemption, and the globals a process sees (`process`, `errors`, `print`).
//!
//! This module knows nothing of how workers find work; it asks `sched::WorkerContext` to spawn,
//! send and tell which process is running.

mod bootstrap;
pub mod convert;
mod ctx;
pub mod errors;
mod io;
mod json;
mod logger;
mod modules;
pub mod preempt;
mod print;
mod process_api;
mod spawn_builder;
mod time;
mod vm;

pub use vm::{Resumed, Vm, compile_check};
