//! The `ctx` module (stdlib.md §7.2): read-only context values a process inherits from its
//! ancestors (process.md §12). Every read returns a fresh copy.

use std::rc::Rc;

use mlua::{Lua, MultiValue, Table, Value as LuaValue};

use super::convert;
use super::errors::fail_with;
use crate::error::ErrorKind;
use crate::sched::WorkerContext;

/// Builds the `ctx` module.
pub fn create_module(lua: &Lua, ctx: &Rc<WorkerContext>) -> mlua::Result<Table> {
    let module = lua.create_table()?;
    let c = ctx.clone();
    module.set(
        "get",
        lua.create_function(move |lua, key: LuaValue| {
            let key = match &key {
                LuaValue::String(s) if !s.as_bytes().is_empty() => s.to_string_lossy(),
                _ => {
                    return fail_with(
                        lua,
                        ErrorKind::Invalid,
                        "ctx.get: the key must be a non-empty string",
                    );
                }
            };
            let context = c.context();
            let found = context
                .as_deref()
                .and_then(|values| values.iter().rev().find(|(k, _)| **k == *key));
            match found {
                Some((_, value)) => Ok(MultiValue::from_iter([convert::from_value(lua, value)?])),
                None => fail_with(
                    lua,
                    ErrorKind::NotFound,
                    format!("ctx.get: no context value '{key}'"),
                ),
            }
        })?,
    )?;
    let c = ctx.clone();
    module.set(
        "all",
        lua.create_function(move |lua, ()| {
            let all = lua.create_table()?;
            for (key, value) in c.context().as_deref().unwrap_or_default() {
                all.raw_set(&**key, convert::from_value(lua, value)?)?;
            }
            Ok(all)
        })?,
    )?;
    module.set_readonly(true);
    Ok(module)
}
