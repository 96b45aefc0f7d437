//! The Rust half of the `time` module: duration arguments, the clocks, formatting, and the
//! process's wake-up on the worker's timer heap. The Lua half is `time.luau`.

use std::rc::Rc;
use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use mlua::{Lua, MultiValue, Table, Value as LuaValue};

use super::convert;
use super::errors::fail;
use crate::duration::Duration;
use crate::error::{ErrorKind, ErrorValue};
use crate::sched::WorkerContext;

/// Reads a duration argument: a Duration object, a whole number of milliseconds or a duration
/// string.
pub fn duration_argument(value: &LuaValue) -> Result<Duration, ErrorValue> {
    let parsed = match value {
        LuaValue::Number(ms) => Duration::from_millis(*ms),
        LuaValue::Integer(ms) => Duration::from_millis(*ms as f64),
        LuaValue::String(s) => Duration::parse(&s.to_string_lossy()),
        LuaValue::Table(t) if convert::private_type(t) == Some("Duration") => {
            return Ok(Duration(t.raw_get::<f64>(1).unwrap_or_default() as i64));
        }
        other => {
            return Err(ErrorValue::new(
                ErrorKind::Invalid,
                format!(
                    "a duration must be a Duration, a string or milliseconds, got {}",
                    convert::type_name(other)
                ),
            ));
        }
    };
    parsed.map_err(|e| ErrorValue::new(ErrorKind::Invalid, e.to_string()))
}

/// The instant the monotonic clock of `clock()` counts from.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Adds the Rust primitives of the time module to the bootstrap's `rt` table.
pub fn add_primitives(lua: &Lua, ctx: &Rc<WorkerContext>, rt: &Table) -> mlua::Result<()> {
    // Milliseconds on the monotonic clock.
    rt.set(
        "clock",
        lua.create_function(|_, ()| Ok(epoch().elapsed().as_secs_f64() * 1e3))?,
    )?;
    // Wakes the running process when the monotonic clock reaches `at` (milliseconds).
    let c = ctx.clone();
    rt.set(
        "arm",
        lua.create_function(move |_, at: f64| {
            let at = epoch() + std::time::Duration::from_secs_f64(at.max(0.0) / 1e3);
            c.arm_wakeup(at);
            Ok(())
        })?,
    )?;
    // Nanoseconds since the Unix epoch on the wall clock.
    rt.set(
        "wall_ns",
        lua.create_function(|_, ()| {
            Ok(match SystemTime::now().duration_since(UNIX_EPOCH) {
                Ok(d) => d.as_nanos() as f64,
                Err(e) => -(e.duration().as_nanos() as f64),
            })
        })?,
    )?;
    // A duration argument in nanoseconds, or `nil, err` (INVALID).
    rt.set(
        "parse_ns",
        lua.create_function(|lua, d: LuaValue| match duration_argument(&d) {
            Ok(d) => Ok(MultiValue::from_iter([LuaValue::Number(d.0 as f64)])),
            Err(e) => fail(lua, e),
        })?,
    )?;
    rt.set(
        "format_duration",
        lua.create_function(|_, ns: f64| Ok(Duration(ns as i64).to_string()))?,
    )?;
    rt.set(
        "format_time",
        lua.create_function(|_, ns: f64| {
            let time = if ns >= 0.0 {
                UNIX_EPOCH + std::time::Duration::from_nanos(ns as u64)
            } else {
                UNIX_EPOCH - std::time::Duration::from_nanos((-ns) as u64)
            };
            Ok(crate::log::rfc3339(time))
        })?,
    )?;
    Ok(())
}
