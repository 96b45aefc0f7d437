//! One worker's own state (its `Core`): the processes it runs, its run queues, its timer heap,
//! and the process being resumed. Only the worker thread touches it; the Lua functions running
//! on that thread reach it through [`current_core`].
//!
//! A borrow of one of these cells is never held while Lua code runs: the worker takes what it
//! needs, lets go, then resumes a coroutine. A Lua function borrows only for the Rust work it
//! does between two API calls that cannot run Lua code.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use crossbeam_deque::Worker;

use super::slab::Slab;
use super::timer::Timers;
use super::{Shared, SpawnRequest};
use crate::app::ProcessEntry;
use crate::lua::{LuaRef, ProcessLua};
use crate::proc::table::PidCache;
use crate::proc::{Local, Pid, Process, Signal, TimeEntry, TimeId, TimeKind};
use crate::value::Value;

/// A process this worker runs: its owner state, its entry, and its Lua state.
pub struct Proc {
    pub local: Local<LuaRef>,
    pub entry: Arc<ProcessEntry>,
    pub lua: ProcessLua,
    /// A requested `process.upgrade`: the entry to run next and its arguments.
    pub upgrade: Option<Box<(Arc<ProcessEntry>, Vec<Value>)>>,
}

/// An entry of a worker's ready queue.
#[derive(Debug, Clone, Copy)]
pub(super) enum Turn {
    /// The started process in this slot is runnable.
    Resume(u32),
    /// Start up to this many spawns of the local deque, as many as a process queued there
    /// during the run that ended when this turn was queued, so that its children start before
    /// it goes on. The deque gives its newest spawns first, which are that process's unless
    /// another process spawned here since (then some of its children start later).
    Spawns(u32),
}

/// One worker's view of the runtime.
pub struct Core {
    pub shared: Arc<Shared>,
    /// Index of this worker's host in `Shared::hosts`.
    pub host: usize,
    /// Index of this worker in its host.
    pub index: usize,
    /// This worker's counters for `stats` (shared with its `Remote`; only this worker writes
    /// them).
    counters: Arc<crossbeam_utils::CachePadded<super::stats::WorkerCounters>>,
    /// Spawn requests made here that siblings may steal; LIFO.
    pub(super) deque: Worker<SpawnRequest>,
    /// The newest spawn made here: only this worker takes it, so that a child starts next to
    /// its parent (Go's `runnext`).
    pub(super) next: RefCell<Option<SpawnRequest>>,
    /// Spawns the running process queued in the local deque during this run.
    pub(super) slice_spawns: Cell<usize>,
    /// What runs next, in order: started processes that are runnable, and turns for spawns.
    pub(super) ready: RefCell<VecDeque<Turn>>,
    /// How many of `ready`'s entries are `Turn::Spawns`.
    pub(super) spawn_turns: Cell<usize>,
    /// Processes this worker runs, by slot.
    pub(super) procs: RefCell<Slab<Proc>>,
    /// The slot of the process being resumed, if any.
    pub(super) current: Cell<Option<u32>>,
    /// The PID of the process being resumed (meaningful while `current` is set), so that the
    /// hot paths know who is running without borrowing the process table.
    current_pid: Cell<Pid>,
    /// Whether the permission checks of the process being resumed must be evaluated
    /// (`Process::guarded`).
    current_guarded: Cell<bool>,
    /// Time entries of this worker's processes.
    pub(super) timers: RefCell<Timers>,
    /// PIDs this worker hands out and takes back without touching the table's free list.
    pub(super) pids: RefCell<PidCache>,
    /// Recently resolved destinations of `process.send` (see `send.rs`).
    pub(super) destinations: RefCell<super::send::Destinations>,
    /// Records of exited processes kept for the next spawns (see `records.rs`).
    pub(super) records: super::records::Records,
}

thread_local! {
    static CORE: std::cell::OnceCell<Rc<Core>> = const { std::cell::OnceCell::new() };
}

/// The core of the worker running on this thread (`None` on other threads).
pub fn current_core() -> Option<Rc<Core>> {
    CORE.with(|c| c.get().cloned())
}

