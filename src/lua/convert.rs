//! Deep copies between Lua values and [`Value`], with the copy rules of process.md §1.
//!
//! # The copy budget
//!
//! A copy may hold at most [`MAX_VALUES`] values (every table and every table value counts;
//! keys do not). A shared subtable is copied once per path that reaches it, so a small table
//! can stand for an exponentially large copy (`t = {t, t}` forty times). The size must be known
//! before copying, in time linear in the source:
//!
//! 1. The copy starts directly, remembering every table it has copied. A tree (no table reached
//!    twice), which is what almost every payload is, is copied in one pass.
//! 2. When a table turns up a second time (not on the current path: that is a cycle), the
//!    payload shares subtables: the copy so far is dropped, [`measure`] computes the size with
//!    each table measured once, and only a payload within the budget is copied again.

use std::collections::HashMap;
use std::ffi::c_int;

use super::args::{invalid, type_name};
use super::errors::ErrorObject;
use super::raw::{Kind, Scalar, Stack};
use crate::error::ErrorValue;
use crate::value::Value;

/// Deepest table nesting a copy accepts (the outer table is level 1).
pub const MAX_DEPTH: usize = 128;

/// Most values a copy may hold (process.md §1).
pub const MAX_VALUES: u64 = 16_777_216;

/// Why a copy stopped.
enum Stop {
    Invalid(ErrorValue),
    /// A table was reached twice: measure first.
    Shared,
}

impl From<ErrorValue> for Stop {
    fn from(e: ErrorValue) -> Stop {
        Stop::Invalid(e)
    }
}

/// A hasher for sets of table addresses made per copy: fixed keys, so that making one costs
/// nothing (a random seed per send showed up in profiles at 5 %).
fn hasher() -> ahash::RandomState {
    ahash::RandomState::with_seeds(0x6d6f_6f6e, 0x7765_6176, 0x6520_636f, 0x7079_2121)
}

struct Copier {
    /// Tables on the current path (cycle detection and depth).
    path: Vec<usize>,
    /// Whether to look for tables reached twice (the first pass).
    look_for_sharing: bool,
    /// Tables copied so far, when looking for sharing; made on the first table.
    seen: Option<std::collections::HashSet<usize, ahash::RandomState>>,
    /// Values copied so far.
    count: u64,
}

fn too_large() -> ErrorValue {
    invalid(format!(
        "payload too large: a copy may hold at most {MAX_VALUES} values"
    ))
}

impl Copier {
    fn copy(&mut self, stack: Stack<'_>, index: c_int) -> Result<Value, Stop> {
        self.count += 1;
        if self.count > MAX_VALUES {
            return Err(Stop::Invalid(too_large()));
        }
        if let Some(scalar) = stack.scalar(index) {
            return Ok(Value::from(scalar));
        }
        Ok(match stack.kind(index) {
            Kind::Table => self.copy_table(stack, index)?,
            Kind::Userdata => match stack.object::<ErrorObject>(index) {
                Some(e) => Value::Error(Box::new(e.0.clone())),
                None => return Err(Stop::Invalid(uncopyable(stack, index))),
            },
            _ => return Err(Stop::Invalid(uncopyable(stack, index))),
        })
    }

