//! What the `supervisor` module needs from the scheduler (supervisor.md): starting a
//! supervisor process linked to its caller and watched privately until it has started its
//! children, and telling supervisor processes from others.

use std::sync::Arc;

use super::core::Core;
use super::{Spawn, error};
use crate::error::{ErrorKind, ErrorValue};
use crate::proc::{Envelope, Exit, Pid, Process};
use crate::security::Permission;
use crate::value::Value;

/// The entry id of the runtime's supervisor process (`src/supervise/supervisor.luau`).
pub const SUPERVISOR_ENTRY: &str = "moonweave:supervisor";

/// The entry id of the command line's shell process (`src/supervise/shell.luau`).
pub const SHELL_ENTRY: &str = "moonweave:shell";

/// The topic a supervisor announces its start with (to the process that started it).
pub const STARTED_TOPIC: &[u8] = b"supervisor.started";

impl Core {
    /// `supervisor.start`: spawns a supervisor process on `host` linked to the caller. Until
    /// [`Core::supervisor_settled`], the caller also watches it privately: its exit goes to
    /// [`Core::supervisor_start_outcome`], not to the caller's events.
    pub fn start_supervisor(&self, host: &str, args: Vec<Value>) -> Result<Arc<str>, ErrorValue> {
        self.permit(Permission::Spawn, SUPERVISOR_ENTRY.as_bytes())?;
        self.permit(Permission::SpawnLinked, SUPERVISOR_ENTRY.as_bytes())?;
        self.permit(Permission::Host, host.as_bytes())?;
        let me = self
            .current_process()
            .ok_or_else(|| error(ErrorKind::Invalid, "no process is running"))?;
        let spawn = Spawn {
            monitor_by: Some(me.pid),
            linked_to: Some(me.pid),
            ..Spawn::new(SUPERVISOR_ENTRY, host, args)
        };
        let child = self.spawn_here(spawn)?;
        self.with_current(|p| {
            p.local.add_link(child.pid);
            p.local.add_call(child.pid);
        });
        Ok(child.pid_text.clone())
    }

    /// What the supervisor `sup` the running process started has done so far: its start
    /// announcement (taken from the mailbox), or its exit, or nothing yet.
    pub fn supervisor_start_outcome(&self, sup: Pid) -> Option<StartOutcome> {
        // The announcement first: a supervisor whose start failed announces it, then exits.
        self.with_current(|p| {
            if let Some(envelope) = p.local.take_message_from(sup, STARTED_TOPIC) {
                return Some(StartOutcome::Started(envelope));
            }
            p.local.take_call_exit(sup).map(StartOutcome::Exited)
        })
        .flatten()
    }

    /// The supervisor `sup` has started: the caller stops watching it privately (it stays
    /// linked).
    pub fn supervisor_settled(&self, sup: Pid) {
        let me = self.with_current(|p| {
            p.local.forget_call(sup);
            p.local.process.pid
        });
        if let (Some(me), Some(target)) = (me, self.shared.table.get(sup)) {
            target.watchers.remove_monitor(me);
        }
    }

    /// Whether the runtime's shutdown has begun (no restarts from then on, supervisor.md).
    pub fn shutting_down(&self) -> bool {
        self.shared
            .closing
            .load(std::sync::atomic::Ordering::Acquire)
            || self.shared.is_stopping()
    }

    /// The live supervisor process `dest` (a PID text or a name) names, if it is one.
    pub fn supervisor(&self, dest: &[u8]) -> Option<Arc<Process>> {
        self.resolve(dest).ok().filter(|p| p.supervisor)
    }
}

/// How a supervisor's start ended.
pub enum StartOutcome {
    /// It announced that its children are started.
    Started(Envelope),
    /// It exited first.
    Exited(Arc<Exit>),
}
