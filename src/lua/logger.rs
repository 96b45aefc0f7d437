//! The `logger` module (stdlib.md §7.3): structured lines on stderr,
//! `<time> <LEVEL> <pid> <entry>: <msg> {"field":value,…}`, below `--log-level` dropped.

use std::rc::Rc;

use mlua::{Function, Lua, Table, Value as LuaValue};

use super::{convert, json};
use crate::log::{self, Level};
use crate::sched::WorkerContext;

/// `{"key":value,…}` with keys sorted bytewise; a value JSON cannot encode is written as
/// `"<type>"`. Keys that are not strings are skipped.
fn fields_json(fields: &Table) -> String {
    let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for (key, value) in fields.pairs::<LuaValue, LuaValue>().flatten() {
        let LuaValue::String(key) = key else {
            continue;
        };
        let encoded = json::encode(&value)
            .unwrap_or_else(|_| format!("\"<{}>\"", convert::type_name(&value)).into_bytes());
        pairs.push((key.as_bytes().to_vec(), encoded));
    }
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = vec![b'{'];
    for (i, (key, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json::write_string(&mut out, &String::from_utf8_lossy(key));
        out.push(b':');
        out.extend_from_slice(value);
    }
    out.push(b'}');
    String::from_utf8_lossy(&out).into_owned()
}

/// Builds the `logger` object: `debug`, `info`, `warn`, `error` (callable with `:` or `.`) and
/// `with(fields)`.
pub fn create_module(lua: &Lua, ctx: &Rc<WorkerContext>) -> mlua::Result<Table> {
    let ctx = ctx.clone();
    let write: Function = lua.create_function(
        move |_, (level, message, fields): (String, String, Option<Table>)| {
            let level = Level::from_name(&level);
            if !log::enabled(level) {
                return Ok(());
            }
            let mut text = message;
            if let Some(fields) = fields.filter(|f| !f.is_empty()) {
                text.push(' ');
                text.push_str(&fields_json(&fields));
            }
            let pid = ctx.current_pid_text();
            let entry = ctx.current_entry();
            log::line(
                level,
                pid.as_deref(),
                entry.as_ref().map(|e| e.id.as_str()),
                &text,
            );
            Ok(())
        },
    )?;
    lua.load(
        r#"
local write = ...
local tostring, type, freeze = tostring, type, table.freeze
local function merge(base, extra)
    if type(extra) ~= "table" then
        return base
    end
    local merged = {}
    if base then
        for k, v in base do merged[k] = v end
    end
    for k, v in extra do merged[k] = v end
    return merged
end
local function make(base)
    local logger = {}
    for _, level in {"debug", "info", "warn", "error"} do
        logger[level] = function(a, b, c)
            local msg, fields = a, b
            if a == logger then
                msg, fields = b, c
            end
            write(level, tostring(msg), merge(base, fields))
        end
    end
    logger.with = function(a, b)
        local fields = if a == logger then b else a
        return make(merge(base, fields) or {})
    end
    return freeze(logger)
end
return make(nil)
"#,
    )
    .set_name("=moonweave.logger")
    .call(write)
}
