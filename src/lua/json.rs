//! The `json` module (stdlib.md §7.4): encoding Lua values with the spec's rules (arrays for
//! keys exactly `1..n`, objects with keys sorted bytewise, numbers that read back exactly) and
//! decoding with `serde_json`, whose nesting limit is the spec's 128 levels.

use mlua::{Function, Lua, MultiValue, Table, Value as LuaValue};

use super::convert;
use super::errors::fail_with;
use crate::error::ErrorKind;

/// Deepest nesting of arrays and objects `encode` accepts.
const MAX_DEPTH: usize = 128;

/// Why a value cannot be encoded, with where it sits (`$.items[2].name`).
#[derive(Debug, thiserror::Error)]
#[error("json.encode: {what} at {path}")]
pub struct EncodeError {
    what: String,
    path: String,
}

struct Encoder {
    out: Vec<u8>,
    /// Tables being encoded, outermost first: a table met again is a cycle.
    stack: Vec<*const std::ffi::c_void>,
    path: Vec<String>,
}

impl Encoder {
    fn error(&self, what: impl Into<String>) -> EncodeError {
        EncodeError {
            what: what.into(),
            path: format!("${}", self.path.concat()),
        }
    }

    fn value(&mut self, value: &LuaValue) -> Result<(), EncodeError> {
        match value {
            LuaValue::Nil => self.out.extend_from_slice(b"null"),
            LuaValue::Boolean(b) => self
                .out
                .extend_from_slice(if *b { b"true" } else { b"false" }),
            LuaValue::Integer(i) => self.number(*i as f64)?,
            LuaValue::Number(n) => self.number(*n)?,
            LuaValue::String(s) => match std::str::from_utf8(&s.as_bytes()) {
                Ok(text) => write_string(&mut self.out, text),
                Err(_) => return Err(self.error("a string that is not valid UTF-8")),
            },
            LuaValue::Table(t) => match convert::private_type(t) {
                Some(name) => return Err(self.error(format!("a value of type {name}"))),
                None => self.table(t)?,
            },
            other => {
                return Err(self.error(format!("a value of type {}", convert::type_name(other))));
            }
        }
        Ok(())
    }

    fn number(&mut self, n: f64) -> Result<(), EncodeError> {
        if !n.is_finite() {
            return Err(self.error(format!("the number {n}, which JSON cannot represent")));
        }
        let text = if n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 {
            format!("{}", n as i64)
        } else {
            // Rust's `Debug` is the shortest text that reads back exactly, with an exponent
            // for very large and small magnitudes; whole numbers end in `.0`, which JSON does
            // not need.
            let text = format!("{n:?}");
            text.strip_suffix(".0").map(str::to_string).unwrap_or(text)
        };
        self.out.extend_from_slice(text.as_bytes());
        Ok(())
    }

    fn table(&mut self, table: &Table) -> Result<(), EncodeError> {
        let id = table.to_pointer();
        if self.stack.contains(&id) {
            return Err(self.error("a table that contains itself"));
        }
        if self.stack.len() >= MAX_DEPTH {
            return Err(self.error(format!("tables nested deeper than {MAX_DEPTH} levels")));
        }
        let mut strings = Vec::new();
        let mut numbers = 0usize;
        let mut max_index = 0f64;
        for pair in table.pairs::<LuaValue, LuaValue>() {
            let (key, value) = pair.map_err(|e| self.error(e.to_string()))?;
            match key {
                LuaValue::String(s) => strings.push((s.as_bytes().to_vec(), value)),
                LuaValue::Integer(i) => {
                    numbers += 1;
                    max_index = max_index.max(i as f64);
                    if i < 1 {
                        return Err(self.error(format!("the array index {i}")));
                    }
                }
                LuaValue::Number(n) => {
                    numbers += 1;
                    if n.fract() != 0.0 || n < 1.0 {
                        return Err(self.error(format!("the table key {n}")));
                    }
                    max_index = max_index.max(n);
                }
                other => {
                    return Err(self.error(format!(
                        "a table key of type {}",
                        convert::type_name(&other)
                    )));
                }
            }
        }
        if numbers > 0 && !strings.is_empty() {
            return Err(self.error("a table with both array and string keys"));
        }
        if numbers > 0 && max_index != numbers as f64 {
            return Err(self.error("an array with holes"));
        }
        self.stack.push(id);
        if numbers > 0 {
            self.out.push(b'[');
            for i in 1..=numbers {
                if i > 1 {
                    self.out.push(b',');
                }
                let item: LuaValue = table.raw_get(i).map_err(|e| self.error(e.to_string()))?;
                self.path.push(format!("[{i}]"));
                self.value(&item)?;
                self.path.pop();
            }
            self.out.push(b']');
        } else {
            strings.sort_by(|a, b| a.0.cmp(&b.0));
            self.out.push(b'{');
            for (i, (key, item)) in strings.iter().enumerate() {
                if i > 0 {
                    self.out.push(b',');
                }
                let Ok(key) = std::str::from_utf8(key) else {
                    return Err(self.error("a key that is not valid UTF-8"));
                };
                write_string(&mut self.out, key);
                self.out.push(b':');
                self.path.push(format!(".{key}"));
                self.value(item)?;
                self.path.pop();
            }
            self.out.push(b'}');
        }
        self.stack.pop();
        Ok(())
    }
}

