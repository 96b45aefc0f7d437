//! What Rust code does with a [`Value`] (embedding.md §4): conversions from Rust types,
//! building tables, reading values back, and the check that a value built in Rust is one a
//! Lua process could have sent (table keys are never nil nor NaN; nesting is bounded).

use crate::bytes::Bytes;
use crate::error::{ErrorKind, ErrorValue};
use crate::value::Value;

/// The largest integer magnitude a Lua number (a double) holds exactly: 2^53.
const EXACT: u64 = 1 << 53;

impl Value {
    /// A table from key/value pairs, in order; a pair whose key is nil or NaN, or whose value
    /// is nil, is left out (a Lua table cannot hold it). Later duplicates of a key win.
    ///
    /// ```
    /// use moonweave::Value;
    /// let t = Value::table([("name".into(), "ada".into()), ("age".into(), 36.into())]);
    /// assert_eq!(t.get("name").and_then(Value::as_str), Some("ada"));
    /// assert_eq!(t.get("age").and_then(Value::as_integer), Some(36));
    /// ```
    pub fn table(pairs: impl IntoIterator<Item = (Value, Value)>) -> Value {
        let mut entries: Vec<(Value, Value)> = Vec::new();
        // Where each scalar key is, so that a duplicate is found without a search.
        let mut at: std::collections::HashMap<KeyId, usize> = std::collections::HashMap::new();
        for (key, value) in pairs {
            let bad_key =
                matches!(key, Value::Nil) || matches!(key, Value::Number(n) if n.is_nan());
            if bad_key || value.is_nil() {
                continue;
            }
            let existing = match KeyId::of(&key) {
                Some(id) => at.get(&id).copied().or_else(|| {
                    at.insert(id, entries.len());
                    None
                }),
                // Tables and errors as keys: rare, compared one by one.
                None => entries.iter().position(|(k, _)| *k == key),
            };
            match existing {
                Some(i) => entries[i].1 = value,
                None => entries.push((key, value)),
            }
        }
        Value::Table(entries)
    }

