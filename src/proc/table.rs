//! The process table: every live process by PID, readable from every worker, and the PIDs it
//! hands out.
//!
//! A PID names a slot of the table (its low 32 bits) and the slot's generation (see
//! [`Pid`]): a lookup goes straight to the slot, locks only that slot, and answers only when the
//! process there has exactly that PID. Slots live in chunks of growing size that are created
//! when first needed and never move, so a lookup never waits for the table to grow.
//!
//! # Handing out PIDs
//!
//! A process's PID is its slot's next generation. When a process leaves the table, its slot's
//! next PID goes to a free list; a spawn takes a PID from one, or a slot never used before. Each
//! worker keeps its own free list ([`PidCache`]) and trades with the table's shared one in
//! batches, so a spawn or an exit on a worker touches no shared state most of the time; a
//! worker that sees more exits than spawns (it runs children another worker spawns) gives its
//! surplus back. A slot is handed out only after its occupant left the table, and only once per
//! generation: the removal that takes the process out of the slot is the one that frees it.
//!
//! # Closing
//!
//! At shutdown the runtime closes the table, then cancels every process in it. A spawn racing
//! the shutdown inserts its process first and then looks at the closed flag (and withdraws when
//! it is set); the closer sets the flag first and then lists the processes. The insertion and
//! the listing meet on the slot's lock, and a chunk's creation and the listing on the table's
//! `grow` lock (without it the listing could miss a chunk created just before, since creating
//! one is only a release store): either the spawn sees the flag and withdraws, or the closer
//! lists the process. No process escapes the shutdown's CANCEL. The loom model
//! `loom-tests/tests/shutdown.rs` checks this; it found the missing `grow` lock.

use std::sync::{Arc, OnceLock};

use crate::sync::{AtomicBool, AtomicU64, AtomicUsize, Mutex, Ordering};

use super::pid::Pid;
use super::process::Process;

/// Slots in the first chunk; chunk `k` holds `FIRST_CHUNK << k`.
const FIRST_CHUNK: usize = 64;
/// Enough chunks for every 32-bit slot.
const CHUNKS: usize = 27;
/// PIDs a worker takes from, or gives back to, the shared free list at once. Picked, not tuned.
const BATCH: usize = 128;
/// Counter stripes of insertions and removals, by slot, so that workers rarely bump the same one.
const STRIPES: usize = 16;

/// One slot: the process living in it, if any.
type Slot = Mutex<Option<Arc<Process>>>;

/// Counts of insertions and removals, on a cache line of their own. Both only grow, so that a
/// reader adding up the stripes one by one cannot miss a process (see [`ProcessTable::len`]).
#[repr(align(128))]
#[derive(Default)]
struct Stripe {
    inserted: AtomicUsize,
    removed: AtomicUsize,
}

/// Live processes by PID.
pub struct ProcessTable {
    chunks: [OnceLock<Box<[Slot]>>; CHUNKS],
    /// The first slot never handed out.
    fresh: AtomicU64,
    /// PIDs free to hand out: the next generation of slots whose processes left.
    free: Mutex<Vec<Pid>>,
    live: [Stripe; STRIPES],
    closed: AtomicBool,
    /// Held while a chunk is created and while [`all`](Self::all) lists the chunks (see
    /// "Closing" in the module doc).
    grow: Mutex<()>,
}

/// A worker's own free PIDs (see the module doc).
#[derive(Debug, Default)]
pub struct PidCache {
    free: Vec<Pid>,
}

impl ProcessTable {
    pub fn new() -> Self {
        Self {
            chunks: std::array::from_fn(|_| OnceLock::new()),
            // Slot 0 is never handed out: PID 0 is the runtime's.
            fresh: AtomicU64::new(1),
            free: Mutex::new(Vec::new()),
            live: std::array::from_fn(|_| Stripe::default()),
            closed: AtomicBool::new(false),
            grow: Mutex::new(()),
        }
    }

    /// The slot `pid` names, created when `create` is set; `None` for a slot beyond the chunks
    /// that exist (no process lives there).
    fn slot(&self, pid: Pid, create: bool) -> Option<&Slot> {
        let position = pid.slot() as usize + FIRST_CHUNK;
        let chunk = (usize::BITS - 1 - position.leading_zeros()) as usize
            - FIRST_CHUNK.trailing_zeros() as usize;
        let offset = position - (FIRST_CHUNK << chunk);
        let cell = &self.chunks[chunk];
        let slots = match cell.get() {
            Some(slots) => slots,
            None if create => {
                let _growing = self.grow.lock().unwrap_or_else(|e| e.into_inner());
                cell.get_or_init(|| {
                    (0..FIRST_CHUNK << chunk)
                        .map(|_| Mutex::new(None))
                        .collect()
                })
            }
            None => return None,
        };
        Some(&slots[offset])
    }

