//! Services (app-format.md §2.3): `process.service` entries started at boot and restarted
//! after failures with a growing delay. Plain Rust on the runtime's own spawn and exit
//! notification; no Lua.
//!
//! One thread, the *manager*, owns every service's state. It learns exits through the spawn's
//! exit watch (a message on its channel, sent by the worker where the process exited) and
//! sleeps until the next restart is due or the next exit arrives. `active` counts the services
//! that run or wait for a restart: the command line's "run until nothing is left" reads it.
//!
//! Boot: every auto-start service is prepared (in the process table, its `register_as` name
//! registered) in order of entry id, and only then are they all queued to run, so none runs
//! its entry function before every name is registered.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::app::{App, ServiceEntry, ServiceSecurity};
use crate::bytes::Bytes;
use crate::error::ErrorValue;
use crate::log::{self, Level, Source};
use crate::proc::Exit;
use crate::sched::{Shared, Spawn};
use crate::security::{Actor, Identity, Scope};

/// The entry of the runtime's supervisor process (`supervisor.luau`): what
/// `supervisor.start` spawns as [`crate::sched::SUPERVISOR_ENTRY`].
pub fn supervisor_entry() -> Arc<crate::app::ProcessEntry> {
    static ENTRY: std::sync::OnceLock<Arc<crate::app::ProcessEntry>> = std::sync::OnceLock::new();
    ENTRY
        .get_or_init(|| {
            Arc::new(crate::app::ProcessEntry {
                id: crate::sched::SUPERVISOR_ENTRY.to_string(),
                source: concat!(
                    "local time = require(\"time\")\n",
                    include_str!("spec.luau"),
                    include_str!("supervisor.luau")
                )
                .as_bytes()
                .to_vec(),
                chunk_name: "moonweave.supervisor".to_string(),
                path: std::path::PathBuf::new(),
                method: "main".to_string(),
                modules: ["time", "logger", "supervisor"].map(String::from).to_vec(),
                imports: Default::default(),
            })
        })
        .clone()
}

/// The entry of the command line's shell process (`shell.luau`): what `moonweave shell` and
/// `moonweave eval` spawn as [`crate::sched::SHELL_ENTRY`].
pub fn shell_entry() -> Arc<crate::app::ProcessEntry> {
    static ENTRY: std::sync::OnceLock<Arc<crate::app::ProcessEntry>> = std::sync::OnceLock::new();
    ENTRY
        .get_or_init(|| {
            Arc::new(crate::app::ProcessEntry {
                id: crate::sched::SHELL_ENTRY.to_string(),
                source: include_bytes!("shell.luau").to_vec(),
                chunk_name: "moonweave.shell".to_string(),
                path: std::path::PathBuf::new(),
                method: "main".to_string(),
                modules: crate::app::MODULES.map(String::from).to_vec(),
                imports: Default::default(),
            })
        })
        .clone()
}

/// A run that lasted this long resets the count of consecutive failures.
const STABLE_RUN: Duration = Duration::from_secs(5);

/// The services of a running app.
pub struct Services {
    control: Arc<Control>,
    events: mpsc::Sender<Event>,
    thread: Option<JoinHandle<()>>,
}

/// What the manager shares with the rest of the runtime.
struct Control {
    /// Set once at shutdown: no more restarts.
    stopped: AtomicBool,
}

enum Event {
    Exited { service: usize, exit: Exit },
    Stop,
}

/// One service as the manager sees it.
struct State {
    entry: Arc<ServiceEntry>,
    identity: Identity,
    /// Consecutive failures.
    failures: u64,
    /// When the current run started, and its PID.
    run: Option<(Instant, Arc<str>)>,
    /// When the next restart is due.
    restart_at: Option<Instant>,
}

impl Services {
    /// Starts the auto-start services of the app `shared` runs, and the manager.
    pub fn boot(shared: Arc<Shared>) -> Services {
        let control = Arc::new(Control {
            stopped: AtomicBool::new(false),
        });
        let (events, receiver) = mpsc::channel();
        let states: Vec<State> = shared
            .app
            .services()
            .filter(|s| s.auto_start)
            .map(|entry| State {
                identity: identity_of(&shared.app, entry.security.as_ref()),
                entry: entry.clone(),
                failures: 0,
                run: None,
                restart_at: None,
            })
            .collect();
        if states.is_empty() {
            return Services {
                control,
                events,
                thread: None,
            };
        }
        shared.services_active.store(states.len(), Ordering::SeqCst);
        let mut manager = Manager {
            shared,
            control: control.clone(),
            events: events.clone(),
            states,
        };
        manager.boot();
        let thread = std::thread::Builder::new()
            .name("moonweave-services".into())
            .spawn(move || manager.run(receiver))
            .ok();
        Services {
            control,
            events,
            thread,
        }
    }

