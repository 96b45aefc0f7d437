//! Deep copies between Lua values and [`Value`], with the copy rules of process.md §1.

use std::cell::RefCell;
use std::ffi::c_void;

use mlua::{Lua, Value as LuaValue};

use super::errors::LuaError;
use crate::error::{ErrorKind, ErrorValue};
use crate::value::Value;

thread_local! {
    /// The metatables of this worker's runtime objects that are tables (Message, channel,
    /// Duration, Time, Timer, Ticker), with their type names: such tables are never copied.
    static PRIVATE_METATABLES: RefCell<Vec<(*const c_void, &'static str)>> =
        const { RefCell::new(Vec::new()) };
}

/// Records the metatable of a runtime object type on this worker's VM.
pub fn register_private_metatable(metatable: &mlua::Table, name: &'static str) {
    PRIVATE_METATABLES.with(|m| m.borrow_mut().push((metatable.to_pointer(), name)));
}

/// The runtime object type a table is, if it is one.
pub fn private_type(table: &mlua::Table) -> Option<&'static str> {
    let mt = table.metatable()?.to_pointer();
    PRIVATE_METATABLES.with(|m| m.borrow().iter().find(|(p, _)| *p == mt).map(|(_, n)| *n))
}

/// Deepest table nesting a copy accepts (the outer table is level 1).
pub const MAX_DEPTH: usize = 128;

/// Copies a Lua value into an owned [`Value`], or explains why it cannot be copied (`INVALID`).
pub fn to_value(value: &LuaValue) -> Result<Value, ErrorValue> {
    let mut path = Vec::new();
    copy(value, &mut path)
}

/// Copies every value of `values`.
pub fn to_values<'a>(
    values: impl IntoIterator<Item = &'a LuaValue>,
) -> Result<Vec<Value>, ErrorValue> {
    values.into_iter().map(to_value).collect()
}

fn invalid(message: String) -> ErrorValue {
    ErrorValue::new(ErrorKind::Invalid, message)
}

fn copy(value: &LuaValue, path: &mut Vec<*const c_void>) -> Result<Value, ErrorValue> {
    Ok(match value {
        LuaValue::Nil => Value::Nil,
        LuaValue::Boolean(b) => Value::Boolean(*b),
        LuaValue::Integer(i) => Value::Number(*i as f64),
        LuaValue::Number(n) => Value::Number(*n),
        LuaValue::String(s) => Value::String(s.as_bytes().as_ref().into()),
        LuaValue::Table(table) => {
            if let Some(name) = private_type(table) {
                return Err(invalid(format!("cannot copy a value of type {name}")));
            }
            let id = table.to_pointer();
            if path.contains(&id) {
                return Err(invalid("cannot copy a table that contains itself".into()));
            }
            if path.len() >= MAX_DEPTH {
                return Err(invalid(format!(
                    "cannot copy tables nested deeper than {MAX_DEPTH} levels"
                )));
            }
            path.push(id);
            let mut pairs = Vec::new();
            for pair in table.pairs::<LuaValue, LuaValue>() {
                let (key, item) = pair.map_err(|e| invalid(e.to_string()))?;
                let key = match &key {
                    LuaValue::Number(n) if n.is_nan() => unreachable!("Lua keys are never NaN"),
                    LuaValue::String(_)
                    | LuaValue::Number(_)
                    | LuaValue::Integer(_)
                    | LuaValue::Boolean(_) => copy(&key, path)?,
                    other => {
                        return Err(invalid(format!(
                            "cannot copy a table key of type {}",
                            type_name(other)
                        )));
                    }
                };
                pairs.push((key, copy(&item, path)?));
            }
            path.pop();
            Value::Table(pairs)
        }
        LuaValue::UserData(ud) => match ud.borrow::<LuaError>() {
            Ok(error) => Value::Error(Box::new(error.0.clone())),
            Err(_) => {
                return Err(invalid(format!(
                    "cannot copy a value of type {}",
                    type_name(value)
                )));
            }
        },
        other => {
            return Err(invalid(format!(
                "cannot copy a value of type {}",
                type_name(other)
            )));
        }
    })
}

/// The Lua type name of a value, with runtime objects named after what they are.
pub fn type_name(value: &LuaValue) -> String {
    match value {
        LuaValue::Table(t) => private_type(t).unwrap_or("table").to_string(),
        LuaValue::UserData(ud) => match ud.metatable().and_then(|mt| mt.get::<String>("__type")) {
            Ok(name) => name,
            Err(_) => "userdata".to_string(),
        },
        LuaValue::Integer(_) => "number".to_string(),
        other => other.type_name().to_string(),
    }
}

/// Builds the Lua form of a copied value on this VM.
pub fn from_value(lua: &Lua, value: &Value) -> mlua::Result<LuaValue> {
    Ok(match value {
        Value::Nil => LuaValue::Nil,
        Value::Boolean(b) => LuaValue::Boolean(*b),
        Value::Number(n) => LuaValue::Number(*n),
        Value::String(bytes) => LuaValue::String(lua.create_string(bytes)?),
        Value::Table(pairs) => {
            let table = lua.create_table_with_capacity(0, pairs.len())?;
            for (key, item) in pairs {
                table.raw_set(from_value(lua, key)?, from_value(lua, item)?)?;
            }
            LuaValue::Table(table)
        }
        Value::Error(error) => {
            LuaValue::UserData(lua.create_userdata(LuaError((**error).clone()))?)
        }
    })
}

/// Builds the Lua form of every value of `values`.
pub fn from_values(lua: &Lua, values: &[Value]) -> mlua::Result<mlua::MultiValue> {
    values.iter().map(|v| from_value(lua, v)).collect()
}
