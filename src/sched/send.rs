//! What happens on send: resolving a destination, the mailbox limit, and delivering a signal.
//!
//! 1. **Resolve.** A destination is a PID text or a registered name. A PID text that was sent
//!    to recently is found in a cache of the worker, keyed by the address of the Lua string's
//!    bytes and checked by comparing those bytes with the copy of the process's PID text the
//!    entry keeps (so a reused address cannot name the wrong process); a hit lends the cached
//!    record to the send without touching its reference count. Only a miss parses the text
//!    and looks in the shared process table. Names go through the registry every time (a name can move).
//! 2. **Check.** A process that was terminated or has exited is `NOT_FOUND` (its `gone` flag,
//!    set before `terminate` returns); a host with `mailbox_limit` reserves room.
//! 3. **Deliver.** A process this worker runs gets the signal straight into its owner state (no
//!    atomic operation); any other goes through [`Process::route`]: the owner worker's inbound
//!    queue, or the pending signals of a process that has not started.

use std::sync::Arc;

use super::core::Core;
use super::error;
use crate::bytes::Bytes;
use crate::error::{ErrorKind, ErrorValue};
use crate::proc::{Envelope, Process, Route, Signal};

/// Entries the destination cache holds before it starts over: enough for every process of a
/// large ring or pool to keep its destinations resolved, small enough (about 2 MB) that the
/// processes it keeps alive after they exit do not matter. Picked, not tuned.
const CACHED: usize = 1 << 16;

/// Recently resolved PID texts of one worker, by the address of the string's bytes. Each entry
/// keeps its own copy of the text (inline for PID texts of short host ids), so checking a hit
/// reads the entry alone, not the process record and the text it points to: in a ring of
/// 10,000 processes each of those is a cache miss.
pub struct Destinations {
    entries: std::collections::HashMap<usize, (Arc<Process>, Bytes), ahash::RandomState>,
}

impl Default for Destinations {
    fn default() -> Self {
        Self {
            entries: std::collections::HashMap::with_hasher(ahash::RandomState::with_seeds(
                1, 2, 3, 4,
            )),
        }
    }
}

impl Destinations {
    fn get(&self, key: usize, text: &[u8]) -> Option<&Arc<Process>> {
        self.entries
            .get(&key)
            .filter(|(_, cached)| cached.as_bytes() == text)
            .map(|(process, _)| process)
    }

    fn put(&mut self, key: usize, process: Arc<Process>) {
        if self.entries.len() >= CACHED {
            self.entries.clear();
        }
        let text = Bytes::new(process.pid_text.as_bytes());
        self.entries.insert(key, (process, text));
    }

    fn forget(&mut self, key: usize) {
        self.entries.remove(&key);
    }
}

fn gone(dest: &[u8]) -> ErrorValue {
    let mut message = b"no process ".to_vec();
    message.extend_from_slice(dest);
    error(ErrorKind::NotFound, message)
}

impl Core {
    /// The live process `dest` names: a PID text or a registered name.
    pub fn resolve(&self, dest: &[u8]) -> Result<Arc<Process>, ErrorValue> {
        self.shared.resolve_dest(dest)
    }

    /// Runs `f` on the live process `dest` names, found through the worker's cache of
    /// destinations (the send path): `key` identifies the text (the address of the Lua
    /// string's bytes). A hit lends the cached record to `f` without touching its reference
    /// count (two atomic operations per send); `f` must not send from Lua (nothing on the send
    /// path does).
    pub fn with_destination<R>(
        &self,
        dest: &[u8],
        key: usize,
        f: impl FnOnce(&Process) -> R,
    ) -> Result<R, ErrorValue> {
        if dest.first() != Some(&b'{') {
            return self.resolve(dest).map(|process| f(&process));
        }
        {
            let cache = self.destinations.borrow();
            if let Some(process) = cache.get(key, dest).filter(|p| !p.is_gone()) {
                return Ok(f(process));
            }
        }
        let mut cache = self.destinations.borrow_mut();
        if let Some(process) = cache.get(key, dest) {
            let remote = process.forward().is_some();
            cache.forget(key);
            // A process of another node whose proxy ended is reached through a new one.
            if !remote {
                return Err(gone(dest));
            }
        }
        drop(cache);
        let process = self.resolve(dest)?;
        self.destinations.borrow_mut().put(key, process.clone());
        Ok(f(&process))
    }

    /// Sends `envelope` to `target` (resolved from `dest`): checks the mailbox limit, then
    /// delivers.
    pub fn send(
        &self,
        target: &Process,
        dest: &[u8],
        envelope: Envelope,
    ) -> Result<(), ErrorValue> {
        if let Some(forward) = target.forward() {
            // A process of another node: the message goes to its connection.
            super::stats::bump(&self.counters().messages);
            return forward.message(target, envelope);
        }
        let limit = self.shared.hosts[target.host].config.mailbox_limit as usize;
        if limit > 0 && !target.reserve_message(limit) {
            let mut message = b"the mailbox of ".to_vec();
            message.extend_from_slice(dest);
            message.extend_from_slice(format!(" is full ({limit} messages waiting)").as_bytes());
            return Err(error(ErrorKind::Unavailable, message));
        }
        // Counted first: whoever receives it then sees it counted.
        super::stats::bump(&self.counters().messages);
        self.deliver(target, Signal::Message(envelope));
        Ok(())
    }

    /// Puts `signal` on its way to `target` from this worker: straight into the process when
    /// this worker runs it, else through its owner's inbound queue (or its pending signals).
    pub fn deliver(&self, target: &Process, signal: Signal) {
        match target.route(signal) {
            Route::Pending => {}
            Route::Native { inbox, signal } => self.shared.deliver_native(target, &inbox, signal),
            Route::Placed {
                worker,
                slot,
                signal,
            } => {
                if target.host == self.host && worker == self.index {
                    self.absorb(slot, target.pid, signal);
                } else {
                    self.shared.hosts[target.host].workers[worker].push(slot, target.pid, signal);
                }
            }
        }
    }

    /// Delivers `signal` to the live process `pid`, if there is one.
    pub(super) fn deliver_to(&self, pid: crate::proc::Pid, signal: Signal) {
        if let Some(target) = self.shared.find(pid) {
            self.deliver(&target, signal);
        }
    }
}
