//! What a worker offers the code it runs: the running process, spawning, sending, waking.
//!
//! A `WorkerContext` lives on its worker thread only (behind an `Rc`). The Lua layer calls it from
//! its callbacks; the worker loop (`worker.rs`) owns the run queues it fills.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crossbeam_deque::Worker;

use super::slab::Slab;
use super::timer::Timers;
use super::{Shared, Spawn, SpawnRequest};
use crate::app::ProcessEntry;
use crate::error::{ErrorKind, ErrorValue};
use crate::proc::{Deadline, Envelope, Exit, Pid, Process, Push, Signal, pid};
use crate::value::Value;

/// A process this worker has started: the owner-only state the Lua side reads through the
/// context.
pub(super) struct Local {
    pub process: Arc<Process>,
    pub entry: Arc<ProcessEntry>,
    /// The pending wake-up of the process's time entries and its timer's sequence number.
    pub timer: Option<(Instant, u64)>,
    /// Messages taken from the mailbox while looking for an event, oldest first.
    pub messages: VecDeque<Envelope>,
    /// Lifecycle events taken from the mailbox while looking for a message, oldest first.
    pub events: VecDeque<Event>,
    /// Processes this one monitors. An EXIT from a process not in here (unmonitored since)
    /// is dropped, which is how `unmonitor` also discards an EXIT already queued.
    pub monitoring: HashSet<Pid, ahash::RandomState>,
    /// Processes this one is linked with; a LINK_DOWN from one not in here is dropped.
    pub links: HashSet<Pid, ahash::RandomState>,
    /// `process.set_options{trap_links = …}`.
    pub trap_links: bool,
    /// Why the process must stop before it runs any more Lua code (a linked failure,
    /// `terminate`, a passed cancel deadline).
    pub kill: Option<ErrorValue>,
    /// Children started by `process.call`, with their exit once it arrived. Their EXIT goes
    /// here instead of to `events()`.
    pub calls: HashMap<Pid, Option<Arc<Exit>>, ahash::RandomState>,
    /// A requested `process.upgrade`: the entry to run next and its arguments.
    pub upgrade: Option<(Arc<ProcessEntry>, Vec<Value>)>,
    /// Topics with an active `process.listen` channel: their messages are not for the inbox.
    pub listening: HashSet<Box<str>, ahash::RandomState>,
    /// The earliest cancel deadline and the sequence number of its timer.
    pub deadline: Option<(Instant, u64)>,
    /// A cancel deadline sorted out of the mailbox that still needs its timer.
    pub to_arm: Option<Instant>,
}

impl Local {
    pub fn new(process: Arc<Process>, entry: Arc<ProcessEntry>) -> Self {
        Self {
            process,
            entry,
            timer: None,
            messages: VecDeque::new(),
            events: VecDeque::new(),
            monitoring: HashSet::default(),
            links: HashSet::default(),
            trap_links: false,
            kill: None,
            deadline: None,
            to_arm: None,
            calls: HashMap::default(),
            listening: HashSet::default(),
            upgrade: None,
        }
    }

    /// Sorts one mailbox entry: a message is returned, an event is kept (or dropped).
    fn sort(&mut self, signal: Signal) -> Option<Envelope> {
        match signal {
            Signal::Message(envelope) => Some(envelope),
            Signal::Wake => None,
            Signal::Exit { from, pid, exit } => {
                if let Some(waiting) = self.calls.get_mut(&pid) {
                    *waiting = Some(exit);
                } else if self.monitoring.remove(&pid) {
                    self.events.push_back(Event::Exit { from, pid, exit });
                }
                None
            }
            Signal::LinkDown { from, pid, exit } => {
                if self.links.remove(&pid) {
                    if self.trap_links {
                        self.events.push_back(Event::LinkDown { from, pid, exit });
                    } else if self.kill.is_none() {
                        self.kill = Some(ErrorValue::new(
                            ErrorKind::Canceled,
                            "linked process failed",
                        ));
                    }
                }
                None
            }
            Signal::LinkGone { pid } => {
                self.links.remove(&pid);
                None
            }
            Signal::Kill(reason) => {
                self.kill.get_or_insert(reason);
                None
            }
            Signal::Cancel { from, deadline } => {
                self.events.push_back(Event::Cancel {
                    from,
                    deadline: deadline.map(|d| d.wall),
                });
                if let Some(d) = deadline
                    && self.deadline.is_none_or(|(at, _)| d.at < at)
                    && self.to_arm.is_none_or(|at| d.at < at)
                {
                    self.to_arm = Some(d.at);
                }
                None
            }
        }
    }

