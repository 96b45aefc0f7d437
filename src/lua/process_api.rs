//! The `process` global (process.md): identity, spawning, sending, the inbox and events
//! channels, monitors, the name registry and options.
//!
//! Every function validates its arguments first and returns `nil, err` (or `false, err` where
//! the spec says) instead of raising.

use std::rc::Rc;
use std::sync::Arc;

use mlua::{Function, Lua, MultiValue, Table, Value as LuaValue};

use super::convert;
use super::errors::{fail, fail_with};
use crate::app::is_entry_id;
use crate::error::{ErrorKind, ErrorValue};
use crate::proc::registry::is_valid_name;
use crate::proc::{Envelope, Exit};
use crate::sched::{Event, WorkerContext};

/// The Lua-implemented parts of `process`, from the bootstrap.
pub struct LuaParts {
    pub inbox: Function,
    pub events: Function,
}

fn one(value: LuaValue) -> mlua::Result<MultiValue> {
    Ok(MultiValue::from_iter([value]))
}

fn string(lua: &Lua, text: &str) -> mlua::Result<LuaValue> {
    Ok(LuaValue::String(lua.create_string(text)?))
}

/// `true` on success, `nil, err` on failure.
fn done(lua: &Lua, result: Result<(), ErrorValue>) -> mlua::Result<MultiValue> {
    match result {
        Ok(()) => one(LuaValue::Boolean(true)),
        Err(e) => fail(lua, e),
    }
}

/// A destination argument: a non-empty string.
fn dest_argument(value: Option<LuaValue>, function: &str) -> Result<String, ErrorValue> {
    match value {
        Some(LuaValue::String(s)) if !s.as_bytes().is_empty() => Ok(s.to_string_lossy()),
        _ => Err(ErrorValue::new(
            ErrorKind::Invalid,
            format!("{function}: dest must be a PID or a name"),
        )),
    }
}

/// A full entry id argument, or `None` when it is not one.
pub(super) fn entry_id_argument(value: &LuaValue) -> Option<String> {
    match value {
        LuaValue::String(s) => {
            let s = s.to_str().ok()?.to_string();
            is_entry_id(&s).then_some(s)
        }
        _ => None,
    }
}

/// A registry name argument.
fn name_argument(value: &LuaValue, function: &str) -> Result<String, ErrorValue> {
    match value {
        LuaValue::String(s) if is_valid_name(&s.to_string_lossy()) => Ok(s.to_string_lossy()),
        _ => Err(ErrorValue::new(
            ErrorKind::Invalid,
            format!("{function}: a name is a non-empty string that does not start with '{{'"),
        )),
    }
}

