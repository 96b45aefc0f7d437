//! Spare process records: the allocation of an exited process's [`Process`] is reused by a
//! later spawn instead of being freed and allocated again.
//!
//! A spawn allocates the record on the spawner's worker and the child often exits on another
//! one; glibc's allocator then frees it into the spawner's arena under that arena's lock, which
//! the spawner takes too for its next allocation (measured: a sixth of the two-worker spawn
//! benchmark in malloc, free and the futex calls of that lock). Instead the worker that ends a
//! process keeps the record when nothing else refers to it (`Arc::get_mut`: no other strong or
//! weak reference, so reuse is as private as a fresh allocation), trades full batches with the
//! other workers under one lock per [`BATCH`] records, and a spawn overwrites a spare
//! record in place. A spare keeps only its old PID text and empty collections: what could be
//! large (context values, identity, native inbox) is dropped when the record is kept.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::proc::Process;

/// Records a worker hands its host, or takes from it, at once.
const BATCH: usize = 64;
/// Batches the runtime keeps (4,096 records, about 1 MB); records beyond are freed. A spawning
/// loop makes hundreds of children in one run before any exits: with 8 batches one worker
/// reused 11 % of its records in the spawn benchmark, with 64 about 80 %.
const SHARED_BATCHES: usize = 64;

/// The spare records the workers trade, in batches.
#[derive(Default)]
pub struct SharedRecords {
    batches: Mutex<Vec<Vec<Arc<Process>>>>,
    /// `batches.len()`, read without the lock by a worker that has no spare.
    count: AtomicUsize,
}

impl SharedRecords {
    fn take(&self) -> Option<Vec<Arc<Process>>> {
        if self.count.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let mut batches = self.batches.lock().unwrap_or_else(|e| e.into_inner());
        let batch = batches.pop();
        self.count.store(batches.len(), Ordering::Relaxed);
        batch
    }

    /// Keeps `batch` unless there are enough; returns it when it does not keep it.
    fn give(&self, batch: Vec<Arc<Process>>) -> Option<Vec<Arc<Process>>> {
        let mut batches = self.batches.lock().unwrap_or_else(|e| e.into_inner());
        if batches.len() >= SHARED_BATCHES {
            return Some(batch);
        }
        batches.push(batch);
        self.count.store(batches.len(), Ordering::Relaxed);
        None
    }
}

/// One worker's spare records.
#[derive(Default)]
pub struct Records {
    spare: RefCell<Vec<Arc<Process>>>,
}

impl Records {
    /// Keeps the record of a process that has exited, if nothing else refers to it.
    pub fn keep(&self, mut record: Arc<Process>, shared: &SharedRecords) {
        let Some(process) = Arc::get_mut(&mut record) else {
            return;
        };
        process.context = None;
        process.identity = Default::default();
        process.native = None;
        let full = {
            let mut spare = self.spare.borrow_mut();
            spare.push(record);
            (spare.len() >= 2 * BATCH).then(|| spare.split_off(BATCH))
        };
        // Freed, if there are enough, outside the borrow.
        drop(full.and_then(|batch| shared.give(batch)));
    }

    /// The record of a new process: a spare one overwritten with `process`, else a new one.
    pub fn record(&self, process: Process, shared: &SharedRecords) -> Arc<Process> {
        let mut spare = self.spare.borrow_mut();
        if spare.is_empty()
            && let Some(batch) = shared.take()
        {
            *spare = batch;
        }
        match spare.pop() {
            Some(mut record) => match Arc::get_mut(&mut record) {
                Some(slot) => {
                    *slot = process;
                    record
                }
                None => Arc::new(process),
            },
            None => Arc::new(process),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proc::{Pid, Watchers};

    fn process(n: u64) -> Process {
        Process::new(Pid(n), Pid(n).text("a:b"), 0, Watchers::new(None, None))
    }

    #[test]
    fn a_spawn_reuses_the_allocation_of_an_unshared_record() {
        let (records, shared) = (Records::default(), SharedRecords::default());
        let first = Arc::new(process(1));
        let address = Arc::as_ptr(&first);
        records.keep(first, &shared);
        let second = records.record(process(2), &shared);
        assert_eq!(Arc::as_ptr(&second), address);
        assert_eq!(second.pid, Pid(2));
        assert_eq!(&*second.pid_text, "{a:b|0x00002}");
    }

    #[test]
    fn a_record_someone_still_holds_is_not_kept() {
        let (records, shared) = (Records::default(), SharedRecords::default());
        let first = Arc::new(process(1));
        let held = first.clone();
        records.keep(first, &shared);
        assert!(records.spare.borrow().is_empty());
        let weakly_held = Arc::new(process(2));
        let _weak = Arc::downgrade(&weakly_held);
        records.keep(weakly_held, &shared);
        assert!(records.spare.borrow().is_empty());
        let third = records.record(process(3), &shared);
        assert!(!Arc::ptr_eq(&third, &held));
    }

    #[test]
    fn full_batches_move_to_the_host_and_back_to_another_worker() {
        let shared = SharedRecords::default();
        let (ending, spawning) = (Records::default(), Records::default());
        let mut addresses = Vec::new();
        for n in 0..2 * BATCH as u64 {
            let record = Arc::new(process(n));
            addresses.push(Arc::as_ptr(&record));
            ending.keep(record, &shared);
        }
        assert_eq!(shared.count.load(Ordering::Relaxed), 1);
        let reused = spawning.record(process(1000), &shared);
        assert!(addresses.contains(&Arc::as_ptr(&reused)));
        assert_eq!(shared.count.load(Ordering::Relaxed), 0);
    }
}