    /// Sorts everything waiting in the mailbox into the buffers; returns why the process must
    /// stop, if a signal says so.
    pub fn drain(&mut self) -> Option<ErrorValue> {
        while let Some(signal) = self.process.mailbox.pop() {
            if let Some(envelope) = self.sort(signal) {
                self.messages.push_back(envelope);
            }
        }
        self.kill.take()
    }
}

/// What a SpawnBuilder adds to a spawn: context values (overlaid on the caller's, later keys
/// win), a name registered before the child runs, and messages queued before it runs.
#[derive(Debug, Default)]
pub struct SpawnExtras {
    pub context: Vec<(Box<str>, Value)>,
    pub name: Option<String>,
    pub messages: Vec<(Box<str>, Vec<Value>)>,
}

/// Wakes one process from any thread (a line of input arrived for it).
pub struct Waker {
    process: Arc<Process>,
    shared: Arc<Shared>,
}

impl Waker {
    /// Makes the process look again at what it waits for; nothing if it has exited.
    pub fn wake(&self) {
        if self.process.mailbox.push(Signal::Wake) == Push::Wake {
            self.shared.wake_remote(&self.process);
        }
    }
}

/// A lifecycle event waiting for `process.events()`.
#[derive(Debug)]
pub enum Event {
    /// A monitored process exited.
    Exit {
        from: Arc<str>,
        pid: Pid,
        exit: Arc<Exit>,
    },
    /// A linked process failed and this process traps links.
    LinkDown {
        from: Arc<str>,
        pid: Pid,
        exit: Arc<Exit>,
    },
    /// Someone asked this process to stop.
    Cancel {
        from: Arc<str>,
        deadline: Option<SystemTime>,
    },
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

fn outside_process() -> ErrorValue {
    ErrorValue::new(ErrorKind::Invalid, "no process is running")
}

fn terminated() -> ErrorValue {
    ErrorValue::new(ErrorKind::Canceled, "terminated")
}

fn not_found(dest: &str) -> ErrorValue {
    ErrorValue::new(ErrorKind::NotFound, format!("no process {dest}"))
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
    /// The application the runtime runs.
    pub fn app(&self) -> &crate::app::App {
        &self.shared.app
    }

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

    /// Takes the oldest message of the running process whose topic has no listener (the inbox).
    pub fn pop_message(&self) -> Option<Envelope> {
        self.take_message(|local, topic| !local.listening.contains(topic))
    }

    /// Takes the oldest message with `topic` (a `listen` channel).
    pub fn pop_topic(&self, topic: &str) -> Option<Envelope> {
        self.take_message(|_, t| t == topic)
    }

    /// Takes the oldest message that `wanted` accepts: first from the buffer, then from the
    /// mailbox, keeping other messages (and events) in the buffers in arrival order.
    fn take_message(&self, wanted: impl Fn(&Local, &str) -> bool) -> Option<Envelope> {
        let slot = self.current.get()?;
        let mut procs = self.procs.borrow_mut();
        let local = procs.get_mut(slot)?;
        let buffered = match local.listening.is_empty() {
            true => local.messages.pop_front(),
            false => {
                let at = local.messages.iter().position(|m| wanted(local, &m.topic));
                at.and_then(|i| local.messages.remove(i))
            }
        };
        let envelope = match buffered {
            Some(envelope) => Some(envelope),
            None => loop {
                let Some(signal) = local.process.mailbox.pop() else {
                    break None;
                };
                if let Some(envelope) = local.sort(signal) {
                    if wanted(local, &envelope.topic) {
                        break Some(envelope);
                    }
                    local.messages.push_back(envelope);
                }
                if local.kill.is_some() {
                    break None; // the receive yields and the worker stops the process
                }
            },
        };
        // Sorting may have found a cancel deadline, whatever the outcome.
        self.arm_deadline(slot, local);
        if envelope.is_some() && self.shared.hosts[self.host].config.mailbox_limit > 0 {
            local.process.release_message();
        }
        envelope
    }

    /// `process.upgrade(source?, ...)`: checks the arguments and records the upgrade, which the
    /// worker performs when the caller yields.
    pub fn upgrade(&self, source: Option<&str>, args: Vec<Value>) -> Result<(), ErrorValue> {
        let entry = match source {
            None => self.current_entry().ok_or_else(outside_process)?,
            Some(id) if !crate::app::is_entry_id(id) => {
                return Err(ErrorValue::new(
                    ErrorKind::Invalid,
                    format!("upgrade: '{id}' is not an entry id 'namespace:name'"),
                ));
            }
            Some(id) => match self.shared.app.entry(id).map(|e| &e.kind) {
                Some(crate::app::EntryKind::Process(entry)) => entry.clone(),
                Some(other) => {
                    return Err(ErrorValue::new(
                        ErrorKind::Invalid,
                        format!("'{id}' is a {}, not a process.lua entry", other.name()),
                    ));
                }
                None => {
                    return Err(ErrorValue::new(
                        ErrorKind::NotFound,
                        format!("no entry '{id}'"),
                    ));
                }
            },
        };
        self.with_local(|l| l.upgrade = Some((entry, args)))
            .ok_or_else(outside_process)
    }

    /// `process.listen(topic)`: messages with `topic` stop going to the inbox.
    pub fn listen(&self, topic: &str) {
        self.with_local(|l| l.listening.insert(topic.into()));
    }

    /// `process.unlisten`: messages with `topic` go to the inbox again.
    pub fn unlisten(&self, topic: &str) {
        self.with_local(|l| l.listening.remove(topic));
    }

    /// Starts the timer of a cancel deadline that sorting found.
    pub(super) fn arm_deadline(&self, slot: u32, local: &mut Local) {
        if let Some(at) = local.to_arm.take() {
            let seq = self.timers.borrow_mut().add(at, slot);
            local.deadline = Some((at, seq));
        }
    }

    /// Takes the oldest lifecycle event of the running process.
    pub fn pop_event(&self) -> Option<Event> {
        let slot = self.current.get()?;
        let mut procs = self.procs.borrow_mut();
        let local = procs.get_mut(slot)?;
        loop {
            self.arm_deadline(slot, local);
            if let Some(event) = local.events.pop_front() {
                return Some(event);
            }
            if local.kill.is_some() {
                return None; // the receive yields and the worker stops the process
            }
            let signal = local.process.mailbox.pop()?;
            if let Some(envelope) = local.sort(signal) {
                local.messages.push_back(envelope);
            }
        }
    }

    /// Runs `f` on the owner-only state of the running process.
    fn with_local<R>(&self, f: impl FnOnce(&mut Local) -> R) -> Option<R> {
        let slot = self.current.get()?;
        self.procs.borrow_mut().get_mut(slot).map(f)
    }

    /// `process.get_options().trap_links`.
    pub fn trap_links(&self) -> bool {
        self.with_local(|l| l.trap_links).unwrap_or(false)
    }

    /// `process.set_options{trap_links = …}`.
    pub fn set_trap_links(&self, trap: bool) {
        self.with_local(|l| l.trap_links = trap);
    }

    /// `process.monitor(dest)`.
    pub fn monitor(&self, dest: &str) -> Result<(), ErrorValue> {
        let me = self.current_process().ok_or_else(outside_process)?;
        let target = self.resolve(dest)?;
        if target.pid == me.pid {
            return Ok(());
        }
        if self.with_local(|l| l.monitoring.contains(&target.pid)) == Some(true) {
            return Err(ErrorValue::new(
                ErrorKind::AlreadyExists,
                format!("{dest} is already monitored"),
            ));
        }
        if !target.watchers.add_monitor(me.pid) {
            return Err(not_found(dest));
        }
        self.with_local(|l| l.monitoring.insert(target.pid));
        Ok(())
    }

    /// `process.unmonitor(dest)`: idempotent; an unregistered name is fine.
    pub fn unmonitor(&self, dest: &str) -> Result<(), ErrorValue> {
        let me = self.current_process().ok_or_else(outside_process)?;
        let Some(pid) = self.pid_of(dest)? else {
            return Ok(());
        };
        if let Some(target) = self.shared.table.get(pid) {
            target.watchers.remove_monitor(me.pid);
        }
        self.with_local(|l| {
            l.monitoring.remove(&pid);
            // An EXIT already sorted out of the mailbox is discarded too.
            l.events
                .retain(|e| !matches!(e, Event::Exit { pid: p, .. } if *p == pid));
        });
        Ok(())
    }

    /// The PID `dest` stands for without requiring a live process: `None` for an unregistered
    /// name; `INVALID` for a malformed PID.
    fn pid_of(&self, dest: &str) -> Result<Option<Pid>, ErrorValue> {
        if dest.starts_with('{') {
            return match pid::parse(dest) {
                Some(parsed) => Ok(Some(parsed.pid)),
                None => Err(ErrorValue::new(
                    ErrorKind::Invalid,
                    format!("malformed PID '{dest}'"),
                )),
            };
        }
        Ok(self.shared.registry.lookup(dest))
    }

    /// `process.registry.register(name, pid?)`.
    pub fn register(&self, name: &str, pid: Option<&str>) -> Result<(), ErrorValue> {
        let target = match pid {
            None => self.current_process().ok_or_else(outside_process)?,
            Some(text) => {
                let Some(parsed) = pid::parse(text) else {
                    return Err(ErrorValue::new(
                        ErrorKind::Invalid,
                        format!("malformed PID '{text}'"),
                    ));
                };
                self.live_process(parsed.host, parsed.pid)
                    .ok_or_else(|| not_found(text))?
            }
        };
        let mut holder = None;
        let held = target.watchers.hold_name(name, || {
            match self.shared.registry.insert(name, target.pid) {
                Ok(()) => true,
                Err(other) => {
                    holder = Some(other);
                    false
                }
            }
        });
        match (held, holder) {
            (Some(true), _) => Ok(()),
            (Some(false), _) => Err(ErrorValue::new(
                ErrorKind::AlreadyExists,
                format!("the name '{name}' is registered by another process"),
            )),
            (None, _) => Err(not_found(&target.pid_text)),
        }
    }

    /// `process.registry.lookup(name)`.
    pub fn lookup(&self, name: &str) -> Result<Arc<str>, ErrorValue> {
        self.shared
            .registry
            .lookup(name)
            .and_then(|pid| self.shared.table.get(pid))
            .map(|p| p.pid_text.clone())
            .ok_or_else(|| {
                ErrorValue::new(
                    ErrorKind::NotFound,
                    format!("no process is registered as '{name}'"),
                )
            })
    }

    /// `process.registry.unregister(name)`: whether the name was registered.
    pub fn unregister(&self, name: &str) -> bool {
        match self.shared.registry.remove(name) {
            Some(pid) => {
                if let Some(holder) = self.shared.table.get(pid) {
                    holder.watchers.drop_name(name);
                }
                true
            }
            None => false,
        }
    }

    fn live_process(&self, host: &str, pid: Pid) -> Option<Arc<Process>> {
        let host = self.shared.host_index(host)?;
        self.shared.table.get(pid).filter(|p| p.host == host)
    }

    /// Puts a lifecycle `signal` in the mailbox of `pid`, waking it if it waits. A process that
    /// has exited meanwhile simply never sees it.
    pub(super) fn deliver(&self, pid: Pid, signal: Signal) {
        if let Some(target) = self.shared.table.get(pid)
            && target.mailbox.push(signal) == Push::Wake
        {
            self.wake(&target);
        }
    }

    /// Wakes the running process at `at`, unless it already has an earlier wake-up pending.
    /// The Lua side keeps the process's time entries and asks again for the next one.
    pub fn arm_wakeup(&self, at: Instant) {
        let Some(slot) = self.current.get() else {
            return;
        };
        let mut procs = self.procs.borrow_mut();
        let Some(local) = procs.get_mut(slot) else {
            return;
        };
        if local.timer.is_some_and(|(pending, _)| pending <= at) {
            return;
        }
        let seq = self.timers.borrow_mut().add(at, slot);
        local.timer = Some((at, seq));
    }

    /// Whether the running process must stop before any of its tasks runs again (it was
    /// killed, terminated itself or asked for an upgrade).
    pub fn must_stop(&self) -> bool {
        self.with_local(|l| l.kill.is_some() || l.upgrade.is_some())
            .unwrap_or(true)
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
            let woken = if local.timer.is_some_and(|(_, s)| s == seq) {
                local.timer = None;
                true
            } else if local.deadline.is_some_and(|(_, s)| s == seq) {
                local.deadline = None;
                local.kill.get_or_insert_with(|| {
                    ErrorValue::new(ErrorKind::Canceled, "cancel deadline exceeded")
                });
                true
            } else {
                false
            };
            if woken && local.process.mailbox.wake() {
                self.ready.borrow_mut().push_back(slot);
            }
        }
        timers.next_deadline()
    }

