//! Scheduling: hosts of worker threads, run queues, work stealing, parking and shutdown.
//!
//! # Where work comes from
//!
//! A process that has not run yet is a [`SpawnRequest`]: plain Rust data that any worker of its
//! host may take. A spawn from a process goes to its worker (first to a one-place `next` slot
//! that only that worker takes from, so that a child usually starts where its parent runs and
//! they talk without crossing threads; the child it displaces goes to the worker's LIFO deque,
//! which idle siblings steal from). A spawn from outside, or onto another host, goes to that
//! host's injector. The worker that first runs a process owns it for life, because its
//! coroutine lives in that worker's VM.
//!
//! # Signals
//!
//! Everything that can wake a process (a message, a lifecycle event, a kill, a line of input)
//! is a [`Signal`]. From the process's own worker it goes straight into the process's owner
//! state; from any other thread it goes to the owner worker's *inbound* queue (one lock-free
//! MPSC queue per worker, not per process), which the worker drains between two runs. Whether
//! a process is queued to run is owner-only state, so no compare-and-swap decides it.
//!
//! # Parking
//!
//! A worker with nothing to do may search its siblings for a while (at most half of the workers
//! search at once), then parks; see `park.rs` for the handshake with the threads that push work
//! to it. An idle runtime uses no CPU.

mod core;
mod deadlines;
mod native;
mod park;
mod permit;
mod records;
mod send;
mod slab;
mod spawn;
mod stats;
mod stop;
mod supervisors;
mod timer;
mod watch;
mod worker;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

use crossbeam_deque::{Injector, Stealer, Worker};

pub use self::core::{Core, Proc, current_core};
pub(crate) use self::native::{deadline_exceeded, valid_topic};
pub(crate) use self::spawn::Spawn;
pub use self::spawn::{ExitWatch, SpawnExtras};
pub use self::stats::{Stats, WorkerStats};
pub use self::stop::Waker;
pub use self::supervisors::{SHELL_ENTRY, SUPERVISOR_ENTRY, StartOutcome};
#[cfg(test)]
pub(crate) use self::worker::testing;

use crate::app::{App, HostConfig, ProcessEntry};
use crate::error::{ErrorKind, ErrorValue};
use crate::proc::{Deadline, Exit, Pid, Process, ProcessTable, Registry, Signal};
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

/// A signal for the process in `slot` of a worker, pushed by another thread. The PID tells a
/// signal for an exited process from one for the process that reused its slot.
struct Inbound {
    slot: u32,
    pid: Pid,
    signal: Signal,
}

/// What other threads may do to one worker: send its processes signals, steal its spawns,
/// unpark it.
struct Remote {
    inbound: Injector<Inbound>,
    stealer: Stealer<SpawnRequest>,
    idle: park::Idle,
    /// What the worker counts for `stats` (it alone writes them), on cache lines of their
    /// own so that its writes do not slow down senders reading `idle`.
    counters: Arc<crossbeam_utils::CachePadded<stats::WorkerCounters>>,
}

impl Remote {
    /// Queues `signal` for the process in `slot` and wakes the worker if it sleeps.
    fn push(&self, slot: u32, pid: Pid, signal: Signal) {
        self.inbound.push(Inbound { slot, pid, signal });
        self.idle.notify();
    }
}

/// A host: a pool of workers and its settings.
pub struct Host {
    pub id: String,
    pub config: HostConfig,
    /// Spawns from outside this host's workers.
    injector: Injector<SpawnRequest>,
    workers: Vec<Remote>,
    /// Live processes, counted only when the host sets `max_processes`.
    live: AtomicUsize,
    /// Workers looking for work in their siblings' queues right now (see `worker.rs`).
    searching: AtomicUsize,
}