/// Builds the `process` table for one worker VM.
pub fn create(lua: &Lua, ctx: &Rc<WorkerContext>, parts: LuaParts) -> mlua::Result<Table> {
    let process = lua.create_table()?;

    let c = ctx.clone();
    process.set(
        "pid",
        lua.create_function(move |lua, ()| match c.current_pid_text() {
            Some(pid) => one(string(lua, &pid)?),
            None => fail_with(lua, ErrorKind::Invalid, "no process is running"),
        })?,
    )?;

    let c = ctx.clone();
    process.set(
        "id",
        lua.create_function(move |lua, ()| match c.current_entry() {
            Some(entry) => one(string(lua, &entry.id)?),
            None => fail_with(lua, ErrorKind::Invalid, "no process is running"),
        })?,
    )?;

    for (name, monitored, linked) in [
        ("spawn", false, false),
        ("spawn_monitored", true, false),
        ("spawn_linked", false, true),
        ("spawn_linked_monitored", true, true),
    ] {
        let c = ctx.clone();
        process.set(
            name,
            lua.create_function(move |lua, args: MultiValue| {
                let mut args = args.into_iter();
                let id = args.next().unwrap_or(LuaValue::Nil);
                let host = args.next().unwrap_or(LuaValue::Nil);
                let Some(id) = entry_id_argument(&id) else {
                    return fail_with(
                        lua,
                        ErrorKind::Invalid,
                        format!("{name}: id must be an entry id 'namespace:name'"),
                    );
                };
                let Some(host) = entry_id_argument(&host) else {
                    return fail_with(
                        lua,
                        ErrorKind::Invalid,
                        format!("{name}: host must be an entry id 'namespace:name'"),
                    );
                };
                let rest: Vec<LuaValue> = args.collect();
                let values = match convert::to_values(&rest) {
                    Ok(values) => values,
                    Err(e) => return fail(lua, e),
                };
                match c.spawn(&id, &host, values, monitored, linked) {
                    Ok(pid) => one(string(lua, &pid)?),
                    Err(e) => fail(lua, e),
                }
            })?,
        )?;
    }

    let c = ctx.clone();
    process.set(
        "send",
        lua.create_function(move |lua, args: MultiValue| {
            let mut args = args.into_iter();
            let dest = match dest_argument(args.next(), "send") {
                Ok(dest) => dest,
                Err(e) => return fail(lua, e),
            };
            let topic = match args.next() {
                Some(LuaValue::String(s)) => s.to_string_lossy(),
                _ => return fail_with(lua, ErrorKind::Invalid, "send: topic must be a string"),
            };
            if topic.is_empty() || topic.starts_with('@') {
                return fail_with(
                    lua,
                    ErrorKind::Invalid,
                    "send: topic must be non-empty and not start with '@'",
                );
            }
            let rest: Vec<LuaValue> = args.collect();
            let payload = match convert::to_values(&rest) {
                Ok(values) => values,
                Err(e) => return fail(lua, e),
            };
            let envelope = Envelope {
                from: c.current_pid_text(),
                topic: topic.into_boxed_str(),
                payload,
            };
            done(lua, c.send(&dest, envelope))
        })?,
    )?;

    let c = ctx.clone();
    process.set(
        "monitor",
        lua.create_function(move |lua, dest: Option<LuaValue>| {
            match dest_argument(dest, "monitor") {
                Ok(dest) => done(lua, c.monitor(&dest)),
                Err(e) => fail(lua, e),
            }
        })?,
    )?;

    let c = ctx.clone();
    process.set(
        "unmonitor",
        lua.create_function(move |lua, dest: Option<LuaValue>| {
            match dest_argument(dest, "unmonitor") {
                Ok(dest) => done(lua, c.unmonitor(&dest)),
                Err(e) => fail(lua, e),
            }
        })?,
    )?;

    for (name, link) in [("link", true), ("unlink", false)] {
        let c = ctx.clone();
        process.set(
            name,
            lua.create_function(move |lua, dest: Option<LuaValue>| {
                match dest_argument(dest, name) {
                    Ok(dest) if link => done(lua, c.link(&dest)),
                    Ok(dest) => done(lua, c.unlink(&dest)),
                    Err(e) => fail(lua, e),
                }
            })?,
        )?;
    }

    let c = ctx.clone();
    process.set(
        "call_start",
        lua.create_function(move |lua, args: MultiValue| {
            let mut args = args.into_iter();
            let id = args.next().unwrap_or(LuaValue::Nil);
            let host = args.next().unwrap_or(LuaValue::Nil);
            let Some(id) = entry_id_argument(&id) else {
                return fail_with(
                    lua,
                    ErrorKind::Invalid,
                    "call: id must be an entry id 'namespace:name'",
                );
            };
            let Some(host) = entry_id_argument(&host) else {
                return fail_with(
                    lua,
                    ErrorKind::Invalid,
                    "call: host must be an entry id 'namespace:name'",
                );
            };
            let rest: Vec<LuaValue> = args.collect();
            let values = match convert::to_values(&rest) {
                Ok(values) => values,
                Err(e) => return fail(lua, e),
            };
            match c.call_start(&id, &host, values) {
                Ok(child) => one(LuaValue::Number(child.0 as f64)),
                Err(e) => fail(lua, e),
            }
        })?,
    )?;

    let c = ctx.clone();
    process.set(
        "call_result",
        lua.create_function(move |lua, child: f64| {
            let Some(exit) = c.call_result(crate::proc::Pid(child as u64)) else {
                return Ok(MultiValue::new());
            };
            let mut out = MultiValue::new();
            out.push_back(LuaValue::Boolean(true));
            match &*exit {
                Exit::Normal(value) => out.push_back(convert::from_value(lua, value)?),
                Exit::Failed(error) => {
                    out.push_back(LuaValue::Nil);
                    out.push_back(LuaValue::UserData(
                        lua.create_userdata(super::errors::LuaError(error.clone()))?,
                    ));
                }
            }
            Ok(out)
        })?,
    )?;

    let c = ctx.clone();
    process.set(
        "upgrade_raw",
        lua.create_function(move |lua, args: MultiValue| {
            let mut args = args.into_iter();
            let source = match args.next() {
                None | Some(LuaValue::Nil) => None,
                Some(LuaValue::String(s)) => Some(s.to_string_lossy()),
                Some(_) => {
                    return fail_with(
                        lua,
                        ErrorKind::Invalid,
                        "upgrade: source must be an entry id or nil",
                    );
                }
            };
            let rest: Vec<LuaValue> = args.collect();
            let values = match convert::to_values(&rest) {
                Ok(values) => values,
                Err(e) => return fail(lua, e),
            };
            done(lua, c.upgrade(source.as_deref(), values))
        })?,
    )?;

    let c = ctx.clone();
    process.set(
        "terminate_raw",
        lua.create_function(move |lua, dest: Option<LuaValue>| {
            match dest_argument(dest, "terminate") {
                Ok(dest) => match c.terminate(&dest) {
                    Ok(true) => one(string(lua, "self")?),
                    Ok(false) => one(LuaValue::Boolean(true)),
                    Err(e) => fail(lua, e),
                },
                Err(e) => fail(lua, e),
            }
        })?,
    )?;

    let c = ctx.clone();
    process.set(
        "cancel",
        lua.create_function(move |lua, (dest, deadline): (Option<LuaValue>, LuaValue)| {
            let dest = match dest_argument(dest, "cancel") {
                Ok(dest) => dest,
                Err(e) => return fail(lua, e),
            };
            let deadline = match &deadline {
                LuaValue::Nil => None,
                value => match super::time::duration_argument(value) {
                    Ok(d) if d.0 > 0 => Some(d.to_std()),
                    Ok(_) => {
                        return fail_with(
                            lua,
                            ErrorKind::Invalid,
                            "cancel: the deadline must be greater than zero",
                        );
                    }
                    Err(e) => return fail(lua, e),
                },
            };
            done(lua, c.cancel(&dest, deadline))
        })?,
    )?;

    let c = ctx.clone();
    process.set(
        "get_options",
        lua.create_function(move |lua, ()| {
            let options = lua.create_table()?;
            options.set("trap_links", c.trap_links())?;
            Ok(options)
        })?,
    )?;

    let c = ctx.clone();
    process.set(
        "set_options",
        lua.create_function(move |lua, options: LuaValue| {
            let invalid = |m: &str| -> mlua::Result<MultiValue> {
                let mut v = fail_with(lua, ErrorKind::Invalid, format!("set_options: {m}"))?;
                v.pop_front();
                v.push_front(LuaValue::Boolean(false));
                Ok(v)
            };
            let LuaValue::Table(options) = options else {
                return invalid("options must be a table");
            };
            let mut trap = None;
            for pair in options.pairs::<LuaValue, LuaValue>() {
                match pair? {
                    (LuaValue::String(k), LuaValue::Boolean(b))
                        if k.as_bytes().as_ref() == b"trap_links" =>
                    {
                        trap = Some(b)
                    }
                    (LuaValue::String(k), _) if k.as_bytes().as_ref() == b"trap_links" => {
                        return invalid("trap_links must be a boolean");
                    }
                    (k, _) => return invalid(&format!("unknown option {}", k.to_string()?)),
                }
            }
            if let Some(trap) = trap {
                c.set_trap_links(trap);
            }
            one(LuaValue::Boolean(true))
        })?,
    )?;

    // The sandbox makes the globals' direct children read-only; these nested tables are
    // frozen here (process.md: `process.event` and `process.registry` are read-only too).
    let registry = registry(lua, ctx)?;
    registry.set_readonly(true);
    process.set("registry", registry)?;
    let event = lua.create_table()?;
    event.set("EXIT", "pid.exit")?;
    event.set("LINK_DOWN", "pid.link.down")?;
    event.set("CANCEL", "pid.cancel")?;
    event.set_readonly(true);
    process.set("event", event)?;
    process.set("inbox", parts.inbox)?;
    process.set("events", parts.events)?;
    Ok(process)
}

