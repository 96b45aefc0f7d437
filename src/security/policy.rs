//! Policies: the rules of `security.policy` entries, compiled at load time, and how one rule
//! matches a check (security.md §2).

use super::pattern::Pattern;
use super::{Actor, Attributes};
use crate::bytes::Bytes;
use crate::value::Value;

/// What a matching rule decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// A `security.policy` entry: its id and rules.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub id: String,
    pub rules: Vec<Rule>,
}

/// One rule: it matches a check when one of its action patterns matches the action, one of
/// its resource patterns the resource, and every condition holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub effect: Effect,
    pub actions: Vec<Pattern>,
    pub resources: Vec<Pattern>,
    pub conditions: Vec<Condition>,
}

impl Rule {
    /// Whether the rule matches `action` on `resource` by `actor` with `attributes`.
    pub fn matches(
        &self,
        action: &[u8],
        resource: &[u8],
        actor: &Actor,
        attributes: &Attributes<'_>,
    ) -> bool {
        self.matches_action(action) && self.matches_resource(resource, actor, attributes)
    }

    /// Whether one of the action patterns matches `action`.
    pub fn matches_action(&self, action: &[u8]) -> bool {
        self.actions.iter().any(|p| p.matches(action))
    }

    /// Whether the rest of the rule matches, its action having matched already.
    pub fn matches_resource(
        &self,
        resource: &[u8],
        actor: &Actor,
        attributes: &Attributes<'_>,
    ) -> bool {
        self.resources.iter().any(|p| p.matches(resource))
            && self.conditions.iter().all(|c| c.holds(actor, attributes))
    }
}

/// What a condition looks at.
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    /// `actor.id`.
    ActorId,
    /// `actor.meta.<path>`: a walk through nested tables of the actor's meta.
    ActorMeta(Vec<Bytes>),
    /// `attributes.<key>`.
    Attribute(Bytes),
}

impl Field {
    /// Parses a field name; `None` for a name that is not one of the three forms.
    pub fn parse(name: &str) -> Option<Field> {
        if name == "actor.id" {
            return Some(Field::ActorId);
        }
        if let Some(path) = name.strip_prefix("actor.meta.") {
            let steps: Vec<Bytes> = path.split('.').map(|s| Bytes::new(s.as_bytes())).collect();
            return steps
                .iter()
                .all(|s| !s.is_empty())
                .then_some(Field::ActorMeta(steps));
        }
        let key = name.strip_prefix("attributes.")?;
        (!key.is_empty()).then(|| Field::Attribute(Bytes::new(key.as_bytes())))
    }

    /// The value the field names in this check, if there is one.
    fn look_up<'a>(&self, actor: &'a Actor, attributes: &'a Attributes<'_>) -> Option<Looked<'a>> {
        match self {
            Field::ActorId => Some(Looked::Bytes(&actor.id)),
            Field::ActorMeta(path) => {
                let mut at = &actor.meta;
                for step in path {
                    at = table_get(at, step)?;
                }
                match at {
                    Value::Nil => None,
                    value => Some(Looked::Value(value)),
                }
            }
            Field::Attribute(key) => attributes.get(key),
        }
    }
}

/// `table[key]` for a string key (or, when the key is a whole number, that number key).
fn table_get<'a>(table: &'a Value, key: &[u8]) -> Option<&'a Value> {
    let Value::Table(pairs) = table else {
        return None;
    };
    // Only a whole number written plainly (`1`, not `01` or `+1`) names a number key.
    let number = std::str::from_utf8(key)
        .ok()
        .and_then(|k| k.parse::<i64>().ok().filter(|i| i.to_string() == k));
    pairs
        .iter()
        .find(|(k, _)| match k {
            Value::String(s) => s.as_bytes() == key,
            Value::Number(n) => number.is_some_and(|i| *n == i as f64),
            _ => false,
        })
        .map(|(_, v)| v)
}

/// A looked-up field: a value, or bytes that are a string value (the actor's id, the caller's
/// PID) without copying them into one.
#[derive(Debug, Clone, Copy)]
pub enum Looked<'a> {
    Value(&'a Value),
    Bytes(&'a [u8]),
}

impl<'a> Looked<'a> {
    fn bytes(self) -> Option<&'a [u8]> {
        match self {
            Looked::Bytes(b) => Some(b),
            Looked::Value(Value::String(s)) => Some(s.as_bytes()),
            Looked::Value(_) => None,
        }
    }

    /// Same type and value (`1` is not `"1"`; tables by content, in any order).
    fn equals(self, value: &Value) -> bool {
        match (self, value) {
            (Looked::Bytes(b), Value::String(s)) => b == s.as_bytes(),
            (Looked::Bytes(_), _) => false,
            (Looked::Value(v), value) => same(v, value),
        }
    }

    /// The order of two numbers, or of two strings bytewise; `None` for anything else.
    fn compare(self, value: &Value) -> Option<std::cmp::Ordering> {
        match (self, value) {
            (Looked::Value(Value::Number(a)), Value::Number(b)) => a.partial_cmp(b),
            (looked, Value::String(b)) => Some(looked.bytes()?.cmp(b.as_bytes())),
            _ => None,
        }
    }
}

/// A condition of a rule: a field and what must hold of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub field: Field,
    pub operator: Operator,
}