impl Core {
    pub(super) fn new(
        shared: Arc<Shared>,
        host: usize,
        index: usize,
        deque: Worker<SpawnRequest>,
    ) -> Rc<Core> {
        let counters = shared.hosts[host].workers[index].counters.clone();
        let core = Rc::new(Core {
            shared,
            host,
            index,
            counters,
            deque,
            next: RefCell::default(),
            slice_spawns: Cell::new(0),
            ready: RefCell::default(),
            spawn_turns: Cell::new(0),
            procs: RefCell::new(Slab::new()),
            current: Cell::new(None),
            current_pid: Cell::new(Pid(0)),
            current_guarded: Cell::new(false),
            timers: RefCell::default(),
            pids: RefCell::default(),
            destinations: RefCell::default(),
            records: Default::default(),
        });
        CORE.with(|c| {
            let _ = c.set(core.clone());
        });
        core
    }

    /// The settings of this worker's host.
    pub fn config(&self) -> &crate::app::HostConfig {
        &self.shared.hosts[self.host].config
    }

    /// The id of host `index`.
    pub fn host_id(&self, index: usize) -> &str {
        &self.shared.hosts[index].id
    }

    /// A PID for a process spawned here (`None` when the table is full).
    pub(super) fn allocate_pid(&self) -> Option<Pid> {
        self.shared
            .table
            .allocate(Some(&mut self.pids.borrow_mut()))
    }

    /// Gives back a PID [`allocate_pid`](Self::allocate_pid) handed out for a spawn that failed.
    pub(super) fn release_pid(&self, pid: Pid) {
        self.shared
            .table
            .release(pid, Some(&mut self.pids.borrow_mut()));
    }

    /// Takes a process out of the process table and frees its PID here.
    pub(super) fn remove_from_table(&self, pid: Pid) {
        self.shared
            .table
            .remove(pid, Some(&mut self.pids.borrow_mut()));
    }

    /// Whether a process is running on this worker now.
    pub fn is_running(&self) -> bool {
        self.current.get().is_some()
    }

    /// The slot and PID of the running process.
    pub fn current_identity(&self) -> Option<(u32, Pid)> {
        Some((self.current.get()?, self.current_pid.get()))
    }

    /// The process in `slot` (whose PID is `pid`, and whose checks are `guarded`) starts
    /// running; `None` when it stops.
    pub(super) fn set_current(&self, running: Option<(u32, Pid, bool)>) {
        self.current.set(running.map(|(slot, _, _)| slot));
        if let Some((_, pid, guarded)) = running {
            self.current_pid.set(pid);
            self.current_guarded.set(guarded);
        }
    }

    /// Whether the running process's permission checks must be evaluated.
    #[inline]
    pub(super) fn current_guarded(&self) -> bool {
        self.current.get().is_some() && self.current_guarded.get()
    }

    /// Runs `f` on the process being resumed.
    pub fn with_current<R>(&self, f: impl FnOnce(&mut Proc) -> R) -> Option<R> {
        let slot = self.current.get()?;
        self.procs.borrow_mut().get_mut(slot).map(f)
    }

    /// Runs `f` on the process in `slot`.
    pub fn with_proc<R>(&self, slot: u32, f: impl FnOnce(&mut Proc) -> R) -> Option<R> {
        self.procs.borrow_mut().get_mut(slot).map(f)
    }

    /// The shared half of the running process.
    pub fn current_process(&self) -> Option<Arc<Process>> {
        self.with_current(|p| p.local.process.clone())
    }

    /// The entry the running process runs.
    pub fn current_entry(&self) -> Option<Arc<ProcessEntry>> {
        self.with_current(|p| p.entry.clone())
    }

    /// The application the runtime runs.
    pub fn app(&self) -> &crate::app::App {
        &self.shared.app
    }

    /// This worker's counters for `stats` (only this worker writes them).
    #[inline]
    pub(super) fn counters(&self) -> &super::stats::WorkerCounters {
        &self.counters
    }

    /// Sorts `signal` into the process in `slot` (if it is still `pid`), and schedules the
    /// process when it waits and the signal concerns it.
    pub(super) fn absorb(&self, slot: u32, pid: Pid, signal: Signal) {
        let mut procs = self.procs.borrow_mut();
        let Some(proc) = procs.get_mut(slot) else {
            return;
        };
        if proc.local.process.pid != pid {
            return;
        }
        proc.local.absorb(signal);
        if !proc.local.scheduled && proc.local.wants_run() {
            proc.local.scheduled = true;
            self.ready.borrow_mut().push_back(Turn::Resume(slot));
        }
    }

    /// Makes the process in `slot` runnable (a task of it became ready).
    pub(super) fn schedule(&self, slot: u32, proc: &mut Proc) {
        if !proc.local.scheduled {
            proc.local.scheduled = true;
            self.ready.borrow_mut().push_back(Turn::Resume(slot));
        }
    }