impl Host {
    /// Wakes one parked worker other than `except` so that it looks for new spawns, unless a
    /// worker is searching already (it will find them).
    fn notify_idle(&self, except: Option<usize>) {
        if self.searching.load(Ordering::SeqCst) > 0 {
            return;
        }
        for (i, remote) in self.workers.iter().enumerate() {
            if Some(i) != except && remote.idle.notify() {
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
    host_ids: HashMap<String, usize, ahash::RandomState>,
    /// Numbers of the proxies of other nodes' processes (their PIDs are `PROXY_PIDS | n`); never
    /// reused.
    next_proxy: AtomicU64,
    /// Spare process records the workers trade (see `records.rs`).
    records: records::SharedRecords,
    /// Set once: workers leave their loops.
    stopping: AtomicBool,
    /// Set once, when a graceful shutdown starts: spawns are refused.
    closing: AtomicBool,
    /// What is told the exit of processes someone waits for (`Runtime::run`, services).
    watchers: Mutex<HashMap<Pid, ExitWatch>>,
    /// Why the runtime failed (a worker could not continue), if it did.
    failure: Mutex<Option<String>>,
    /// What threads that are not workers count for `stats`.
    counters: stats::OutsideCounters,
    /// Cancel deadlines of Rust processes and the thread that enforces them.
    native_deadlines: Arc<deadlines::NativeDeadlines>,
    /// The `Arc` this lives in, for the threads that must not keep it alive.
    me: std::sync::Weak<Shared>,
    /// Services running or waiting for a restart (kept by `supervise`).
    pub(crate) services_active: AtomicUsize,
    /// Native modules (`RuntimeBuilder::module`), built in every worker VM.
    pub(crate) native_modules: Vec<NativeModule>,
    /// This runtime as a node of an Erlang cluster, once started (`--name`).
    pub(crate) dist: std::sync::OnceLock<Arc<crate::dist::Node>>,
}

/// A native Lua module: its name and the factory each worker VM runs once.
#[derive(Clone)]
pub(crate) struct NativeModule {
    pub name: String,
    pub factory: Arc<ModuleFactory>,
}

/// What builds a native module's table in one VM.
pub(crate) type ModuleFactory =
    dyn Fn(&mlua::Lua) -> mlua::Result<mlua::Table> + Send + Sync + 'static;

impl Shared {
    fn host_index(&self, id: &str) -> Option<usize> {
        self.host_ids.get(id).copied()
    }

    /// Whether no service runs or waits for a restart.
    pub(crate) fn services_idle(&self) -> bool {
        self.services_active.load(Ordering::SeqCst) == 0
    }

    fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Puts `signal` on its way to `target`, from any thread that is not a worker of the
    /// runtime (or one that is not `target`'s owner).
    pub(crate) fn deliver_remote(&self, target: &Process, signal: Signal) {
        match target.route(signal) {
            crate::proc::Route::Placed {
                worker,
                slot,
                signal,
            } => self.hosts[target.host].workers[worker].push(slot, target.pid, signal),
            crate::proc::Route::Native { inbox, signal } => {
                self.deliver_native(target, &inbox, signal)
            }
            crate::proc::Route::Pending => {}
        }
    }

    /// Hands the exit of a watched process to its watcher.
    fn notify_exit(&self, pid: Pid, exit: &Exit) {
        let watch = self
            .watchers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&pid);
        if let Some(watch) = watch {
            watch(exit);
        }
    }

    /// A worker cannot continue: the runtime stops, and everyone waiting for an exit learns
    /// it (instead of waiting forever).
    fn fail(&self, reason: String) {
        crate::log::runtime_failed(&reason);
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert(reason);
        self.stopping.store(true, Ordering::Release);
        self.watchers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.end_native_processes(&ErrorValue::new(ErrorKind::Internal, "the runtime failed"));
        for host in &self.hosts {
            for remote in &host.workers {
                remote.idle.unpark();
            }
        }
    }

    /// Why the runtime failed, if it did.
    pub fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Options of a runtime that the app does not set.
#[derive(Clone, Default)]
pub(crate) struct Options {
    /// Workers of every host that does not set `workers`; default: the number of CPUs.
    pub workers: Option<usize>,
    /// Strict mode on every host (`--strict`): permission checks of processes without an
    /// actor or a scope deny.
    pub strict: bool,
    /// Native modules every worker VM builds.
    pub modules: Vec<NativeModule>,
    /// Start as a node of an Erlang cluster.
    pub node: Option<crate::dist::NodeConfig>,
}

/// The largest number of workers a host may have (app-format.md §2.2).
pub const MAX_WORKERS: usize = 1024;

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
        let host_count = app.hosts().count();
        let total_workers: usize = app
            .hosts()
            .map(|(_, c)| c.workers.or(options.workers).unwrap_or_else(num_cpus::get))
            .sum();
        if app
            .hosts()
            .any(|(_, c)| c.workers.or(options.workers).unwrap_or(1) > MAX_WORKERS)
        {
            return Err(std::io::Error::other(format!(
                "a host may have at most {MAX_WORKERS} workers"
            )));
        }
        for (id, config) in app.hosts() {
            let workers = config
                .workers
                .or(options.workers)
                .unwrap_or_else(num_cpus::get)
                .clamp(1, MAX_WORKERS);
            let mut config = config.clone();
            config.strict |= options.strict;
            if config.memory_limit == 0 {
                config.memory_limit =
                    crate::app::automatic_memory_limit(total_workers.max(host_count));
            }
            let mut remotes = Vec::new();
            let mut host_locals = Vec::new();
            for _ in 0..workers {
                let deque = Worker::new_lifo();
                let (idle, parker) = park::Idle::new();
                remotes.push(Remote {
                    inbound: Injector::new(),
                    stealer: deque.stealer(),
                    idle,
                    counters: Default::default(),
                });
                host_locals.push((deque, parker));
            }
            hosts.push(Host {
                id: id.to_string(),
                config,
                injector: Injector::new(),
                workers: remotes,
                live: AtomicUsize::new(0),
                searching: AtomicUsize::new(0),
            });
            locals.push(host_locals);
        }
        let host_ids = hosts
            .iter()
            .enumerate()
            .map(|(i, h)| (h.id.clone(), i))
            .collect();
        let shared = Arc::new_cyclic(|me| Shared {
            me: me.clone(),
            native_deadlines: Default::default(),
            app,
            table: ProcessTable::new(),
            registry: Registry::default(),
            hosts,
            host_ids,
            next_proxy: AtomicU64::new(0),
            records: Default::default(),
            stopping: AtomicBool::new(false),
            closing: AtomicBool::new(false),
            watchers: Mutex::default(),
            failure: Mutex::default(),
            counters: Default::default(),
            services_active: AtomicUsize::new(0),
            native_modules: options.modules.clone(),
            dist: Default::default(),
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
                    .spawn(move || worker::run(shared, host, index, deque, parker, report));
                match thread {
                    Ok(thread) => scheduler.threads.push(thread),
                    Err(e) => {
                        scheduler.shutdown();
                        return Err(std::io::Error::other(format!(
                            "cannot start a worker thread: {e}"
                        )));
                    }
                }
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

    /// A scheduler whose single worker runs on the test's thread (see `worker::testing`).
    #[cfg(test)]
    fn without_threads(app: Arc<App>) -> std::io::Result<Scheduler> {
        let mut config = HostConfig {
            workers: Some(1),
            ..HostConfig::default()
        };
        if let Some((_, c)) = app.hosts().next() {
            config = HostConfig {
                workers: Some(1),
                ..c.clone()
            };
        }
        let deque = Worker::new_lifo();
        let (idle, _parking) = park::Idle::new();
        let host = Host {
            id: crate::app::DEFAULT_HOST.to_string(),
            config,
            injector: Injector::new(),
            workers: vec![Remote {
                inbound: Injector::new(),
                stealer: deque.stealer(),
                idle,
                counters: Default::default(),
            }],
            live: AtomicUsize::new(0),
            searching: AtomicUsize::new(0),
        };
        let shared = Arc::new_cyclic(|me| Shared {
            me: me.clone(),
            native_deadlines: Default::default(),
            host_ids: [(host.id.clone(), 0)].into_iter().collect(),
            hosts: vec![host],
            app,
            table: ProcessTable::new(),
            registry: Registry::default(),
            next_proxy: AtomicU64::new(0),
            records: Default::default(),
            stopping: AtomicBool::new(false),
            closing: AtomicBool::new(false),
            watchers: Mutex::default(),
            failure: Mutex::default(),
            counters: Default::default(),
            services_active: AtomicUsize::new(0),
            native_modules: Vec::new(),
            dist: Default::default(),
        });
        TEST_DEQUE.with(|d| *d.borrow_mut() = Some(deque));
        Ok(Scheduler {
            shared,
            threads: Vec::new(),
        })
    }

    /// The shared state and the deque of the test worker.
    #[cfg(test)]
    fn test_worker_parts(&self) -> (Arc<Shared>, Worker<SpawnRequest>) {
        let deque = TEST_DEQUE
            .with(|d| d.borrow_mut().take())
            .expect("made by without_threads");
        (self.shared.clone(), deque)
    }

    /// The state every worker shares (for the services' manager).
    pub(crate) fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// Spawns a process from outside the runtime.
    #[cfg(test)]
    pub fn spawn(&self, entry: &str, host: &str, args: Vec<Value>) -> Result<Arc<str>, ErrorValue> {
        let process = self.shared.spawn(None, Spawn::new(entry, host, args))?;
        Ok(process.pid_text.clone())
    }

    /// The graceful shutdown of app-format.md §5: spawns are refused, every live process gets
    /// CANCEL from `{runtime|0x00000}` with `deadline` (enforced like any cancel deadline), and
    /// this returns once every process has exited. Workers keep running; call [`shutdown`]
    /// after.
    ///
    /// [`shutdown`]: Scheduler::shutdown
    pub fn cancel_all(&self, deadline: std::time::Duration) {
        let shared = &self.shared;
        shared.closing.store(true, Ordering::SeqCst);
        shared.table.close();
        let at = Deadline::after(deadline);
        let from: Arc<str> = Arc::from(RUNTIME_PID);
        // The table is closed: no process can be added any more (a spawn racing this either
        // withdraws or is listed here, see `proc/table.rs`), so one pass cancels them all.
        for process in shared.table.all() {
            let signal = Signal::Cancel {
                from: from.clone(),
                deadline: Some(at),
            };
            shared.deliver_remote(&process, signal);
        }
        // Wait for the exits, bounded by the deadline plus a margin for the last exits to be
        // processed.
        let give_up = at.at + std::time::Duration::from_secs(1);
        let mut natives_ended = false;
        while !shared.table.is_empty()
            && !shared.is_stopping()
            && std::time::Instant::now() < give_up
        {
            // Nothing enforces a Rust process's deadline but this: it ends like a Lua
            // process whose deadline passed.
            if !natives_ended && std::time::Instant::now() >= at.at {
                shared.end_native_processes(&native::deadline_exceeded());
                natives_ended = true;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }

    /// Stops every worker and joins its thread. Processes still alive are dropped.
    pub fn shutdown(&mut self) {
        self.shared.stopping.store(true, Ordering::Release);
        for host in &self.shared.hosts {
            for remote in &host.workers {
                remote.idle.unpark();
            }
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
        self.shared.native_deadlines.close();
        // Nothing runs any more: whoever still waits (a Rust process's owner, `Handle::run`)
        // must learn it instead of waiting forever.
        self.shared
            .end_native_processes(&ErrorValue::new(ErrorKind::Canceled, "the runtime stopped"));
        self.shared
            .watchers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
thread_local! {
    static TEST_DEQUE: std::cell::RefCell<Option<Worker<SpawnRequest>>> =
        const { std::cell::RefCell::new(None) };
}

/// An error of `kind`.
fn error(kind: ErrorKind, message: impl Into<crate::bytes::Bytes>) -> ErrorValue {
    ErrorValue::new(kind, message)
}
