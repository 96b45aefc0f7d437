//! Permissions without Lua: actors, scopes, policies and the decision of security.md §3.
//!
//! A process carries at most one [`Actor`] and one [`Scope`], fixed at spawn. Every guarded
//! operation asks [`decide`]: may this actor, under this scope, perform this action on this
//! resource, given these attributes? Policies are compiled once, when the app is loaded; a
//! check walks the rules of the scope's policies, matching compiled patterns.

pub mod pattern;
pub mod policy;

use std::sync::Arc;

use crate::bytes::Bytes;
use crate::value::Value;
pub use pattern::Pattern;
pub use policy::{Condition, Effect, Policy, Rule};

/// An identity: an id and plain-data metadata (a table, possibly empty).
#[derive(Debug, Clone, PartialEq)]
pub struct Actor {
    pub id: Bytes,
    pub meta: Value,
}

/// The permissions of security.md §4, the actions the runtime checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    Spawn,
    SpawnMonitored,
    SpawnLinked,
    Host,
    Send,
    Call,
    Terminate,
    Cancel,
    Monitor,
    Unmonitor,
    Link,
    Unlink,
    Context,
    Security,
    Register,
    Unregister,
}

impl Permission {
    /// Every permission, in the contract's order.
    pub const ALL: [Permission; 16] = [
        Permission::Spawn,
        Permission::SpawnMonitored,
        Permission::SpawnLinked,
        Permission::Host,
        Permission::Send,
        Permission::Call,
        Permission::Terminate,
        Permission::Cancel,
        Permission::Monitor,
        Permission::Unmonitor,
        Permission::Link,
        Permission::Unlink,
        Permission::Context,
        Permission::Security,
        Permission::Register,
        Permission::Unregister,
    ];

    /// The action string, e.g. `process.spawn.monitored`.
    pub fn action(self) -> &'static str {
        match self {
            Permission::Spawn => "process.spawn",
            Permission::SpawnMonitored => "process.spawn.monitored",
            Permission::SpawnLinked => "process.spawn.linked",
            Permission::Host => "process.host",
            Permission::Send => "process.send",
            Permission::Call => "process.call",
            Permission::Terminate => "process.terminate",
            Permission::Cancel => "process.cancel",
            Permission::Monitor => "process.monitor",
            Permission::Unmonitor => "process.unmonitor",
            Permission::Link => "process.link",
            Permission::Unlink => "process.unlink",
            Permission::Context => "process.context",
            Permission::Security => "process.security",
            Permission::Register => "process.registry.register",
            Permission::Unregister => "process.registry.unregister",
        }
    }

    /// The permission whose action is `action`, if it is one.
    pub fn from_action(action: &[u8]) -> Option<Permission> {
        Permission::ALL
            .into_iter()
            .find(|p| p.action().as_bytes() == action)
    }
}

/// A set of policies, in the order they were added (each once).
///
/// A scope also keeps, for each [`Permission`], the rules whose action patterns match it: a
/// check of the runtime's own permissions looks only at those (on `process.send` that is
/// usually one rule, whatever the number of policies).
#[derive(Debug, Clone, Default)]
pub struct Scope {
    policies: Vec<Arc<Policy>>,
    by_permission: Vec<Vec<Rule>>,
}

impl PartialEq for Scope {
    fn eq(&self, other: &Scope) -> bool {
        self.policies == other.policies
    }
}

impl Scope {
    /// A scope of `policies`, dropping repeats (the first place counts).
    pub fn new(policies: impl IntoIterator<Item = Arc<Policy>>) -> Scope {
        let mut kept: Vec<Arc<Policy>> = Vec::new();
        for policy in policies {
            if !kept.iter().any(|p| p.id == policy.id) {
                kept.push(policy);
            }
        }
        let by_permission = Permission::ALL
            .iter()
            .map(|permission| {
                let action = permission.action().as_bytes();
                kept.iter()
                    .flat_map(|p| &p.rules)
                    .filter(|r| r.actions.iter().any(|a| a.matches(action)))
                    .cloned()
                    .collect()
            })
            .collect();
        Scope {
            policies: kept,
            by_permission,
        }
    }

