//! The `supervisor` module (supervisor.md): its Luau half (`supervisor.luau`: checking specs,
//! requests answered by message) runs in the calling process; this file gives it the few
//! things Lua cannot do: starting a supervisor process watched privately until it announces
//! its start, and telling supervisor processes from others. The supervisor process itself is
//! `src/supervise/supervisor.luau`.

use super::args::{fail, invalid, type_name};
use super::raw::{self, LuaRef, Stack, lua_cont, lua_fn};
use super::run::{block, core, take_delivery};
use super::{convert, message};
use crate::proc::{Wait, pid};
use crate::sched::StartOutcome;

/// The module's chunk: the spec checks shared with the supervisor process, then the module.
const MODULE: &str = concat!(
    "local rt = ...\nlocal time = rt.time\n",
    include_str!("../supervise/spec.luau"),
    include_str!("supervisor.luau"),
);

lua_fn! {
    /// `rt.start(host, spec, starter)`: spawns the supervisor process; its PID, or `nil, err`.
    fn start(stack) {
        let Some(host) = stack.bytes(1).and_then(|b| std::str::from_utf8(b).ok()) else {
            return fail(stack, invalid("supervisor.start: no host"));
        };
        let host = host.to_string();
        let args = match convert::to_values(stack, 2, stack.top()) {
            Ok(args) => args,
            Err(e) => return fail(stack, e),
        };
        let core = core()?;
        match core.start_supervisor(&host, args) {
            Ok(pid) => {
                stack.push_bytes(pid.as_bytes());
                raw::values(1)
            }
            Err(e) => fail(stack, e),
        }
    }
}

/// The PID a PID text at `index` names.
fn pid_at(stack: Stack<'_>, index: std::ffi::c_int) -> Option<crate::proc::Pid> {
    let text = std::str::from_utf8(stack.bytes(index)?).ok()?;
    pid::parse(text).map(|p| p.pid)
}

/// Pushes the outcome of a start, or blocks until there is one.
fn started_or_wait(stack: Stack<'_>) -> raw::Result {
    let Some(sup) = pid_at(stack, 1) else {
        return raw::raise("supervisor: not a PID");
    };
    let core = core()?;
    match core.supervisor_start_outcome(sup) {
        Some(StartOutcome::Started(envelope)) => {
            stack.push_bytes(b"started");
            match envelope.payload.as_slice().first() {
                Some(value) => convert::push_value(stack, value),
                None => stack.push_nil(),
            }
            raw::values(2)
        }
        Some(StartOutcome::Exited(exit)) => {
            stack.push_bytes(b"exit");
            message::push_result(stack, &exit);
            raw::values(2)
        }
        None => block(stack, Wait::External),
    }
}

lua_fn! {
    /// `rt.wait_started(sup)`: `"started", outcome` once the supervisor announced its start,
    /// or `"exit", result` if it exited first.
    fn wait_started(stack) {
        stack.set_top(1);
        started_or_wait(stack)
    }
}

lua_cont! {
    fn wait_started_continue(stack) {
        let core = core()?;
        let _ = take_delivery(&core);
        stack.set_top(1);
        started_or_wait(stack)
    }
}

lua_fn! {
    /// `rt.settled(sup)`: the start is over; the caller stays linked only.
    fn settled(stack) {
        if let Some(sup) = pid_at(stack, 1) {
            core()?.supervisor_settled(sup);
        }
        raw::values(0)
    }
}

lua_fn! {
    /// `rt.supervisor_of(dest)`: the PID of the live supervisor process `dest` names, or nil.
    fn supervisor_of(stack) {
        let Some(dest) = stack.bytes(1).filter(|d| !d.is_empty()) else {
            return fail(stack, invalid(format!(
                "supervisor: expected a PID or a name, got {}",
                type_name(stack, 1)
            )));
        };
        match core()?.supervisor(dest) {
            Some(process) => stack.push_bytes(process.pid_text.as_bytes()),
            None => stack.push_nil(),
        }
        raw::values(1)
    }
}

lua_fn! {
    /// `rt.shutting_down()` (the module's `supervisor.shutting_down()`): whether the runtime's
    /// shutdown has begun.
    fn shutting_down(stack) {
        stack.push_bool(core()?.shutting_down());
        raw::values(1)
    }
}

/// Builds the `supervisor` module (frozen): runs `supervisor.luau` with its primitives and
/// the `time` module.
pub fn module(stack: Stack<'_>, time: &LuaRef) -> Result<LuaRef, String> {
    stack.new_table(0, 7);
    let rt = stack.top();
    for (name, f, continuation) in [
        raw::method(c"start", start),
        raw::blocking(c"wait_started", wait_started, wait_started_continue),
        raw::method(c"settled", settled),
        raw::method(c"supervisor_of", supervisor_of),
        raw::method(c"shutting_down", shutting_down),
    ] {
        stack.push_function(f, name, continuation);
        stack.raw_set_field(rt, name);
    }
    stack.push_ref(time);
    stack.raw_set_field(rt, c"time");
    stack.freeze(rt);
    stack.load(b"=moonweave.supervisor_module", MODULE.as_bytes())?;
    stack.push_copy(rt);
    stack.call(1, Some(1));
    stack.freeze(-1);
    let module = stack.make_ref(-1);
    stack.pop(2);
    Ok(module)
}
