//! The `process` global (process.md): identity, spawning, monitors and links, stopping, the
//! name registry, options, `call` and `upgrade`. Sending and the process channels are in
//! `message.rs`, the SpawnBuilder in `builder.rs`.
//!
//! Every function validates its arguments first and returns `nil, err` (or `false, err` where
//! the spec says) instead of raising.

use std::ffi::c_int;
use std::rc::Rc;

use super::args::{done, entry_id, fail, fail_false, invalid, non_empty, outcome, type_name};
use super::raw::{self, Kind, Raise, Stack, lua_cont, lua_fn};
use super::run::{block, core, take_delivery};
use super::{builder, convert, message, time};
use crate::error::{ErrorKind, ErrorValue};
use crate::proc::registry::is_valid_name;
use crate::proc::{Exit, Pid, Wait};

fn dest<'a>(stack: Stack<'a>, function: &str) -> Result<&'a [u8], ErrorValue> {
    non_empty(stack, 1).ok_or_else(|| invalid(format!("{function}: dest must be a PID or a name")))
}

lua_fn! {
    /// `process.id()`.
    fn id(stack) {
        let entry = crate::sched::current_core().and_then(|c| c.current_entry());
        match entry {
            Some(entry) => {
                stack.push_bytes(entry.id.as_bytes());
                raw::values(1)
            }
            None => fail(stack, invalid("no process is running")),
        }
    }
}

/// What a spawn names: the entry id, the host id and the copied arguments.
type SpawnArguments = (Rc<str>, Rc<str>, Vec<crate::value::Value>);

/// Reads `id, host, args...` of a spawn: the ids and the copied arguments.
fn spawn_arguments(
    stack: Stack<'_>,
    function: &str,
    first: c_int,
) -> Result<SpawnArguments, ErrorValue> {
    let Some(id) = entry_id(stack, first) else {
        return Err(invalid(format!(
            "{function}: id must be an entry id 'namespace:name'"
        )));
    };
    let Some(host) = entry_id(stack, first + 1) else {
        return Err(invalid(format!(
            "{function}: host must be an entry id 'namespace:name'"
        )));
    };
    let args = convert::to_values(stack, first + 2, stack.top())?;
    Ok((id, host, args))
}

/// Spawns with `monitored`/`linked` and `extras`; pushes the PID or `nil, err`.
pub fn spawn_with(
    stack: Stack<'_>,
    function: &str,
    first: c_int,
    monitored: bool,
    linked: bool,
    extras: crate::sched::SpawnExtras,
) -> raw::Result {
    let (id, host, args) = match spawn_arguments(stack, function, first) {
        Ok(parts) => parts,
        Err(e) => return fail(stack, e),
    };
    let core = core()?;
    match core.spawn_from_process(&id, &host, args, monitored, linked, extras) {
        Ok(pid) => {
            stack.push_bytes(pid.as_bytes());
            raw::values(1)
        }
        Err(e) => fail(stack, e),
    }
}

macro_rules! spawn_fn {
    ($name:ident, $label:literal, $monitored:expr, $linked:expr) => {
        lua_fn! {
            fn $name(stack) {
                spawn_with(stack, $label, 1, $monitored, $linked, Default::default())
            }
        }
    };
}

spawn_fn!(spawn, "spawn", false, false);
spawn_fn!(spawn_monitored, "spawn_monitored", true, false);
spawn_fn!(spawn_linked, "spawn_linked", false, true);
spawn_fn!(spawn_linked_monitored, "spawn_linked_monitored", true, true);

macro_rules! dest_fn {
    ($name:ident, $label:literal, $method:ident) => {
        lua_fn! {
            fn $name(stack) {
                let dest = match dest(stack, $label) {
                    Ok(dest) => dest,
                    Err(e) => return fail(stack, e),
                };
                let core = core()?;
                outcome(stack, core.$method(dest))
            }
        }
    };
}

dest_fn!(monitor, "monitor", monitor);
dest_fn!(unmonitor, "unmonitor", unmonitor);
dest_fn!(link, "link", link);
dest_fn!(unlink, "unlink", unlink);

