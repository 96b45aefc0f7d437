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
use crate::bytes::Bytes;

#[derive(Debug, Default)]
struct Set {
    /// Set by the exit or by `terminate`: nothing can be added any more.
    exited: bool,
    /// Set by the exit: the monitors and links have been taken.
    taken: bool,
    monitors: Vec<Pid>,
    links: Vec<Pid>,
    names: Vec<Bytes>,
}

/// What an exiting process must notify, taken once.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Farewell {
    pub monitors: Vec<Pid>,
    pub links: Vec<Pid>,
    pub names: Vec<Bytes>,
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

    /// Removes the link with `other`; whether there was one. A LINK_DOWN counts only while
    /// its link stands: this set, not who made the link, says so (`unlink` removes it).
    pub fn take_link(&self, other: Pid) -> bool {
        self.with(|s| {
            let before = s.links.len();
            s.links.retain(|&l| l != other);
            s.links.len() != before
        })
    }

    /// Runs `register` (which puts `name` in the registry) and records the name, unless the
    /// process has exited; both happen under this process's lock so an exit cannot slip between.
    pub fn hold_name(&self, name: &[u8], register: impl FnOnce() -> bool) -> Option<bool> {
        self.with(|s| {
            if s.exited {
                return None;
            }
            let registered = register();
            if registered && !s.names.iter().any(|n| n.as_bytes() == name) {
                s.names.push(Bytes::new(name));
            }
            Some(registered)
        })
    }

    /// Forgets `name` (it was unregistered).
    pub fn drop_name(&self, name: &[u8]) {
        self.with(|s| s.names.retain(|n| n.as_bytes() != name));
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

    /// Whether nobody monitors or is linked with the process.
    pub fn is_idle(&self) -> bool {
        self.with(|s| s.monitors.is_empty() && s.links.is_empty())
    }

    /// `terminate`: the process is gone for everyone from now on (nothing more can be added)
    /// and its names are taken for release; its monitors and links stay for the exit, which
    /// its owner performs once it has stopped running. `None` when it had already exited or
    /// been terminated.
    pub fn terminate(&self) -> Option<Vec<Bytes>> {
        self.with(|s| {
            if s.exited {
                return None;
            }
            s.exited = true;
            Some(std::mem::take(&mut s.names))
        })
    }

    #[allow(dead_code)] // for the loom models (loom-tests/)
    /// Whether `other` is linked.
    pub fn is_linked(&self, other: Pid) -> bool {
        self.with(|s| s.links.contains(&other))
    }
}

/// Links process `a` (watchers `mine`) with process `b` (watchers `theirs`), from `a`.
///
/// Two locks, taken one after the other: `a` records the link first, then `b`. If `b` has
/// exited, `a` takes the link back and the call reports `false`. If `b` exits after accepting,
/// its exit finds `a` in its links and removes the link from `a` in turn. So once both are
/// done, `a` holds a link to `b` only while `b` lives (the loom model `watchers.rs` checks it;
/// recording in the other order left a link to an exited process behind).
pub fn link(mine: &Watchers, a: Pid, theirs: &Watchers, b: Pid) -> bool {
    if !mine.add_link(b) {
        return true; // `a` itself is exiting: nothing to record.
    }
    if !theirs.add_link(a) {
        mine.remove_link(b);
        return false;
    }
    true
}
