//! Error objects in Lua ([`ErrorObject`]), the `errors` global (stdlib.md §4), and `assert`,
//! which raises its message whatever it is (an error object from `nil, err` included).

use std::ffi::c_int;

use super::args::{invalid, type_name};
use super::raw::{self, Kind, Object, Raise, Stack, lua_fn};
use super::{convert, objects};
use crate::error::{ErrorKind, ErrorValue};

/// An error object as Lua sees it.
#[derive(Debug, Clone)]
pub struct ErrorObject(pub ErrorValue);

impl Object for ErrorObject {
    const TAG: c_int = objects::ERROR;
    const NAME: &'static str = "error";
}

lua_fn! {
    /// `assert(v, message?, ...)`: returns all its arguments when `v` is true; else raises
    /// `message` as it is, so `assert(process.spawn(...))` raises the spawn's error object
    /// (Luau's own `assert` accepts only a string), or "assertion failed!" without one.
    pub fn assert(stack) {
        match stack.top() {
            0 => raw::raise("missing argument #1 to 'assert' (value expected)"),
            n if stack.truthy(1) => raw::values(n),
            1 => failed(stack),
            _ => Err(Raise::Value(2)),
        }
    }
}

/// The error of an `assert` without a message, as Luau words it (no position).
fn failed(stack: Stack<'_>) -> raw::Result {
    stack.push_bytes(b"assertion failed!");
    Err(Raise::Value(-1))
}

fn this<'a>(stack: Stack<'a>, method: &str) -> Result<&'a ErrorValue, Raise> {
    match stack.object::<ErrorObject>(1) {
        Some(e) => Ok(&e.0),
        None => Err(Raise::Object(invalid(format!(
            "error:{method} must be called on an error object"
        )))),
    }
}

lua_fn! {
    fn kind(stack) {
        let kind = this(stack, "kind")?.kind.name();
        stack.push_bytes(kind.as_bytes());
        raw::values(1)
    }
}

lua_fn! {
    fn message(stack) {
        let message = this(stack, "message")?.message.clone();
        stack.push_bytes(&message);
        raw::values(1)
    }
}

lua_fn! {
    fn retryable(stack) {
        let retryable = this(stack, "retryable")?.retryable;
        stack.push_bool(retryable);
        raw::values(1)
    }
}

lua_fn! {
    fn details(stack) {
        match this(stack, "details")?.details.clone() {
            Some(details) => convert::push_value(stack, &details),
            None => stack.push_nil(),
        }
        raw::values(1)
    }
}

lua_fn! {
    fn stack_trace(stack) {
        match this(stack, "stack")?.stack.clone() {
            Some(trace) => stack.push_bytes(trace.as_bytes()),
            None => stack.push_nil(),
        }
        raw::values(1)
    }
}

lua_fn! {
    fn to_string(stack) {
        let message = this(stack, "__tostring")?.message.clone();
        stack.push_bytes(&message);
        raw::values(1)
    }
}

/// The text an operand of `..` stands for.
fn concat_operand(stack: Stack<'_>, index: c_int) -> Result<Vec<u8>, Raise> {
    if let Some(e) = stack.object::<ErrorObject>(index) {
        return Ok(e.0.message.to_vec());
    }
    match stack.kind(index) {
        Kind::String => Ok(stack.bytes(index).unwrap_or_default().to_vec()),
        Kind::Number => {
            Ok(convert::number_text(stack.number(index).unwrap_or_default()).into_bytes())
        }
        _ => raw::raise(format!(
            "attempt to concatenate an error with a {} value",
            type_name(stack, index)
        )),
    }
}

lua_fn! {
    fn concat(stack) {
        let mut text = concat_operand(stack, 1)?;
        text.extend_from_slice(&concat_operand(stack, 2)?);
        stack.push_bytes(&text);
        raw::values(1)
    }
}

/// Registers the error object type on the VM.
pub fn register(stack: Stack<'_>) {
    raw::register::<ErrorObject>(
        stack,
        &[
            raw::method(c"kind", kind),
            raw::method(c"message", message),
            raw::method(c"retryable", retryable),
            raw::method(c"details", details),
            raw::method(c"stack", stack_trace),
        ],
        &[
            raw::method(c"__tostring", to_string),
            raw::method(c"__concat", concat),
        ],
    );
}

fn kind_named(name: &[u8]) -> Option<ErrorKind> {
    ErrorKind::ALL
        .into_iter()
        .find(|k| k.name().as_bytes() == name)
}