/// `process.registry`: register, lookup, unregister (process.md §13).
fn registry(lua: &Lua, ctx: &Rc<WorkerContext>) -> mlua::Result<Table> {
    let registry = lua.create_table()?;

    let c = ctx.clone();
    registry.set(
        "register",
        lua.create_function(move |lua, (name, pid): (LuaValue, LuaValue)| {
            let name = match name_argument(&name, "register") {
                Ok(name) => name,
                Err(e) => return fail(lua, e),
            };
            let pid = match &pid {
                LuaValue::Nil => None,
                LuaValue::String(s) => Some(s.to_string_lossy()),
                _ => {
                    return fail_with(
                        lua,
                        ErrorKind::Invalid,
                        "register: pid must be a PID string",
                    );
                }
            };
            done(lua, c.register(&name, pid.as_deref()))
        })?,
    )?;

    let c = ctx.clone();
    registry.set(
        "lookup",
        lua.create_function(move |lua, name: LuaValue| {
            let name = match name_argument(&name, "lookup") {
                Ok(name) => name,
                Err(e) => return fail(lua, e),
            };
            match c.lookup(&name) {
                Ok(pid) => one(string(lua, &pid)?),
                Err(e) => fail(lua, e),
            }
        })?,
    )?;

    let c = ctx.clone();
    registry.set(
        "unregister",
        lua.create_function(
            move |lua, name: LuaValue| match name_argument(&name, "unregister") {
                Ok(name) => one(LuaValue::Boolean(c.unregister(&name))),
                Err(e) => {
                    let mut v = fail(lua, e)?;
                    v.pop_front();
                    v.push_front(LuaValue::Boolean(false));
                    Ok(v)
                }
            },
        )?,
    )?;
    Ok(registry)
}