    /// Whether this is `nil`.
    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }

    /// The text of a string that is UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(bytes) => std::str::from_utf8(bytes.as_bytes()).ok(),
            _ => None,
        }
    }

    /// The bytes of a string.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::String(bytes) => Some(bytes.as_bytes()),
            _ => None,
        }
    }

    /// A number.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// A boolean.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    /// The value of a table at the string key `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Table(entries) => entries
                .iter()
                .find(|(k, _)| k.as_bytes() == Some(key.as_bytes()))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The value of a table at the integer key `i` (1-based, as in Lua).
    pub fn index(&self, i: usize) -> Option<&Value> {
        match self {
            Value::Table(entries) => entries
                .iter()
                .find(|(k, _)| matches!(k, Value::Number(n) if *n == i as f64))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// Checks that a value built in Rust can travel as a Lua value: `INVALID` names what
    /// cannot.
    pub(crate) fn check_copyable(&self) -> Result<(), ErrorValue> {
        fn walk(value: &Value, depth: usize) -> Result<(), ErrorValue> {
            let Value::Table(entries) = value else {
                return Ok(());
            };
            if depth >= crate::lua::MAX_COPY_DEPTH {
                return Err(ErrorValue::new(
                    ErrorKind::Invalid,
                    format!(
                        "cannot copy tables nested deeper than {} levels",
                        crate::lua::MAX_COPY_DEPTH
                    ),
                ));
            }
            for (key, value) in entries {
                match key {
                    Value::Nil => {
                        return Err(ErrorValue::new(ErrorKind::Invalid, "a table key is nil"));
                    }
                    Value::Number(n) if n.is_nan() => {
                        return Err(ErrorValue::new(ErrorKind::Invalid, "a table key is NaN"));
                    }
                    _ => {}
                }
                walk(key, depth + 1)?;
                walk(value, depth + 1)?;
            }
            Ok(())
        }
        walk(self, 0)
    }
}

/// A scalar table key as something hashable (Lua: `0` and `-0` are one key).
#[derive(PartialEq, Eq, Hash)]
enum KeyId {
    Bool(bool),
    Number(u64),
    String(Vec<u8>),
}

impl KeyId {
    fn of(key: &Value) -> Option<KeyId> {
        Some(match key {
            Value::Boolean(b) => KeyId::Bool(*b),
            Value::Number(n) if *n == 0.0 => KeyId::Number(0),
            Value::Number(n) => KeyId::Number(n.to_bits()),
            Value::String(s) => KeyId::String(s.as_bytes().to_vec()),
            _ => return None,
        })
    }
}

impl From<()> for Value {
    fn from(_: ()) -> Value {
        Value::Nil
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Boolean(b)
    }
}

impl From<i32> for Value {
    fn from(n: i32) -> Value {
        Value::Number(f64::from(n))
    }
}

impl From<u32> for Value {
    fn from(n: u32) -> Value {
        Value::Number(f64::from(n))
    }
}

impl From<f64> for Value {
    fn from(n: f64) -> Value {
        Value::Number(n)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(Bytes::new(s.as_bytes()))
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(Bytes::new(s.as_bytes()))
    }
}

impl From<Vec<u8>> for Value {
    /// A Lua string of these bytes.
    fn from(bytes: Vec<u8>) -> Value {
        Value::String(Bytes::new(&bytes))
    }
}

impl From<Vec<Value>> for Value {
    /// An array table: `values[0]` at key 1. A nil element leaves a hole, as in Lua.
    fn from(values: Vec<Value>) -> Value {
        // The keys are distinct by construction: no search for duplicates.
        Value::Table(
            values
                .into_iter()
                .enumerate()
                .filter(|(_, v)| !v.is_nil())
                .map(|(i, v)| (Value::Number((i + 1) as f64), v))
                .collect(),
        )
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    /// `None` is nil.
    fn from(option: Option<T>) -> Value {
        option.map_or(Value::Nil, Into::into)
    }
}

impl From<ErrorValue> for Value {
    fn from(error: ErrorValue) -> Value {
        Value::Error(Box::new(error))
    }
}

fn inexact(n: impl std::fmt::Display) -> ErrorValue {
    ErrorValue::new(
        ErrorKind::Invalid,
        format!("{n} is beyond ±2^53: a Lua number cannot hold it exactly"),
    )
}

impl TryFrom<i64> for Value {
    type Error = ErrorValue;

    /// `INVALID` beyond ±2^53.
    fn try_from(n: i64) -> Result<Value, ErrorValue> {
        if n.unsigned_abs() > EXACT {
            return Err(inexact(n));
        }
        Ok(Value::Number(n as f64))
    }
}

impl TryFrom<u64> for Value {
    type Error = ErrorValue;

    /// `INVALID` beyond 2^53.
    fn try_from(n: u64) -> Result<Value, ErrorValue> {
        if n > EXACT {
            return Err(inexact(n));
        }
        Ok(Value::Number(n as f64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_convert_exactly_or_not_at_all() {
        assert_eq!(
            Value::try_from(1i64 << 53),
            Ok(Value::Number(9007199254740992.0))
        );
        assert_eq!(
            Value::try_from(-(1i64 << 53)).map(|v| v.as_integer()),
            Ok(Some(-(1i64 << 53)))
        );
        assert_eq!(
            Value::try_from((1i64 << 53) + 1).map_err(|e| e.kind),
            Err(ErrorKind::Invalid)
        );
        assert_eq!(
            Value::try_from(u64::MAX).map_err(|e| e.kind),
            Err(ErrorKind::Invalid)
        );
        assert_eq!(Value::try_from(7u64), Ok(Value::Number(7.0)));
    }

    #[test]
    fn tables_skip_what_lua_cannot_hold_and_index_from_one() {
        let t = Value::table([
            (Value::Nil, Value::from(1)),
            (Value::from(f64::NAN), Value::from(1)),
            (Value::from("gone"), Value::Nil),
            (Value::from("k"), Value::from(1)),
            (Value::from("k"), Value::from(2)),
        ]);
        assert_eq!(t, Value::Table(vec![(Value::from("k"), Value::from(2))]));
        let list = Value::from(vec![Value::from("a"), Value::from(true)]);
        assert_eq!(list.index(1).and_then(Value::as_str), Some("a"));
        assert_eq!(list.index(2).and_then(Value::as_bool), Some(true));
        assert_eq!(list.index(0), None);
        assert_eq!(Value::from(Some(3.5)).as_f64(), Some(3.5));
        assert!(Value::from(None::<bool>).is_nil());
        assert_eq!(Value::from(vec![0xffu8]).as_str(), None);
        assert_eq!(Value::from(vec![0xffu8]).as_bytes(), Some(&[0xffu8][..]));
    }

    #[test]
    fn values_built_in_rust_are_checked_before_they_travel() {
        assert!(
            Value::Table(vec![(Value::Nil, Value::from(1))])
                .check_copyable()
                .is_err()
        );
        let mut deep = Value::from(1);
        for _ in 0..200 {
            deep = Value::from(vec![deep]);
        }
        assert_eq!(
            deep.check_copyable().map_err(|e| e.kind),
            Err(ErrorKind::Invalid)
        );
        assert!(Value::from(vec![Value::from(1)]).check_copyable().is_ok());
    }
}
