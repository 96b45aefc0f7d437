//! Scheduling: hosts of worker threads, run queues, work stealing, parking and shutdown.
//!
//! # Where work comes from
//!
//! A process that has not run yet is a [`SpawnRequest`]: plain Rust data that any worker of its
//! host may take. A spawn from a process goes to its worker's LIFO deque (the newest child runs
//! first, which keeps deep spawn trees shallow in memory); a spawn from outside, or onto another
//! host, goes to that host's injector. Idle workers steal batches from both. The worker that
//! first runs a process owns it for life, because its coroutine lives in that worker's VM.
//!
//! A started process that becomes runnable again is a slot number in its owner's ready queue
//! (when the waker is the owner) or wake-up queue (when it is another thread). The state word in
//! the process's mailbox (`proc::mailbox`) guarantees a slot is queued at most once.
//!
//! # Parking
//!
//! A worker with nothing to do sets its `parked` flag, looks at every queue once more, and parks.
//! A spawner pushes, then unparks one parked sibling; a waker pushes a slot to the owner's wake-up
//! queue, then unparks the owner. The flag store and the queue pushes are sequentially consistent
//! on both sides (Dekker's pattern), so either the parking worker sees the work or the pusher
//! sees the flag. An idle runtime therefore uses no CPU.

mod context;
mod slab;
mod timer;
mod worker;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering, fence};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

use crossbeam_deque::{Injector, Stealer, Worker};
use crossbeam_utils::sync::{Parker, Unparker};

pub use context::{Event, SpawnExtras, Waker, WorkerContext};

use crate::app::{App, EntryKind, HostConfig, ProcessEntry};
use crate::error::{ErrorKind, ErrorValue};
use crate::proc::{
    Deadline, Envelope, Exit, Pid, Process, ProcessTable, Push, Registry, Signal, Watchers,
};
use crate::value::Value;

/// A process that has not started yet; any worker of its host may take it.
pub struct SpawnRequest {
    process: Arc<Process>,
    entry: Arc<ProcessEntry>,
    args: Vec<Value>,
    /// The spawner, when the child is linked to it (spawn_linked): the child's own link set
    /// starts with it.
    linked_to: Option<Pid>,
}

/// The PID that runtime-sent CANCEL events carry; it accepts no messages.
pub const RUNTIME_PID: &str = "{runtime|0x00000}";

/// What to spawn, and who is tied to the new process from before its first run.
pub(crate) struct Spawn<'a> {
    pub entry: &'a str,
    pub host: &'a str,
    pub args: Vec<Value>,
    /// Receives the exit (the embedding API's `run`).
    pub watch: Option<mpsc::Sender<Exit>>,
    /// A process that monitors the child (spawn_monitored).
    pub monitor_by: Option<Pid>,
    /// A process linked with the child (spawn_linked).
    pub linked_to: Option<Pid>,
    /// The child's context values; `None` inherits the spawner's.
    pub context: Option<Option<crate::proc::Context>>,
    /// A name registered for the child before it runs (SpawnBuilder `with_name`).
    pub name: Option<String>,
    /// Messages in the child's mailbox before it first runs, in order.
    pub messages: Vec<Envelope>,
}

impl<'a> Spawn<'a> {
    /// A plain spawn of `entry` on `host`.
    pub fn new(entry: &'a str, host: &'a str, args: Vec<Value>) -> Self {
        Self {
            entry,
            host,
            args,
            watch: None,
            monitor_by: None,
            linked_to: None,
            context: None,
            name: None,
            messages: Vec::new(),
        }
    }
}

/// What other threads may do to one worker: wake its processes, steal its spawns, unpark it.
struct Remote {
    /// Slots of this worker's processes made runnable by other threads.
    wakeups: Injector<u32>,
    unparker: Unparker,
    stealer: Stealer<SpawnRequest>,
    /// True while the worker is parked or about to park.
    parked: AtomicBool,
}

/// A host: a pool of workers and its settings.
pub struct Host {
    pub id: String,
    pub config: HostConfig,
    /// Spawns from outside this host's workers.
    injector: Injector<SpawnRequest>,
    workers: Vec<Remote>,
    /// Live processes, for `max_processes`.
    live: AtomicUsize,
}

impl Host {
    /// Unparks one parked worker other than `except`, if any.
    fn notify_idle(&self, except: Option<usize>) {
        fence(Ordering::SeqCst);
        for (i, remote) in self.workers.iter().enumerate() {
            if Some(i) != except && remote.parked.load(Ordering::SeqCst) {
                remote.unparker.unpark();
                return;
            }
        }
    }
}

/// State every worker and the embedding application share.
pub struct Shared {
    pub app: Arc<App>,
    pub table: ProcessTable,
    pub registry: Registry,
    pub hosts: Vec<Host>,
    host_ids: HashMap<String, usize>,
    /// Serial numbers of PIDs; never reused.
    next_serial: AtomicU64,
    /// Set once: workers leave their loops.
    stopping: AtomicBool,
    /// Set once, when a graceful shutdown starts: spawns are refused.
    closing: AtomicBool,
    /// Senders of exit results for processes someone waits for (`Runtime::run`).
    watchers: Mutex<HashMap<Pid, mpsc::Sender<Exit>>>,
}

