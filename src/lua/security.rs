//! The `security` module (stdlib.md §7.6, security.md): Actor and Scope objects, the running
//! process's own, and `security.can`. The decisions are made by `crate::security`.

use std::ffi::c_int;
use std::sync::Arc;

use super::args::{fail, invalid, non_empty, type_name};
use super::convert;
use super::objects;
use super::raw::{self, Kind, LuaRef, Object, Raise, Stack, lua_fn};
use super::run::core;
use crate::bytes::Bytes;
use crate::error::{ErrorKind, ErrorValue};
use crate::security::{Actor, Policy, Scope};
use crate::value::Value;

/// An Actor object.
#[derive(Debug)]
pub struct ActorObject(pub Arc<Actor>);

impl Object for ActorObject {
    const TAG: c_int = objects::ACTOR;
    const NAME: &'static str = "Actor";
}

/// A Scope object.
#[derive(Debug)]
pub struct ScopeObject(pub Arc<Scope>);

impl Object for ScopeObject {
    const TAG: c_int = objects::SCOPE;
    const NAME: &'static str = "Scope";
}

lua_fn! {
    /// `security.actor()`: the running process's Actor, or nil.
    fn actor(stack) {
        let core = core()?;
        match core.current_process().and_then(|p| p.identity.actor.clone()) {
            Some(actor) => stack.push_object(ActorObject(actor)),
            None => stack.push_nil(),
        }
        raw::values(1)
    }
}

lua_fn! {
    /// `security.scope()`: the running process's Scope, or nil.
    fn scope(stack) {
        let core = core()?;
        match core.current_process().and_then(|p| p.identity.scope.clone()) {
            Some(scope) => stack.push_object(ScopeObject(scope)),
            None => stack.push_nil(),
        }
        raw::values(1)
    }
}

lua_fn! {
    /// `security.new_actor(id, meta?)`.
    fn new_actor(stack) {
        let Some(id) = non_empty(stack, 1) else {
            return fail(stack, invalid("new_actor: id must be a non-empty string"));
        };
        let meta = match stack.kind(2) {
            Kind::None | Kind::Nil => Value::Table(Vec::new()),
            Kind::Table => match convert::to_value(stack, 2) {
                Ok(meta) => meta,
                Err(e) => {
                    return fail(stack, invalid(format!("new_actor: meta: {}", e.message.to_string_lossy())));
                }
            },
            _ => {
                return fail(stack, invalid(format!(
                    "new_actor: meta must be a table, got {}",
                    type_name(stack, 2)
                )));
            }
        };
        let actor = Actor { id: Bytes::new(id), meta };
        stack.push_object(ActorObject(Arc::new(actor)));
        raw::values(1)
    }
}

/// The policy named by the id at `index`: `INVALID` for a value that is not an id or an entry
/// that is not a policy, `NOT_FOUND` for an unknown id.
fn policy_at(stack: Stack<'_>, index: c_int, function: &str) -> Result<Arc<Policy>, ErrorValue> {
    let id = stack
        .bytes(index)
        .and_then(|b| std::str::from_utf8(b).ok())
        .filter(|id| crate::app::is_entry_id(id))
        .ok_or_else(|| {
            invalid(format!(
                "{function}: a policy id is an entry id 'namespace:name', got {}",
                type_name(stack, index)
            ))
        })?;
    let core = core().map_err(|_| invalid("no process is running"))?;
    let app = core.app();
    match (app.policy(id), app.entry(id)) {
        (Some(policy), _) => Ok(policy.clone()),
        (None, Some(entry)) => Err(invalid(format!(
            "{function}: '{id}' is a {}, not a security.policy entry",
            entry.kind.name()
        ))),
        (None, None) => Err(ErrorValue::new(
            ErrorKind::NotFound,
            format!("{function}: no security.policy entry '{id}'"),
        )),
    }
}

lua_fn! {
    /// `security.new_scope(policy_ids?)`.
    fn new_scope(stack) {
        let mut policies = Vec::new();
        match stack.kind(1) {
            Kind::None | Kind::Nil => {}
            Kind::Table => {
                let n = stack.raw_len(1);
                if stack.count_pairs(1) != n {
                    return fail(stack, invalid("new_scope: policy ids must be a list"));
                }
                for i in 1..=n {
                    stack.raw_get_index(1, i);
                    let policy = policy_at(stack, -1, "new_scope");
                    stack.pop(1);
                    match policy {
                        Ok(policy) => policies.push(policy),
                        Err(e) => return fail(stack, e),
                    }
                }
            }
            _ => {
                return fail(stack, invalid(format!(
                    "new_scope: policy ids must be a list, got {}",
                    type_name(stack, 1)
                )));
            }
        }
        stack.push_object(ScopeObject(Arc::new(Scope::new(policies))));
        raw::values(1)
    }
}

lua_fn! {
    /// `security.can(action, resource, attrs?)`.
    fn can(stack) {
        let (Some(action), Some(resource)) = (stack.bytes(1), stack.bytes(2)) else {
            return fail(stack, invalid("can: action and resource must be strings"));
        };
        let extra = match stack.kind(3) {
            Kind::None | Kind::Nil => Vec::new(),
            Kind::Table => match attributes(stack, 3) {
                Ok(extra) => extra,
                Err(e) => return fail(stack, e),
            },
            _ => {
                return fail(stack, invalid(format!(
                    "can: attrs must be a table, got {}",
                    type_name(stack, 3)
                )));
            }
        };
        let core = core()?;
        stack.push_bool(core.can(action, resource, &extra));
        raw::values(1)
    }
}

