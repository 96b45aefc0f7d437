//! The embedding API (embedding.md): what a Rust program uses to run moonweave next to its
//! own threads. [`Runtime`] starts and stops a runtime, [`Handle`] is what any thread does
//! with it, [`Mailbox`] is a process whose code is Rust, and native modules give Lua code
//! functions written in Rust.

mod args;
mod mailbox;
mod native;
mod pid;
mod runtime;
#[cfg(feature = "serde")]
mod serde;
mod values;

pub use args::IntoArgs;
pub use mailbox::{Mailbox, Message, Received};
pub use native::current_pid;
pub use pid::{Dest, Pid};
pub use runtime::{Handle, Runtime, RuntimeBuilder, SHUTDOWN_DEADLINE};
#[cfg(feature = "serde")]
pub use serde::{from_value, to_value};