impl Shared {
    fn host_index(&self, id: &str) -> Option<usize> {
        self.host_ids.get(id).copied()
    }

    fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Creates a process running `entry_id` on `host_id` and queues it for its first run.
    ///
    /// From a worker of the same host the request goes to that worker's deque; otherwise to the
    /// host's injector.
    fn spawn(
        &self,
        spawner: Option<&WorkerContext>,
        spawn: Spawn<'_>,
    ) -> Result<Arc<Process>, ErrorValue> {
        let Spawn {
            entry: entry_id,
            host: host_id,
            args,
            watch,
            monitor_by,
            linked_to,
            context,
            name,
            messages,
        } = spawn;
        let entry = match self.app.entry(entry_id).map(|e| &e.kind) {
            Some(EntryKind::Process(entry)) => entry.clone(),
            Some(other) => {
                return Err(ErrorValue::new(
                    ErrorKind::Invalid,
                    format!(
                        "'{entry_id}' is a {}, not a process.lua entry",
                        other.name()
                    ),
                ));
            }
            None => {
                return Err(ErrorValue::new(
                    ErrorKind::NotFound,
                    format!("no entry '{entry_id}'"),
                ));
            }
        };
        let Some(host_index) = self.host_index(host_id) else {
            return Err(match self.app.entry(host_id) {
                Some(e) => ErrorValue::new(
                    ErrorKind::Invalid,
                    format!(
                        "'{host_id}' is a {}, not a process.host entry",
                        e.kind.name()
                    ),
                ),
                None => ErrorValue::new(ErrorKind::NotFound, format!("no host '{host_id}'")),
            });
        };
        if self.closing.load(Ordering::Acquire) || self.is_stopping() {
            return Err(ErrorValue::new(
                ErrorKind::Unavailable,
                "the runtime is shutting down",
            ));
        }
        let host = &self.hosts[host_index];
        let live = host.live.fetch_add(1, Ordering::Relaxed);
        if host.config.max_processes > 0 && live as u64 >= host.config.max_processes {
            host.live.fetch_sub(1, Ordering::Relaxed);
            return Err(ErrorValue::new(
                ErrorKind::Unavailable,
                format!(
                    "host '{host_id}' is at max_processes ({})",
                    host.config.max_processes
                ),
            ));
        }
        let pid = Pid(self.next_serial.fetch_add(1, Ordering::Relaxed));
        let watchers = Watchers::new(monitor_by, linked_to);
        let mut process = Process::new(pid, pid.format(host_id).into(), host_index, watchers);
        process.watched = watch.is_some();
        process.context = match context {
            Some(context) => context,
            None => spawner.and_then(WorkerContext::context),
        };
        let process = Arc::new(process);
        if let Some(name) = name {
            let mut holder = None;
            let held =
                process
                    .watchers
                    .hold_name(&name, || match self.registry.insert(&name, pid) {
                        Ok(()) => true,
                        Err(other) => {
                            holder = Some(other);
                            false
                        }
                    });
            if held != Some(true) {
                host.live.fetch_sub(1, Ordering::Relaxed);
                return Err(ErrorValue::new(
                    ErrorKind::AlreadyExists,
                    format!("the name '{name}' is already registered"),
                ));
            }
        }
        for message in messages {
            process.mailbox.push(Signal::Message(message));
        }
        if let Some(sender) = watch {
            self.watchers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(pid, sender);
        }
        self.table.insert(process.clone());
        let request = SpawnRequest {
            process: process.clone(),
            entry,
            args,
            linked_to,
        };
        match spawner {
            Some(ctx) if ctx.host == host_index => {
                ctx.push_spawn(request);
                host.notify_idle(Some(ctx.index));
            }
            _ => {
                host.injector.push(request);
                host.notify_idle(None);
            }
        }
        Ok(process)
    }

    /// Schedules a process that a push moved from `WAITING` to `SCHEDULED`, from any thread:
    /// its slot goes to its owner's wake-up queue and the owner is unparked.
    pub(crate) fn wake_remote(&self, process: &Process) {
        if let Some((worker, slot)) = process.location() {
            let remote = &self.hosts[process.host].workers[worker];
            remote.wakeups.push(slot);
            remote.unparker.unpark();
        }
    }

    /// Hands the exit of a watched process to its watcher.
    fn notify_exit(&self, pid: Pid, exit: &Exit) {
        let sender = self
            .watchers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&pid);
        if let Some(sender) = sender {
            let _ = sender.send(exit.clone());
        }
    }
}

/// Options of a runtime that the app does not set.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Workers of every host that does not set `workers`; default: the number of CPUs.
    pub workers: Option<usize>,
}