    /// Spawns `entry` on `host` with `args`; returns the child's PID text. With `monitored`
    /// the caller monitors the child from before its first run.
    pub fn spawn(
        &self,
        entry: &str,
        host: &str,
        args: Vec<Value>,
        monitored: bool,
        linked: bool,
    ) -> Result<Arc<str>, ErrorValue> {
        self.spawn_with(entry, host, args, monitored, linked, SpawnExtras::default())
    }

    /// A spawn with what a SpawnBuilder adds (process.md §12).
    pub fn spawn_with(
        &self,
        entry: &str,
        host: &str,
        args: Vec<Value>,
        monitored: bool,
        linked: bool,
        extras: SpawnExtras,
    ) -> Result<Arc<str>, ErrorValue> {
        let me = match monitored || linked || !extras.messages.is_empty() {
            true => Some(self.current_process().ok_or_else(outside_process)?),
            false => None,
        };
        let by = |wanted: bool| me.as_ref().filter(|_| wanted).map(|p| p.pid);
        let context = match extras.context.is_empty() {
            true => None,
            false => {
                let mut merged: Vec<(Box<str>, Value)> =
                    self.context().as_deref().unwrap_or_default().to_vec();
                for (key, value) in extras.context {
                    match merged.iter_mut().find(|(k, _)| *k == key) {
                        Some(slot) => slot.1 = value,
                        None => merged.push((key, value)),
                    }
                }
                Some(Some(merged.into()))
            }
        };
        let from = me.as_ref().map(|p| p.pid_text.clone());
        let messages = extras
            .messages
            .into_iter()
            .map(|(topic, payload)| Envelope {
                from: from.clone(),
                topic,
                payload,
            })
            .collect();
        let spawn = Spawn {
            monitor_by: by(monitored),
            linked_to: by(linked),
            context,
            name: extras.name,
            messages,
            ..Spawn::new(entry, host, args)
        };
        let child = self.shared.spawn(Some(self), spawn)?;
        if let Some(me) = &me {
            if linked {
                me.watchers.add_link(child.pid);
            }
            self.with_local(|l| {
                if monitored {
                    l.monitoring.insert(child.pid);
                }
                if linked {
                    l.links.insert(child.pid);
                }
            });
        }
        Ok(child.pid_text.clone())
    }

