//! `require(name)`: the modules an entry may use (stdlib.md §7, app-format.md §2.1).
//!
//! `process`, `channel` and `errors` are always available. Other modules must be listed in the
//! entry's `modules` (zero-config entries may use all).

use std::rc::Rc;

use mlua::{Function, Lua, Table, Value as LuaValue};

use super::errors::LuaError;
use crate::app::MODULES;
use crate::error::{ErrorKind, ErrorValue};
use crate::sched::WorkerContext;

/// Builds the raw `require`, returning `ok, module-or-error` for the `raising` wrapper.
pub fn require(
    lua: &Lua,
    ctx: &Rc<WorkerContext>,
    always: Vec<(&'static str, Table)>,
    optional: Vec<(&'static str, Table)>,
) -> mlua::Result<Function> {
    let ctx = ctx.clone();
    lua.create_function(move |lua, name: LuaValue| {
        let error = |kind, message: String| -> mlua::Result<(bool, LuaValue)> {
            Ok((
                false,
                LuaValue::UserData(lua.create_userdata(LuaError(ErrorValue::new(kind, message)))?),
            ))
        };
        let LuaValue::String(name) = name else {
            return error(
                ErrorKind::Invalid,
                "require expects a module name".to_string(),
            );
        };
        let name = name.to_string_lossy();
        if let Some((_, module)) = always.iter().find(|(n, _)| *n == name) {
            return Ok((true, LuaValue::Table(module.clone())));
        }
        let entry = ctx.current_entry();
        let entry_id = entry.as_ref().map_or("this process", |e| e.id.as_str());
        let listed = entry.as_ref().is_some_and(|e| e.modules.contains(&name));
        if !listed || !MODULES.contains(&name.as_str()) {
            return error(
                ErrorKind::NotFound,
                format!("module '{name}' is not available to {entry_id}"),
            );
        }
        match optional.iter().find(|(n, _)| *n == name) {
            Some((_, module)) => Ok((true, LuaValue::Table(module.clone()))),
            None => error(
                ErrorKind::NotFound,
                format!("module '{name}' is not implemented yet in this version of moonweave"),
            ),
        }
    })
}
