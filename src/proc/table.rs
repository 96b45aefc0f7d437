//! The process table: every live process by PID, readable from every worker.
//!
//! Sharded by serial so that spawns and exits on different workers rarely meet on one lock, and
//! sends (the hot path) take only a shard's read lock, and only when their worker's cache of
//! destinations misses.
//!
//! # Closing
//!
//! At shutdown the runtime closes the table, then cancels every process in it. A spawn racing
//! the shutdown inserts its process first and then looks at the closed flag (and withdraws when
//! it is set); the closer sets the flag first and then lists the processes. The flag is
//! sequentially consistent and the insertion is ordered by the shard lock, so either the spawn
//! withdraws or the closer lists it: no process escapes the shutdown's CANCEL. The loom model
//! `loom-tests/tests/shutdown.rs` checks this.

use std::collections::HashMap;
use std::sync::Arc;

use crate::sync::{AtomicBool, Ordering, RwLock};

use super::pid::Pid;
use super::process::Process;

/// Number of shards; a power of two well above the worker count. Picked, not tuned.
const SHARDS: usize = 64;

type Shard = RwLock<HashMap<u64, Arc<Process>, ahash::RandomState>>;

/// Live processes by PID.
pub struct ProcessTable {
    shards: Box<[Shard]>,
    closed: AtomicBool,
}

impl ProcessTable {
    pub fn new() -> Self {
        Self {
            shards: (0..SHARDS)
                .map(|_| RwLock::new(HashMap::default()))
                .collect(),
            closed: AtomicBool::new(false),
        }
    }

    fn shard(&self, pid: Pid) -> &Shard {
        &self.shards[pid.0 as usize % SHARDS]
    }

    /// Adds a new process; `false` (and nothing added) once the table is closed.
    pub fn insert(&self, process: Arc<Process>) -> bool {
        let pid = process.pid;
        self.shard(pid)
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(pid.0, process);
        if self.closed.load(Ordering::SeqCst) {
            self.remove(pid);
            return false;
        }
        true
    }

    /// Refuses every later insertion (shutdown). Call before listing the processes to stop.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    /// The live process with this PID.
    pub fn get(&self, pid: Pid) -> Option<Arc<Process>> {
        let shard = self.shard(pid).read().unwrap_or_else(|e| e.into_inner());
        shard.get(&pid.0).cloned()
    }

    /// Removes an exited process.
    pub fn remove(&self, pid: Pid) -> Option<Arc<Process>> {
        let mut shard = self.shard(pid).write().unwrap_or_else(|e| e.into_inner());
        shard.remove(&pid.0)
    }

    /// A snapshot of every live process.
    pub fn all(&self) -> Vec<Arc<Process>> {
        self.shards
            .iter()
            .flat_map(|s| {
                s.read()
                    .unwrap_or_else(|e| e.into_inner())
                    .values()
                    .cloned()
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Number of live processes.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
    }

    /// Whether no process is alive.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for ProcessTable {
    fn default() -> Self {
        Self::new()
    }
}
