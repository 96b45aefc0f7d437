//! `security.policy` entries (app-format.md §2.4, security.md §2): `rules` (a non-empty list)
//! or `policy` (one rule), each rule checked key by key and compiled, every problem reported
//! on its line.

use std::sync::Arc;

use super::{FileReader, Node, Yaml, line, value_of};
use crate::security::{Condition, Effect, Pattern, Policy, Rule};
use crate::value::Value;

impl FileReader<'_> {
    /// The rules of a `security.policy` entry defined at line `at`.
    pub(super) fn read_policy<'n>(
        &mut self,
        id: &str,
        get: &dyn Fn(&str) -> Option<&'n Node>,
        at: Option<usize>,
    ) -> Option<Arc<Policy>> {
        let rules = match (get("rules"), get("policy")) {
            (Some(_), Some(policy)) => {
                self.problem(
                    line(policy),
                    format!("{id}: a security.policy has rules or policy, not both"),
                );
                return None;
            }
            (None, None) => {
                self.problem(
                    at,
                    format!("{id}: a security.policy needs rules (a list) or policy (one rule)"),
                );
                return None;
            }
            (None, Some(rule)) => vec![self.read_rule(id, rule)?],
            (Some(list), None) => match &list.value {
                Yaml::Seq(items) if !items.is_empty() => {
                    let rules: Vec<Option<Rule>> =
                        items.iter().map(|item| self.read_rule(id, item)).collect();
                    rules.into_iter().collect::<Option<Vec<Rule>>>()?
                }
                Yaml::Seq(_) => {
                    self.problem(line(list), format!("{id}: rules must not be empty"));
                    return None;
                }
                other => {
                    self.problem(
                        line(list),
                        format!("{id}: rules must be a list, not {}", other.type_name()),
                    );
                    return None;
                }
            },
        };
        Some(Arc::new(Policy {
            id: id.to_string(),
            rules,
        }))
    }

    fn read_rule(&mut self, id: &str, node: &Node) -> Option<Rule> {
        let Yaml::Map(fields) = &node.value else {
            self.problem(
                line(node),
                format!("{id}: a rule must be a map, not {}", node.value.type_name()),
            );
            return None;
        };
        let mut ok = true;
        let (mut effect, mut actions, mut resources, mut conditions) = (None, None, None, None);
        for (key, value) in fields {
            let slot = match &key.value {
                Yaml::Str(k) if k == "effect" => &mut effect,
                Yaml::Str(k) if k == "actions" => &mut actions,
                Yaml::Str(k) if k == "resources" => &mut resources,
                Yaml::Str(k) if k == "conditions" => &mut conditions,
                Yaml::Str(k) => {
                    self.problem(
                        line(key),
                        format!(
                            "{id}: unknown rule field '{k}' (expected effect, actions, resources or conditions)"
                        ),
                    );
                    ok = false;
                    continue;
                }
                other => {
                    self.problem(
                        line(key),
                        format!("{id}: rule fields are strings, not {}", other.type_name()),
                    );
                    ok = false;
                    continue;
                }
            };
            *slot = Some(value);
        }
        let effect = match effect.map(|e| (&e.value, line(e))) {
            Some((Yaml::Str(e), _)) if e == "allow" => Some(Effect::Allow),
            Some((Yaml::Str(e), _)) if e == "deny" => Some(Effect::Deny),
            Some((Yaml::Str(e), l)) => {
                self.problem(l, format!("{id}: effect must be allow or deny, not '{e}'"));
                None
            }
            Some((other, l)) => {
                self.problem(
                    l,
                    format!(
                        "{id}: effect must be allow or deny, not {}",
                        other.type_name()
                    ),
                );
                None
            }
            None => {
                self.problem(
                    line(node),
                    format!("{id}: a rule needs an effect (allow or deny)"),
                );
                None
            }
        };
        let actions = match actions {
            Some(node) => self.patterns(id, "actions", node),
            None => {
                self.problem(line(node), format!("{id}: a rule needs actions"));
                None
            }
        };
        let resources = match resources {
            Some(node) => self.patterns(id, "resources", node),
            None => Some(vec![Pattern::new(b"*")]),
        };
        let conditions = match conditions {
            Some(node) => self.conditions(id, node),
            None => Some(Vec::new()),
        };
        Some(Rule {
            effect: effect?,
            actions: actions?,
            resources: resources?,
            conditions: conditions?,
        })
        .filter(|_| ok)
    }

    /// A pattern, or a non-empty list of patterns.
    fn patterns(&mut self, id: &str, what: &str, node: &Node) -> Option<Vec<Pattern>> {
        match &node.value {
            Yaml::Str(p) => Some(vec![Pattern::new(p.as_bytes())]),
            Yaml::Seq(items) if !items.is_empty() => {
                let mut patterns = Vec::with_capacity(items.len());
                for item in items {
                    match &item.value {
                        Yaml::Str(p) => patterns.push(Pattern::new(p.as_bytes())),
                        other => {
                            self.problem(
                                line(item),
                                format!(
                                    "{id}: {what} are string patterns, not {}",
                                    other.type_name()
                                ),
                            );
                            return None;
                        }
                    }
                }
                Some(patterns)
            }
            Yaml::Seq(_) => {
                self.problem(line(node), format!("{id}: {what} must not be empty"));
                None
            }
            other => {
                self.problem(
                    line(node),
                    format!(
                        "{id}: {what} must be a pattern or a list of patterns, not {}",
                        other.type_name()
                    ),
                );
                None
            }
        }
    }

    fn conditions(&mut self, id: &str, node: &Node) -> Option<Vec<Condition>> {
        let items = match &node.value {
            Yaml::Seq(items) => items,
            Yaml::Null => return Some(Vec::new()),
            other => {
                self.problem(
                    line(node),
                    format!("{id}: conditions must be a list, not {}", other.type_name()),
                );
                return None;
            }
        };
        let mut conditions = Vec::with_capacity(items.len());
        let mut ok = true;
        for item in items {
            match self.condition(id, item) {
                Some(condition) => conditions.push(condition),
                None => ok = false,
            }
        }
        ok.then_some(conditions)
    }

    fn condition(&mut self, id: &str, node: &Node) -> Option<Condition> {
        let Yaml::Map(fields) = &node.value else {
            self.problem(
                line(node),
                format!(
                    "{id}: a condition must be a map of field, operator and value, not {}",
                    node.value.type_name()
                ),
            );
            return None;
        };
        let (mut field, mut operator, mut value) = (None, None, None);
        for (key, v) in fields {
            match &key.value {
                Yaml::Str(k) if k == "field" => field = Some(v),
                Yaml::Str(k) if k == "operator" => operator = Some(v),
                Yaml::Str(k) if k == "value" => value = Some(v),
                _ => {
                    self.problem(
                        line(key),
                        format!("{id}: a condition has field, operator and value only"),
                    );
                    return None;
                }
            }
        }
        let text = |node: Option<&Node>| match node.map(|n| &n.value) {
            Some(Yaml::Str(s)) => Some(s.clone()),
            _ => None,
        };
        let (Some(field_name), Some(operator_name)) = (text(field), text(operator)) else {
            self.problem(
                line(node),
                format!("{id}: a condition needs field and operator, as strings"),
            );
            return None;
        };
        let value = value.and_then(to_value);
        match Condition::new(&field_name, &operator_name, value) {
            Ok(condition) => Some(condition),
            Err(e) => {
                self.problem(line(node), format!("{id}: {e}"));
                None
            }
        }
    }
}

/// A condition's value as the value a check compares with; `None` for null.
fn to_value(node: &Node) -> Option<Value> {
    match value_of(node) {
        Value::Nil => None,
        value => Some(value),
    }
}