    /// Starts `process.call`: spawns the child, watched by the caller; returns its PID.
    pub fn call_start(&self, entry: &str, host: &str, args: Vec<Value>) -> Result<Pid, ErrorValue> {
        let me = self.current_process().ok_or_else(outside_process)?;
        let spawn = Spawn {
            monitor_by: Some(me.pid),
            ..Spawn::new(entry, host, args)
        };
        let child = self.shared.spawn(Some(self), spawn)?;
        self.with_local(|l| l.calls.insert(child.pid, None));
        Ok(child.pid)
    }

    /// The exit of a `process.call` child once it arrived (the call is then over). While
    /// waiting this sorts the mailbox, like a sleep: a kill keeps the caller waiting until its
    /// worker stops it, which terminates the child.
    pub fn call_result(&self, child: Pid) -> Option<Arc<Exit>> {
        let slot = self.current.get()?;
        let mut procs = self.procs.borrow_mut();
        let local = procs.get_mut(slot)?;
        let kill = local.drain();
        self.arm_deadline(slot, local);
        if let Some(reason) = kill {
            local.kill = Some(reason);
            return None;
        }
        match local.calls.get(&child) {
            Some(Some(_)) => local.calls.remove(&child).flatten(),
            _ => None,
        }
    }

    /// Terminates `target` on behalf of the runtime or a caller; `false` when it had already
    /// exited or been terminated.
    pub(super) fn terminate_process(&self, target: &Arc<Process>) -> bool {
        let Some(names) = target.watchers.terminate() else {
            return false;
        };
        for name in &names {
            self.shared.registry.release(name, target.pid);
        }
        self.shared.table.remove(target.pid);
        if target.mailbox.push(Signal::Kill(terminated())) == Push::Wake {
            self.wake(target);
        }
        true
    }

