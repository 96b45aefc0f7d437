//! Who must hear of a process's exit: its monitors, its links, and the names it holds.
//!
//! # Exit protocol
//!
//! Each process guards this set with its own mutex (there is no global lock). Adding a monitor,
//! a link or a name first checks `exited` under that mutex; the exiting process sets `exited`
//! and takes the whole set under the same mutex, once. So a watcher added before the exit is in
//! the set the exit takes and gets exactly one event, and one added after it is refused (the
//! caller reports `NOT_FOUND`): no EXIT is lost and none is sent twice. The loom model
//! `watchers.rs` in `loom-tests/` checks this against a concurrent exit.

use crate::sync::Mutex;

use super::pid::Pid;

#[derive(Debug, Default)]
struct Set {
    /// Set by the exit or by `terminate`: nothing can be added any more.
    exited: bool,
    /// Set by the exit: the monitors and links have been taken.
    taken: bool,
    monitors: Vec<Pid>,
    links: Vec<Pid>,
    names: Vec<String>,
}

/// What an exiting process must notify, taken once.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Farewell {
    pub monitors: Vec<Pid>,
    pub links: Vec<Pid>,
    pub names: Vec<String>,
}

/// The monitors, links and names of one process.
#[derive(Debug, Default)]
pub struct Watchers {
    set: Mutex<Set>,
}

impl Watchers {
    /// Watchers of a new process, with `monitor` already installed (spawn_monitored) and
    /// `link` already linked (spawn_linked).
    pub fn new(monitor: Option<Pid>, link: Option<Pid>) -> Self {
        Self {
            set: Mutex::new(Set {
                exited: false,
                taken: false,
                monitors: monitor.into_iter().collect(),
                links: link.into_iter().collect(),
                names: Vec::new(),
            }),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Set) -> R) -> R {
        let mut set = self.set.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut set)
    }

    /// Adds `watcher` as a monitor; `false` when the process has exited.
    pub fn add_monitor(&self, watcher: Pid) -> bool {
        self.with(|s| {
            if !s.exited && !s.monitors.contains(&watcher) {
                s.monitors.push(watcher);
            }
            !s.exited
        })
    }

    /// Removes the monitor of `watcher`, if any.
    pub fn remove_monitor(&self, watcher: Pid) {
        self.with(|s| s.monitors.retain(|&m| m != watcher));
    }

    /// Links `other`; `false` when the process has exited.
    pub fn add_link(&self, other: Pid) -> bool {
        self.with(|s| {
            if !s.exited && !s.links.contains(&other) {
                s.links.push(other);
            }
            !s.exited
        })
    }

    /// Removes the link with `other`, if any.
    pub fn remove_link(&self, other: Pid) {
        self.with(|s| s.links.retain(|&l| l != other));
    }

    /// Runs `register` (which puts `name` in the registry) and records the name, unless the
    /// process has exited; both happen under this process's lock so an exit cannot slip between.
    pub fn hold_name(&self, name: &str, register: impl FnOnce() -> bool) -> Option<bool> {
        self.with(|s| {
            if s.exited {
                return None;
            }
            let registered = register();
            if registered && !s.names.iter().any(|n| n == name) {
                s.names.push(name.to_string());
            }
            Some(registered)
        })
    }

    /// Forgets `name` (it was unregistered).
    pub fn drop_name(&self, name: &str) {
        self.with(|s| s.names.retain(|n| n != name));
    }

    /// Marks the process exited and takes everything to notify. `None` the second time.
    pub fn exit(&self) -> Option<Farewell> {
        self.with(|s| {
            if s.taken {
                return None;
            }
            s.exited = true;
            s.taken = true;
            Some(Farewell {
                monitors: std::mem::take(&mut s.monitors),
                links: std::mem::take(&mut s.links),
                names: std::mem::take(&mut s.names),
            })
        })
    }

    /// `terminate`: the process is gone for everyone from now on (nothing more can be added)
    /// and its names are taken for release; its monitors and links stay for the exit, which
    /// its owner performs once it has stopped running. `None` when it had already exited or
    /// been terminated.
    pub fn terminate(&self) -> Option<Vec<String>> {
        self.with(|s| {
            if s.exited {
                return None;
            }
            s.exited = true;
            Some(std::mem::take(&mut s.names))
        })
    }

    /// Whether the process has exited.
    pub fn has_exited(&self) -> bool {
        self.with(|s| s.exited)
    }
}