/// A running set of hosts. Dropping it shuts it down.
pub struct Scheduler {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl Scheduler {
    /// Starts every host of `app`.
    pub fn start(app: Arc<App>, options: &Options) -> std::io::Result<Scheduler> {
        let mut hosts = Vec::new();
        let mut locals = Vec::new();
        for (id, config) in app.hosts() {
            let workers = config
                .workers
                .or(options.workers)
                .unwrap_or_else(num_cpus::get)
                .max(1);
            let mut remotes = Vec::new();
            let mut host_locals = Vec::new();
            for _ in 0..workers {
                let deque = Worker::new_lifo();
                let parker = Parker::new();
                remotes.push(Remote {
                    wakeups: Injector::new(),
                    unparker: parker.unparker().clone(),
                    stealer: deque.stealer(),
                    parked: AtomicBool::new(false),
                });
                host_locals.push((deque, parker));
            }
            hosts.push(Host {
                id: id.to_string(),
                config: config.clone(),
                injector: Injector::new(),
                workers: remotes,
                live: AtomicUsize::new(0),
            });
            locals.push(host_locals);
        }
        let host_ids = hosts
            .iter()
            .enumerate()
            .map(|(i, h)| (h.id.clone(), i))
            .collect();
        let shared = Arc::new(Shared {
            app,
            table: ProcessTable::new(),
            registry: Registry::default(),
            hosts,
            host_ids,
            next_serial: AtomicU64::new(1),
            stopping: AtomicBool::new(false),
            closing: AtomicBool::new(false),
            watchers: Mutex::default(),
        });
        let mut scheduler = Scheduler {
            shared: shared.clone(),
            threads: Vec::new(),
        };
        // Each worker reports whether its VM was built; the runtime starts only if all were.
        let (report, reports) = mpsc::channel::<Result<(), String>>();
        for (host, host_locals) in locals.into_iter().enumerate() {
            for (index, (deque, parker)) in host_locals.into_iter().enumerate() {
                let shared = shared.clone();
                let report = report.clone();
                let name = format!("moonweave-{}-{index}", shared.hosts[host].id);
                let thread = std::thread::Builder::new()
                    .name(name)
                    .spawn(move || worker::run(shared, host, index, deque, parker, report))?;
                scheduler.threads.push(thread);
            }
        }
        drop(report);
        for _ in 0..scheduler.threads.len() {
            match reports.recv() {
                Ok(Ok(())) => {}
                Ok(Err(message)) => {
                    scheduler.shutdown();
                    return Err(std::io::Error::other(message));
                }
                Err(_) => {
                    scheduler.shutdown();
                    return Err(std::io::Error::other(
                        "a worker thread ended while starting",
                    ));
                }
            }
        }
        Ok(scheduler)
    }

    /// Spawns a process from outside the runtime.
    pub fn spawn(&self, entry: &str, host: &str, args: Vec<Value>) -> Result<Arc<str>, ErrorValue> {
        let process = self.shared.spawn(None, Spawn::new(entry, host, args))?;
        Ok(process.pid_text.clone())
    }

    /// Spawns a process and returns a receiver of its exit.
    pub fn spawn_watched(
        &self,
        entry: &str,
        host: &str,
        args: Vec<Value>,
    ) -> Result<(Arc<str>, mpsc::Receiver<Exit>), ErrorValue> {
        let (sender, receiver) = mpsc::channel();
        let spawn = Spawn {
            watch: Some(sender),
            ..Spawn::new(entry, host, args)
        };
        let process = self.shared.spawn(None, spawn)?;
        Ok((process.pid_text.clone(), receiver))
    }

    /// Number of live processes.
    pub fn live_processes(&self) -> usize {
        self.shared.table.len()
    }

    /// The graceful shutdown of app-format.md §5: spawns are refused, every live process gets
    /// CANCEL from `{runtime|0x00000}` with `deadline` (enforced like any cancel deadline), and
    /// this returns once every process has exited. Workers keep running; call [`shutdown`]
    /// after.
    ///
    /// [`shutdown`]: Scheduler::shutdown
    pub fn cancel_all(&self, deadline: std::time::Duration) {
        let shared = &self.shared;
        shared.closing.store(true, Ordering::Release);
        let at = Deadline {
            at: std::time::Instant::now() + deadline,
            wall: std::time::SystemTime::now() + deadline,
        };
        let from: Arc<str> = Arc::from(RUNTIME_PID);
        let mut cancelled = std::collections::HashSet::new();
        // A spawn that passed the closing check just before it was set can still add a process:
        // look again until the table is empty, cancelling newcomers. Bounded by the deadline
        // (plus a margin for the last exits to be processed).
        let give_up = at.at + std::time::Duration::from_secs(1);
        loop {
            for process in shared.table.all() {
                if cancelled.insert(process.pid) {
                    let signal = Signal::Cancel {
                        from: from.clone(),
                        deadline: Some(at),
                    };
                    if process.mailbox.push(signal) == Push::Wake {
                        shared.wake_remote(&process);
                    }
                }
            }
            if shared.table.is_empty() || std::time::Instant::now() > give_up {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }

    /// Stops every worker and joins its thread. Processes still alive are dropped.
    pub fn shutdown(&mut self) {
        self.shared.stopping.store(true, Ordering::Release);
        for host in &self.shared.hosts {
            for remote in &host.workers {
                remote.unparker.unpark();
            }
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.shutdown();
    }
}
