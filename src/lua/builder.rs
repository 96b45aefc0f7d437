//! The SpawnBuilder (process.md §12): an immutable object carrying context values, a name,
//! messages, an actor and a scope for a spawn; every method returns a new builder. What a
//! method is given is checked and copied when it is called, and so are its permissions
//! (`process.context`, `process.security`); a bad argument or a denial raises an error object.

use std::ffi::c_int;

use super::args::{invalid, type_name};
use super::convert;
use super::objects;
use super::process_api::spawn_with;
use super::raw::{self, Kind, Object, Raise, Stack, lua_fn};
use super::security::{ActorObject, ScopeObject};
use crate::bytes::Bytes;
use crate::error::ErrorValue;
use crate::proc::registry::is_valid_name;
use crate::sched::SpawnExtras;
use crate::security::Permission;
use crate::value::Payload;

/// A SpawnBuilder.
#[derive(Debug, Default, Clone)]
pub struct BuilderObject(SpawnExtras);

impl Object for BuilderObject {
    const TAG: c_int = objects::BUILDER;
    const NAME: &'static str = "SpawnBuilder";
}

fn this<'a>(stack: Stack<'a>, method: &str) -> Result<&'a BuilderObject, Raise> {
    stack.object::<BuilderObject>(1).ok_or_else(|| {
        Raise::Object(invalid(format!(
            "{method} must be called on a SpawnBuilder"
        )))
    })
}

/// Copies the context values table at `index`.
fn context_values(
    stack: Stack<'_>,
    index: c_int,
) -> Result<Vec<(Bytes, crate::value::Value)>, ErrorValue> {
    if stack.kind(index) != Kind::Table {
        return Err(invalid(format!(
            "with_context: values must be a table, got {}",
            type_name(stack, index)
        )));
    }
    let mut copied = Vec::new();
    stack.push_nil();
    while stack.next(index) {
        let Some(key) = stack.bytes(-2).filter(|k| !k.is_empty()).map(Bytes::new) else {
            stack.pop(2);
            return Err(invalid("with_context: keys must be non-empty strings"));
        };
        match convert::to_value(stack, -1) {
            Ok(value) => copied.push((key, value)),
            Err(e) => {
                stack.pop(2);
                return Err(invalid(format!(
                    "with_context: value of '{key}': {}",
                    e.message.to_string_lossy()
                )));
            }
        }
        stack.pop(1);
    }
    copied.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(copied)
}

fn with_context_of(stack: Stack<'_>, base: SpawnExtras, values: c_int) -> raw::Result {
    let values = context_values(stack, values).map_err(Raise::Object)?;
    permit(Permission::Context, b"context")?;
    let mut extras = base;
    for (key, value) in values {
        match extras.context.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => extras.context.push((key, value)),
        }
    }
    stack.push_object(BuilderObject(extras));
    raw::values(1)
}

lua_fn! {
    /// `process.with_context(values)`.
    pub fn with_context_fn(stack) {
        with_context_of(stack, SpawnExtras::default(), 1)
    }
}

lua_fn! {
    fn with_context(stack) {
        let base = this(stack, "with_context")?.0.clone();
        with_context_of(stack, base, 2)
    }
}

lua_fn! {
    fn with_name(stack) {
        let mut extras = this(stack, "with_name")?.0.clone();
        let Some(name) = stack.bytes(2).filter(|n| is_valid_name(n)) else {
            return Err(Raise::Object(invalid(
                "with_name: a name is a non-empty string that does not start with '{'",
            )));
        };
        extras.name = Some(Bytes::new(name));
        stack.push_object(BuilderObject(extras));
        raw::values(1)
    }
}

lua_fn! {
    fn with_message(stack) {
        let mut extras = this(stack, "with_message")?.0.clone();
        let Some(topic) = super::args::topic(stack, 2) else {
            return Err(Raise::Object(invalid(
                "with_message: topic must be a non-empty string that does not start with '@'",
            )));
        };
        let topic = Bytes::new(topic);
        let payload = convert::to_values(stack, 3, stack.top())
            .map_err(|e| Raise::Object(invalid(format!("with_message: {}", e.message.to_string_lossy()))))?;
        extras.messages.push((topic, Payload::from(payload)));
        stack.push_object(BuilderObject(extras));
        raw::values(1)
    }
}

/// Raises `PERMISSION_DENIED` unless the running process has `permission` on `resource`.
fn permit(permission: Permission, resource: &[u8]) -> Result<(), Raise> {
    super::run::core()?
        .permit(permission, resource)
        .map_err(Raise::Object)
}

lua_fn! {
    /// `b:with_actor(actor)`: needs `process.security` on `"security"`.
    fn with_actor(stack) {
        let mut extras = this(stack, "with_actor")?.0.clone();
        let Some(actor) = stack.object::<ActorObject>(2) else {
            return Err(Raise::Object(invalid(format!(
                "with_actor: expected an Actor, got {}",
                type_name(stack, 2)
            ))));
        };
        permit(Permission::Security, b"security")?;
        extras.actor = Some(actor.0.clone());
        stack.push_object(BuilderObject(extras));
        raw::values(1)
    }
}

lua_fn! {
    /// `b:with_scope(scope)`: needs `process.security` on `"security"`.
    fn with_scope(stack) {
        let mut extras = this(stack, "with_scope")?.0.clone();
        let Some(scope) = stack.object::<ScopeObject>(2) else {
            return Err(Raise::Object(invalid(format!(
                "with_scope: expected a Scope, got {}",
                type_name(stack, 2)
            ))));
        };
        permit(Permission::Security, b"security")?;
        extras.scope = Some(scope.0.clone());
        stack.push_object(BuilderObject(extras));
        raw::values(1)
    }
}

macro_rules! builder_spawn {
    ($name:ident, $label:literal, $monitored:expr, $linked:expr) => {
        lua_fn! {
            fn $name(stack) {
                let extras = this(stack, $label)?.0.clone();
                spawn_with(stack, $label, 2, $monitored, $linked, extras)
            }
        }
    };
}

builder_spawn!(spawn, "spawn", false, false);
builder_spawn!(spawn_monitored, "spawn_monitored", true, false);
builder_spawn!(spawn_linked, "spawn_linked", false, true);
builder_spawn!(spawn_linked_monitored, "spawn_linked_monitored", true, true);

/// Registers the SpawnBuilder object type.
pub fn register(stack: Stack<'_>) {
    raw::register::<BuilderObject>(
        stack,
        &[
            raw::method(c"with_context", with_context),
            raw::method(c"with_name", with_name),
            raw::method(c"with_message", with_message),
            raw::method(c"with_actor", with_actor),
            raw::method(c"with_scope", with_scope),
            raw::method(c"spawn", spawn),
            raw::method(c"spawn_monitored", spawn_monitored),
            raw::method(c"spawn_linked", spawn_linked),
            raw::method(c"spawn_linked_monitored", spawn_linked_monitored),
        ],
        &[],
    );
}