    fn lock(slot: &Slot) -> crate::sync::MutexGuard<'_, Option<Arc<Process>>> {
        slot.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stripe(&self, pid: Pid) -> &Stripe {
        &self.live[pid.slot() as usize % STRIPES]
    }

    /// A PID for a new process; from `cache` when given (a worker's), else from the shared free
    /// list. `None` when every 32-bit slot is taken.
    pub fn allocate(&self, cache: Option<&mut PidCache>) -> Option<Pid> {
        let Some(cache) = cache else {
            let reused = self.free.lock().unwrap_or_else(|e| e.into_inner()).pop();
            return reused.or_else(|| self.fresh_slots(1).next());
        };
        if cache.free.is_empty() {
            let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
            let from = free.len().saturating_sub(BATCH);
            cache.free.extend(free.drain(from..));
        }
        if cache.free.is_empty() {
            cache.free.extend(self.fresh_slots(BATCH).rev());
        }
        cache.free.pop()
    }

    /// PIDs of up to `count` slots never handed out before.
    fn fresh_slots(&self, count: usize) -> impl DoubleEndedIterator<Item = Pid> {
        let start = self.fresh.fetch_add(count as u64, Ordering::Relaxed);
        let end = (start + count as u64).min(u64::from(u32::MAX) + 1);
        (start.min(end)..end).map(|slot| Pid::new(slot as u32, 0))
    }

    /// Frees `pid`'s slot for its next generation: for the PID of a process that never entered
    /// the table (its spawn failed); [`remove`](Self::remove) frees the others.
    pub fn release(&self, pid: Pid, cache: Option<&mut PidCache>) {
        let Some(next) = pid.next_generation() else {
            return;
        };
        match cache {
            Some(cache) => {
                cache.free.push(next);
                if cache.free.len() >= 2 * BATCH {
                    let surplus = cache.free.drain(..BATCH);
                    self.free
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .extend(surplus);
                }
            }
            None => self
                .free
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(next),
        }
    }

