//! `Value`: the owned, thread-safe form of a Lua value that crosses process boundaries.
//!
//! Messages, spawn arguments and exit values are deep copies: a tree of these values, built on
//! the sender's worker and turned back into Lua on the receiver's (see `lua::convert`).

use crate::error::ErrorValue;

/// A copied Lua value. Tables are trees: no sharing, no cycles (the copy rejects them).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Nil,
    Boolean(bool),
    Number(f64),
    String(Box<[u8]>),
    /// Key/value pairs in the order the copy found them. Keys are never `Nil` nor NaN.
    Table(Vec<(Value, Value)>),
    Error(Box<ErrorValue>),
}

impl Value {
    /// A string value from UTF-8 text.
    pub fn string(text: impl AsRef<str>) -> Value {
        Value::String(text.as_ref().as_bytes().into())
    }

    /// The whole number this value holds, if it is one.
    pub fn as_integer(&self) -> Option<i64> {
        match self {
            Value::Number(n) if n.fract() == 0.0 && n.is_finite() && n.abs() < 9.0e15 => {
                Some(*n as i64)
            }
            _ => None,
        }
    }

    /// A short human description, used for the exit value of the command line.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::Boolean(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Table(_) => "table",
            Value::Error(_) => "error",
        }
    }
}
