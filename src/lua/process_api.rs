//! The `process` global: identity, spawn, send and the inbox (process.md §2–§5).

use std::rc::Rc;

use mlua::{Function, Lua, MultiValue, Table, Value as LuaValue};

use super::convert;
use super::errors::{fail, fail_with};
use crate::app::is_entry_id;
use crate::error::ErrorKind;
use crate::proc::Envelope;
use crate::sched::WorkerContext;

/// Builds the `process` table for one worker VM. `inbox` is the Lua-side `process.inbox`.
pub fn create(lua: &Lua, ctx: &Rc<WorkerContext>, inbox: Function) -> mlua::Result<Table> {
    let process = lua.create_table()?;

    let c = ctx.clone();
    process.set(
        "pid",
        lua.create_function(move |lua, ()| match c.current_process() {
            Some(p) => Ok(MultiValue::from_iter([LuaValue::String(
                lua.create_string(&*p.pid_text)?,
            )])),
            None => fail_with(lua, ErrorKind::Invalid, "no process is running"),
        })?,
    )?;

    let c = ctx.clone();
    process.set(
        "id",
        lua.create_function(move |lua, ()| match c.current_entry() {
            Some(entry) => Ok(MultiValue::from_iter([LuaValue::String(
                lua.create_string(&entry.id)?,
            )])),
            None => fail_with(lua, ErrorKind::Invalid, "no process is running"),
        })?,
    )?;

    let c = ctx.clone();
    process.set(
        "spawn",
        lua.create_function(move |lua, args: MultiValue| {
            let mut args = args.into_iter();
            let id = args.next().unwrap_or(LuaValue::Nil);
            let host = args.next().unwrap_or(LuaValue::Nil);
            let Some(id) = entry_id_argument(&id) else {
                return fail_with(
                    lua,
                    ErrorKind::Invalid,
                    "spawn: id must be an entry id 'namespace:name'",
                );
            };
            let Some(host) = entry_id_argument(&host) else {
                return fail_with(
                    lua,
                    ErrorKind::Invalid,
                    "spawn: host must be an entry id 'namespace:name'",
                );
            };
            let rest: Vec<LuaValue> = args.collect();
            let values = match convert::to_values(&rest) {
                Ok(values) => values,
                Err(e) => return fail(lua, e),
            };
            match c.spawn(&id, &host, values) {
                Ok(pid) => Ok(MultiValue::from_iter([LuaValue::String(
                    lua.create_string(&*pid)?,
                )])),
                Err(e) => fail(lua, e),
            }
        })?,
    )?;

    let c = ctx.clone();
    process.set(
        "send",
        lua.create_function(move |lua, args: MultiValue| {
            let mut args = args.into_iter();
            let dest = match args.next() {
                Some(LuaValue::String(s)) if !s.as_bytes().is_empty() => s.to_string_lossy(),
                _ => {
                    return fail_with(
                        lua,
                        ErrorKind::Invalid,
                        "send: dest must be a PID or a name",
                    );
                }
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
                from: c.current_process().map(|p| p.pid_text.clone()),
                topic: topic.into_boxed_str(),
                payload,
            };
            match c.send(&dest, envelope) {
                Ok(()) => Ok(MultiValue::from_iter([LuaValue::Boolean(true)])),
                Err(e) => fail(lua, e),
            }
        })?,
    )?;

    process.set("inbox", inbox)?;
    Ok(process)
}

/// A full entry id argument, or `None` when it is not one.
fn entry_id_argument(value: &LuaValue) -> Option<String> {
    match value {
        LuaValue::String(s) => {
            let s = s.to_str().ok()?.to_string();
            is_entry_id(&s).then_some(s)
        }
        _ => None,
    }
}