/// The attributes table of `security.can`: string keys, copyable values (`pid` is ignored:
/// it is always the caller's).
fn attributes(stack: Stack<'_>, index: c_int) -> Result<Vec<(Bytes, Value)>, ErrorValue> {
    let Value::Table(pairs) = convert::to_value(stack, index)
        .map_err(|e| invalid(format!("can: attrs: {}", e.message.to_string_lossy())))?
    else {
        return Err(invalid("can: attrs must be a table"));
    };
    let mut extra = Vec::with_capacity(pairs.len());
    for (key, value) in pairs {
        match key {
            Value::String(key) if key.as_bytes() == b"pid" => {}
            Value::String(key) => extra.push((key, value)),
            _ => return Err(invalid("can: attribute names must be strings")),
        }
    }
    Ok(extra)
}

fn actor_this<'a>(stack: Stack<'a>, method: &str) -> Result<&'a Actor, Raise> {
    stack
        .object::<ActorObject>(1)
        .map(|a| &*a.0)
        .ok_or_else(|| {
            Raise::Object(invalid(format!(
                "Actor:{method} must be called on an Actor"
            )))
        })
}

fn scope_this<'a>(stack: Stack<'a>, method: &str) -> Result<&'a Arc<Scope>, Raise> {
    stack
        .object::<ScopeObject>(1)
        .map(|s| &s.0)
        .ok_or_else(|| Raise::Object(invalid(format!("Scope:{method} must be called on a Scope"))))
}

lua_fn! {
    fn actor_id(stack) {
        let actor = actor_this(stack, "id")?;
        stack.push_bytes(&actor.id);
        raw::values(1)
    }
}

lua_fn! {
    /// `actor:meta()`: a copy.
    fn actor_meta(stack) {
        let actor = actor_this(stack, "meta")?;
        convert::push_value(stack, &actor.meta);
        raw::values(1)
    }
}

lua_fn! {
    fn actor_to_string(stack) {
        let text = match stack.object::<ActorObject>(1) {
            Some(actor) => format!("Actor({})", actor.0.id.to_string_lossy()),
            None => "Actor".to_string(),
        };
        stack.push_bytes(text.as_bytes());
        raw::values(1)
    }
}

lua_fn! {
    /// `scope:policies()`: the policy ids in the order added.
    fn scope_policies(stack) {
        let scope = scope_this(stack, "policies")?;
        stack.new_table(scope.policies().len(), 0);
        for (i, policy) in scope.policies().iter().enumerate() {
            stack.push_bytes(policy.id.as_bytes());
            stack.raw_set_index(-2, i + 1);
        }
        raw::values(1)
    }
}

lua_fn! {
    fn scope_contains(stack) {
        let scope = scope_this(stack, "contains")?;
        let Some(id) = stack.bytes(2).and_then(|b| std::str::from_utf8(b).ok()) else {
            return fail(stack, invalid("Scope:contains: the policy id must be a string"));
        };
        stack.push_bool(scope.contains(id));
        raw::values(1)
    }
}

lua_fn! {
    /// `scope:with(id)`: a new Scope, or `nil, err`.
    fn scope_with(stack) {
        let scope = scope_this(stack, "with")?.clone();
        match policy_at(stack, 2, "Scope:with") {
            Ok(policy) => {
                stack.push_object(ScopeObject(Arc::new(scope.with(policy))));
                raw::values(1)
            }
            Err(e) => fail(stack, e),
        }
    }
}

lua_fn! {
    /// `scope:without(id)`: a new Scope.
    fn scope_without(stack) {
        let scope = scope_this(stack, "without")?.clone();
        let Some(id) = stack.bytes(2).and_then(|b| std::str::from_utf8(b).ok()) else {
            return fail(stack, invalid("Scope:without: the policy id must be a string"));
        };
        stack.push_object(ScopeObject(Arc::new(scope.without(id))));
        raw::values(1)
    }
}

lua_fn! {
    fn scope_to_string(stack) {
        let text = match stack.object::<ScopeObject>(1) {
            Some(scope) => {
                let ids: Vec<&str> = scope.0.policies().iter().map(|p| p.id.as_str()).collect();
                format!("Scope({})", ids.join(", "))
            }
            None => "Scope".to_string(),
        };
        stack.push_bytes(text.as_bytes());
        raw::values(1)
    }
}

/// Registers the Actor and Scope object types.
pub fn register(stack: Stack<'_>) {
    raw::register::<ActorObject>(
        stack,
        &[
            raw::method(c"id", actor_id),
            raw::method(c"meta", actor_meta),
        ],
        &[raw::method(c"__tostring", actor_to_string)],
    );
    raw::register::<ScopeObject>(
        stack,
        &[
            raw::method(c"policies", scope_policies),
            raw::method(c"contains", scope_contains),
            raw::method(c"with", scope_with),
            raw::method(c"without", scope_without),
        ],
        &[raw::method(c"__tostring", scope_to_string)],
    );
}

/// Builds the `security` module (frozen).
pub fn module(stack: Stack<'_>) -> LuaRef {
    raw::push_table(
        stack,
        &[
            raw::method(c"actor", actor),
            raw::method(c"scope", scope),
            raw::method(c"new_actor", new_actor),
            raw::method(c"new_scope", new_scope),
            raw::method(c"can", can),
        ],
    );
    stack.freeze(-1);
    let r = stack.make_ref(-1);
    stack.pop(1);
    r
}