/// Writes `text` as a JSON string literal.
pub fn write_string(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    for c in text.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// Encodes `value` as compact JSON.
pub fn encode(value: &LuaValue) -> Result<Vec<u8>, EncodeError> {
    let mut encoder = Encoder {
        out: Vec::new(),
        stack: Vec::new(),
        path: Vec::new(),
    };
    encoder.value(value)?;
    Ok(encoder.out)
}

/// The deepest nesting of arrays and objects in `text`, brackets inside strings ignored.
fn nesting(text: &[u8]) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &byte in text {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

fn to_lua(lua: &Lua, value: serde_json::Value) -> mlua::Result<LuaValue> {
    use serde_json::Value as Json;
    Ok(match value {
        Json::Null => LuaValue::Nil,
        Json::Bool(b) => LuaValue::Boolean(b),
        Json::Number(n) => LuaValue::Number(n.as_f64().unwrap_or(f64::NAN)),
        Json::String(s) => LuaValue::String(lua.create_string(&s)?),
        Json::Array(items) => {
            let table = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.into_iter().enumerate() {
                table.raw_set(i + 1, to_lua(lua, item)?)?;
            }
            LuaValue::Table(table)
        }
        Json::Object(fields) => {
            let table = lua.create_table_with_capacity(0, fields.len())?;
            for (key, item) in fields {
                table.raw_set(key, to_lua(lua, item)?)?;
            }
            LuaValue::Table(table)
        }
    })
}

/// Builds the `json` module.
pub fn create_module(lua: &Lua) -> mlua::Result<Table> {
    let module = lua.create_table()?;
    let encode_fn: Function = lua.create_function(|lua, value: LuaValue| match encode(&value) {
        Ok(bytes) => Ok(MultiValue::from_iter([LuaValue::String(
            lua.create_string(bytes)?,
        )])),
        Err(e) => fail_with(lua, ErrorKind::Invalid, e.to_string()),
    })?;
    let decode_fn: Function = lua.create_function(|lua, text: LuaValue| {
        let LuaValue::String(text) = text else {
            return fail_with(
                lua,
                ErrorKind::Invalid,
                format!(
                    "json.decode: expected a string, got {}",
                    convert::type_name(&text)
                ),
            );
        };
        let bytes = text.as_bytes();
        if nesting(&bytes) > MAX_DEPTH {
            return fail_with(
                lua,
                ErrorKind::Invalid,
                format!("json.decode: arrays and objects nested deeper than {MAX_DEPTH} levels"),
            );
        }
        // The depth was checked above, so serde_json's own limit (127 levels) is lifted.
        let mut reader = serde_json::Deserializer::from_slice(&bytes);
        reader.disable_recursion_limit();
        let parsed = serde::Deserialize::deserialize(&mut reader)
            .and_then(|value: serde_json::Value| reader.end().map(|()| value));
        match parsed {
            Ok(value) => Ok(MultiValue::from_iter([to_lua(lua, value)?])),
            Err(e) => fail_with(lua, ErrorKind::Invalid, format!("json.decode: {e}")),
        }
    })?;
    module.set("encode", encode_fn)?;
    module.set("decode", decode_fn)?;
    module.set_readonly(true);
    Ok(module)
}