/// The Lua table of a lifecycle event.
pub fn event_table(lua: &Lua, event: &Event) -> mlua::Result<Table> {
    let table = lua.create_table()?;
    match event {
        Event::Exit { from, exit, .. } => {
            table.set("kind", "pid.exit")?;
            table.set("from", &**from)?;
            table.set("result", result_table(lua, exit)?)?;
        }
        Event::LinkDown { from, exit, .. } => {
            table.set("kind", "pid.link.down")?;
            table.set("from", &**from)?;
            table.set("result", result_table(lua, exit)?)?;
        }
        Event::Cancel { from, deadline } => {
            table.set("kind", "pid.cancel")?;
            table.set("from", &**from)?;
            if let Some(deadline) = deadline {
                table.set("deadline", crate::log::rfc3339(*deadline))?;
            }
        }
    }
    Ok(table)
}

/// `{value = v}` or `{error = e}`: each receiver gets its own copy.
fn result_table(lua: &Lua, exit: &Arc<Exit>) -> mlua::Result<Table> {
    let result = lua.create_table()?;
    match &**exit {
        Exit::Normal(value) => result.set("value", convert::from_value(lua, value)?)?,
        Exit::Failed(error) => result.set("error", super::errors::LuaError(error.clone()))?,
    }
    Ok(result)
}