    /// `process.terminate(dest)`: the target is gone for everyone when this returns; it stops
    /// before running more Lua code, and its EXIT and LINK_DOWN go out once it has stopped.
    /// Returns `true` when the caller terminated itself (it must yield and never resume).
    pub fn terminate(&self, dest: &str) -> Result<bool, ErrorValue> {
        let me = self.current_process().ok_or_else(outside_process)?;
        let target = self.resolve(dest)?;
        if target.pid == me.pid {
            self.with_local(|l| {
                l.kill.get_or_insert_with(terminated);
            });
            return Ok(true);
        }
        if !self.terminate_process(&target) {
            return Err(not_found(dest));
        }
        Ok(false)
    }

    /// `process.cancel(dest, deadline?)`: queues CANCEL; a deadline is enforced by the target's
    /// owner, which stops the target when it passes.
    pub fn cancel(
        &self,
        dest: &str,
        deadline: Option<std::time::Duration>,
    ) -> Result<(), ErrorValue> {
        let from = self.current_pid_text().ok_or_else(outside_process)?;
        let target = self.resolve(dest)?;
        let deadline = deadline.map(|d| Deadline {
            at: Instant::now() + d,
            wall: SystemTime::now() + d,
        });
        match target.mailbox.push(Signal::Cancel { from, deadline }) {
            Push::Closed => Err(not_found(dest)),
            Push::Wake => {
                self.wake(&target);
                Ok(())
            }
            Push::Delivered => Ok(()),
        }
    }

