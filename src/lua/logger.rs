//! The `logger` module (stdlib.md §7.3): structured lines on stderr,
//! `<time> <LEVEL> <pid> <entry>: <msg> {"field":value,…}`, below `--log-level` dropped.
//!
//! The logger objects are frozen tables of closures (`with` makes a new one holding merged
//! fields in an upvalue); the line is written by a Rust function.

use std::ffi::c_int;

use super::raw::{self, Kind, LuaRef, Stack, lua_fn};
use super::{json, run};
use crate::log::{self, Level, Source};

/// `{"key":value,…}` with keys sorted bytewise; a value JSON cannot encode is written as
/// `"<type>"`. Keys that are not strings are skipped.
fn fields_json(stack: Stack<'_>, table: c_int) -> Vec<u8> {
    let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    stack.push_nil();
    while stack.next(table) {
        if let Some(key) = stack.bytes(-2).map(<[u8]>::to_vec) {
            let encoded = json::encode(stack, -1).unwrap_or_else(|_| {
                format!("\"<{}>\"", super::args::type_name(stack, -1)).into_bytes()
            });
            pairs.push((key, encoded));
        }
        stack.pop(1);
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
    out
}

lua_fn! {
    /// `write(level, message, fields?)`.
    fn write(stack) {
        let level = Level::from_name(&String::from_utf8_lossy(stack.bytes(1).unwrap_or_default()));
        if !log::enabled(level, Source::Lua) {
            return raw::values(0);
        }
        let mut text = stack.bytes(2).unwrap_or_default().to_vec();
        if stack.kind(3) == Kind::Table {
            let fields = fields_json(stack, 3);
            if fields.len() > 2 {
                text.push(b' ');
                text.extend_from_slice(&fields);
            }
        }
        let core = run::core().ok();
        let pid = core.as_ref().and_then(|c| c.current_process()).map(|p| p.pid_text.clone());
        let entry = core.as_ref().and_then(|c| c.current_entry());
        log::line(level, Source::Lua, pid.as_deref(), entry.as_ref().map(|e| e.id.as_str()), &text);
        raw::values(0)
    }
}

const LOGGER: &str = r#"
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
"#;

/// Builds the `logger` object.
pub fn module(stack: Stack<'_>) -> Result<LuaRef, String> {
    stack.load(b"=moonweave.logger", LOGGER.as_bytes())?;
    stack.push_function(write, c"write", None);
    stack.call(1, Some(1));
    let r = stack.make_ref(-1);
    stack.pop(1);
    Ok(r)
}
