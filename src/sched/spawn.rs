//! What happens on spawn: checking the entry and host, creating the shared half of the child
//! (its PID, watchers, name, context, queued messages), and queueing its first run.
//!
//! The order matters for the spec's promises: the child's monitor and link exist before it can
//! exit, its name is registered before it runs, its builder messages wait in it before it runs,
//! and it is in the process table before anyone can learn its PID.

use std::sync::Arc;

use super::core::Core;
use super::{Shared, SpawnRequest, error};
use crate::app::EntryKind;
use crate::bytes::Bytes;
use crate::error::{ErrorKind, ErrorValue};
use crate::proc::{Envelope, Exit, Pid, Process, Signal, Watchers};
use crate::security::Permission;
use crate::security::{Actor, Identity, Scope};
use crate::value::{Payload, Value};

/// What to spawn, and who is tied to the new process from before its first run.
pub(crate) struct Spawn<'a> {
    pub entry: &'a str,
    pub host: &'a str,
    pub args: Vec<Value>,
    /// Is told the exit (the embedding API's `run`, the services' supervisor).
    pub watch: Option<ExitWatch>,
    /// A process that monitors the child (spawn_monitored).
    pub monitor_by: Option<Pid>,
    /// A process linked with the child (spawn_linked).
    pub linked_to: Option<Pid>,
    /// The child's context values; `None` inherits the spawner's.
    pub context: Option<Option<crate::proc::Context>>,
    /// The child's actor and scope; `None` inherits the spawner's.
    pub identity: Option<Identity>,
    /// A name registered for the child before it runs (SpawnBuilder `with_name`).
    pub name: Option<Bytes>,
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
            identity: None,
            name: None,
            messages: Vec::new(),
        }
    }
}

/// What a SpawnBuilder adds to a spawn: context values (overlaid on the caller's, later keys
/// win), a name registered before the child runs, messages queued before it runs, and an actor
/// and a scope that replace the caller's.
#[derive(Debug, Default, Clone)]
pub struct SpawnExtras {
    pub context: Vec<(Bytes, Value)>,
    pub name: Option<Bytes>,
    pub messages: Vec<(Bytes, Payload)>,
    /// The child's actor and scope instead of the caller's (`with_actor`, `with_scope`).
    pub actor: Option<Arc<Actor>>,
    pub scope: Option<Arc<Scope>>,
}

/// What is told a process's exit, once, on the worker where it exited.
pub type ExitWatch = Box<dyn FnOnce(&Exit) + Send>;

impl Shared {
    /// Creates a process running `entry` on `host` and queues it for its first run: on the
    /// spawner's worker when it runs on the same host, else on the host's injector.
    pub(crate) fn spawn(
        &self,
        spawner: Option<&Core>,
        spawn: Spawn<'_>,
    ) -> Result<Arc<Process>, ErrorValue> {
        let (process, request) = self.prepare(spawner, spawn)?;
        self.queue(spawner, request);
        Ok(process)
    }

    /// Queues a prepared process for its first run.
    pub(crate) fn queue(&self, spawner: Option<&Core>, request: SpawnRequest) {
        let host_index = request.process.host;
        match spawner {
            Some(core) if core.host == host_index => core.push_spawn(request),
            _ => {
                let host = &self.hosts[host_index];
                host.injector.push(request);
                host.notify_idle(None);
            }
        }
    }

