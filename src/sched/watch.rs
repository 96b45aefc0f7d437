//! Monitors, links and registered names (process.md §8, §13), from the running process.
//!
//! A monitor or link is recorded twice: in the target's shared [`Watchers`] (so that its exit
//! notifies the watcher, see `proc/watchers.rs` for the exit protocol) and in the watcher's own
//! owner state (so that an EXIT or LINK_DOWN from a target it no longer watches is dropped).
//!
//! [`Watchers`]: crate::proc::Watchers

use std::sync::Arc;

use super::core::Core;
use super::error;
use crate::error::{ErrorKind, ErrorValue};
use crate::proc::{Pid, Process, Watch, pid};
use crate::security::Permission;

fn outside_process() -> ErrorValue {
    error(ErrorKind::Invalid, "no process is running")
}

fn not_found(dest: &[u8]) -> ErrorValue {
    let mut message = b"no process ".to_vec();
    message.extend_from_slice(dest);
    error(ErrorKind::NotFound, message)
}

impl Core {
    /// `process.monitor(dest)`.
    pub fn monitor(&self, dest: &[u8]) -> Result<(), ErrorValue> {
        let me = self.current_process().ok_or_else(outside_process)?;
        let target = self.resolve(dest)?;
        self.permit(Permission::Monitor, target.pid_text.as_bytes())?;
        if target.pid == me.pid {
            return Ok(());
        }
        if self.with_current(|p| p.local.monitors(target.pid)) == Some(true) {
            let mut message = dest.to_vec();
            message.extend_from_slice(b" is already monitored");
            return Err(error(ErrorKind::AlreadyExists, message));
        }
        if !target.watchers.add_monitor(me.pid) {
            return Err(not_found(dest));
        }
        self.with_current(|p| p.local.add_monitor(target.pid));
        if let Some(forward) = target.forward() {
            forward.watch(&target, &me, Watch::Monitor)?;
        }
        Ok(())
    }

    /// `process.unmonitor(dest)`: idempotent; also drops an EXIT already queued.
    pub fn unmonitor(&self, dest: &[u8]) -> Result<(), ErrorValue> {
        let me = self.current_process().ok_or_else(outside_process)?;
        if let Some(proxy) = self.shared.remote_proxy(dest) {
            self.permit(Permission::Unmonitor, proxy.pid_text.as_bytes())?;
            proxy.watchers.remove_monitor(me.pid);
            self.with_current(|p| p.local.remove_monitor(proxy.pid));
            if let Some(forward) = proxy.forward() {
                forward.watch(&proxy, &me, Watch::Unmonitor)?;
            }
            return Ok(());
        }
        let Some((pid, text)) = self.pid_of(dest)? else {
            return Ok(());
        };
        self.permit(Permission::Unmonitor, text.as_bytes())?;
        if let Some(target) = self.shared.table.get(pid) {
            target.watchers.remove_monitor(me.pid);
        }
        self.with_current(|p| p.local.remove_monitor(pid));
        Ok(())
    }

    /// `process.link(dest)`: idempotent; linking yourself does nothing.
    pub fn link(&self, dest: &[u8]) -> Result<(), ErrorValue> {
        let me = self.current_process().ok_or_else(outside_process)?;
        let target = self.resolve(dest)?;
        self.permit(Permission::Link, target.pid_text.as_bytes())?;
        if target.pid == me.pid {
            return Ok(());
        }
        if !crate::proc::watchers::link(&me.watchers, me.pid, &target.watchers, target.pid) {
            return Err(not_found(dest));
        }
        super::native::announce_link(&target, &me)?;
        self.with_current(|p| p.local.add_link(target.pid));
        Ok(())
    }

