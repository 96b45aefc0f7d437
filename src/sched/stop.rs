//! How processes stop: `terminate`, `cancel` with its deadline, and the exit of a process
//! (names released, then EXIT to monitors, then LINK_DOWN to links, process.md §6).
//!
//! # terminate
//!
//! The target is gone for everyone before `terminate` returns: under its watcher lock it is
//! marked exited (new monitors and links are refused) and its names are taken and released,
//! it leaves the process table, and its `gone` flag makes sends report `NOT_FOUND` even through
//! a worker's destination cache. A Kill signal then goes to its owner, which acts on it before
//! running any more of its Lua code (a busy loop: at its next interrupt check), and only then
//! sends the EXITs and LINK_DOWNs the watcher set kept.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use super::core::Core;
use super::{Shared, error};
use crate::error::{ErrorKind, ErrorValue};
use crate::log;
use crate::proc::{Deadline, Exit, Pid, Process, Signal};
use crate::security::Permission;

/// Wakes one process from any thread (a line of input arrived for it).
pub struct Waker {
    process: Arc<Process>,
    shared: Arc<Shared>,
}

impl Waker {
    /// Makes the process look again at what it waits for; nothing if it has exited.
    pub fn wake(&self) {
        self.shared.deliver_remote(&self.process, Signal::Wake);
    }
}

fn terminated() -> ErrorValue {
    error(ErrorKind::Canceled, "terminated")
}

fn not_found(dest: &[u8]) -> ErrorValue {
    let mut message = b"no process ".to_vec();
    message.extend_from_slice(dest);
    error(ErrorKind::NotFound, message)
}

impl Core {
    /// A handle that wakes the running process from another thread.
    pub fn waker(&self) -> Option<Waker> {
        Some(Waker {
            process: self.current_process()?,
            shared: self.shared.clone(),
        })
    }

    /// Terminates `target` on behalf of the runtime or a caller; `false` when it had already
    /// exited or been terminated.
    pub(crate) fn terminate_process(&self, target: &Arc<Process>) -> bool {
        let Some(names) = target.watchers.terminate() else {
            return false;
        };
        target.set_gone();
        for name in &names {
            self.shared.registry.release(name, target.pid);
        }
        self.remove_from_table(target.pid);
        self.deliver(target, Signal::Kill(terminated()));
        true
    }

    /// `process.terminate(dest)`: the target is gone for everyone when this returns; it stops
    /// before running more Lua code, and its EXIT and LINK_DOWN go out once it has stopped.
    /// Returns `true` when the caller terminated itself (it must stop at once).
    pub fn terminate(&self, dest: &[u8]) -> Result<bool, ErrorValue> {
        let me = self
            .current_process()
            .ok_or_else(|| error(ErrorKind::Invalid, "no process is running"))?;
        let target = self.resolve(dest)?;
        self.permit(Permission::Terminate, target.pid_text.as_bytes())?;
        if target.pid == me.pid {
            self.with_current(|p| {
                p.local.kill.get_or_insert_with(|| Box::new(terminated()));
            });
            return Ok(true);
        }
        if let Some(forward) = target.forward() {
            // A process of another node: an exit signal `kill` goes to it.
            forward.signal(&target, Signal::Kill(terminated()));
            return Ok(false);
        }
        if !self.terminate_process(&target) {
            return Err(not_found(dest));
        }
        Ok(false)
    }

    /// `process.cancel(dest, deadline?)`: queues CANCEL; a deadline is enforced by the
    /// target's owner, which stops the target when it passes.
    pub fn cancel(
        &self,
        dest: &[u8],
        deadline: Option<std::time::Duration>,
    ) -> Result<(), ErrorValue> {
        let from = self
            .current_process()
            .ok_or_else(|| error(ErrorKind::Invalid, "no process is running"))?
            .pid_text
            .clone();
        let target = self.resolve(dest)?;
        self.permit(Permission::Cancel, target.pid_text.as_bytes())?;
        let deadline = deadline.map(|d| Deadline {
            at: Instant::now() + d,
            wall: SystemTime::now() + d,
        });
        self.deliver(&target, Signal::Cancel { from, deadline });
        Ok(())
    }

    /// Starts `process.call`: spawns the child, monitored by the caller; returns its PID.
    pub fn call_start(
        &self,
        entry: &str,
        host: &str,
        args: Vec<crate::value::Value>,
    ) -> Result<Pid, ErrorValue> {
        self.permit(Permission::Call, entry.as_bytes())?;
        self.permit(Permission::Host, host.as_bytes())?;
        let me = self
            .current_process()
            .ok_or_else(|| error(ErrorKind::Invalid, "no process is running"))?;
        let spawn = super::Spawn {
            monitor_by: Some(me.pid),
            ..super::Spawn::new(entry, host, args)
        };
        let child = self.spawn_here(spawn)?;
        self.with_current(|p| p.local.add_call(child.pid));
        Ok(child.pid)
    }

    /// Terminates call children whose callers stopped waiting.
    pub(super) fn terminate_calls(&self, children: Vec<Pid>) {
        for child in children {
            if let Some(child) = self.shared.table.get(child) {
                self.terminate_process(&child);
            }
        }
    }