    fn copy_table(&mut self, stack: Stack<'_>, index: c_int) -> Result<Value, Stop> {
        let id = stack.pointer(index);
        if self.path.contains(&id) {
            return Err(Stop::Invalid(invalid(
                "cannot copy a table that contains itself",
            )));
        }
        if self.look_for_sharing
            && !self
                .seen
                .get_or_insert_with(|| std::collections::HashSet::with_hasher(hasher()))
                .insert(id)
        {
            return Err(Stop::Shared);
        }
        if self.path.len() >= MAX_DEPTH {
            return Err(Stop::Invalid(invalid(format!(
                "cannot copy tables nested deeper than {MAX_DEPTH} levels"
            ))));
        }
        let table = if index < 0 {
            stack.top() + index + 1
        } else {
            index
        };
        self.path.push(id);
        let mut pairs = Vec::with_capacity(stack.raw_len(table));
        stack.push_nil();
        while stack.next(table) {
            // A key is never nil (nor NaN): the scalars a key can be are copied as they are.
            let key = match stack.scalar(-2) {
                Some(key @ (Scalar::String(_) | Scalar::Number(_) | Scalar::Boolean(_))) => {
                    Value::from(key)
                }
                _ => {
                    let e = invalid(format!(
                        "cannot copy a table key of type {}",
                        type_name(stack, -2)
                    ));
                    stack.pop(2);
                    return Err(Stop::Invalid(e));
                }
            };
            match self.copy(stack, -1) {
                Ok(value) => pairs.push((key, value)),
                Err(stop) => {
                    stack.pop(2);
                    return Err(stop);
                }
            }
            stack.pop(1);
        }
        self.path.pop();
        Ok(Value::Table(pairs))
    }
}

fn uncopyable(stack: Stack<'_>, index: c_int) -> ErrorValue {
    invalid(format!(
        "cannot copy a value of type {}",
        type_name(stack, index)
    ))
}

/// The size of the copy of the value at `index` (each table measured once), or why it cannot
/// be copied.
pub fn measure(stack: Stack<'_>, index: c_int) -> Result<u64, ErrorValue> {
    let mut sizes: HashMap<usize, u64, ahash::RandomState> = HashMap::with_hasher(hasher());
    let mut path = Vec::new();
    measure_value(stack, index, &mut sizes, &mut path)
}

fn measure_value(
    stack: Stack<'_>,
    index: c_int,
    sizes: &mut HashMap<usize, u64, ahash::RandomState>,
    path: &mut Vec<usize>,
) -> Result<u64, ErrorValue> {
    if stack.kind(index) != Kind::Table {
        return Ok(1);
    }
    let id = stack.pointer(index);
    if path.contains(&id) {
        return Err(invalid("cannot copy a table that contains itself"));
    }
    if let Some(size) = sizes.get(&id) {
        return Ok(*size);
    }
    if path.len() >= MAX_DEPTH {
        return Err(invalid(format!(
            "cannot copy tables nested deeper than {MAX_DEPTH} levels"
        )));
    }
    let table = if index < 0 {
        stack.top() + index + 1
    } else {
        index
    };
    path.push(id);
    let mut size: u64 = 1;
    stack.push_nil();
    while stack.next(table) {
        match measure_value(stack, -1, sizes, path) {
            Ok(n) => size = size.saturating_add(n).min(MAX_VALUES + 1),
            Err(e) => {
                stack.pop(2);
                return Err(e);
            }
        }
        stack.pop(1);
    }
    path.pop();
    sizes.insert(id, size);
    Ok(size)
}

/// Copies the values at `first..=last` into owned [`Value`]s (one budget for all of them), or
/// explains why they cannot be copied (`INVALID`).
pub fn to_values(stack: Stack<'_>, first: c_int, last: c_int) -> Result<Vec<Value>, ErrorValue> {
    // Most argument lists are numbers and short strings: one type check each, no copier.
    let mut values = Vec::with_capacity((last - first + 1).max(0) as usize);
    for index in first..=last {
        match stack.scalar(index) {
            Some(scalar) => values.push(Value::from(scalar)),
            None => return copy_values(stack, first, last),
        }
    }
    Ok(values)
}

impl From<Scalar<'_>> for Value {
    fn from(scalar: Scalar<'_>) -> Value {
        match scalar {
            Scalar::Nil => Value::Nil,
            Scalar::Boolean(b) => Value::Boolean(b),
            Scalar::Number(n) => Value::Number(n),
            Scalar::String(bytes) => Value::String(bytes.into()),
        }
    }
}

