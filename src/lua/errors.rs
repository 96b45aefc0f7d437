//! Error objects in Lua (`LuaError`) and the `errors` global (stdlib.md §4).

use mlua::{
    AnyUserData, Lua, MetaMethod, MultiValue, Table, UserData, UserDataMethods, Value as LuaValue,
};

use super::convert;
use crate::error::{ErrorKind, ErrorValue};

/// An error object as Lua sees it: userdata around an [`ErrorValue`].
#[derive(Debug, Clone)]
pub struct LuaError(pub ErrorValue);

impl UserData for LuaError {
    fn add_fields<F: mlua::UserDataFields<Self>>(fields: &mut F) {
        fields.add_meta_field("__type", "error");
    }

    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method("kind", |_, this, ()| Ok(this.0.kind.name()));
        methods.add_method("message", |_, this, ()| Ok(this.0.message.clone()));
        methods.add_method("retryable", |_, this, ()| Ok(this.0.retryable));
        methods.add_method("stack", |_, this, ()| Ok(this.0.stack.clone()));
        methods.add_method("details", |lua, this, ()| match &this.0.details {
            Some(details) => convert::from_value(lua, details),
            None => Ok(LuaValue::Nil),
        });
        methods.add_meta_method(MetaMethod::ToString, |_, this, ()| {
            Ok(this.0.message.clone())
        });
        methods.add_meta_function(MetaMethod::Concat, |lua, (a, b): (LuaValue, LuaValue)| {
            let mut text = concat_operand(lua, &a)?;
            text.extend_from_slice(&concat_operand(lua, &b)?);
            lua.create_string(text)
        });
    }
}

fn concat_operand(lua: &Lua, value: &LuaValue) -> mlua::Result<Vec<u8>> {
    if let LuaValue::UserData(ud) = value
        && let Ok(error) = ud.borrow::<LuaError>()
    {
        return Ok(error.0.message.clone().into_bytes());
    }
    match lua.coerce_string(value.clone())? {
        Some(s) => Ok(s.as_bytes().to_vec()),
        None => Err(mlua::Error::runtime(format!(
            "attempt to concatenate an error with a {} value",
            convert::type_name(value)
        ))),
    }
}

/// The result of a Rust function that a Lua wrapper turns into a raise (see `bootstrap.luau`,
/// `raising`): `true, value` on success, `false, err` to raise the error object `err`.
pub type Raising = mlua::Result<(bool, LuaValue)>;

/// `false, err` with an `INVALID` error: the Lua wrapper raises `err`.
pub fn raise_invalid(message: impl Into<String>) -> Raising {
    Err(mlua::Error::external(ErrorValue::new(
        ErrorKind::Invalid,
        message,
    )))
}

/// Turns an `INVALID`-style failure into the `false, err` pair of [`Raising`].
pub fn raising(lua: &Lua, result: Raising) -> Raising {
    match result {
        Err(mlua::Error::ExternalError(e)) if e.downcast_ref::<ErrorValue>().is_some() => {
            let error = e
                .downcast_ref::<ErrorValue>()
                .cloned()
                .unwrap_or_else(|| ErrorValue::new(ErrorKind::Internal, "lost error"));
            Ok((
                false,
                LuaValue::UserData(lua.create_userdata(LuaError(error))?),
            ))
        }
        other => other,
    }
}

/// `nil, err` for a failed `process.*` call.
pub fn fail(lua: &Lua, error: ErrorValue) -> mlua::Result<MultiValue> {
    let err = lua.create_userdata(LuaError(error))?;
    Ok(MultiValue::from_iter([
        LuaValue::Nil,
        LuaValue::UserData(err),
    ]))
}

/// `nil, err` with an error of `kind`.
pub fn fail_with(
    lua: &Lua,
    kind: ErrorKind,
    message: impl Into<String>,
) -> mlua::Result<MultiValue> {
    fail(lua, ErrorValue::new(kind, message))
}

/// Turns any raised Lua value into an error object, as an exit error (process.md §6).
///
/// An error object is kept (its stack filled in when it has none); a string becomes `UNKNOWN`
/// with that message; other values become `UNKNOWN` with a description.
pub fn exit_error(value: &LuaValue, stack: Option<String>) -> ErrorValue {
    let mut error = match value {
        LuaValue::UserData(ud) => match ud.borrow::<LuaError>() {
            Ok(e) => e.0.clone(),
            Err(_) => ErrorValue::new(ErrorKind::Unknown, "error value of type userdata"),
        },
        LuaValue::String(s) => ErrorValue::new(ErrorKind::Unknown, s.to_string_lossy()),
        LuaValue::Number(n) => ErrorValue::new(ErrorKind::Unknown, format_number(*n)),
        LuaValue::Integer(i) => ErrorValue::new(ErrorKind::Unknown, i.to_string()),
        LuaValue::Boolean(b) => ErrorValue::new(ErrorKind::Unknown, b.to_string()),
        LuaValue::Error(e) => error_from_mlua(e),
        other => ErrorValue::new(
            ErrorKind::Unknown,
            format!("error value of type {}", convert::type_name(other)),
        ),
    };
    if error.stack.is_none() {
        error.stack = stack;
    }
    error
}

/// The error object inside an mlua error raised by a Rust callback, or an `UNKNOWN` error.
pub fn error_from_mlua(error: &mlua::Error) -> ErrorValue {
    match error {
        mlua::Error::ExternalError(inner) => match inner.downcast_ref::<ErrorValue>() {
            Some(e) => e.clone(),
            None => ErrorValue::new(ErrorKind::Unknown, inner.to_string()),
        },
        mlua::Error::CallbackError { cause, traceback } => {
            let mut e = error_from_mlua(cause);
            if e.stack.is_none() {
                e.stack = Some(traceback.clone());
            }
            e
        }
        mlua::Error::RuntimeError(message) => ErrorValue::new(ErrorKind::Unknown, message.clone()),
        other => ErrorValue::new(ErrorKind::Unknown, other.to_string()),
    }
}