/// The operators of security.md §2, with their compiled values.
#[derive(Debug, Clone, PartialEq)]
pub enum Operator {
    Eq(Value),
    Ne(Value),
    Lt(Value),
    Lte(Value),
    Gt(Value),
    Gte(Value),
    In(Vec<Value>),
    Nin(Vec<Value>),
    Glob(Pattern),
    Exists,
    Nexists,
}

/// Why a condition is malformed (a load error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConditionError {
    #[error(
        "unknown condition field '{0}' (expected actor.id, actor.meta.<path> or attributes.<key>)"
    )]
    Field(String),
    #[error(
        "unknown condition operator '{0}' (expected eq, ne, lt, lte, gt, gte, in, nin, glob, exists or nexists)"
    )]
    Operator(String),
    #[error("operator '{0}' needs a value")]
    MissingValue(String),
    #[error("operator '{0}' takes no value")]
    UnexpectedValue(String),
    #[error("operator '{0}' needs {1}")]
    WrongValue(String, &'static str),
}

impl Condition {
    /// Compiles a condition from its three fields as written.
    pub fn new(
        field: &str,
        operator: &str,
        value: Option<Value>,
    ) -> Result<Condition, ConditionError> {
        let field = Field::parse(field).ok_or_else(|| ConditionError::Field(field.to_string()))?;
        let op = operator.to_string();
        let needs =
            |value: Option<Value>| value.ok_or_else(|| ConditionError::MissingValue(op.clone()));
        let ordered = |value: Option<Value>| match needs(value)? {
            v @ (Value::Number(_) | Value::String(_)) => Ok(v),
            _ => Err(ConditionError::WrongValue(
                op.clone(),
                "a number or a string",
            )),
        };
        let list = |value: Option<Value>| match needs(value)? {
            Value::Table(pairs) => {
                list_items(pairs).ok_or_else(|| ConditionError::WrongValue(op.clone(), "a list"))
            }
            _ => Err(ConditionError::WrongValue(op.clone(), "a list")),
        };
        let operator = match operator {
            "eq" => Operator::Eq(needs(value)?),
            "ne" => Operator::Ne(needs(value)?),
            "lt" => Operator::Lt(ordered(value)?),
            "lte" => Operator::Lte(ordered(value)?),
            "gt" => Operator::Gt(ordered(value)?),
            "gte" => Operator::Gte(ordered(value)?),
            "in" => Operator::In(list(value)?),
            "nin" => Operator::Nin(list(value)?),
            "glob" => match needs(value)? {
                Value::String(s) => Operator::Glob(Pattern::new(&s)),
                _ => return Err(ConditionError::WrongValue(op, "a string pattern")),
            },
            "exists" | "nexists" => {
                if value.is_some() {
                    return Err(ConditionError::UnexpectedValue(op));
                }
                match operator {
                    "exists" => Operator::Exists,
                    _ => Operator::Nexists,
                }
            }
            _ => return Err(ConditionError::Operator(op)),
        };
        Ok(Condition { field, operator })
    }

    /// Whether the condition holds for this check. An absent field makes every operator
    /// false except `nexists`.
    pub fn holds(&self, actor: &Actor, attributes: &Attributes<'_>) -> bool {
        use std::cmp::Ordering::{Equal, Greater, Less};
        let Some(looked) = self.field.look_up(actor, attributes) else {
            return matches!(self.operator, Operator::Nexists);
        };
        match &self.operator {
            Operator::Eq(v) => looked.equals(v),
            Operator::Ne(v) => !looked.equals(v),
            Operator::Lt(v) => looked.compare(v) == Some(Less),
            Operator::Lte(v) => matches!(looked.compare(v), Some(Less | Equal)),
            Operator::Gt(v) => looked.compare(v) == Some(Greater),
            Operator::Gte(v) => matches!(looked.compare(v), Some(Greater | Equal)),
            Operator::In(list) => list.iter().any(|v| looked.equals(v)),
            Operator::Nin(list) => !list.iter().any(|v| looked.equals(v)),
            Operator::Glob(pattern) => looked.bytes().is_some_and(|b| pattern.matches(b)),
            Operator::Exists => true,
            Operator::Nexists => false,
        }
    }
}

/// Whether two values are equal: the same type and value, tables with the same keys holding
/// equal values whatever the order their pairs were copied in (a YAML map and a Lua table
/// list theirs differently).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Table(x), Value::Table(y)) => {
            x.len() == y.len()
                && x.iter().all(|(key, value)| {
                    y.iter()
                        .find(|(k, _)| same(k, key))
                        .is_some_and(|(_, v)| same(v, value))
                })
        }
        _ => a == b,
    }
}

/// The items of a table that is a list (keys 1..n), in order.
fn list_items(pairs: Vec<(Value, Value)>) -> Option<Vec<Value>> {
    let mut items: Vec<(i64, Value)> = Vec::with_capacity(pairs.len());
    for (key, value) in pairs {
        items.push((key.as_integer()?, value));
    }
    items.sort_by_key(|(k, _)| *k);
    items
        .iter()
        .enumerate()
        .all(|(i, (k, _))| *k == i as i64 + 1)
        .then(|| items.into_iter().map(|(_, v)| v).collect())
}