    /// Releases everything the process in `slot` held and reports its exit.
    pub(super) fn finish(&self, slot: u32, exit: Exit) {
        let Some(mut proc) = self.procs.borrow_mut().remove(slot) else {
            return;
        };
        crate::failpoint::hit("finish");
        self.cancel_time_entries(proc.local.time.seqs().collect::<Vec<_>>());
        let process = proc.local.process.clone();
        // process.md §10: a call's child is terminated when its caller dies while waiting.
        let calls = proc.local.take_running_calls();
        self.terminate_calls(calls);
        let entry = proc.entry.clone();
        let monitored = match self.shared.dist.get() {
            Some(_) => proc.local.monitored(),
            None => Vec::new(),
        };
        proc.lua.recycle();
        drop(proc);
        self.shared.forget_remote_monitors(&process, &monitored);
        let farewell = process.watchers.exit().unwrap_or_default();
        super::stats::bump(&self.counters().exited);
        self.shared.report_exit(
            &process,
            &entry.id,
            exit,
            farewell,
            Some(&self.pids),
            |pid, signal| self.deliver_to(pid, signal),
        );
        self.records.keep(process, &self.shared.records);
    }
}

impl Shared {
    /// The rest of a process's exit, once its owner has stopped it: it leaves the table, its
    /// names are released, it is logged if it failed unobserved, each monitor gets its EXIT and
    /// each link its LINK_DOWN (or forgets the link), through `deliver`.
    pub(super) fn report_exit(
        &self,
        process: &Process,
        entry_id: &str,
        exit: Exit,
        farewell: crate::proc::Farewell,
        pids: Option<&std::cell::RefCell<crate::proc::table::PidCache>>,
        deliver: impl Fn(Pid, Signal),
    ) {
        process.set_gone();
        let mut cache = pids.map(|pids| pids.borrow_mut());
        self.table.remove(process.pid, cache.as_deref_mut());
        drop(cache);
        if self.hosts[process.host].config.max_processes > 0 {
            self.hosts[process.host]
                .live
                .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
        }
        // process.md §6: the names are released first, then each monitor gets its EXIT.
        for name in &farewell.names {
            self.registry.release(name, process.pid);
        }
        // A failure someone alive handles (a monitor, or a linked process that traps links) is
        // theirs to handle: DEBUG. One nobody handles (a linked process that does not trap
        // links dies of it, and logs only "linked process failed") is an ERROR with its
        // traceback.
        if let Exit::Failed(error) = &exit
            && !process.watched
            && !(process.supervisor && is_give_up(error))
        {
            let alive = |pid: &Pid| self.table.get(*pid);
            let heard = farewell.monitors.iter().any(|p| alive(p).is_some())
                || farewell.links.iter().any(|p| {
                    alive(p)
                        .is_some_and(|l| l.traps_links.load(std::sync::atomic::Ordering::Relaxed))
                });
            let level = match heard {
                true => log::Level::Debug,
                false => log::Level::Error,
            };
            log::process_failed(&process.pid_text, entry_id, error, level);
        }
        if farewell.monitors.is_empty() && farewell.links.is_empty() && !process.watched {
            // Nobody to tell (the exit is not even shared).
            return;
        }
        let exit = self.notify_watchers(process, exit, farewell, deliver);
        if process.watched {
            self.notify_exit(process.pid, &exit);
        }
    }

    /// Sends each monitor in `farewell` its EXIT and each link its LINK_DOWN (or LinkGone
    /// after a normal exit), through `deliver`; the exit, shared.
    pub(crate) fn notify_watchers(
        &self,
        process: &Process,
        exit: Exit,
        farewell: crate::proc::Farewell,
        deliver: impl Fn(Pid, Signal),
    ) -> Arc<Exit> {
        let exit = Arc::new(exit);
        for monitor in farewell.monitors {
            let signal = Signal::Exit {
                from: process.pid_text.clone(),
                pid: process.pid,
                exit: exit.clone(),
            };
            deliver(monitor, signal);
        }
        // A process that both monitors and links gets EXIT before LINK_DOWN. Every linked process
        // forgets the link when the signal reaches it (its shared set says whether the link
        // still stands then: an `unlink` in between drops the LINK_DOWN), so that links to
        // exited processes do not pile up.
        let failed = matches!(*exit, Exit::Failed(_));
        for linked in farewell.links {
            let signal = match failed {
                true => Signal::LinkDown {
                    from: process.pid_text.clone(),
                    pid: process.pid,
                    exit: exit.clone(),
                },
                false => Signal::LinkGone { pid: process.pid },
            };
            deliver(linked, signal);
        }
        exit
    }
}

/// Whether a supervisor process failed by giving up after too many restarts, which it logs
/// itself (supervisor.md); any other failure of one is logged like every process's.
fn is_give_up(error: &crate::error::ErrorValue) -> bool {
    const GIVE_UP: &[u8] = b"restart intensity exceeded";
    error.kind == crate::error::ErrorKind::Unavailable
        && error.message.windows(GIVE_UP.len()).any(|w| w == GIVE_UP)
}
