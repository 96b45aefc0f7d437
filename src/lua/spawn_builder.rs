//! The Rust half of the SpawnBuilder (process.md §12): checking and copying what a builder
//! carries when its method is called, and spawning with it. The builder objects themselves
//! (immutable, every method returns a new one) are in `bootstrap.luau`.

use std::rc::Rc;

use mlua::{AnyUserData, Lua, MultiValue, Table, UserData, Value as LuaValue};

use super::convert;
use super::errors::{LuaError, fail};
use super::process_api::entry_id_argument;
use crate::error::{ErrorKind, ErrorValue};
use crate::proc::registry::is_valid_name;
use crate::sched::{SpawnExtras, WorkerContext};
use crate::value::Value;

/// Context values copied by `with_context`.
struct ContextValues(Vec<(Box<str>, Value)>);
impl UserData for ContextValues {}

/// A message copied by `with_message`.
struct PendingMessage(Box<str>, Vec<Value>);
impl UserData for PendingMessage {}

fn invalid(message: impl Into<String>) -> ErrorValue {
    ErrorValue::new(ErrorKind::Invalid, message)
}

/// `true, value` or `false, err` for the Lua side, which raises `err`.
fn checked(lua: &Lua, result: Result<LuaValue, ErrorValue>) -> mlua::Result<(bool, LuaValue)> {
    Ok(match result {
        Ok(value) => (true, value),
        Err(e) => (false, LuaValue::UserData(lua.create_userdata(LuaError(e))?)),
    })
}

fn context_values(values: &LuaValue) -> Result<Vec<(Box<str>, Value)>, ErrorValue> {
    let LuaValue::Table(table) = values else {
        return Err(invalid("with_context: values must be a table"));
    };
    let mut copied = Vec::new();
    for pair in table.pairs::<LuaValue, LuaValue>() {
        let (key, value) = pair.map_err(|e| invalid(e.to_string()))?;
        let key = match key {
            LuaValue::String(s) if !s.as_bytes().is_empty() => s.to_string_lossy(),
            _ => return Err(invalid("with_context: keys must be non-empty strings")),
        };
        let value = convert::to_value(&value)
            .map_err(|e| invalid(format!("with_context: value of '{key}': {}", e.message)))?;
        copied.push((key.into_boxed_str(), value));
    }
    copied.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(copied)
}

/// Adds the primitives to the bootstrap's `rt` table.
pub fn add_primitives(lua: &Lua, ctx: &Rc<WorkerContext>, rt: &Table) -> mlua::Result<()> {
    rt.set(
        "builder_context",
        lua.create_function(|lua, values: LuaValue| {
            let result = context_values(&values)
                .and_then(|v| {
                    lua.create_userdata(ContextValues(v))
                        .map_err(|e| invalid(e.to_string()))
                })
                .map(LuaValue::UserData);
            checked(lua, result)
        })?,
    )?;
    rt.set(
        "builder_name",
        lua.create_function(|lua, name: LuaValue| {
            let result = match &name {
                LuaValue::String(s) if is_valid_name(&s.to_string_lossy()) => Ok(name.clone()),
                _ => Err(invalid(
                    "with_name: a name is a non-empty string that does not start with '{'",
                )),
            };
            checked(lua, result)
        })?,
    )?;
    rt.set(
        "builder_message",
        lua.create_function(|lua, args: MultiValue| {
            let mut args = args.into_iter();
            let result = match args.next() {
                Some(LuaValue::String(topic))
                    if !topic.as_bytes().is_empty() && !topic.as_bytes().starts_with(b"@") =>
                {
                    let rest: Vec<LuaValue> = args.collect();
                    convert::to_values(&rest)
                        .map_err(|e| invalid(format!("with_message: {}", e.message)))
                        .and_then(|payload| {
                            let message = PendingMessage(topic.to_string_lossy().into(), payload);
                            lua.create_userdata(message)
                                .map_err(|e| invalid(e.to_string()))
                        })
                        .map(LuaValue::UserData)
                }
                _ => Err(invalid(
                    "with_message: topic must be a non-empty string that does not start with '@'",
                )),
            };
            checked(lua, result)
        })?,
    )?;
    let c = ctx.clone();
    // spawn(flags, contexts, name, messages, id, host, args…) → pid | nil, err
    rt.set(
        "builder_spawn",
        lua.create_function(move |lua, args: MultiValue| {
            let mut args = args.into_iter();
            let flags = match args.next() {
                Some(LuaValue::Integer(n)) => n as u8,
                Some(LuaValue::Number(n)) => n as u8,
                _ => 0,
            };
            let mut extras = SpawnExtras::default();
            if let Some(LuaValue::Table(contexts)) = args.next() {
                for ud in contexts.sequence_values::<AnyUserData>() {
                    let ud = ud?;
                    for (key, value) in &ud.borrow::<ContextValues>()?.0 {
                        match extras.context.iter_mut().find(|(k, _)| k == key) {
                            Some(slot) => slot.1 = value.clone(),
                            None => extras.context.push((key.clone(), value.clone())),
                        }
                    }
                }
            }
            if let Some(LuaValue::String(name)) = args.next() {
                extras.name = Some(name.to_string_lossy());
            }
            if let Some(LuaValue::Table(messages)) = args.next() {
                for ud in messages.sequence_values::<AnyUserData>() {
                    let ud = ud?;
                    let message = ud.borrow::<PendingMessage>()?;
                    extras.messages.push((message.0.clone(), message.1.clone()));
                }
            }
            let id = args.next().unwrap_or(LuaValue::Nil);
            let host = args.next().unwrap_or(LuaValue::Nil);
            let (Some(id), Some(host)) = (entry_id_argument(&id), entry_id_argument(&host)) else {
                return fail(
                    lua,
                    invalid("spawn: id and host must be entry ids 'namespace:name'"),
                );
            };
            let rest: Vec<LuaValue> = args.collect();
            let values = match convert::to_values(&rest) {
                Ok(values) => values,
                Err(e) => return fail(lua, e),
            };
            match c.spawn_with(&id, &host, values, flags & 1 != 0, flags & 2 != 0, extras) {
                Ok(pid) => Ok(MultiValue::from_iter([LuaValue::String(
                    lua.create_string(&*pid)?,
                )])),
                Err(e) => fail(lua, e),
            }
        })?,
    )?;
    Ok(())
}
