//! `Value`: the owned, thread-safe form of a Lua value that crosses process boundaries.
//!
//! Messages, spawn arguments and exit values are deep copies: a tree of these values, built on
//! the sender's worker and turned back into Lua on the receiver's (see `lua::convert`).

use crate::bytes::Bytes;
use crate::error::ErrorValue;

/// A copied Lua value. Tables are trees: no sharing, no cycles (the copy rejects them).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `nil`.
    Nil,
    /// `true` or `false`.
    Boolean(bool),
    /// A number (Luau numbers are doubles).
    Number(f64),
    /// Any bytes, as Lua strings are; short strings are stored inline.
    String(Bytes),
    /// Key/value pairs in the order the copy found them. Keys are never `Nil` nor NaN.
    Table(Vec<(Value, Value)>),
    /// An error object.
    Error(Box<ErrorValue>),
}

impl Value {
    /// A string value from text.
    pub fn string(text: impl AsRef<[u8]>) -> Value {
        Value::String(Bytes::new(text.as_ref()))
    }

    /// The whole number this value holds, if it is one (within ±2^53, where every whole
    /// number is exact).
    pub fn as_integer(&self) -> Option<i64> {
        match self {
            Value::Number(n) if n.fract() == 0.0 && n.abs() <= 9_007_199_254_740_992.0 => {
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

/// The payload values of one message, in order. One value (the common case) is stored without
/// an allocation.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Payload {
    #[default]
    Empty,
    One(Value),
    Many(Vec<Value>),
}

impl Payload {
    /// The values as a slice.
    pub fn as_slice(&self) -> &[Value] {
        match self {
            Payload::Empty => &[],
            Payload::One(value) => std::slice::from_ref(value),
            Payload::Many(values) => values,
        }
    }

    /// Number of values.
    #[allow(clippy::len_without_is_empty)] // a payload is empty when `len` is 0; nobody asks
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// Whether some value is a table (converting it twice would give two different tables).
    pub fn has_tables(&self) -> bool {
        self.as_slice()
            .iter()
            .any(|v| matches!(v, Value::Table(_) | Value::Error(_)))
    }
}

impl From<Vec<Value>> for Payload {
    fn from(mut values: Vec<Value>) -> Payload {
        match values.len() {
            0 => Payload::Empty,
            1 => Payload::One(values.pop().unwrap_or(Value::Nil)),
            _ => Payload::Many(values),
        }
    }
}