/// Reads the table of `errors.new{...}`.
fn from_spec(stack: Stack<'_>, table: c_int) -> Result<ErrorValue, ErrorValue> {
    let mut message = None;
    let mut kind = ErrorKind::Unknown;
    let mut retryable = false;
    let mut details = None;
    stack.push_nil();
    while stack.next(table) {
        let key = stack.bytes(-2).map(<[u8]>::to_vec);
        match key.as_deref() {
            Some(b"message") => match stack.bytes(-1) {
                Some(m) => message = Some(m.to_vec()),
                None => {
                    stack.pop(2);
                    return Err(invalid("errors.new: message must be a string"));
                }
            },
            Some(b"kind") => match stack.bytes(-1).and_then(kind_named) {
                Some(k) => kind = k,
                None => {
                    let shown = match stack.bytes(-1) {
                        Some(b) => format!("'{}'", String::from_utf8_lossy(b)),
                        None => type_name(stack, -1).to_string(),
                    };
                    stack.pop(2);
                    return Err(invalid(format!(
                        "errors.new: unknown kind {shown}; use one of the errors constants"
                    )));
                }
            },
            Some(b"retryable") => match stack.kind(-1) {
                Kind::Boolean => retryable = stack.truthy(-1),
                _ => {
                    stack.pop(2);
                    return Err(invalid("errors.new: retryable must be a boolean"));
                }
            },
            Some(b"details") => match stack.kind(-1) {
                Kind::Table => match convert::to_value(stack, -1) {
                    Ok(v) => details = Some(Box::new(v)),
                    Err(e) => {
                        stack.pop(2);
                        return Err(invalid(format!(
                            "errors.new: details: {}",
                            e.message.to_string_lossy()
                        )));
                    }
                },
                _ => {
                    stack.pop(2);
                    return Err(invalid("errors.new: details must be a table"));
                }
            },
            _ => {
                let shown = match stack.bytes(-2) {
                    Some(b) => String::from_utf8_lossy(b).into_owned(),
                    None => type_name(stack, -2).to_string(),
                };
                stack.pop(2);
                return Err(invalid(format!("errors.new: unknown field {shown}")));
            }
        }
        stack.pop(1);
    }
    let Some(message) = message else {
        return Err(invalid("errors.new: message must be a string"));
    };
    Ok(ErrorValue {
        kind,
        message: message.into(),
        retryable,
        details,
        stack: None,
    })
}

lua_fn! {
    /// `errors.new(message)` / `errors.new{message, kind, retryable, details}`.
    fn new(stack) {
        let made = match stack.kind(1) {
            Kind::String => Ok(ErrorValue::new(ErrorKind::Unknown, stack.bytes(1).unwrap_or_default())),
            Kind::Table => from_spec(stack, 1),
            _ => Err(invalid(format!(
                "errors.new expects a message string or a table, got {}",
                type_name(stack, 1)
            ))),
        };
        let mut error = made.map_err(Raise::Object)?;
        error.stack = Some(clean_traceback(&stack.traceback()));
        stack.push_object(ErrorObject(error));
        raw::values(1)
    }
}

lua_fn! {
    /// `errors.wrap(err, message)`.
    fn wrap(stack) {
        let Some(message) = stack.bytes(2) else {
            return Err(Raise::Object(invalid("errors.wrap expects a message string")));
        };
        let inner = match stack.kind(1) {
            Kind::Nil => {
                stack.push_nil();
                return raw::values(1);
            }
            Kind::String => ErrorValue {
                stack: Some(clean_traceback(&stack.traceback())),
                ..ErrorValue::new(ErrorKind::Unknown, stack.bytes(1).unwrap_or_default())
            },
            _ => match stack.object::<ErrorObject>(1) {
                Some(e) => e.0.clone(),
                None => {
                    return Err(Raise::Object(invalid(
                        "errors.wrap expects an error object or a string",
                    )));
                }
            },
        };
        let mut text = message.to_vec();
        text.extend_from_slice(b": ");
        text.extend_from_slice(&inner.message);
        let wrapped = ErrorValue {
            message: text.into(),
            ..inner
        };
        stack.push_object(ErrorObject(wrapped));
        raw::values(1)
    }
}

lua_fn! {
    /// `errors.is(err, kind)`.
    fn is(stack) {
        let matches = match (stack.object::<ErrorObject>(1), stack.bytes(2)) {
            (Some(e), Some(kind)) => e.0.kind.name().as_bytes() == kind,
            _ => false,
        };
        stack.push_bool(matches);
        raw::values(1)
    }
}

lua_fn! {
    /// `rt.error_of(kind, message)`: a new error object.
    pub fn error_of(stack) {
        let kind = stack.bytes(1).and_then(kind_named).unwrap_or(ErrorKind::Unknown);
        let error = ErrorValue::new(kind, stack.bytes(2).unwrap_or_default());
        stack.push_object(ErrorObject(error));
        raw::values(1)
    }
}

/// Builds the `errors` table (frozen) on top of the stack.
pub fn push_module(stack: Stack<'_>) {
    raw::push_table(
        stack,
        &[
            raw::method(c"new", new),
            raw::method(c"wrap", wrap),
            raw::method(c"is", is),
        ],
    );
    let table = stack.top();
    for kind in ErrorKind::ALL {
        stack.push_bytes(kind.name().as_bytes());
        stack.push_bytes(kind.name().as_bytes());
        stack.raw_set(table);
    }
    stack.freeze(table);
}

/// Turns any raised Lua value into an error object, as an exit error (process.md §6).
///
/// An error object is kept (its stack filled in when it has none); a string becomes `UNKNOWN`
/// with that message; other values become `UNKNOWN` with a description.
pub fn exit_error(stack: Stack<'_>, index: c_int, trace: Option<String>) -> ErrorValue {
    let mut error = match stack.kind(index) {
        Kind::String => ErrorValue::new(ErrorKind::Unknown, stack.bytes(index).unwrap_or_default()),
        Kind::Number => ErrorValue::new(
            ErrorKind::Unknown,
            convert::number_text(stack.number(index).unwrap_or_default()),
        ),
        Kind::Boolean => ErrorValue::new(ErrorKind::Unknown, stack.truthy(index).to_string()),
        _ => match stack.object::<ErrorObject>(index) {
            Some(e) => e.0.clone(),
            None => ErrorValue::new(
                ErrorKind::Unknown,
                format!("error value of type {}", type_name(stack, index)),
            ),
        },
    };
    if error.stack.is_none() {
        error.stack = trace;
    }
    error
}

/// A traceback without the runtime's own frames (the bootstrap chunk) and blank lines.
pub fn clean_traceback(traceback: &str) -> String {
    traceback
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with("moonweave.bootstrap"))
        .collect::<Vec<_>>()
        .join("\n")
}
