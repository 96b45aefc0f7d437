//! A worker's timer heap: the time entries of its processes (sleeps, time channels, cancel
//! deadlines), earliest first.
//!
//! Each heap entry names its process by slot and its entry by [`TimeId`], and carries a
//! sequence number that the process's entry also holds. An entry that was removed (a stopped
//! timer, an exited process, a reused slot) is *cancelled*: its number goes into a set and the
//! entry is skipped when it comes out. Adding, cancelling and taking a due entry cost O(log n);
//! when cancelled entries outnumber live ones the heap is rebuilt without them, so a program
//! that starts and abandons many timers (`select` with `time.after` per message) keeps the heap
//! as small as its pending timers, amortised.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::time::Instant;

use crate::proc::TimeId;

#[derive(Debug)]
struct Entry {
    at: Instant,
    seq: u64,
    slot: u32,
    id: TimeId,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Entry) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Entry) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    fn cmp(&self, other: &Entry) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// A due entry: its sequence number, its process's slot and its id in that process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    pub seq: u64,
    pub slot: u32,
    pub id: TimeId,
}

/// The pending time entries of one worker's processes.
#[derive(Debug, Default)]
pub struct Timers {
    heap: BinaryHeap<Reverse<Entry>>,
    cancelled: HashSet<u64, ahash::RandomState>,
    next_seq: u64,
}

/// Below this size the heap is never rebuilt.
const REBUILD_MIN: usize = 64;

impl Timers {
    /// Adds an entry at `at` for `id` of the process in `slot`; returns its sequence number.
    pub fn add(&mut self, at: Instant, slot: u32, id: TimeId) -> u64 {
        self.next_seq += 1;
        let seq = self.next_seq;
        self.heap.push(Reverse(Entry { at, seq, slot, id }));
        seq
    }

    /// Cancels the entry `seq` (it will never come out as due).
    pub fn cancel(&mut self, seq: u64) {
        self.cancelled.insert(seq);
        let live = self.heap.len().saturating_sub(self.cancelled.len());
        if self.heap.len() > REBUILD_MIN && self.cancelled.len() > live {
            let cancelled = std::mem::take(&mut self.cancelled);
            let heap = std::mem::take(&mut self.heap);
            self.heap = heap
                .into_vec()
                .into_iter()
                .filter(|Reverse(e)| !cancelled.contains(&e.seq))
                .collect();
        }
    }

    /// The earliest deadline of a live entry.
    pub fn next_deadline(&mut self) -> Option<Instant> {
        self.skip_cancelled();
        self.heap.peek().map(|Reverse(e)| e.at)
    }

    fn skip_cancelled(&mut self) {
        while let Some(Reverse(e)) = self.heap.peek() {
            if !self.cancelled.remove(&e.seq) {
                return;
            }
            self.heap.pop();
        }
    }

    /// Takes a live entry due at `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<Due> {
        if self.next_deadline()? > now {
            return None;
        }
        self.heap.pop().map(|Reverse(e)| Due {
            seq: e.seq,
            slot: e.slot,
            id: e.id,
        })
    }

    /// Entries in the heap, cancelled ones included (for tests of the rebuild).
    #[cfg(test)]
    pub fn stored(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::proc::local::TimeEntries;
    use crate::proc::{TimeEntry, TimeKind};

    fn id() -> TimeId {
        TimeEntries::default().add(TimeEntry {
            at: Instant::now(),
            seq: 0,
            kind: TimeKind::Deadline,
        })
    }

    #[test]
    fn fires_in_deadline_order_and_only_when_due() {
        let now = Instant::now();
        let mut timers = Timers::default();
        let late = timers.add(now + Duration::from_millis(20), 1, id());
        let early = timers.add(now + Duration::from_millis(10), 2, id());
        assert_eq!(timers.pop_due(now), None);
        assert_eq!(
            timers.next_deadline(),
            Some(now + Duration::from_millis(10))
        );
        let later = now + Duration::from_millis(30);
        assert_eq!(
            timers.pop_due(later).map(|d| (d.seq, d.slot)),
            Some((early, 2))
        );
        assert_eq!(
            timers.pop_due(later).map(|d| (d.seq, d.slot)),
            Some((late, 1))
        );
        assert_eq!(timers.next_deadline(), None);
    }

    #[test]
    fn cancelled_entries_never_fire_and_do_not_pile_up() {
        let now = Instant::now();
        let mut timers = Timers::default();
        let keep = timers.add(now, 0, id());
        for _ in 0..10_000 {
            let seq = timers.add(now + Duration::from_secs(10), 0, id());
            timers.cancel(seq);
        }
        assert!(
            timers.stored() <= 2 * REBUILD_MIN,
            "{} stored",
            timers.stored()
        );
        assert_eq!(timers.pop_due(now).map(|d| d.seq), Some(keep));
        assert_eq!(timers.pop_due(now + Duration::from_secs(20)), None);
    }
}
