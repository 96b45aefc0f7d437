//! The Rust half of the `time` module: duration arguments and sleeping on the worker's timers.
//! The Lua half (the blocking loop of `sleep`) is in `bootstrap.luau`.

use std::rc::Rc;

use mlua::{Function, Lua, MultiValue, Value as LuaValue};

use super::convert;
use super::errors::{fail, fail_with};
use crate::duration::Duration;
use crate::error::{ErrorKind, ErrorValue};
use crate::sched::WorkerContext;

/// Reads a duration argument: a whole number of milliseconds or a duration string.
pub fn duration_argument(value: &LuaValue) -> Result<Duration, ErrorValue> {
    let parsed = match value {
        LuaValue::Number(ms) => Duration::from_millis(*ms),
        LuaValue::Integer(ms) => Duration::from_millis(*ms as f64),
        LuaValue::String(s) => Duration::parse(&s.to_string_lossy()),
        other => {
            return Err(ErrorValue::new(
                ErrorKind::Invalid,
                format!(
                    "a duration must be a string or milliseconds, got {}",
                    convert::type_name(other)
                ),
            ));
        }
    };
    parsed.map_err(|e| ErrorValue::new(ErrorKind::Invalid, e.to_string()))
}

/// `start_sleep(d)`: arms the running process's timer; `true`, or `nil, err` (`INVALID`).
pub fn start_sleep(lua: &Lua, ctx: &Rc<WorkerContext>) -> mlua::Result<Function> {
    let ctx = ctx.clone();
    lua.create_function(move |lua, d: LuaValue| match duration_argument(&d) {
        Ok(d) if ctx.current_slot().is_some() => {
            ctx.start_sleep(d.to_std());
            Ok(MultiValue::from_iter([LuaValue::Boolean(true)]))
        }
        Ok(_) => fail_with(lua, ErrorKind::Invalid, "time.sleep outside a process"),
        Err(e) => fail(lua, e),
    })
}

/// `sleep_finished()`: whether the running process's timer has fired.
pub fn sleep_finished(lua: &Lua, ctx: &Rc<WorkerContext>) -> mlua::Result<Function> {
    let ctx = ctx.clone();
    lua.create_function(move |_, ()| Ok(ctx.sleep_finished()))
}