lua_fn! {
    /// `process.terminate(dest)`: terminating yourself does not return.
    fn terminate(stack) {
        let dest = match dest(stack, "terminate") {
            Ok(dest) => dest,
            Err(e) => return fail(stack, e),
        };
        let core = core()?;
        match core.terminate(dest) {
            Ok(false) => done(stack),
            Ok(true) => {
                if !stack.can_yield() {
                    return Err(Raise::Object(ErrorValue::new(ErrorKind::Canceled, "terminated")));
                }
                block(stack, Wait::Local)
            }
            Err(e) => fail(stack, e),
        }
    }
}

lua_cont! {
    fn wait_forever(stack) {
        // The process is stopped before it runs again; a spurious resume waits again.
        let core = core()?;
        let _ = take_delivery(&core);
        block(stack, Wait::Local)
    }
}

lua_fn! {
    /// `process.cancel(dest, deadline?)`.
    fn cancel(stack) {
        let dest = match dest(stack, "cancel") {
            Ok(dest) => dest,
            Err(e) => return fail(stack, e),
        };
        let deadline = match stack.kind(2) {
            Kind::None | Kind::Nil => None,
            _ => match time::duration_at(stack, 2) {
                Ok(d) if d.0 > 0 => Some(d.to_std()),
                Ok(_) => return fail(stack, invalid("cancel: the deadline must be greater than zero")),
                Err(e) => return fail(stack, e),
            },
        };
        let core = core()?;
        outcome(stack, core.cancel(dest, deadline))
    }
}

lua_fn! {
    /// `process.call(id, host, ...)`: spawns, then waits for the child's exit.
    fn call(stack) {
        let (id, host, args) = match spawn_arguments(stack, "call", 1) {
            Ok(parts) => parts,
            Err(e) => return fail(stack, e),
        };
        let core = core()?;
        if !stack.can_yield() {
            return super::run::cannot_block();
        }
        let child = match core.call_start(&id, &host, args) {
            Ok(child) => child,
            Err(e) => return fail(stack, e),
        };
        stack.set_top(0);
        stack.push_number(child.0 as f64);
        block(stack, Wait::External)
    }
}

lua_cont! {
    fn call_continue(stack) {
        let core = core()?;
        let _ = take_delivery(&core);
        let child = Pid(stack.number(1).unwrap_or_default() as u64);
        let exit = core.with_current(|p| p.local.take_call_exit(child)).flatten();
        match exit.as_deref() {
            None => block(stack, Wait::External),
            Some(Exit::Normal(value)) => {
                convert::push_value(stack, value);
                raw::values(1)
            }
            Some(Exit::Failed(error)) => fail(stack, error.clone()),
        }
    }
}

lua_fn! {
    /// `process.upgrade(source?, ...)`: does not return on success.
    fn upgrade(stack) {
        let source = match stack.kind(1) {
            Kind::None | Kind::Nil => None,
            Kind::String => Some(stack.bytes(1).unwrap_or_default()),
            _ => return fail(stack, invalid("upgrade: source must be an entry id or nil")),
        };
        let args = match convert::to_values(stack, 2, stack.top()) {
            Ok(args) => args,
            Err(e) => return fail(stack, e),
        };
        let core = core()?;
        if let Err(e) = core.request_upgrade(source, args) {
            return fail(stack, e);
        }
        if !stack.can_yield() {
            core.with_current(|p| p.upgrade = None);
            return super::run::cannot_block();
        }
        block(stack, Wait::Local)
    }
}

lua_fn! {
    /// `process.get_options()`.
    fn get_options(stack) {
        let core = core()?;
        let trap = core.with_current(|p| p.local.trap_links).unwrap_or(false);
        stack.new_table(0, 1);
        stack.push_bool(trap);
        stack.raw_set_field(-2, c"trap_links");
        raw::values(1)
    }
}

lua_fn! {
    /// `process.set_options(t)`.
    fn set_options(stack) {
        if stack.kind(1) != Kind::Table {
            return fail_false(stack, invalid(format!(
                "set_options: options must be a table, got {}",
                type_name(stack, 1)
            )));
        }
        let mut trap = None;
        stack.push_nil();
        while stack.next(1) {
            match (stack.bytes(-2), stack.kind(-1)) {
                (Some(b"trap_links"), Kind::Boolean) => trap = Some(stack.truthy(-1)),
                (Some(b"trap_links"), _) => {
                    stack.pop(2);
                    return fail_false(stack, invalid("set_options: trap_links must be a boolean"));
                }
                (Some(other), _) => {
                    let message = format!("set_options: unknown option {}", String::from_utf8_lossy(other));
                    stack.pop(2);
                    return fail_false(stack, invalid(message));
                }
                (None, _) => {
                    let message = format!("set_options: unknown option of type {}", type_name(stack, -2));
                    stack.pop(2);
                    return fail_false(stack, invalid(message));
                }
            }
            stack.pop(1);
        }
        if let Some(trap) = trap {
            let core = core()?;
            core.with_current(|p| {
                p.local.trap_links = trap;
                p.local
                    .process
                    .traps_links
                    .store(trap, std::sync::atomic::Ordering::Relaxed);
            });
        }
        done(stack)
    }
}