/// Lua's way of printing a number (`1`, `1.5`).
pub fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// Builds the `errors` global.
pub fn create_module(lua: &Lua) -> mlua::Result<Table> {
    let module = lua.create_table()?;
    for kind in ErrorKind::ALL {
        module.set(kind.name(), kind.name())?;
    }
    module.set(
        "new",
        lua.create_function(|lua, spec: LuaValue| {
            raising(
                lua,
                (|| {
                    let error = match spec {
                        LuaValue::String(s) => {
                            ErrorValue::new(ErrorKind::Unknown, s.to_string_lossy())
                        }
                        LuaValue::Table(t) => error_from_spec(&t)?,
                        other => {
                            return raise_invalid(format!(
                                "errors.new expects a message string or a table, got {}",
                                convert::type_name(&other)
                            ));
                        }
                    };
                    let stack = traceback(lua);
                    Ok((
                        true,
                        LuaValue::UserData(
                            lua.create_userdata(LuaError(ErrorValue { stack, ..error }))?,
                        ),
                    ))
                })(),
            )
        })?,
    )?;
    module.set(
        "wrap",
        lua.create_function(|lua, (err, message): (LuaValue, LuaValue)| {
            raising(
                lua,
                (|| {
                    let LuaValue::String(message) = message else {
                        return raise_invalid("errors.wrap expects a message string");
                    };
                    let message = message.to_string_lossy();
                    let inner = match err {
                        LuaValue::Nil => return Ok((true, LuaValue::Nil)),
                        LuaValue::String(s) => ErrorValue {
                            stack: traceback(lua),
                            ..ErrorValue::new(ErrorKind::Unknown, s.to_string_lossy())
                        },
                        LuaValue::UserData(ud) => match ud.borrow::<LuaError>() {
                            Ok(e) => e.0.clone(),
                            Err(_) => {
                                return raise_invalid(
                                    "errors.wrap expects an error object or a string",
                                );
                            }
                        },
                        _ => {
                            return raise_invalid(
                                "errors.wrap expects an error object or a string",
                            );
                        }
                    };
                    let wrapped = LuaError(ErrorValue {
                        message: format!("{message}: {}", inner.message),
                        ..inner
                    });
                    Ok((true, LuaValue::UserData(lua.create_userdata(wrapped)?)))
                })(),
            )
        })?,
    )?;
    module.set(
        "is",
        lua.create_function(|_, (err, kind): (LuaValue, LuaValue)| {
            let (LuaValue::UserData(ud), LuaValue::String(kind)) = (err, kind) else {
                return Ok(false);
            };
            Ok(ud
                .borrow::<LuaError>()
                .is_ok_and(|e| e.0.kind.name().as_bytes() == kind.as_bytes().as_ref()))
        })?,
    )?;
    Ok(module)
}

fn error_from_spec(spec: &Table) -> mlua::Result<ErrorValue> {
    let invalid = |m: String| {
        Err(mlua::Error::external(ErrorValue::new(
            ErrorKind::Invalid,
            m,
        )))
    };
    for pair in spec.pairs::<LuaValue, LuaValue>() {
        let (key, _) = pair?;
        let known = matches!(&key, LuaValue::String(k) if matches!(k.as_bytes().as_ref(), b"message" | b"kind" | b"retryable" | b"details"));
        if !known {
            return invalid(format!("errors.new: unknown field {}", key.to_string()?));
        }
    }
    let message = match spec.get::<LuaValue>("message")? {
        LuaValue::String(s) => s.to_string_lossy(),
        _ => return invalid(String::from("errors.new: message must be a string")),
    };
    let kind = match spec.get::<LuaValue>("kind")? {
        LuaValue::Nil => ErrorKind::Unknown,
        LuaValue::String(s) => match ErrorKind::from_name(&s.to_string_lossy()) {
            Some(kind) => kind,
            None => {
                return invalid(format!(
                    "errors.new: unknown kind '{}'",
                    s.to_string_lossy()
                ));
            }
        },
        _ => {
            return invalid(String::from(
                "errors.new: kind must be one of the errors constants",
            ));
        }
    };
    let retryable = match spec.get::<LuaValue>("retryable")? {
        LuaValue::Nil => false,
        LuaValue::Boolean(b) => b,
        _ => return invalid(String::from("errors.new: retryable must be a boolean")),
    };
    let details = match spec.get::<LuaValue>("details")? {
        LuaValue::Nil => None,
        details @ LuaValue::Table(_) => Some(Box::new(
            convert::to_value(&details).map_err(mlua::Error::external)?,
        )),
        _ => return invalid(String::from("errors.new: details must be a table")),
    };
    Ok(ErrorValue {
        kind,
        message,
        retryable,
        details,
        stack: None,
    })
}

/// The current Lua traceback, for errors created by `errors.new`.
fn traceback(lua: &Lua) -> Option<String> {
    let traceback: mlua::Function = lua.named_registry_value("moonweave.traceback").ok()?;
    traceback
        .call::<String>(())
        .ok()
        .map(|t| clean_traceback(&t))
}

/// A traceback without the runtime's own frames (the bootstrap chunk) and blank lines.
pub fn clean_traceback(traceback: &str) -> String {
    traceback
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with("moonweave.bootstrap"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether a userdata is an error object.
pub fn is_error(ud: &AnyUserData) -> bool {
    ud.is::<LuaError>()
}