    /// Everything of a spawn but queueing the first run: the process exists (in the table,
    /// its name registered, its messages waiting) and runs once [`Shared::queue`] is called.
    pub(crate) fn prepare(
        &self,
        spawner: Option<&Core>,
        spawn: Spawn<'_>,
    ) -> Result<(Arc<Process>, SpawnRequest), ErrorValue> {
        let Spawn {
            entry: entry_id,
            host: host_id,
            args,
            watch,
            monitor_by,
            linked_to,
            context,
            identity,
            name,
            messages,
        } = spawn;
        // The runtime's own supervisor entry exists in every app.
        let builtin = entry_id == super::SUPERVISOR_ENTRY;
        let entry = match self.app.entry(entry_id).map(|e| &e.kind) {
            _ if builtin => crate::supervise::supervisor_entry(),
            // The command line's shell: only from outside the runtime's processes (it may use
            // every module, which a process's own `modules` list may not allow).
            _ if entry_id == super::SHELL_ENTRY && spawner.is_none() => {
                crate::supervise::shell_entry()
            }
            Some(EntryKind::Process(entry)) => entry.clone(),
            Some(other) => {
                return Err(error(
                    ErrorKind::Invalid,
                    format!(
                        "'{entry_id}' is a {}, not a process.lua entry",
                        other.name()
                    ),
                ));
            }
            None => return Err(error(ErrorKind::NotFound, format!("no entry '{entry_id}'"))),
        };
        let Some(host_index) = self.host_index(host_id) else {
            return Err(match self.app.entry(host_id) {
                Some(e) => error(
                    ErrorKind::Invalid,
                    format!(
                        "'{host_id}' is a {}, not a process.host entry",
                        e.kind.name()
                    ),
                ),
                None => error(ErrorKind::NotFound, format!("no host '{host_id}'")),
            });
        };
        let shutting_down = || error(ErrorKind::Unavailable, "the runtime is shutting down");
        if self.closing.load(std::sync::atomic::Ordering::Acquire) || self.is_stopping() {
            return Err(shutting_down());
        }
        let host = &self.hosts[host_index];
        let limited = host.config.max_processes > 0;
        if limited {
            let live = host.live.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
            if live as u64 >= host.config.max_processes {
                host.live.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
                return Err(error(
                    ErrorKind::Unavailable,
                    format!(
                        "host '{host_id}' is at max_processes ({})",
                        host.config.max_processes
                    ),
                ));
            }
        }
        let undo_live = || {
            if limited {
                host.live.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
            }
        };
        let pid = match spawner {
            Some(core) => core.allocate_pid(),
            None => self.table.allocate(None),
        };
        let Some(pid) = pid else {
            undo_live();
            return Err(error(ErrorKind::Unavailable, "the process table is full"));
        };
        let watchers = Watchers::new(monitor_by, linked_to);
        let mut process = Process::new(pid, pid.text(host_id), host_index, watchers);
        process.watched = watch.is_some();
        let parent = spawner.and_then(Core::current_process);
        process.context = match context {
            Some(context) => context,
            None => parent.as_ref().and_then(|p| p.context.clone()),
        };
        process.identity = match identity {
            Some(identity) => identity,
            None => parent.map(|p| p.identity.clone()).unwrap_or_default(),
        };
        process.guarded = process.identity.guarded(host.config.strict);
        process.supervisor = builtin;
        let process = match spawner {
            Some(core) => core.records.record(process, &self.records),
            None => Arc::new(process),
        };
        if let Some(name) = &name {
            let held = process
                .watchers
                .hold_name(name, || self.registry.insert(name, pid).is_ok());
            if held != Some(true) {
                undo_live();
                match spawner {
                    Some(core) => core.release_pid(pid),
                    None => self.table.release(pid, None),
                }
                return Err(error(
                    ErrorKind::AlreadyExists,
                    format!(
                        "the name '{}' is already registered",
                        name.to_string_lossy()
                    ),
                ));
            }
        }
        let counted = host.config.mailbox_limit > 0;
        for message in messages {
            if counted {
                process.count_message();
            }
            let _ = process.route(Signal::Message(message));
        }
        if let Some(sender) = watch {
            self.watchers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(pid, sender);
        }
        if !self.table.insert(process.clone()) {
            // The shutdown closed the table meanwhile: nobody will cancel this process.
            if let Some(names) = process.watchers.terminate() {
                for name in &names {
                    self.registry.release(name, pid);
                }
            }
            self.watchers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&pid);
            undo_live();
            return Err(shutting_down());
        }
        // The spawner records the link before the child can run (and exit): the child's exit
        // then finds the spawner among its links and removes the link on both sides.
        if let (Some(parent), Some(core)) = (linked_to, spawner)
            && let Some(me) = core.current_process().filter(|p| p.pid == parent)
        {
            me.watchers.add_link(pid);
        }
        match spawner {
            Some(core) => super::stats::bump(&core.counters().spawned),
            None => {
                self.counters
                    .spawned_outside
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        let request = SpawnRequest {
            process: process.clone(),
            entry,
            args,
            linked_to,
        };
        Ok((process, request))
    }
}

impl Core {
    /// Queues a spawn made on this worker: the newest waits in `next`, the one it displaces
    /// goes where siblings can steal it.
    pub(super) fn push_spawn(&self, request: SpawnRequest) {
        let displaced = self.next.borrow_mut().replace(request);
        if let Some(older) = displaced {
            self.slice_spawns.set(self.slice_spawns.get() + 1);
            // Wake a sibling only when the deque had nothing to steal: a sibling that found
            // work there keeps coming back while it lasts, so one wake-up serves a burst of
            // spawns (unparking on every spawn was 16 % of a spawn profile, in the kernel).
            let was_empty = self.deque.is_empty();
            self.deque.push(older);
            if was_empty {
                self.shared.hosts[self.host].notify_idle(Some(self.index));
            }
        }
    }

