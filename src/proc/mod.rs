//! Processes without Lua: PIDs, the mailbox and its state word, the process table.
//!
//! Nothing here knows how workers run processes or what a Lua value is; a Rust-side actor of an
//! embedding application could use the same types.

pub mod mailbox;
pub mod pid;
pub mod process;
pub mod registry;
pub mod table;
pub mod watchers;

pub use mailbox::{Mailbox, Push};
pub use pid::{ParsedPid, Pid};
pub use process::{Context, Deadline, Envelope, Exit, Process, Signal};
pub use registry::Registry;
pub use table::ProcessTable;
pub use watchers::{Farewell, Watchers};
