//! The `json` module (stdlib.md §7.4): encoding Lua values with the spec's rules (arrays for
//! keys exactly `1..n`, objects with keys sorted bytewise, numbers that read back exactly) and
//! decoding with `serde_json`, whose nesting limit is the spec's 128 levels.

use std::ffi::c_int;

use super::args::{fail, type_name};
use super::raw::{self, Kind, LuaRef, Stack, lua_fn};
use crate::error::{ErrorKind, ErrorValue};

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
    tables: Vec<usize>,
    path: Vec<String>,
    /// Every table encoded so far: one met a second time is shared, and a value sharing
    /// tables can stand for an exponentially large text (`t = {t, t}` forty times).
    seen: std::collections::HashSet<usize, ahash::RandomState>,
    /// The index of the value being encoded, measured once sharing is found.
    root: c_int,
    measured: bool,
}

impl Encoder {
    fn error(&self, what: impl Into<String>) -> EncodeError {
        EncodeError {
            what: what.into(),
            path: format!("${}", self.path.concat()),
        }
    }

    fn value(&mut self, stack: Stack<'_>, index: c_int) -> Result<(), EncodeError> {
        match stack.kind(index) {
            Kind::Nil | Kind::None => self.out.extend_from_slice(b"null"),
            Kind::Boolean => self.out.extend_from_slice(if stack.truthy(index) {
                b"true"
            } else {
                b"false"
            }),
            Kind::Number => self.number(stack.number(index).unwrap_or_default())?,
            Kind::String => match std::str::from_utf8(stack.bytes(index).unwrap_or_default()) {
                Ok(text) => write_string(&mut self.out, text),
                Err(_) => return Err(self.error("a string that is not valid UTF-8")),
            },
            Kind::Table => self.table(stack, index)?,
            _ => {
                return Err(self.error(format!("a value of type {}", type_name(stack, index))));
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

    fn table(&mut self, stack: Stack<'_>, index: c_int) -> Result<(), EncodeError> {
        let table = if index < 0 {
            stack.top() + index + 1
        } else {
            index
        };
        let id = stack.pointer(table);
        if self.tables.contains(&id) {
            return Err(self.error("a table that contains itself"));
        }
        if !self.seen.insert(id) && !self.measured {
            // Shared tables: the text is bounded like a copy (process.md §1), measured in
            // time linear in the value before going on.
            self.measured = true;
            match super::convert::measure(stack, self.root) {
                Ok(size) if size <= super::convert::MAX_VALUES => {}
                _ => {
                    return Err(self.error(format!(
                        "a value that would encode more than {} values (shared tables repeat)",
                        super::convert::MAX_VALUES
                    )));
                }
            }
        }
        if self.tables.len() >= MAX_DEPTH {
            return Err(self.error(format!("tables nested deeper than {MAX_DEPTH} levels")));
        }
        let mut strings: Vec<Vec<u8>> = Vec::new();
        let mut numbers = 0usize;
        let mut max_index = 0f64;
        stack.push_nil();
        while stack.next(table) {
            match stack.kind(-2) {
                Kind::String => strings.push(stack.bytes(-2).unwrap_or_default().to_vec()),
                Kind::Number => {
                    let n = stack.number(-2).unwrap_or_default();
                    numbers += 1;
                    if n.fract() != 0.0 || n < 1.0 {
                        stack.pop(2);
                        return Err(
                            self.error(format!("the table key {}", super::convert::number_text(n)))
                        );
                    }
                    max_index = max_index.max(n);
                }
                _ => {
                    let what = format!("a table key of type {}", type_name(stack, -2));
                    stack.pop(2);
                    return Err(self.error(what));
                }
            }
            stack.pop(1);
        }
        if numbers > 0 && !strings.is_empty() {
            return Err(self.error("a table with both array and string keys"));
        }
        if numbers > 0 && max_index != numbers as f64 {
            return Err(self.error("an array with holes"));
        }
        self.tables.push(id);
        if numbers > 0 {
            self.out.push(b'[');
            for i in 1..=numbers {
                if i > 1 {
                    self.out.push(b',');
                }
                stack.raw_get_index(table, i);
                self.path.push(format!("[{i}]"));
                let result = self.value(stack, -1);
                stack.pop(1);
                result?;
                self.path.pop();
            }
            self.out.push(b']');
        } else {
            strings.sort();
            self.out.push(b'{');
            for (i, key) in strings.iter().enumerate() {
                if i > 0 {
                    self.out.push(b',');
                }
                let Ok(text) = std::str::from_utf8(key) else {
                    return Err(self.error("a key that is not valid UTF-8"));
                };
                write_string(&mut self.out, text);
                self.out.push(b':');
                stack.push_bytes(key);
                stack.raw_get(table);
                self.path.push(format!(".{text}"));
                let result = self.value(stack, -1);
                stack.pop(1);
                result?;
                self.path.pop();
            }
            self.out.push(b'}');
        }
        self.tables.pop();
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

/// Encodes the value at `index` as compact JSON.
pub fn encode(stack: Stack<'_>, index: c_int) -> Result<Vec<u8>, EncodeError> {
    let root = if index < 0 {
        stack.top() + index + 1
    } else {
        index
    };
    let mut encoder = Encoder {
        out: Vec::new(),
        tables: Vec::new(),
        path: Vec::new(),
        seen: Default::default(),
        root,
        measured: false,
    };
    encoder.value(stack, index)?;
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

fn push_json(stack: Stack<'_>, value: serde_json::Value) {
    use serde_json::Value as Json;
    match value {
        Json::Null => stack.push_nil(),
        Json::Bool(b) => stack.push_bool(b),
        Json::Number(n) => stack.push_number(n.as_f64().unwrap_or(f64::NAN)),
        Json::String(s) => stack.push_bytes(s.as_bytes()),
        Json::Array(items) => {
            stack.new_table(items.len(), 0);
            let table = stack.top();
            for (i, item) in items.into_iter().enumerate() {
                push_json(stack, item);
                stack.raw_set_index(table, i + 1);
            }
        }
        Json::Object(fields) => {
            stack.new_table(0, fields.len());
            let table = stack.top();
            for (key, item) in fields {
                stack.push_bytes(key.as_bytes());
                push_json(stack, item);
                stack.raw_set(table);
            }
        }
    }
}

lua_fn! {
    fn encode_fn(stack) {
        match encode(stack, 1) {
            Ok(bytes) => {
                stack.push_bytes(&bytes);
                raw::values(1)
            }
            Err(e) => fail(stack, ErrorValue::new(ErrorKind::Invalid, e.to_string())),
        }
    }
}

lua_fn! {
    fn decode_fn(stack) {
        let Some(bytes) = stack.bytes(1) else {
            return fail(stack, ErrorValue::new(
                ErrorKind::Invalid,
                format!("json.decode: expected a string, got {}", type_name(stack, 1)),
            ));
        };
        if nesting(bytes) > MAX_DEPTH {
            return fail(stack, ErrorValue::new(
                ErrorKind::Invalid,
                format!("json.decode: arrays and objects nested deeper than {MAX_DEPTH} levels"),
            ));
        }
        // The depth was checked above, so serde_json's own limit (127 levels) is lifted.
        let mut reader = serde_json::Deserializer::from_slice(bytes);
        reader.disable_recursion_limit();
        let parsed = serde::Deserialize::deserialize(&mut reader)
            .and_then(|value: serde_json::Value| reader.end().map(|()| value));
        match parsed {
            Ok(value) => {
                push_json(stack, value);
                raw::values(1)
            }
            Err(e) => fail(stack, ErrorValue::new(ErrorKind::Invalid, format!("json.decode: {e}"))),
        }
    }
}

/// Builds the `json` module (frozen).
pub fn module(stack: Stack<'_>) -> LuaRef {
    raw::push_table(
        stack,
        &[
            raw::method(c"encode", encode_fn),
            raw::method(c"decode", decode_fn),
        ],
    );
    stack.freeze(-1);
    let r = stack.make_ref(-1);
    stack.pop(1);
    r
}