    /// `process.link(dest)`: idempotent; linking yourself does nothing.
    pub fn link(&self, dest: &str) -> Result<(), ErrorValue> {
        let me = self.current_process().ok_or_else(outside_process)?;
        let target = self.resolve(dest)?;
        if target.pid == me.pid {
            return Ok(());
        }
        if !target.watchers.add_link(me.pid) {
            return Err(not_found(dest));
        }
        me.watchers.add_link(target.pid);
        self.with_local(|l| l.links.insert(target.pid));
        Ok(())
    }

    /// `process.unlink(dest)`: idempotent; also drops a LINK_DOWN already queued.
    pub fn unlink(&self, dest: &str) -> Result<(), ErrorValue> {
        let me = self.current_process().ok_or_else(outside_process)?;
        let Some(pid) = self.pid_of(dest)? else {
            return Ok(());
        };
        if let Some(target) = self.shared.table.get(pid) {
            target.watchers.remove_link(me.pid);
        }
        me.watchers.remove_link(pid);
        self.with_local(|l| {
            l.links.remove(&pid);
            // A LINK_DOWN already sorted out of the mailbox is discarded too.
            l.events
                .retain(|e| !matches!(e, Event::LinkDown { pid: p, .. } if *p == pid));
        });
        Ok(())
    }

    pub(super) fn push_spawn(&self, request: SpawnRequest) {
        self.deque.push(request);
    }

    /// The live process `dest` names (a PID; names come with the registry).
    pub fn resolve(&self, dest: &str) -> Result<Arc<Process>, ErrorValue> {
        if !dest.starts_with('{') {
            return self
                .shared
                .registry
                .lookup(dest)
                .and_then(|pid| self.shared.table.get(pid))
                .ok_or_else(|| {
                    ErrorValue::new(
                        ErrorKind::NotFound,
                        format!("no process is registered as '{dest}'"),
                    )
                });
        }
        if dest == super::RUNTIME_PID {
            return Err(not_found(dest)); // the runtime's PID accepts no messages
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
        match target.mailbox.push(Signal::Message(envelope)) {
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
    /// The context values of the running process.
    pub fn context(&self) -> Option<crate::proc::Context> {
        let slot = self.current.get()?;
        self.procs.borrow().get(slot)?.process.context.clone()
    }

    /// Whether the running process's host allows the `io` module.
    pub fn io_allowed(&self) -> bool {
        self.shared.hosts[self.host].config.io
    }

    /// A handle that wakes the running process from another thread.
    pub fn waker(&self) -> Option<Waker> {
        Some(Waker {
            process: self.current_process()?,
            shared: self.shared.clone(),
        })
    }

    fn wake(&self, process: &Process) {
        let Some((worker, slot)) = process.location() else {
            debug_assert!(false, "a waiting process has a location");
            return;
        };
        if process.host == self.host && worker == self.index {
            self.ready.borrow_mut().push_back(slot);
        } else {
            self.shared.wake_remote(process);
        }
    }
}