fn name_at<'a>(stack: Stack<'a>, function: &str) -> Result<&'a [u8], ErrorValue> {
    stack.bytes(1).filter(|n| is_valid_name(n)).ok_or_else(|| {
        invalid(format!(
            "{function}: a name is a non-empty string that does not start with '{{'"
        ))
    })
}

lua_fn! {
    fn register_name(stack) {
        let name = match name_at(stack, "register") {
            Ok(name) => name,
            Err(e) => return fail(stack, e),
        };
        let pid = match stack.kind(2) {
            Kind::None | Kind::Nil => None,
            Kind::String => stack.bytes(2),
            _ => return fail(stack, invalid("register: pid must be a PID string")),
        };
        let core = core()?;
        outcome(stack, core.register(name, pid))
    }
}

lua_fn! {
    fn lookup(stack) {
        let name = match name_at(stack, "lookup") {
            Ok(name) => name,
            Err(e) => return fail(stack, e),
        };
        let core = core()?;
        match core.lookup(name) {
            Ok(pid) => {
                stack.push_bytes(pid.as_bytes());
                raw::values(1)
            }
            Err(e) => fail(stack, e),
        }
    }
}

lua_fn! {
    fn unregister(stack) {
        let name = match name_at(stack, "unregister") {
            Ok(name) => name,
            Err(e) => return fail_false(stack, e),
        };
        let core = core()?;
        match core.unregister(name) {
            Ok(removed) => {
                stack.push_bool(removed);
                raw::values(1)
            }
            Err(e) => fail_false(stack, e),
        }
    }
}

/// Pushes the `process` table (frozen, with its frozen subtables).
pub fn push_module(stack: Stack<'_>) {
    raw::push_table(
        stack,
        &[
            raw::method(c"pid", message::pid),
            raw::method(c"id", id),
            raw::method(c"spawn", spawn),
            raw::method(c"spawn_monitored", spawn_monitored),
            raw::method(c"spawn_linked", spawn_linked),
            raw::method(c"spawn_linked_monitored", spawn_linked_monitored),
            raw::method(c"send", message::send),
            raw::method(c"inbox", message::inbox),
            raw::method(c"events", message::events),
            raw::method(c"listen", message::listen),
            raw::method(c"unlisten", message::unlisten),
            raw::method(c"monitor", monitor),
            raw::method(c"unmonitor", unmonitor),
            raw::method(c"link", link),
            raw::method(c"unlink", unlink),
            raw::blocking(c"terminate", terminate, wait_forever),
            raw::method(c"cancel", cancel),
            raw::blocking(c"call", call, call_continue),
            raw::blocking(c"upgrade", upgrade, wait_forever),
            raw::method(c"get_options", get_options),
            raw::method(c"set_options", set_options),
            raw::method(c"with_context", builder::with_context_fn),
        ],
    );
    let table = stack.top();
    // process.md: `exec` is the same function as `call`.
    stack.raw_get_field(table, c"call");
    stack.raw_set_field(table, c"exec");
    raw::push_table(
        stack,
        &[
            raw::method(c"register", register_name),
            raw::method(c"lookup", lookup),
            raw::method(c"unregister", unregister),
        ],
    );
    stack.freeze(-1);
    stack.raw_set_field(table, c"registry");
    stack.new_table(0, 3);
    for (name, value) in [
        (c"EXIT", "pid.exit"),
        (c"LINK_DOWN", "pid.link.down"),
        (c"CANCEL", "pid.cancel"),
    ] {
        stack.push_bytes(value.as_bytes());
        stack.raw_set_field(-2, name);
    }
    stack.freeze(-1);
    stack.raw_set_field(table, c"event");
    stack.freeze(table);
}
