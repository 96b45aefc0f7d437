#![warn(missing_docs)]
//! moonweave: Lua programs as Erlang-style processes on a work-stealing multithreaded scheduler.
//!
//! This crate is the runtime; the `moonweave` command line is one program built on it. A Rust
//! program starts a [`Runtime`] from an app directory, in-memory Lua files or nothing, and
//! talks to Lua processes the way they talk to each other: by [`Pid`], by message, by monitor
//! and link, through a [`Handle`] from any thread and [`Mailbox`] processes whose code is
//! Rust. Native modules ([`RuntimeBuilder::module`]) give Lua code functions written in Rust.
//! `docs/src/embedding.md` in the repository is the guide.
//!
//! ```
//! use moonweave::{Runtime, Received, Value};
//!
//! let runtime = Runtime::builder()
//!     .app_file("double.lua", r#"return function()
//!         local msg = process.inbox():receive()
//!         process.send(msg:from(), "doubled", msg:payload() * 2)
//!     end"#)
//!     .build()?;
//! let handle = runtime.handle();
//! let worker = handle.spawn("app:double", ())?;
//! let mut me = handle.mailbox()?;
//! me.send(&worker, "double", 21)?;
//! if let Some(Received::Message(msg)) = me.recv() {
//!     assert_eq!(msg.payload(), &Value::from(42));
//! }
//! drop(me); // a Rust process still alive at shutdown is ended by the shutdown's deadline
//! runtime.shutdown();
//! # Ok::<(), moonweave::ErrorValue>(())
//! ```

pub mod app;
mod bytes;
pub(crate) mod dist;
mod duration;
mod embed;
mod error;
mod failpoint;
pub mod log;
pub(crate) mod lua;
pub(crate) mod proc;
pub(crate) mod sched;
pub(crate) mod security;
pub(crate) mod supervise;
pub(crate) mod sync;
mod value;

pub use bytes::Bytes;
pub use embed::*;
pub use error::{ErrorKind, ErrorValue};
pub use proc::Exit;
pub use sched::{Stats, WorkerStats};
pub use value::Value;

/// What the benchmarks measure below the public API (the preemption interrupt on a plain VM).
#[doc(hidden)]
pub mod __bench {
    /// Installs moonweave's preemption interrupt in `lua`, with `budget` checks per slice.
    pub fn install_preemption(lua: &mlua::Lua, budget: u32) -> mlua::Result<()> {
        crate::lua::preempt::install(lua)?;
        crate::lua::preempt::set_slice(budget);
        Ok(())
    }
}

/// The README's Rust blocks run as doc tests, so that they cannot drift.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