    /// Spawns from the running process; see [`Shared::spawn`].
    pub(crate) fn spawn_here(&self, spawn: Spawn<'_>) -> Result<Arc<Process>, ErrorValue> {
        self.shared.spawn(Some(self), spawn)
    }
}

impl Core {
    /// Spawns `entry` on `host` from the running process, with what a SpawnBuilder adds;
    /// returns the child's PID text. With `monitored` the caller monitors the child from
    /// before its first run; with `linked` they are linked.
    pub fn spawn_from_process(
        &self,
        entry: &str,
        host: &str,
        args: Vec<Value>,
        monitored: bool,
        linked: bool,
        extras: SpawnExtras,
    ) -> Result<Arc<str>, ErrorValue> {
        // Permissions first, in the contract's order: a denied spawn has no effect at all.
        self.permit(Permission::Spawn, entry.as_bytes())?;
        if monitored {
            self.permit(Permission::SpawnMonitored, entry.as_bytes())?;
        }
        if linked {
            self.permit(Permission::SpawnLinked, entry.as_bytes())?;
        }
        self.permit(Permission::Host, host.as_bytes())?;
        if let Some(name) = &extras.name {
            self.permit(Permission::Register, name)?;
        }
        let me = self.current_process();
        if (monitored || linked || !extras.messages.is_empty()) && me.is_none() {
            return Err(error(ErrorKind::Invalid, "no process is running"));
        }
        let identity = match (extras.actor, extras.scope) {
            (None, None) => None,
            (actor, scope) => {
                let inherited = me.as_ref().map(|p| p.identity.clone()).unwrap_or_default();
                Some(Identity {
                    actor: actor.or(inherited.actor),
                    scope: scope.or(inherited.scope),
                })
            }
        };
        let by = |wanted: bool| me.as_ref().filter(|_| wanted).map(|p| p.pid);
        let context = match extras.context.is_empty() {
            true => None,
            false => {
                let mut merged: Vec<(Bytes, Value)> = me
                    .as_ref()
                    .and_then(|p| p.context.clone())
                    .as_deref()
                    .unwrap_or_default()
                    .to_vec();
                for (key, value) in extras.context {
                    match merged.iter_mut().find(|(k, _)| *k == key) {
                        Some(slot) => slot.1 = value,
                        None => merged.push((key, value)),
                    }
                }
                Some(Some(merged.into()))
            }
        };
        let from = me.as_ref().map(|p| crate::proc::Sender {
            host: p.host as u32,
            pid: p.pid,
        });
        let messages = extras
            .messages
            .into_iter()
            .map(|(topic, payload)| Envelope {
                from,
                topic,
                payload,
            })
            .collect();
        let spawn = Spawn {
            monitor_by: by(monitored),
            linked_to: by(linked),
            context,
            identity,
            name: extras.name,
            messages,
            ..Spawn::new(entry, host, args)
        };
        let child = self.spawn_here(spawn)?;
        if me.is_some() {
            self.with_current(|p| {
                if monitored {
                    p.local.add_monitor(child.pid);
                }
                if linked {
                    p.local.add_link(child.pid);
                }
            });
        }
        Ok(child.pid_text.clone())
    }

    /// `process.upgrade(source?, ...)`: checks the arguments and records the upgrade, which
    /// the worker performs when the caller yields.
    pub fn request_upgrade(
        &self,
        source: Option<&[u8]>,
        args: Vec<Value>,
    ) -> Result<(), ErrorValue> {
        let entry = match source {
            None => self
                .current_entry()
                .ok_or_else(|| error(ErrorKind::Invalid, "no process is running"))?,
            Some(id) => {
                let id = String::from_utf8_lossy(id).into_owned();
                if !crate::app::is_entry_id(&id) {
                    return Err(error(
                        ErrorKind::Invalid,
                        format!("upgrade: '{id}' is not an entry id 'namespace:name'"),
                    ));
                }
                match self.shared.app.entry(&id).map(|e| &e.kind) {
                    Some(EntryKind::Process(entry)) => entry.clone(),
                    Some(other) => {
                        return Err(error(
                            ErrorKind::Invalid,
                            format!("'{id}' is a {}, not a process.lua entry", other.name()),
                        ));
                    }
                    None => return Err(error(ErrorKind::NotFound, format!("no entry '{id}'"))),
                }
            }
        };
        self.with_current(|p| p.upgrade = Some(Box::new((entry, args))))
            .ok_or_else(|| error(ErrorKind::Invalid, "no process is running"))
    }
}