/// [`to_values`] with tables among the values: copies them, finding sharing and cycles.
fn copy_values(stack: Stack<'_>, first: c_int, last: c_int) -> Result<Vec<Value>, ErrorValue> {
    let mut copier = Copier {
        path: Vec::new(),
        look_for_sharing: true,
        seen: None,
        count: 0,
    };
    let mut values = Vec::with_capacity((last - first + 1).max(0) as usize);
    let mut shared = false;
    for index in first..=last {
        if stack.kind(index) != Kind::Table {
            match copier.copy(stack, index) {
                Ok(v) => values.push(v),
                Err(Stop::Invalid(e)) => return Err(e),
                Err(Stop::Shared) => unreachable!("only tables are shared"),
            }
            continue;
        }
        match copier.copy(stack, index) {
            Ok(v) => values.push(v),
            Err(Stop::Invalid(e)) => return Err(e),
            Err(Stop::Shared) => {
                shared = true;
                break;
            }
        }
    }
    if !shared {
        return Ok(values);
    }
    // Some table is reached twice: measure everything first, then copy without looking for
    // sharing (the budget is known to hold).
    let mut total: u64 = 0;
    for index in first..=last {
        total = total.saturating_add(measure(stack, index)?);
        if total > MAX_VALUES {
            return Err(too_large());
        }
    }
    let mut copier = Copier {
        path: Vec::new(),
        look_for_sharing: false,
        seen: None,
        count: 0,
    };
    let mut values = Vec::with_capacity((last - first + 1).max(0) as usize);
    for index in first..=last {
        match copier.copy(stack, index) {
            Ok(v) => values.push(v),
            Err(Stop::Invalid(e)) => return Err(e),
            Err(Stop::Shared) => unreachable!("sharing is not looked for"),
        }
    }
    Ok(values)
}

/// Copies the value at `index` into an owned [`Value`].
pub fn to_value(stack: Stack<'_>, index: c_int) -> Result<Value, ErrorValue> {
    // The common payloads (a number, a short string) need no copier.
    if let Some(scalar) = stack.scalar(index) {
        return Ok(Value::from(scalar));
    }
    let index = if index < 0 {
        stack.top() + index + 1
    } else {
        index
    };
    let mut values = to_values(stack, index, index)?;
    Ok(values.pop().unwrap_or(Value::Nil))
}

/// Pushes the Lua form of a copied value.
pub fn push_value(stack: Stack<'_>, value: &Value) {
    match value {
        Value::Nil => stack.push_nil(),
        Value::Boolean(b) => stack.push_bool(*b),
        Value::Number(n) => stack.push_number(*n),
        Value::String(bytes) => stack.push_bytes(bytes),
        Value::Table(pairs) => {
            let array = pairs
                .iter()
                .take_while(|(k, _)| matches!(k, Value::Number(n) if *n >= 1.0))
                .count();
            stack.new_table(array, pairs.len() - array);
            let table = stack.top();
            for (key, item) in pairs {
                push_value(stack, key);
                push_value(stack, item);
                stack.raw_set(table);
            }
        }
        Value::Error(error) => stack.push_object(ErrorObject((**error).clone())),
    }
}

/// Lua's way of printing a number (`1`, `1.5`, `1e+20`, `inf`, `nan`).
pub fn number_text(n: f64) -> String {
    if n.is_nan() {
        return "nan".to_string();
    }
    if n.is_infinite() {
        return if n > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    if n.fract() == 0.0 && n.abs() < 1e15 {
        return format!("{}", n as i64);
    }
    // Shortest text that reads back exactly, as Luau prints numbers.
    let text = format!("{n}");
    if text.len() > 20 {
        return format!("{n:e}").replace('e', "e+").replace("e+-", "e-");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_as_lua_prints_them() {
        assert_eq!(number_text(1.0), "1");
        assert_eq!(number_text(-2.5), "-2.5");
        assert_eq!(number_text(0.1), "0.1");
        assert_eq!(number_text(f64::INFINITY), "inf");
    }
}