    /// The policies, in the order they were added.
    pub fn policies(&self) -> &[Arc<Policy>] {
        &self.policies
    }

    /// Whether the scope holds the policy `id`.
    pub fn contains(&self, id: &str) -> bool {
        self.policies.iter().any(|p| p.id == id)
    }

    /// This scope with `policy` added (unchanged when it holds it already).
    pub fn with(&self, policy: Arc<Policy>) -> Scope {
        Scope::new(self.policies.iter().cloned().chain([policy]))
    }

    /// This scope without the policy `id`.
    pub fn without(&self, id: &str) -> Scope {
        Scope::new(self.policies.iter().filter(|p| p.id != id).cloned())
    }
}

/// The identity a process carries: both parts are inherited by its children.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Identity {
    pub actor: Option<Arc<Actor>>,
    pub scope: Option<Arc<Scope>>,
}

impl Identity {
    /// Whether checks must be evaluated for a process with this identity: it has both parts,
    /// or strict mode denies it for lacking one. Otherwise every check allows.
    pub fn guarded(&self, strict: bool) -> bool {
        strict || (self.actor.is_some() && self.scope.is_some())
    }
}

/// The attributes of a check: always the caller's PID as `pid`, plus those `security.can`
/// was given.
#[derive(Debug, Clone, Copy)]
pub struct Attributes<'a> {
    pub pid: &'a [u8],
    pub extra: &'a [(Bytes, Value)],
}

impl<'a> Attributes<'a> {
    /// The attributes of a `process.*` check: the caller's PID only.
    pub fn of_caller(pid: &'a [u8]) -> Self {
        Attributes { pid, extra: &[] }
    }

    fn get(&self, key: &[u8]) -> Option<policy::Looked<'a>> {
        if key == b"pid" {
            return Some(policy::Looked::Bytes(self.pid));
        }
        self.extra
            .iter()
            .find(|(k, _)| k.as_bytes() == key)
            .map(|(_, v)| v)
            .filter(|v| !matches!(v, Value::Nil))
            .map(policy::Looked::Value)
    }
}

/// The decision of security.md §3 for a check made by a process with `identity` (`strict`:
/// strict mode applies to it), for any action (`security.can`).
pub fn decide(
    identity: &Identity,
    strict: bool,
    action: &[u8],
    resource: &[u8],
    attributes: &Attributes<'_>,
) -> bool {
    if let Some(permission) = Permission::from_action(action) {
        return decide_permission(identity, strict, permission, resource, attributes);
    }
    let (Some(actor), Some(scope)) = (&identity.actor, &identity.scope) else {
        return !strict;
    };
    let rules = scope.policies.iter().flat_map(|p| &p.rules);
    evaluate(
        rules.filter(|r| r.matches_action(action)),
        resource,
        actor,
        attributes,
    )
}

/// [`decide`] for one of the runtime's permissions: only the scope's rules kept for it are
/// looked at.
pub fn decide_permission(
    identity: &Identity,
    strict: bool,
    permission: Permission,
    resource: &[u8],
    attributes: &Attributes<'_>,
) -> bool {
    let (Some(actor), Some(scope)) = (&identity.actor, &identity.scope) else {
        return !strict;
    };
    let rules = &scope.by_permission[permission as usize];
    evaluate(rules.iter(), resource, actor, attributes)
}

/// Steps 2–5 of security.md §3 over rules whose actions match: deny overrides allow, and no
/// matching rule denies.
fn evaluate<'a>(
    rules: impl Iterator<Item = &'a Rule>,
    resource: &[u8],
    actor: &Actor,
    attributes: &Attributes<'_>,
) -> bool {
    let mut allowed = false;
    for rule in rules {
        if rule.matches_resource(resource, actor, attributes) {
            match rule.effect {
                Effect::Deny => return false,
                Effect::Allow => allowed = true,
            }
        }
    }
    allowed
}

/// The message of a denial: `permission denied: <action> on <resource>`.
pub fn denial_message(action: &str, resource: &[u8]) -> Vec<u8> {
    let mut message = format!("permission denied: {action} on ").into_bytes();
    message.extend_from_slice(resource);
    message
}

#[cfg(test)]
mod tests;