    /// `process.unlink(dest)`: idempotent; also drops a LINK_DOWN already queued.
    pub fn unlink(&self, dest: &[u8]) -> Result<(), ErrorValue> {
        let me = self.current_process().ok_or_else(outside_process)?;
        if let Some(proxy) = self.shared.remote_proxy(dest) {
            self.permit(Permission::Unlink, proxy.pid_text.as_bytes())?;
            proxy.watchers.remove_link(me.pid);
            me.watchers.remove_link(proxy.pid);
            self.with_current(|p| p.local.remove_link(proxy.pid));
            if let Some(forward) = proxy.forward() {
                forward.watch(&proxy, &me, Watch::Unlink)?;
            }
            return Ok(());
        }
        let Some((pid, text)) = self.pid_of(dest)? else {
            return Ok(());
        };
        self.permit(Permission::Unlink, text.as_bytes())?;
        if let Some(target) = self.shared.table.get(pid) {
            target.watchers.remove_link(me.pid);
        }
        me.watchers.remove_link(pid);
        self.with_current(|p| p.local.remove_link(pid));
        Ok(())
    }

    /// The PID `dest` stands for, and its text, without requiring a live process: `None` for
    /// an unregistered name (unmonitor and unlink are idempotent).
    fn pid_of(&self, dest: &[u8]) -> Result<Option<(Pid, Arc<str>)>, ErrorValue> {
        if dest.first() != Some(&b'{') {
            let Some(pid) = self.shared.registry.lookup(dest) else {
                return Ok(None);
            };
            let text = match self.shared.table.get(pid) {
                Some(process) => process.pid_text.clone(),
                None => return Ok(None),
            };
            return Ok(Some((pid, text)));
        }
        match std::str::from_utf8(dest).ok().and_then(pid::parse) {
            Some(parsed) => {
                let Some(host) = self.shared.host_index(parsed.host) else {
                    return Ok(None); // no such host: the PID names no process
                };
                match self.shared.table.get(parsed.pid) {
                    // A live process, on the host the PID names: its own text is the resource.
                    Some(process) if process.host == host => {
                        Ok(Some((parsed.pid, process.pid_text.clone())))
                    }
                    // The number of a process on another host: not this PID.
                    Some(_) => Ok(None),
                    // An exited process: its text as written, zeros normalised.
                    None => Ok(Some((parsed.pid, parsed.pid.format(parsed.host).into()))),
                }
            }
            None => {
                let mut message = b"malformed PID '".to_vec();
                message.extend_from_slice(dest);
                message.push(b'\'');
                Err(error(ErrorKind::Invalid, message))
            }
        }
    }

    /// `process.registry.register(name, pid?)`.
    pub fn register(&self, name: &[u8], pid_text: Option<&[u8]>) -> Result<(), ErrorValue> {
        let target: Arc<Process> = match pid_text {
            None => self.current_process().ok_or_else(outside_process)?,
            Some(text) => {
                let parsed = std::str::from_utf8(text).ok().and_then(pid::parse);
                let Some(parsed) = parsed else {
                    let mut message = b"register: '".to_vec();
                    message.extend_from_slice(text);
                    message.extend_from_slice(b"' is not a PID");
                    return Err(error(ErrorKind::Invalid, message));
                };
                let host = self.shared.host_index(parsed.host);
                self.shared
                    .table
                    .get(parsed.pid)
                    .filter(|p| Some(p.host) == host && !p.is_gone())
                    .ok_or_else(|| not_found(text))?
            }
        };
        // After the PID is checked (a malformed or dead one is INVALID or NOT_FOUND whatever
        // the scope), before anything is registered.
        self.permit(Permission::Register, name)?;
        self.shared.take_name(&target, name)
    }

    /// `process.registry.lookup(name)`.
    pub fn lookup(&self, name: &[u8]) -> Result<Arc<str>, ErrorValue> {
        self.shared
            .registry
            .lookup(name)
            .and_then(|pid| self.shared.table.get(pid))
            .filter(|p| !p.is_gone())
            .map(|p| p.pid_text.clone())
            .ok_or_else(|| {
                let mut message = b"no process is registered as '".to_vec();
                message.extend_from_slice(name);
                message.push(b'\'');
                error(ErrorKind::NotFound, message)
            })
    }

    /// `process.registry.unregister(name)`: whether the name was registered.
    pub fn unregister(&self, name: &[u8]) -> Result<bool, ErrorValue> {
        self.permit(Permission::Unregister, name)?;
        Ok(match self.shared.registry.remove(name) {
            Some(pid) => {
                if let Some(holder) = self.shared.table.get(pid) {
                    holder.watchers.drop_name(name);
                }
                true
            }
            None => false,
        })
    }
}
