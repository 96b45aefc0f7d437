//! Processes without Lua: PIDs, the shared half of a process (placement and pending signals,
//! watchers), the owner's half (buffers, tasks, channels, time entries), the process table and
//! the name registry.
//!
//! Nothing here knows how workers run processes or what a Lua value is (tasks hold values as
//! opaque handles); a Rust-side actor of an embedding application could use the same types.

pub mod local;
pub mod native;
pub mod pid;
pub mod process;
pub mod registry;
pub mod table;
pub mod tasks;
pub mod watchers;

pub use local::{Event, Local, TimeEntry, TimeId, TimeKind, Wanted};
pub use native::{Forward, NativeInbox, Taken, Watch};
pub use pid::Pid;
pub use process::{Context, Deadline, Envelope, Exit, Process, Route, Sender, Signal};
pub use registry::Registry;
pub use table::ProcessTable;
pub use tasks::{ChanId, ChannelError, Delivery, Item, Next, TaskId, Wait};
pub use watchers::{Farewell, Watchers};