    /// Shutdown: no more restarts (pending ones are dropped); the services' processes are
    /// left to the runtime's shutdown.
    pub fn stop(&mut self) {
        self.control.stopped.store(true, Ordering::SeqCst);
        let _ = self.events.send(Event::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Services {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The actor and scope a service's `security` block gives its process.
fn identity_of(app: &App, security: Option<&ServiceSecurity>) -> Identity {
    let Some(security) = security else {
        return Identity::default();
    };
    let actor = Actor {
        id: Bytes::new(security.actor_id.as_bytes()),
        meta: security.actor_meta.clone(),
    };
    let scope = security.policies.as_ref().map(|ids| {
        Arc::new(Scope::new(
            ids.iter().filter_map(|id| app.policy(id).cloned()),
        ))
    });
    Identity {
        actor: Some(Arc::new(actor)),
        scope,
    }
}

/// The manager thread's state.
struct Manager {
    shared: Arc<Shared>,
    control: Arc<Control>,
    events: mpsc::Sender<Event>,
    states: Vec<State>,
}

impl Manager {
    /// Prepares every service, then lets them all run.
    fn boot(&mut self) {
        let mut prepared = Vec::with_capacity(self.states.len());
        for index in 0..self.states.len() {
            match self.prepare(index) {
                Ok(request) => prepared.push(request),
                Err(error) => self.failed(index, None, &error),
            }
        }
        for request in prepared {
            self.shared.queue(None, request);
        }
    }

    /// Creates the process of a run of service `index` (not yet queued).
    fn prepare(&mut self, index: usize) -> Result<crate::sched::SpawnRequest, ErrorValue> {
        let state = &self.states[index];
        let entry = state.entry.clone();
        let events = self.events.clone();
        let spawn = Spawn {
            watch: Some(Box::new(move |exit: &Exit| {
                let _ = events.send(Event::Exited {
                    service: index,
                    exit: exit.clone(),
                });
            })),
            name: entry
                .register_as
                .as_deref()
                .map(|n| Bytes::new(n.as_bytes())),
            identity: Some(state.identity.clone()),
            ..Spawn::new(&entry.process, &entry.host, entry.input.clone())
        };
        let (process, request) = self.shared.prepare(None, spawn)?;
        self.states[index].run = Some((Instant::now(), process.pid_text.clone()));
        Ok(request)
    }

    fn run(mut self, events: mpsc::Receiver<Event>) {
        loop {
            if self.control.stopped.load(Ordering::SeqCst) {
                break;
            }
            let now = Instant::now();
            for index in 0..self.states.len() {
                if self.states[index].restart_at.is_some_and(|at| at <= now) {
                    self.states[index].restart_at = None;
                    self.restart(index);
                }
            }
            let next = self.states.iter().filter_map(|s| s.restart_at).min();
            let event = match next {
                Some(at) => events.recv_timeout(at.saturating_duration_since(Instant::now())),
                None => events
                    .recv()
                    .map_err(|_| mpsc::RecvTimeoutError::Disconnected),
            };
            match event {
                Ok(Event::Exited { service, exit }) => self.exited(service, exit),
                Ok(Event::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
        }
        // Restarts still waiting will not happen.
        let waiting = self
            .states
            .iter()
            .filter(|s| s.restart_at.is_some())
            .count();
        self.shared
            .services_active
            .fetch_sub(waiting, Ordering::SeqCst);
    }

    fn restart(&mut self, index: usize) {
        if self.control.stopped.load(Ordering::SeqCst) {
            self.shared.services_active.fetch_sub(1, Ordering::SeqCst);
            return;
        }
        match self.prepare(index) {
            Ok(request) => self.shared.queue(None, request),
            // A name held by another process, a host at max_processes, the shutdown: the
            // attempt failed.
            Err(error) => self.failed(index, None, &error),
        }
    }

    fn exited(&mut self, index: usize, exit: Exit) {
        let Some((started, pid)) = self.states[index].run.take() else {
            return;
        };
        if self.control.stopped.load(Ordering::SeqCst) {
            self.shared.services_active.fetch_sub(1, Ordering::SeqCst);
            return;
        }
        match exit {
            Exit::Normal(_) => {
                self.shared.services_active.fetch_sub(1, Ordering::SeqCst);
            }
            Exit::Failed(error) => {
                if started.elapsed() >= STABLE_RUN {
                    self.states[index].failures = 0;
                }
                self.failed(index, Some(&pid), &error);
            }
        }
    }

    /// Counts a failure of service `index` (an error exit of the run `pid`, or an attempt
    /// that could not start) and schedules the restart, or gives up.
    fn failed(&mut self, index: usize, pid: Option<&str>, error: &ErrorValue) {
        if self.control.stopped.load(Ordering::SeqCst) {
            self.shared.services_active.fetch_sub(1, Ordering::SeqCst);
            return;
        }
        let state = &mut self.states[index];
        state.failures += 1;
        let n = state.failures;
        let restart = &state.entry.restart;
        let what = format!("[{}] {}", error.kind, error.message.to_string_lossy());
        if restart.gives_up(n) {
            let message = format!(
                "service {} gave up after {n} consecutive failures (max_attempts {}): {what}",
                state.entry.id, restart.max_attempts
            );
            log::line(
                Level::Error,
                Source::Runtime,
                pid,
                Some(&state.entry.process),
                message.as_bytes(),
            );
            self.shared.services_active.fetch_sub(1, Ordering::SeqCst);
            return;
        }
        let delay = restart.delay(n);
        state.restart_at = Some(Instant::now() + delay);
        let shown = crate::duration::Duration(delay.as_nanos().min(i64::MAX as u128) as i64);
        let message = format!(
            "service {} failed ({n} in a row), restarting in {shown}: {what}",
            state.entry.id
        );
        log::line(
            Level::Warn,
            Source::Runtime,
            pid,
            Some(&state.entry.process),
            message.as_bytes(),
        );
    }
}
