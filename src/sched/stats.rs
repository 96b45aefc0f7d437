//! What `Handle::stats` reports (embedding.md §5). Each worker counts for itself: it is the
//! only writer of its counters, so a count is a plain load and store (no shared atomic
//! operation per message or run); threads outside the workers (the embedding API, Rust
//! processes) count in counters of their own. A snapshot reads them all without stopping
//! anything, so its figures are each exact but not taken at one instant.

use std::sync::atomic::{AtomicU64, Ordering};

use super::Shared;

/// The counters of one worker, written only by that worker.
#[derive(Debug, Default)]
pub(crate) struct WorkerCounters {
    pub runs: AtomicU64,
    pub steals: AtomicU64,
    pub parks: AtomicU64,
    pub spawned: AtomicU64,
    pub exited: AtomicU64,
    pub messages: AtomicU64,
    /// Ready processes (to resume or to start) when the worker last looked.
    pub queue: AtomicU64,
}

/// Adds one to a counter that only the calling thread writes.
#[inline]
pub(crate) fn bump(counter: &AtomicU64) {
    counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

/// The counters of threads that are not workers.
#[derive(Debug, Default)]
pub(crate) struct OutsideCounters {
    pub spawned_outside: AtomicU64,
    pub exited_outside: AtomicU64,
    pub messages_outside: AtomicU64,
}

/// A snapshot of the runtime's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Processes alive now (Lua and Rust).
    pub live: usize,
    /// Processes spawned since the start.
    pub spawned: u64,
    /// Processes that exited since the start.
    pub exited: u64,
    /// Messages sent since the start.
    pub messages: u64,
    /// Every worker of every host, host by host.
    pub workers: Vec<WorkerStats>,
}

/// A snapshot of one worker's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerStats {
    /// The id of the worker's host (`app:processes`).
    pub host: String,
    /// Process resumptions.
    pub runs: u64,
    /// Spawn requests taken from the host's queue or from other workers.
    pub steals: u64,
    /// Times the worker went to sleep for lack of work.
    pub parks: u64,
    /// Ready processes waiting for this worker when it last looked.
    pub queue: u64,
}

impl std::fmt::Display for Stats {
    /// The table `moonweave run --stats` prints.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "processes: {} live, {} spawned, {} exited; messages: {}",
            self.live, self.spawned, self.exited, self.messages
        )?;
        writeln!(
            f,
            "{:<24} {:>6} {:>12} {:>10} {:>10} {:>6}",
            "host", "worker", "runs", "steals", "parks", "queue"
        )?;
        let mut index = 0;
        for (i, w) in self.workers.iter().enumerate() {
            if i > 0 && self.workers[i - 1].host != w.host {
                index = 0;
            }
            writeln!(
                f,
                "{:<24} {:>6} {:>12} {:>10} {:>10} {:>6}",
                w.host, index, w.runs, w.steals, w.parks, w.queue
            )?;
            index += 1;
        }
        Ok(())
    }
}

impl Shared {
    /// Reads every counter.
    pub(crate) fn stats(&self) -> Stats {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let outside = &self.counters;
        let mut stats = Stats {
            live: self.table.len(),
            spawned: load(&outside.spawned_outside),
            exited: load(&outside.exited_outside),
            messages: load(&outside.messages_outside),
            workers: Vec::new(),
        };
        for host in &self.hosts {
            for remote in &host.workers {
                let c = &remote.counters;
                stats.spawned += load(&c.spawned);
                stats.exited += load(&c.exited);
                stats.messages += load(&c.messages);
                stats.workers.push(WorkerStats {
                    host: host.id.clone(),
                    runs: load(&c.runs),
                    steals: load(&c.steals),
                    parks: load(&c.parks),
                    queue: load(&c.queue),
                });
            }
        }
        stats
    }
}