    // ---- time --------------------------------------------------------------------------------

    /// Adds a time entry to the running process and to the heap.
    pub fn add_time_entry(&self, at: Instant, kind: TimeKind) -> Option<TimeId> {
        let slot = self.current.get()?;
        let mut procs = self.procs.borrow_mut();
        let proc = procs.get_mut(slot)?;
        let id = proc.local.time.add(TimeEntry { at, seq: 0, kind });
        let seq = self.timers.borrow_mut().add(at, slot, id);
        if let Some(entry) = proc.local.time.get_mut(id) {
            entry.seq = seq;
        }
        Some(id)
    }

    /// Removes a time entry of the running process; whether it was pending.
    pub fn remove_time_entry(&self, id: TimeId) -> bool {
        let removed = self.with_current(|p| p.local.time.remove(id)).flatten();
        match removed {
            Some(entry) => {
                self.timers.borrow_mut().cancel(entry.seq);
                true
            }
            None => false,
        }
    }

    /// Puts a cancel deadline that sorting found in the heap (the earliest wins).
    pub(super) fn arm_deadline(&self, slot: u32, proc: &mut Proc) {
        if let Some(at) = proc.local.to_arm.take() {
            let id = proc.local.time.add(TimeEntry {
                at,
                seq: 0,
                kind: TimeKind::Deadline,
            });
            let seq = self.timers.borrow_mut().add(at, slot, id);
            if let Some(entry) = proc.local.time.get_mut(id) {
                entry.seq = seq;
            }
            proc.local.armed_deadline(at);
        }
    }

    /// Arms a cancel deadline the process in `slot` found while sorting signals.
    pub fn arm_pending_deadline(&self, slot: u32) {
        let mut procs = self.procs.borrow_mut();
        if let Some(proc) = procs.get_mut(slot)
            && proc.local.to_arm.is_some()
        {
            self.arm_deadline(slot, proc);
        }
    }

    /// Fires every due time entry; returns the next deadline.
    pub(super) fn fire_due_timers(&self) -> Option<Instant> {
        // Reading the clock costs more than the rest of an idle check: only when a timer waits.
        self.timers.borrow_mut().next_deadline()?;
        let now = Instant::now();
        loop {
            let due = self.timers.borrow_mut().pop_due(now);
            let Some(due) = due else {
                break;
            };
            let mut procs = self.procs.borrow_mut();
            let Some(proc) = procs.get_mut(due.slot) else {
                continue;
            };
            let Some(entry) = proc.local.time.get(due.id).copied() else {
                continue;
            };
            if entry.seq != due.seq {
                continue;
            }
            match entry.kind {
                TimeKind::Sleep { task, seq } => {
                    proc.local.time.remove(due.id);
                    proc.local.tasks.wake(task, seq);
                }
                TimeKind::Channel { channel, period } => {
                    if !proc.local.tasks.exists(channel) {
                        proc.local.time.remove(due.id);
                        continue;
                    }
                    proc.local.tasks.offer(
                        channel,
                        crate::proc::Item::Time(crate::lua::time::wall_ns()),
                    );
                    match period {
                        Some(period) => {
                            let mut at = entry.at + period;
                            if at <= now {
                                at = now + period;
                            }
                            let seq = self.timers.borrow_mut().add(at, due.slot, due.id);
                            if let Some(e) = proc.local.time.get_mut(due.id) {
                                e.at = at;
                                e.seq = seq;
                            }
                        }
                        None => {
                            proc.local.time.remove(due.id);
                            // That was the last thing that could wake a blocked task: let the
                            // process look again, so that it reports its deadlock.
                            if !proc.local.time.can_wake() {
                                self.schedule(due.slot, proc);
                            }
                        }
                    }
                }
                TimeKind::Deadline => {
                    proc.local.time.remove(due.id);
                    proc.local.kill.get_or_insert_with(|| {
                        Box::new(crate::error::ErrorValue::new(
                            crate::error::ErrorKind::Canceled,
                            "cancel deadline exceeded",
                        ))
                    });
                }
            }
            if proc.local.tasks.has_ready() || proc.local.kill.is_some() {
                self.schedule(due.slot, proc);
            }
        }
        self.timers.borrow_mut().next_deadline()
    }

    /// Forgets the heap entries of a process that exits or upgrades.
    pub fn cancel_time_entries(&self, seqs: impl IntoIterator<Item = u64>) {
        let mut timers = self.timers.borrow_mut();
        for seq in seqs {
            timers.cancel(seq);
        }
    }
}