    /// Adds a new process under the PID [`allocate`](Self::allocate) gave it; `false` (and
    /// nothing added, the PID freed) once the table is closed.
    pub fn insert(&self, process: Arc<Process>) -> bool {
        let pid = process.pid;
        let Some(slot) = self.slot(pid, true) else {
            return false;
        };
        {
            let mut entry = Self::lock(slot);
            debug_assert!(entry.is_none(), "slot of {pid:?} taken twice");
            *entry = Some(process);
            // Counted under the slot's lock, so that the removal's count comes after.
            self.stripe(pid).inserted.fetch_add(1, Ordering::Release);
        }
        if self.closed.load(Ordering::SeqCst) {
            self.remove(pid, None);
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
        let entry = Self::lock(self.slot(pid, false)?);
        entry.as_ref().filter(|p| p.pid == pid).cloned()
    }

    /// Removes an exited process and frees its slot (into `cache` when given); `None` when no
    /// process with this PID is in the table (it was removed already).
    pub fn remove(&self, pid: Pid, cache: Option<&mut PidCache>) -> Option<Arc<Process>> {
        let removed = {
            let mut entry = Self::lock(self.slot(pid, false)?);
            if entry.as_ref().is_none_or(|p| p.pid != pid) {
                return None;
            }
            self.stripe(pid).removed.fetch_add(1, Ordering::Release);
            entry.take()
        };
        self.release(pid, cache);
        removed
    }

    /// A snapshot of every live process.
    pub fn all(&self) -> Vec<Arc<Process>> {
        let _growing = self.grow.lock().unwrap_or_else(|e| e.into_inner());
        self.chunks
            .iter()
            .filter_map(OnceLock::get)
            .flat_map(|slots| slots.iter())
            .filter_map(|slot| Self::lock(slot).clone())
            .collect()
    }

    /// Number of live processes. The removals are added up first: a process whose removal is
    /// seen was inserted before it (a spawn happens before the spawner's exit, an insertion
    /// before its removal), so its insertion is seen too, and a process spawned just before its
    /// spawner exited is never missed (adding up live counts stripe by stripe could miss it).
    pub fn len(&self) -> usize {
        let sum = |count: fn(&Stripe) -> &AtomicUsize| {
            self.live.iter().fold(0usize, |sum, s| {
                sum.wrapping_add(count(s).load(Ordering::Acquire))
            })
        };
        let removed = sum(|s| &s.removed);
        sum(|s| &s.inserted).wrapping_sub(removed)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proc::Watchers;

    fn process(pid: Pid) -> Arc<Process> {
        Arc::new(Process::new(
            pid,
            pid.format("a:b").into(),
            0,
            Watchers::default(),
        ))
    }

    #[test]
    fn a_pid_finds_its_process_and_no_other_generation() {
        let table = ProcessTable::new();
        let pid = table.allocate(None).unwrap();
        assert_eq!(pid, Pid(1));
        assert!(table.insert(process(pid)));
        assert_eq!(table.get(pid).map(|p| p.pid), Some(pid));
        assert_eq!(table.len(), 1);
        assert!(table.remove(pid, None).is_some());
        assert!(table.remove(pid, None).is_none(), "removed twice");
        let next = table.allocate(None).unwrap();
        assert_eq!(
            next,
            Pid::new(1, 1),
            "the slot is reused with a new generation"
        );
        assert!(table.insert(process(next)));
        assert!(table.get(pid).is_none(), "an old PID names no process");
        assert!(
            table.remove(pid, None).is_none(),
            "an old PID removes nothing"
        );
        assert_eq!(table.get(next).map(|p| p.pid), Some(next));
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn slots_beyond_the_table_hold_nothing() {
        let table = ProcessTable::new();
        for pid in [
            Pid(0),
            Pid(u64::from(u32::MAX)),
            Pid(u64::MAX),
            Pid(5_000_000),
        ] {
            assert!(table.get(pid).is_none());
            assert!(table.remove(pid, None).is_none());
        }
        assert!(table.is_empty());
    }

    #[test]
    fn every_chunk_boundary_maps_to_its_own_slot() {
        let table = ProcessTable::new();
        let pids: Vec<Pid> = [1u32, 63, 64, 65, 191, 192, 193, 100_000]
            .iter()
            .map(|&slot| Pid::new(slot, 0))
            .collect();
        for &pid in &pids {
            assert!(table.insert(process(pid)));
        }
        for &pid in &pids {
            assert_eq!(table.get(pid).map(|p| p.pid), Some(pid));
        }
        assert_eq!(table.all().len(), pids.len());
        assert_eq!(table.len(), pids.len());
    }

    #[test]
    fn workers_trade_free_pids_in_batches_and_never_hand_one_out_twice() {
        let table = ProcessTable::new();
        let (mut spawner, mut exiter) = (PidCache::default(), PidCache::default());
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10 {
            // One worker spawns, the other runs and ends what it spawned.
            let pids: Vec<Pid> = (0..1000)
                .map(|_| table.allocate(Some(&mut spawner)).unwrap())
                .collect();
            for &pid in &pids {
                assert!(seen.insert(pid), "{pid:?} handed out twice");
                assert!(table.insert(process(pid)));
            }
            for &pid in &pids {
                assert!(table.remove(pid, Some(&mut exiter)).is_some());
            }
        }
        assert!(table.is_empty());
        assert!(
            exiter.free.len() < 2 * BATCH,
            "the exiter gives its surplus back"
        );
        let slots = table.fresh.load(Ordering::Relaxed);
        assert!(
            slots < 1000 + 4 * BATCH as u64,
            "{slots} slots for 1000 live processes"
        );
    }

    #[test]
    fn a_slot_retires_after_its_last_generation() {
        let table = ProcessTable::new();
        let last = Pid::new(7, GENERATIONS_LAST);
        assert!(table.insert(process(last)));
        assert!(table.remove(last, None).is_some());
        assert_ne!(table.allocate(None).map(Pid::slot), Some(7));
    }

    const GENERATIONS_LAST: u64 = crate::proc::pid::GENERATIONS - 1;

    #[test]
    fn a_closed_table_refuses_and_frees_the_pid() {
        let table = ProcessTable::new();
        table.close();
        let pid = table.allocate(None).unwrap();
        assert!(!table.insert(process(pid)));
        assert!(table.get(pid).is_none());
        assert!(table.is_empty());
    }
}
