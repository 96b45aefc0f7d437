//! What a worker offers the code it runs: the running process, spawning, sending, waking.
//!
//! A `WorkerContext` lives on its worker thread only (behind an `Rc`). The Lua layer calls it from
//! its callbacks; the worker loop (`worker.rs`) owns the run queues it fills.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use crossbeam_deque::Worker;

use super::slab::Slab;
use super::timer::Timers;
use super::{Shared, SpawnRequest};
use crate::app::ProcessEntry;
use crate::error::{ErrorKind, ErrorValue};
use crate::proc::{Envelope, Process, Push, pid};
use crate::value::Value;

/// A process this worker has started.
pub(super) struct Local {
    pub process: Arc<Process>,
    pub entry: Arc<ProcessEntry>,
    /// Sequence number of the timer the process sleeps on, until it fires.
    pub timer: Option<u64>,
}

/// One worker's view of the runtime.
pub struct WorkerContext {
    pub(super) shared: Arc<Shared>,
    /// Index of this worker's host in `Shared::hosts`.
    pub(super) host: usize,
    /// Index of this worker in its host.
    pub(super) index: usize,
    /// Spawn requests made here; LIFO, stealable by siblings.
    pub(super) deque: Worker<SpawnRequest>,
    /// Slots of started processes that are runnable; only this worker touches it.
    pub(super) ready: RefCell<VecDeque<u32>>,
    /// Processes this worker has started, by slot.
    pub(super) procs: RefCell<Slab<Local>>,
    /// The slot of the process being resumed, if any.
    pub(super) current: Cell<Option<u32>>,
    /// Deadlines of this worker's processes.
    pub(super) timers: RefCell<Timers>,
}

impl WorkerContext {
    /// The slot of the running process.
    pub fn current_slot(&self) -> Option<u32> {
        self.current.get()
    }

    /// The running process.
    pub fn current_process(&self) -> Option<Arc<Process>> {
        let slot = self.current.get()?;
        self.procs.borrow().get(slot).map(|l| l.process.clone())
    }

    /// The entry the running process runs.
    pub fn current_entry(&self) -> Option<Arc<ProcessEntry>> {
        let slot = self.current.get()?;
        self.procs.borrow().get(slot).map(|l| l.entry.clone())
    }

    /// The PID text of the running process.
    pub fn current_pid_text(&self) -> Option<Arc<str>> {
        let slot = self.current.get()?;
        self.procs
            .borrow()
            .get(slot)
            .map(|l| l.process.pid_text.clone())
    }

    /// The preemption budget of this worker's host.
    pub fn preemption_budget(&self) -> u32 {
        self.shared.hosts[self.host].config.preemption_budget
    }

    /// Takes the oldest message of the running process.
    pub fn pop_message(&self) -> Option<Envelope> {
        let slot = self.current.get()?;
        let procs = self.procs.borrow();
        let process = &procs.get(slot)?.process;
        let envelope = process.mailbox.pop()?;
        if self.shared.hosts[self.host].config.mailbox_limit > 0 {
            process.release_message();
        }
        Some(envelope)
    }

    /// Starts a sleep of the running process: its timer fires after `duration`.
    pub fn start_sleep(&self, duration: std::time::Duration) {
        let Some(slot) = self.current.get() else {
            return;
        };
        let seq = self
            .timers
            .borrow_mut()
            .add(Instant::now() + duration, slot);
        if let Some(local) = self.procs.borrow_mut().get_mut(slot) {
            local.timer = Some(seq);
        }
    }

    /// Whether the running process's sleep is over.
    pub fn sleep_finished(&self) -> bool {
        let Some(slot) = self.current.get() else {
            return true;
        };
        self.procs
            .borrow()
            .get(slot)
            .is_none_or(|l| l.timer.is_none())
    }

    /// Fires every due timer: its process is scheduled if it waits. Returns the next deadline.
    pub(super) fn fire_due_timers(&self) -> Option<Instant> {
        let now = Instant::now();
        let mut timers = self.timers.borrow_mut();
        while let Some((seq, slot)) = timers.pop_due(now) {
            let mut procs = self.procs.borrow_mut();
            let Some(local) = procs.get_mut(slot) else {
                continue;
            };
            if local.timer == Some(seq) {
                local.timer = None;
                if local.process.mailbox.wake() {
                    self.ready.borrow_mut().push_back(slot);
                }
            }
        }
        timers.next_deadline()
    }

    /// Spawns `entry` on `host` with `args`; returns the child's PID text.
    pub fn spawn(&self, entry: &str, host: &str, args: Vec<Value>) -> Result<Arc<str>, ErrorValue> {
        let process = self.shared.spawn(Some(self), entry, host, args, None)?;
        Ok(process.pid_text.clone())
    }

    pub(super) fn push_spawn(&self, request: SpawnRequest) {
        self.deque.push(request);
    }

    /// The live process `dest` names (a PID; names come with the registry).
    pub fn resolve(&self, dest: &str) -> Result<Arc<Process>, ErrorValue> {
        if !dest.starts_with('{') {
            return Err(ErrorValue::new(
                ErrorKind::NotFound,
                format!("no process is registered as '{dest}'"),
            ));
        }
        let Some(parsed) = pid::parse(dest) else {
            return Err(ErrorValue::new(
                ErrorKind::Invalid,
                format!("malformed PID '{dest}'"),
            ));
        };
        let gone = || ErrorValue::new(ErrorKind::NotFound, format!("no process {dest}"));
        let host = self.shared.host_index(parsed.host).ok_or_else(gone)?;
        self.shared
            .table
            .get(parsed.pid)
            .filter(|p| p.host == host)
            .ok_or_else(gone)
    }

    /// Puts `envelope` in the mailbox of `dest`, waking it if it waits.
    pub fn send(&self, dest: &str, envelope: Envelope) -> Result<(), ErrorValue> {
        let target = self.resolve(dest)?;
        let limit = self.shared.hosts[target.host].config.mailbox_limit as usize;
        if limit > 0 && !target.reserve_message(limit) {
            return Err(ErrorValue::new(
                ErrorKind::Unavailable,
                format!("the mailbox of {dest} is full ({limit} messages waiting)"),
            ));
        }
        match target.mailbox.push(envelope) {
            Push::Delivered => Ok(()),
            Push::Wake => {
                self.wake(&target);
                Ok(())
            }
            Push::Closed => Err(ErrorValue::new(
                ErrorKind::NotFound,
                format!("no process {dest}"),
            )),
        }
    }

    /// Queues a process that a push moved from `WAITING` to `SCHEDULED` on its owner.
    fn wake(&self, process: &Process) {
        let Some((worker, slot)) = process.location() else {
            debug_assert!(false, "a waiting process has a location");
            return;
        };
        if process.host == self.host && worker == self.index {
            self.ready.borrow_mut().push_back(slot);
        } else {
            let remote = &self.shared.hosts[process.host].workers[worker];
            remote.wakeups.push(slot);
            remote.unparker.unpark();
        }
    }
}
