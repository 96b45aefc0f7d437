//! A worker's timer heap: the deadlines of its own processes.
//!
//! A timer belongs to one slot and carries a sequence number; the process's `Local` record
//! holds the sequence number of the timer it waits for. A timer that fires after its process
//! exited, or after the slot was reused, finds another (or no) sequence number there and is
//! ignored, so timers never need to be removed from the heap.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Timer {
    deadline: Instant,
    seq: u64,
    slot: u32,
}

/// Pending timers, earliest first.
#[derive(Debug, Default)]
pub struct Timers {
    heap: BinaryHeap<Reverse<Timer>>,
    next_seq: u64,
}

impl Timers {
    /// Adds a timer for `slot` at `deadline`; returns its sequence number.
    pub fn add(&mut self, deadline: Instant, slot: u32) -> u64 {
        self.next_seq += 1;
        let seq = self.next_seq;
        self.heap.push(Reverse(Timer {
            deadline,
            seq,
            slot,
        }));
        seq
    }

    /// The earliest deadline, if any timer is pending.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse(t)| t.deadline)
    }

    /// Removes and returns `(seq, slot)` of a timer due at `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<(u64, u32)> {
        if self.next_deadline()? > now {
            return None;
        }
        self.heap.pop().map(|Reverse(t)| (t.seq, t.slot))
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn fires_in_deadline_order_and_only_when_due() {
        let now = Instant::now();
        let mut timers = Timers::default();
        let late = timers.add(now + Duration::from_millis(20), 1);
        let early = timers.add(now + Duration::from_millis(10), 2);
        assert_eq!(timers.pop_due(now), None);
        assert_eq!(
            timers.next_deadline(),
            Some(now + Duration::from_millis(10))
        );
        let later = now + Duration::from_millis(30);
        assert_eq!(timers.pop_due(later), Some((early, 2)));
        assert_eq!(timers.pop_due(later), Some((late, 1)));
        assert!(timers.is_empty());
    }
}
